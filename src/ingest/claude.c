/*
 * claude.c — the Claude Code log reader.
 *
 * Claude Code writes one JSONL file per session under
 * <config>/projects/<project>/, where <project> is the working directory
 * with '/' and '.' turned into '-'. Assistant lines carry the API response's
 * usage (docs/importers.md has the shape). One response is written as
 * several lines (one per content block, usage repeated or growing), and a
 * resumed session copies earlier lines into its new file, so the event id
 * is message.id + requestId: the same response is one event wherever it
 * appears, and the store keeps the copy with the most tokens.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/dec.h"
#include "../core/strmap.h"
#include "../core/tmtime.h"
#include "ingest_int.h"

static int defaults(tm_buf *out)
{
    const char *env = getenv("CLAUDE_CONFIG_DIR");
    int rc = TM_OK;
    if (env && *env) { /* comma-separated */
        for (const char *p = env; rc == TM_OK && *p;) {
            const char *c = strchr(p, ',');
            size_t n = c ? (size_t)(c - p) : strlen(p);
            while (n && p[0] == ' ')
                p++, n--;
            while (n && p[n - 1] == ' ')
                n--;
            if (n)
                rc = tm__buf_printf(out, "%.*s/projects%c", (int)n, p, 0);
            p += n;
            while (*p == ',' || *p == ' ')
                p++;
        }
        return rc;
    }
    const char *xdg = getenv("XDG_CONFIG_HOME");
    if (xdg && *xdg)
        rc = tm__buf_printf(out, "%s/claude/projects%c", xdg, 0);
    else if ((rc = tm__home_path(out, ".config/claude/projects")) == TM_OK)
        rc = tm__buf_add(out, "", 1);
    if (rc == TM_OK && (rc = tm__home_path(out, ".claude/projects")) == TM_OK)
        rc = tm__buf_add(out, "", 1);
    return rc;
}

static int wanted(const char *path, const char *name)
{
    (void)path;
    size_t n = strlen(name);
    return n > 6 && strcmp(name + n - 6, ".jsonl") == 0;
}

/* The directory right under projects/ (Claude Code's name for the working
 * directory), else the file's own directory. */
static const char *project(const char *root, const char *path, char *buf, size_t cap)
{
    const char *p = strstr(path, "/projects/");
    const char *rel = NULL;
    if (p)
        rel = p + 10;
    else if (root) {
        size_t n = strlen(root);
        if (strncmp(path, root, n) == 0 && path[n] == '/' && strchr(path + n + 1, '/')) {
            char base[256];
            tm__basename(root, base, sizeof base);
            if (strcmp(base, "projects") == 0)
                rel = path + n + 1;
        }
    }
    if (rel) {
        const char *slash = strchr(rel, '/');
        if (slash && slash > rel) {
            snprintf(buf, cap, "%.*s", (int)(slash - rel), rel);
            return buf;
        }
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *last = strrchr(dir, '/');
    if (!last || last == dir)
        return NULL;
    *last = '\0';
    return tm__basename(dir, buf, cap);
}

static int record(tm_ifile *f, const char *s, size_t n, tm_event *ev)
{
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\r' || s[n - 1] == '\t'))
        n--;
    if (!n)
        return REC_NONE;
    /* Most lines (prompts, tool results, summaries) have no usage: don't
     * parse them. */
    if (!memmem(s, n, "\"usage\"", 7))
        return REC_NO_USAGE;
    tm_jv *v;
    char err[160];
    if (tm__json_parse(f->arena, s, n, &v, err, sizeof err) != TM_OK || v->type != TM_J_OBJECT)
        return REC_MALFORMED;
    const tm_jv *msg = tm__json_get(v, "message"), *u = tm__json_get(msg, "usage");
    if (!u || u->type != TM_J_OBJECT)
        return REC_NO_USAGE;
    const char *model = tm__jstr(tm__json_get(msg, "model"));
    if (model && strcmp(model, "<synthetic>") == 0)
        return REC_SYNTHETIC;
    const char *ts = tm__jstr(tm__json_get(v, "timestamp")), *why;
    if (!ts || tm__time_parse(ts, strlen(ts), &ev->ts_us, &why) != 0)
        return REC_MALFORMED;
    static const char *const keys[] = {"input_tokens", "output_tokens", "cache_read_input_tokens",
                                       "cache_creation_input_tokens"};
    int64_t *slots[] = {&ev->input_tokens, &ev->output_tokens, &ev->cache_read_tokens,
                        &ev->cache_write_tokens};
    for (int i = 0; i < 4; i++) {
        const tm_jv *t = tm__json_get(u, keys[i]);
        *slots[i] = 0;
        if (t && t->type != TM_J_NULL && tm__jint(t, slots[i]) != 0)
            return REC_MALFORMED;
    }
    const tm_jv *h1 = tm__jpath(u, "cache_creation", "ephemeral_1h_input_tokens");
    int64_t one_h = 0;
    if (h1 && tm__jint(h1, &one_h) == 0 && one_h <= ev->cache_write_tokens)
        ev->cache_write_1h_tokens = one_h;
    const char *mid = tm__jstr(tm__json_get(msg, "id"));
    const char *rid = tm__jstr(tm__json_get(v, "requestId"));
    char *id = tm__arena_alloc(f->arena, 140);
    if (!id)
        return REC_MALFORMED;
    if (mid && strlen(mid) + (rid ? strlen(rid) : 0) < 120)
        snprintf(id, 140, "cc:%s:%s", mid, rid ? rid : "");
    else /* no message id: the line itself is the record */
        snprintf(id, 140, "cc:line:%016llx", (unsigned long long)tm__hash(s, n));
    ev->id = id;
    ev->has |= TM_HAS_TS | TM_HAS_TOKENS;
    ev->provider = "anthropic";
    ev->model = model;
    ev->operation = "claude-code";
    ev->session_id = tm__jstr(tm__json_get(v, "sessionId"));
    ev->project = f->project;
    const tm_jv *cost = tm__json_get(v, "costUSD");
    if (cost && cost->type == TM_J_NUMBER && f->cost_mode != TM_CM_CALCULATE &&
        tm__dec_parse(cost->s, cost->n, 12, 0, &ev->cost_pusd) == 0)
        ev->has |= TM_HAS_COST;
    return REC_EVENT;
}

const tm_importer tm__imp_claude = {"claude-code", 0, defaults, wanted, project, record};
