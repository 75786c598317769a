/*
 * json.h — JSON values as text-preserving trees, and a JSON writer.
 *
 * Parsing uses yajl's callback API and builds the tree in an arena: numbers
 * keep their exact source text (money must never pass through a double),
 * strings are validated UTF-8, nesting is capped, comments are refused.
 */
#ifndef TM_CORE_JSON_H
#define TM_CORE_JSON_H

#include <stddef.h>

#include "arena.h"
#include "buf.h"

#define TM_JSON_MAX_DEPTH 32

typedef enum tm_jtype {
    TM_J_NULL, TM_J_FALSE, TM_J_TRUE, TM_J_NUMBER, TM_J_STRING, TM_J_OBJECT, TM_J_ARRAY
} tm_jtype;

typedef struct tm_jv tm_jv;
struct tm_jv {
    tm_jtype type;
    const char *s;          /* string (decoded, NUL-ended) or number text   */
    size_t n;               /* length of s, or number of children           */
    const char **keys;      /* object keys (decoded, NUL-ended), n of them   */
    size_t *klens;          /* their lengths (a key may hold a NUL byte)     */
    tm_jv **vals;           /* object or array children, n of them           */
};

/* Parses exactly one JSON value from s[0..n) (surrounding white space
 * allowed). The tree lives in arena a. On error returns TM_EINVAL and
 * writes a one-line reason ("invalid JSON at byte 17: ...") into err. */
int tm__json_parse(tm_arena *a, const char *s, size_t n, tm_jv **out, char *err,
                   size_t errlen);

/* Reads the file at path (at most max bytes) and parses it as one JSON
 * object into arena a. Errors name the file: "PATH: invalid JSON at ...",
 * "PATH: must be a JSON object". */
int tm__json_load_file(tm_arena *a, const char *path, size_t max, tm_jv **out);

/* The member of object o named key, or NULL (also when o is not an object). */
const tm_jv *tm__json_get(const tm_jv *o, const char *key);

/* The name of a type for messages: "a string", "a number", ... */
const char *tm__json_type_name(tm_jtype t);

/* Appends s[0..n) as a quoted JSON string. */
int tm__json_str(tm_buf *b, const char *s, size_t n);
/* s as a JSON string, or null when s is NULL. */
int tm__json_str_or_null(tm_buf *b, const char *s);

/* Appends v, compactly, numbers as their original text. */
int tm__json_write(tm_buf *b, const tm_jv *v);

#endif
