/*
 * sources.c — the configured usage sources, kept in the config file's
 * "sources" array (docs/config.md). A source names the environment
 * variable that holds its key, never the key. Saving rewrites the file
 * (pretty-printed, every other key kept) through a temporary file and a
 * rename, so a crash leaves the old file or the new one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/err.h"
#include "../core/json.h"
#include "ingest.h"

#define CONFIG_MAX (4 << 20)

int tm__source_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

static int copy_field(const tm_jv *o, const char *key, char *dst, size_t cap, const char *path,
                      size_t i)
{
    const tm_jv *v = tm__json_get(o, key);
    if (!v)
        return TM_OK;
    if (v->type != TM_J_STRING || v->n >= cap)
        return tm__fail(TM_EINVAL, "%s: sources[%zu].%s: must be a string of at most %zu bytes",
                        path, i, key, cap - 1);
    memcpy(dst, v->s, v->n + 1);
    return TM_OK;
}

int tm__sources_load(const char *path, tm_source **out, size_t *n)
{
    tm_arena a = {0};
    tm_jv *root = NULL;
    tm_source *src = NULL;
    struct stat sb;
    int rc = TM_OK;
    *out = NULL;
    *n = 0;
    if (!path || stat(path, &sb) != 0)
        return TM_OK; /* no config file: no sources */
    if ((rc = tm__json_load_file(&a, path, CONFIG_MAX, &root)))
        goto out;
    const tm_jv *list = tm__json_get(root, "sources");
    if (!list)
        goto out;
    if (list->type != TM_J_ARRAY) {
        rc = tm__fail(TM_EINVAL, "%s: sources: must be an array of objects", path);
        goto out;
    }
    if (list->n && !(src = calloc(list->n, sizeof *src))) {
        rc = TM_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < list->n && rc == TM_OK; i++) {
        const tm_jv *o = list->vals[i];
        tm_source *s = &src[i];
        char type[32] = "";
        if (o->type != TM_J_OBJECT) {
            rc = tm__fail(TM_EINVAL, "%s: sources[%zu]: must be an object", path, i);
            break;
        }
        if ((rc = copy_field(o, "name", s->name, sizeof s->name, path, i)) ||
            (rc = copy_field(o, "type", type, sizeof type, path, i)) ||
            (rc = copy_field(o, "key_env", s->key_env, sizeof s->key_env, path, i)) ||
            (rc = copy_field(o, "base_url", s->base_url, sizeof s->base_url, path, i)) ||
            (rc = copy_field(o, "path", s->path, sizeof s->path, path, i)))
            break;
        if (!tm__source_name_ok(s->name))
            rc = tm__fail(TM_EINVAL, "%s: sources[%zu].name: must be 1-64 of A-Z a-z 0-9 _ - .", path, i);
        else if ((s->type = tm__src_type(type)) < 0)
            rc = tm__fail(TM_EINVAL, "%s: sources[%zu].type: unknown type '%s' (openai-usage, "
                                     "anthropic-usage, claude-code, codex, opencode)", path, i, type);
        for (size_t j = 0; rc == TM_OK && j < i; j++)
            if (strcmp(src[j].name, s->name) == 0)
                rc = tm__fail(TM_EINVAL, "%s: sources[%zu].name: '%s' is used twice", path, i, s->name);
    }
    if (rc == TM_OK) {
        *out = src;
        *n = list->n;
        src = NULL;
    }
out:
    free(src);
    tm__arena_free(&a);
    return rc;
}

/* v, pretty-printed with two-space indents. */
static int write_pretty(tm_buf *b, const tm_jv *v, int depth)
{
    int rc = TM_OK;
    if ((v->type != TM_J_OBJECT && v->type != TM_J_ARRAY) || v->n == 0)
        return tm__json_write(b, v);
    int obj = v->type == TM_J_OBJECT;
    rc = tm__buf_putc(b, obj ? '{' : '[');
    for (size_t i = 0; i < v->n && rc == TM_OK; i++) {
        rc = tm__buf_printf(b, "%s\n%*s", i ? "," : "", 2 * (depth + 1), "");
        if (rc == TM_OK && obj && (rc = tm__json_str(b, v->keys[i], v->klens[i])) == TM_OK)
            rc = tm__buf_puts(b, ": ");
        if (rc == TM_OK)
            rc = write_pretty(b, v->vals[i], depth + 1);
    }
    if (rc == TM_OK)
        rc = tm__buf_printf(b, "\n%*s%c", 2 * depth, "", obj ? '}' : ']');
    return rc;
}

static int kv(tm_buf *b, const char *key, const char *val, int *first)
{
    if (!*val)
        return TM_OK;
    int rc = tm__buf_printf(b, "%s\n      \"%s\": ", *first ? "" : ",", key);
    *first = 0;
    return rc ? rc : tm__json_str(b, val, strlen(val));
}

int tm__sources_save(const char *path, const tm_source *src, size_t n)
{
    tm_arena a = {0};
    tm_jv *root = NULL;
    tm_buf b = TM_BUF_INIT;
    char tmp[4200];
    struct stat sb;
    int rc = TM_OK, fd = -1;
    if (stat(path, &sb) == 0 && (rc = tm__json_load_file(&a, path, CONFIG_MAX, &root)))
        goto out;
    rc = tm__buf_putc(&b, '{');
    int any = 0;
    for (size_t i = 0; root && i < root->n && rc == TM_OK; i++) {
        if (strcmp(root->keys[i], "sources") == 0)
            continue;
        rc = tm__buf_printf(&b, "%s\n  ", any ? "," : "");
        if (rc == TM_OK && (rc = tm__json_str(&b, root->keys[i], root->klens[i])) == TM_OK &&
            (rc = tm__buf_puts(&b, ": ")) == TM_OK)
            rc = write_pretty(&b, root->vals[i], 1);
        any = 1;
    }
    if (rc == TM_OK)
        rc = tm__buf_printf(&b, "%s\n  \"sources\": [", any ? "," : "");
    for (size_t i = 0; i < n && rc == TM_OK; i++) {
        int first = 1;
        rc = tm__buf_printf(&b, "%s\n    {", i ? "," : "");
        if (rc == TM_OK) rc = kv(&b, "name", src[i].name, &first);
        if (rc == TM_OK) rc = kv(&b, "type", tm__src_name(src[i].type), &first);
        if (rc == TM_OK) rc = kv(&b, "key_env", src[i].key_env, &first);
        if (rc == TM_OK) rc = kv(&b, "base_url", src[i].base_url, &first);
        if (rc == TM_OK) rc = kv(&b, "path", src[i].path, &first);
        if (rc == TM_OK) rc = tm__buf_puts(&b, "\n    }");
    }
    if (rc == TM_OK)
        rc = tm__buf_puts(&b, n ? "\n  ]\n}\n" : "]\n}\n");
    if (rc || (rc = tm__mkdir_parents(path, 0700)))
        goto out;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, b.data, b.len) != (ssize_t)b.len || fsync(fd) != 0) {
        rc = tm__fail(TM_EIO, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, path) != 0)
        rc = tm__fail(TM_EIO, "%s: %s", path, strerror(errno));
out:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    tm__buf_free(&b);
    tm__arena_free(&a);
    return rc;
}
