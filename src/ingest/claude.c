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

/* The directory right under projects/ (Claude Code's name for the working
 * directory): under the walk's root when that is a projects/ directory,
 * else under the last "/projects/" of the path; else the file's own
 * directory. */
static const char *project(const char *root, const char *path, char *buf, size_t cap)
{
    const char *rel = NULL;
    char base[256];
    size_t n = root ? strlen(root) : 0;
    while (n > 1 && root[n - 1] == '/')
        n--;
    if (root && strncmp(path, root, n) == 0 && path[n] == '/' &&
        strcmp(tm__basename(root, base, sizeof base), "projects") == 0)
        rel = path + n + 1;
    for (const char *p = path; !rel && (p = strstr(p, "/projects/")); p++)
        if (!strstr(p + 1, "/projects/"))
            rel = p + 10;
    const char *slash = rel ? strchr(rel, '/') : NULL;
    if (slash && slash > rel) {
        snprintf(buf, cap, "%.*s", (int)(slash - rel), rel);
        return buf;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *last = strrchr(dir, '/');
    if (!last || last == dir)
        return NULL;
    *last = '\0';
    return tm__basename(dir, buf, cap);
}

/* The parts of a line that matter, as spans of the line (strings without
 * quotes, numbers as text). Found by the scanner, or from the full parse
 * when a needed string holds escapes. */
typedef struct span {
    const char *s;
    size_t n;
} span;

enum { T_IN, T_OUT, T_CR, T_CW, T_CW1H, NTOK };

typedef struct cc_line {
    span ts, session, request, mid, model, cost;
    span tok[NTOK];
    int has_usage, bad_tok;
} cc_line;

#define KEY(k, kn, lit) ((kn) == sizeof(lit) - 1 && memcmp((k), (lit), (kn)) == 0)

/* A string member into *out (a non-string is skipped and left empty). */
static int scan_str(tm_jscan *c, span *out)
{
    if (tm__jscan_peek(c) != '"')
        return tm__jscan_skip(c);
    return tm__jscan_str(c, &out->s, &out->n);
}

/* A token count: a number's text, null (empty), else a bad line. */
static int scan_tok(tm_jscan *c, cc_line *l, span *out)
{
    int ch = tm__jscan_peek(c);
    if (ch == 'n')
        return tm__jscan_skip(c);
    if (ch == '"' || ch == '{' || ch == '[' || ch == 't' || ch == 'f')
        l->bad_tok = 1;
    return ch == '-' || (ch >= '0' && ch <= '9') ? tm__jscan_num(c, &out->s, &out->n)
                                                 : tm__jscan_skip(c);
}

static int scan_usage(tm_jscan *c, cc_line *l)
{
    const char *k;
    size_t kn;
    int r;
    if (tm__jscan_peek(c) != '{')
        return tm__jscan_skip(c);
    l->has_usage = 1;
    tm__jscan_enter(c);
    while ((r = tm__jscan_key(c, &k, &kn)) == 1) {
        if (KEY(k, kn, "input_tokens")) r = scan_tok(c, l, &l->tok[T_IN]);
        else if (KEY(k, kn, "output_tokens")) r = scan_tok(c, l, &l->tok[T_OUT]);
        else if (KEY(k, kn, "cache_read_input_tokens")) r = scan_tok(c, l, &l->tok[T_CR]);
        else if (KEY(k, kn, "cache_creation_input_tokens")) r = scan_tok(c, l, &l->tok[T_CW]);
        else if (KEY(k, kn, "cache_creation") && tm__jscan_peek(c) == '{') {
            tm__jscan_enter(c);
            while ((r = tm__jscan_key(c, &k, &kn)) == 1)
                r = KEY(k, kn, "ephemeral_1h_input_tokens") ? scan_tok(c, l, &l->tok[T_CW1H])
                                                           : tm__jscan_skip(c);
        } else r = tm__jscan_skip(c);
        if (r)
            return r;
    }
    return r;
}

static int scan_fast(const char *s, size_t n, cc_line *l)
{
    tm_jscan c = {s, s + n};
    const char *k;
    size_t kn;
    int r;
    if (tm__jscan_enter(&c))
        return -1;
    while ((r = tm__jscan_key(&c, &k, &kn)) == 1) {
        if (KEY(k, kn, "timestamp")) r = scan_str(&c, &l->ts);
        else if (KEY(k, kn, "sessionId")) r = scan_str(&c, &l->session);
        else if (KEY(k, kn, "requestId")) r = scan_str(&c, &l->request);
        else if (KEY(k, kn, "costUSD") && tm__jscan_peek(&c) != 'n') r = tm__jscan_num(&c, &l->cost.s, &l->cost.n);
        else if (KEY(k, kn, "message") && tm__jscan_peek(&c) == '{') {
            tm__jscan_enter(&c);
            while ((r = tm__jscan_key(&c, &k, &kn)) == 1) {
                if (KEY(k, kn, "id")) r = scan_str(&c, &l->mid);
                else if (KEY(k, kn, "model")) r = scan_str(&c, &l->model);
                else if (KEY(k, kn, "usage")) r = scan_usage(&c, l);
                else r = tm__jscan_skip(&c);
                if (r)
                    break;
            }
        } else r = tm__jscan_skip(&c);
        if (r)
            return r;
    }
    return r < 0 || tm__jscan_peek(&c) != -1 ? -1 : 0;
}

static void from_jv(const tm_jv *v, span *out, int number)
{
    if (v && v->type == (number ? TM_J_NUMBER : TM_J_STRING))
        *out = (span){v->s, v->n};
}

/* The same from the full parse (strings unescaped into the arena). */
static int scan_tree(tm_arena *a, const char *s, size_t n, cc_line *l)
{
    tm_jv *v;
    char err[160];
    if (tm__json_parse(a, s, n, &v, err, sizeof err) != TM_OK || v->type != TM_J_OBJECT)
        return -1;
    const tm_jv *msg = tm__json_get(v, "message"), *u = tm__json_get(msg, "usage");
    from_jv(tm__json_get(v, "timestamp"), &l->ts, 0);
    from_jv(tm__json_get(v, "sessionId"), &l->session, 0);
    from_jv(tm__json_get(v, "requestId"), &l->request, 0);
    from_jv(tm__json_get(v, "costUSD"), &l->cost, 1);
    from_jv(tm__json_get(msg, "id"), &l->mid, 0);
    from_jv(tm__json_get(msg, "model"), &l->model, 0);
    l->has_usage = u && u->type == TM_J_OBJECT;
    static const char *const keys[NTOK] = {"input_tokens", "output_tokens", "cache_read_input_tokens",
                                           "cache_creation_input_tokens", NULL};
    for (int i = 0; i < NTOK; i++) {
        const tm_jv *t = keys[i] ? tm__json_get(u, keys[i])
                                 : tm__jpath(u, "cache_creation", "ephemeral_1h_input_tokens");
        if (t && t->type != TM_J_NULL && t->type != TM_J_NUMBER)
            l->bad_tok = 1;
        from_jv(t, &l->tok[i], 1);
    }
    return 0;
}

static const char *dup_span(tm_arena *a, span sp)
{
    return sp.s ? tm__arena_strndup(a, sp.s, sp.n) : NULL;
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
    cc_line l;
    memset(&l, 0, sizeof l);
    int r = scan_fast(s, n, &l);
    if (r == 1) { /* a needed string has escapes */
        memset(&l, 0, sizeof l);
        r = scan_tree(f->arena, s, n, &l);
    }
    if (r)
        return REC_MALFORMED;
    if (!l.has_usage)
        return REC_NO_USAGE;
    if (l.model.n == 11 && memcmp(l.model.s, "<synthetic>", 11) == 0)
        return REC_SYNTHETIC;
    const char *why;
    if (l.bad_tok || !l.ts.s || tm__time_parse(l.ts.s, l.ts.n, &ev->ts_us, &why) != 0)
        return REC_MALFORMED;
    int64_t tok[NTOK] = {0};
    for (int i = 0; i < NTOK; i++) {
        uint64_t u;
        if (l.tok[i].s && tm__uint_parse(l.tok[i].s, l.tok[i].n, 1ULL << 53, &u) != 0)
            return REC_MALFORMED;
        tok[i] = l.tok[i].s ? (int64_t)u : 0;
    }
    ev->input_tokens = tok[T_IN];
    ev->output_tokens = tok[T_OUT];
    ev->cache_read_tokens = tok[T_CR];
    ev->cache_write_tokens = tok[T_CW];
    ev->cache_write_1h_tokens = tok[T_CW1H] <= tok[T_CW] ? tok[T_CW1H] : 0;
    char *id = tm__arena_alloc(f->arena, 140);
    if (!id)
        return REC_MALFORMED;
    if (l.mid.s && l.mid.n + l.request.n < 120)
        snprintf(id, 140, "cc:%.*s:%.*s", (int)l.mid.n, l.mid.s, (int)l.request.n,
                 l.request.s ? l.request.s : "");
    else /* no message id: the line itself is the record */
        snprintf(id, 140, "cc:line:%016llx", (unsigned long long)tm__hash(s, n));
    ev->id = id;
    ev->has |= TM_HAS_TS | TM_HAS_TOKENS;
    ev->provider = "anthropic";
    ev->model = dup_span(f->arena, l.model);
    ev->operation = "claude-code";
    ev->session_id = dup_span(f->arena, l.session);
    ev->project = f->project;
    if (l.cost.s && f->cost_mode != TM_CM_CALCULATE &&
        tm__dec_parse(l.cost.s, l.cost.n, 12, 0, &ev->cost_pusd) == 0)
        ev->has |= TM_HAS_COST;
    return REC_EVENT;
}

const tm_importer tm__imp_claude = {"claude-code", 0, ".jsonl", defaults, project, record};
