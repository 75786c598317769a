/*
 * codex.c — the Codex CLI log reader.
 *
 * Codex writes one JSONL "rollout" per session under
 * ${CODEX_HOME:-~/.codex}/sessions/YYYY/MM/DD/. Every line is
 * {timestamp, type, payload}: session_meta (the session id and cwd),
 * turn_context (the model in use from then on), and event_msg lines whose
 * payload.type is token_count with info.total_token_usage (cumulative) and
 * info.last_token_usage (this turn). A token_count repeating the previous
 * total is the same turn reported again and is skipped. A total lower than
 * the last starts a new count: the turn is that total, and the turns from
 * there get ids of their own (a total can repeat an earlier one). A line
 * with only the running total is the difference from the last, each token
 * kind at least 0. The session, cwd, model, last total and number of such
 * resets are the reader's context, saved with the file's offset so an
 * incremental run continues where it stopped.
 *
 * OpenAI's input_tokens include cached_input_tokens and output_tokens
 * include reasoning_output_tokens; the event's buckets do not overlap, so
 * input = input_tokens - cached_input_tokens.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/tmtime.h"
#include "ingest_int.h"

static int defaults(tm_buf *out)
{
    const char *home = getenv("CODEX_HOME");
    if (home && *home)
        return tm__buf_printf(out, "%s/sessions%c", home, 0);
    int rc = tm__home_path(out, ".codex/sessions");
    return rc ? rc : tm__buf_add(out, "", 1);
}

enum { U_IN, U_CACHED, U_OUT, U_REASON, U_TOTAL };

static int usage_of(const tm_jv *u, int64_t out[5])
{
    static const char *const keys[5] = {"input_tokens", "cached_input_tokens", "output_tokens",
                                        "reasoning_output_tokens", "total_tokens"};
    if (!u || u->type != TM_J_OBJECT)
        return -1;
    for (int i = 0; i < 5; i++) {
        const tm_jv *v = tm__json_get(u, keys[i]);
        out[i] = 0;
        if (v && v->type != TM_J_NULL && tm__jint(v, &out[i]) != 0)
            return -1;
    }
    if (!tm__json_get(u, "total_tokens"))
        out[U_TOTAL] = out[U_IN] + out[U_OUT];
    return 0;
}

static void set_str(char *dst, size_t cap, const char *s)
{
    if (s)
        snprintf(dst, cap, "%s", s);
}

static int record(tm_ifile *f, const char *s, size_t n, tm_event *ev)
{
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\r'))
        n--;
    if (!n)
        return REC_NONE;
    int meta = memmem(s, n, "\"session_meta\"", 14) != NULL;
    int turn = !meta && memmem(s, n, "\"turn_context\"", 14) != NULL;
    int count = !meta && !turn && memmem(s, n, "\"token_count\"", 13) != NULL;
    if (!meta && !turn && !count)
        return REC_NONE;
    tm_jv *v;
    char err[160];
    if (tm__json_parse(f->arena, s, n, &v, err, sizeof err) != TM_OK || v->type != TM_J_OBJECT)
        return REC_MALFORMED;
    const char *type = tm__jstr(tm__json_get(v, "type"));
    const tm_jv *p = tm__json_get(v, "payload");
    tm_ictx *c = &f->ctx;
    char base[256];
    int is_meta = type && strcmp(type, "session_meta") == 0;
    if (is_meta || (type && strcmp(type, "turn_context") == 0)) {
        /* the session (meta) or the model from here on (turn), and the cwd */
        if (is_meta)
            set_str(c->session, sizeof c->session, tm__jstr(tm__json_get(p, "id")));
        else
            set_str(c->model, sizeof c->model, tm__jstr(tm__json_get(p, "model")));
        const char *cwd = tm__jstr(tm__json_get(p, "cwd"));
        if (cwd)
            set_str(c->project, sizeof c->project, tm__basename(cwd, base, sizeof base));
        return REC_NONE;
    }
    const char *ptype = tm__jstr(tm__json_get(p, "type"));
    if (!type || strcmp(type, "event_msg") != 0 || !ptype || strcmp(ptype, "token_count") != 0)
        return REC_NONE;
    const tm_jv *info = tm__json_get(p, "info");
    if (!info || info->type != TM_J_OBJECT)
        return REC_NO_USAGE;
    int64_t total[5], last[5], *use;
    int has_total = usage_of(tm__json_get(info, "total_token_usage"), total) == 0;
    int has_last = usage_of(tm__json_get(info, "last_token_usage"), last) == 0;
    if (!has_total && !has_last)
        return REC_NO_USAGE;
    if (has_total && c->has_prev && memcmp(total, c->prev, sizeof total) == 0)
        return REC_NONE; /* the same turn reported again */
    /* A running total below the last one starts counting again (a new
     * count in the same file): its turns get ids of their own. */
    int reset = has_total && c->has_prev && total[U_TOTAL] < c->prev[U_TOTAL];
    if (reset)
        c->resets++;
    if (has_last) {
        use = last;
    } else { /* only the running total: this turn is the difference, each
              * bucket at least 0; after a reset, the new total */
        for (int i = 0; i < 5; i++)
            last[i] = !c->has_prev || reset ? total[i] : total[i] > c->prev[i] ? total[i] - c->prev[i] : 0;
        use = last;
    }
    if (has_total) {
        memcpy(c->prev, total, sizeof total);
        c->has_prev = 1;
    }
    const char *ts = tm__jstr(tm__json_get(v, "timestamp")), *why;
    if (!ts || tm__time_parse(ts, strlen(ts), &ev->ts_us, &why) != 0)
        return REC_MALFORMED;
    int64_t cached = use[U_CACHED] < use[U_IN] ? use[U_CACHED] : use[U_IN];
    ev->input_tokens = use[U_IN] - cached;
    ev->cache_read_tokens = cached;
    ev->output_tokens = use[U_OUT];
    ev->reasoning_tokens = use[U_REASON] < use[U_OUT] ? use[U_REASON] : use[U_OUT];
    ev->has |= TM_HAS_TS | TM_HAS_TOKENS;
    if (!c->session[0]) /* rollout-<time>-<uuid>.jsonl: the name is the session */
        set_str(c->session, sizeof c->session, tm__basename(f->path, base, sizeof base));
    char *id = tm__arena_alloc(f->arena, 200);
    if (!id)
        return REC_MALFORMED;
    if (has_total && c->resets)
        snprintf(id, 200, "codex:%.100s:r%d:%lld", c->session, c->resets, (long long)total[U_TOTAL]);
    else if (has_total)
        snprintf(id, 200, "codex:%.100s:%lld", c->session, (long long)total[U_TOTAL]);
    else
        snprintf(id, 200, "codex:%.100s:%s", c->session, ts);
    ev->id = id;
    ev->provider = "openai";
    ev->model = c->model[0] ? c->model : NULL;
    ev->operation = "codex";
    ev->session_id = c->session;
    ev->project = c->project[0] ? c->project : NULL;
    return REC_EVENT;
}

const tm_importer tm__imp_codex = {"codex", 0, ".jsonl", defaults, NULL, record};
