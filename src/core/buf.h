/*
 * buf.h — a growable byte buffer with a size cap (curl's dynbuf idea).
 *
 * Appends past `max` fail with TM_ETOOBIG and leave the buffer as it was,
 * so input can never grow memory without bound. The content is always
 * NUL-terminated when data is not NULL.
 */
#ifndef TM_CORE_BUF_H
#define TM_CORE_BUF_H

#include <stddef.h>

typedef struct tm_buf {
    char *data;     /* owned; NULL until the first append                    */
    size_t len;     /* bytes used, excluding the terminating NUL             */
    size_t cap;     /* bytes allocated                                       */
    size_t max;     /* most bytes len may reach; 0 means 1 GiB               */
} tm_buf;

#define TM_BUF_INIT {NULL, 0, 0, 0}

int tm__buf_add(tm_buf *b, const void *p, size_t n);  /* TM_OK / ETOOBIG / ENOMEM */
int tm__buf_puts(tm_buf *b, const char *s);
int tm__buf_putc(tm_buf *b, char c);
int tm__buf_printf(tm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends the whole file at path (within b->max). Errors: TM_ENOTFOUND,
 * TM_EIO, TM_ETOOBIG, with a message naming the file. */
int tm__buf_read_file(tm_buf *b, const char *path);

/* Creates every missing directory above the file at path, with mode.
 * Errors: TM_EINVAL (path too long), TM_EIO naming the directory. */
int tm__mkdir_parents(const char *path, unsigned mode);

/* Room for one more element: when n == *cap, reallocates arr to twice the
 * elements (first when empty) and updates *cap. Returns the (maybe moved)
 * array, or NULL when out of memory (arr is then unchanged). */
void *tm__grow(void *arr, size_t n, size_t *cap, size_t elem, size_t first);

void tm__buf_reset(tm_buf *b);    /* len = 0, keeps the memory */
void tm__buf_free(tm_buf *b);     /* frees; the buffer may be reused after */

#endif
