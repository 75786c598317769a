/*
 * opencode.c — the OpenCode message reader.
 *
 * OpenCode keeps one JSON file per message under
 * ${OPENCODE_DATA_DIR:-${XDG_DATA_HOME:-~/.local/share}/opencode}/storage/
 * message/<sessionID>/<messageID>.json. Assistant messages carry modelID,
 * providerID, time.created (epoch ms), tokens {input, output, reasoning,
 * cache {read, write}}, cost (USD, as OpenCode priced it) and path {cwd,
 * root}. OpenCode bills reasoning at the output price beside output, so
 * the event's output_tokens is output + reasoning, reasoning_tokens the
 * part. A message file is rewritten while the answer streams; the id is
 * the message id, and the larger copy wins.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/dec.h"
#include "ingest_int.h"

static int defaults(tm_buf *out)
{
    const char *dir = getenv("OPENCODE_DATA_DIR"), *xdg = getenv("XDG_DATA_HOME");
    if (dir && *dir)
        return tm__buf_printf(out, "%s/storage/message%c", dir, 0);
    if (xdg && *xdg)
        return tm__buf_printf(out, "%s/opencode/storage/message%c", xdg, 0);
    int rc = tm__home_path(out, ".local/share/opencode/storage/message");
    return rc ? rc : tm__buf_add(out, "", 1);
}

static int record(tm_ifile *f, const char *s, size_t n, tm_event *ev)
{
    tm_jv *v;
    char err[160];
    if (tm__json_parse(f->arena, s, n, &v, err, sizeof err) != TM_OK || v->type != TM_J_OBJECT)
        return REC_MALFORMED;
    const char *role = tm__jstr(tm__json_get(v, "role"));
    if (!role || strcmp(role, "assistant") != 0)
        return REC_NONE;
    const tm_jv *tok = tm__json_get(v, "tokens");
    if (!tok || tok->type != TM_J_OBJECT)
        return REC_NO_USAGE;
    int64_t in = 0, out = 0, reason = 0, cr = 0, cw = 0, created = 0;
    const tm_jv *vals[5] = {tm__json_get(tok, "input"), tm__json_get(tok, "output"),
                            tm__json_get(tok, "reasoning"), tm__jpath(tok, "cache", "read"),
                            tm__jpath(tok, "cache", "write")};
    int64_t *slots[5] = {&in, &out, &reason, &cr, &cw};
    for (int i = 0; i < 5; i++)
        if (vals[i] && tm__jint(vals[i], slots[i]) != 0)
            return REC_MALFORMED;
    const char *id = tm__jstr(tm__json_get(v, "id"));
    if (!id || tm__jint(tm__jpath(v, "time", "created"), &created) != 0)
        return REC_MALFORMED;
    char *eid = tm__arena_alloc(f->arena, 140);
    if (!eid)
        return REC_MALFORMED;
    snprintf(eid, 140, "opencode:%.120s", id);
    ev->id = eid;
    ev->ts_us = created * 1000;
    ev->input_tokens = in;
    ev->output_tokens = out + reason;
    ev->reasoning_tokens = reason;
    ev->cache_read_tokens = cr;
    ev->cache_write_tokens = cw;
    ev->has |= TM_HAS_TS | TM_HAS_TOKENS;
    ev->provider = tm__jstr(tm__json_get(v, "providerID"));
    ev->model = tm__jstr(tm__json_get(v, "modelID"));
    ev->operation = "opencode";
    ev->session_id = tm__jstr(tm__json_get(v, "sessionID"));
    const char *dir = tm__jstr(tm__jpath(v, "path", "root"));
    if (!dir || !*dir || strcmp(dir, "/") == 0)
        dir = tm__jstr(tm__jpath(v, "path", "cwd"));
    if (dir && *dir) {
        char base[256];
        tm__basename(dir, base, sizeof base);
        ev->project = tm__arena_strndup(f->arena, base, strlen(base));
    }
    const tm_jv *cost = tm__json_get(v, "cost");
    int64_t pusd = 0;
    if (cost && cost->type == TM_J_NUMBER && f->cost_mode != TM_CM_CALCULATE &&
        tm__dec_parse(cost->s, cost->n, 12, 0, &pusd) == 0 && pusd > 0) {
        ev->cost_pusd = pusd;
        ev->has |= TM_HAS_COST;
    }
    return REC_EVENT;
}

const tm_importer tm__imp_opencode = {"opencode", 1, ".json", defaults, NULL, record};
