/*
 * redis.c — the rate limiter's state shared through Redis (hiredis), so
 * that N daemons behind a load balancer enforce one limit instead of N.
 *
 * Each check is one Lua script (EVAL: atomic on the Redis server) over
 * every rule's key: it reads each theoretical arrival time, decides as
 * policy.c's local GCRA does, and when all conform and the check debits,
 * writes the new times with an expiry. Each answer carries every key's
 * time, which the caller copies into its local limiter, so that when Redis
 * does not answer within the timeout the local fallback goes on from the
 * shared state (not from a full bucket); Redis is then not tried again
 * for a second. Nothing here ever
 * delays or loses an event: only checks consult it. Caller holds the
 * policy's mutex.
 *
 * The same connection claims the soft-limit outbox's notifications (SET
 * NX PX), so of N daemons one records and delivers each; notify.c has
 * the change notifications (their own connections, made by
 * tm__redis_connect as here: AUTH after each connect when the URL has a
 * password, which no message shows).
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "../core/err.h"
#include "../core/tmtime.h"
#include "policy.h"

#define PREFIX "tokmeter:gcra:"
#define RETRY_US 1000000

struct tm_redis {
    tm_redis_addr a;
    char *url;              /* as configured (with its password)             */
    int timeout_ms;
    redisContext *c;
    int64_t down_until;     /* no attempt before this (µs)                   */
    uint64_t outages;       /* failures after a success (or the first)       */
    int down;               /* the last call failed                           */
    char last[512];         /* the last failure                               */
};

/* KEYS: the rules' keys. ARGV: now, debit, then per key T, tau, cost,
 * tokens (0/1). Returns {allowed, worst over (µs), index of its key, then
 * each key's theoretical arrival time after the decision}. */
static const char gcra_lua[] =
    "local now = tonumber(ARGV[1]) local debit = tonumber(ARGV[2])\n"
    "local allowed, worst, wi, news, tats = 1, 0, 0, {}, {}\n"
    "for i, k in ipairs(KEYS) do\n"
    "  local b = 2 + (i - 1) * 4\n"
    "  local T, tau, cost = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])\n"
    "  local tat = tonumber(redis.call('GET', k) or now)\n"
    "  if tat < now then tat = now end\n"
    "  tats[i] = tat\n"
    "  local nxt = tat + T * cost\n"
    "  local over = nxt - now - tau - T\n"
    "  if over > 0 then allowed = 0 if over > worst then worst, wi = over, i end end\n"
    "  if ARGV[b + 4] == '1' then news[i] = -1 else news[i] = nxt end\n"
    "end\n"
    "if allowed == 1 and debit == 1 then\n"
    "  for i, k in ipairs(KEYS) do\n"
    "    if news[i] >= 0 then\n"
    "      redis.call('SET', k, string.format('%.0f', news[i]), 'PX', math.floor((news[i] - now) / 1000) + 1000)\n"
    "      tats[i] = news[i]\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local out = {allowed, string.format('%.0f', worst), wi}\n"
    "for i = 1, #KEYS do out[3 + i] = string.format('%.0f', tats[i]) end\n"
    "return out\n";

/* KEYS: token rules' keys. ARGV: now, then per key the increment (µs).
 * Returns each key's new theoretical arrival time. */
static const char consume_lua[] =
    "local now = tonumber(ARGV[1])\n"
    "local out = {}\n"
    "for i, k in ipairs(KEYS) do\n"
    "  local tat = tonumber(redis.call('GET', k) or now)\n"
    "  if tat < now then tat = now end\n"
    "  local nxt = tat + tonumber(ARGV[i + 1])\n"
    "  redis.call('SET', k, string.format('%.0f', nxt), 'PX', math.floor((nxt - now) / 1000) + 1000)\n"
    "  out[i] = string.format('%.0f', nxt)\n"
    "end\n"
    "return out\n";

/* Percent-decodes s[0, n) into out (cap bytes with the NUL); -1 on a bad
 * escape, a NUL or too long. */
static int decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int h = 0;
            for (int j = 1; j <= 2; j++) {
                int d = i + j < n ? (unsigned char)s[i + j] : 0;
                d = d >= '0' && d <= '9' ? d - '0' : d >= 'a' && d <= 'f' ? d - 'a' + 10
                  : d >= 'A' && d <= 'F' ? d - 'A' + 10 : -1;
                if (d < 0)
                    return -1;
                h = h * 16 + d;
            }
            c = h;
            i += 2;
        }
        if (c == 0 || k + 1 >= cap)
            return -1;
        out[k++] = (char)c;
    }
    out[k] = '\0';
    return 0;
}

const char *tm__redis_shown(const char *url, char *buf, size_t cap)
{
    const char *auth = strstr(url, "://");
    const char *at = auth ? strrchr(auth + 3, '@') : NULL;
    if (!at) {
        snprintf(buf, cap, "%s", url);
        return buf;
    }
    auth += 3;
    const char *colon = memchr(auth, ':', (size_t)(at - auth));
    const char *keep = colon ? colon + 1 : auth; /* a user part alone may be a password */
    snprintf(buf, cap, "%.*s***%s", (int)(keep - url), url, at);
    return buf;
}

int tm__redis_parse(const char *url, const char *origin, tm_redis_addr *a)
{
    const char *why = NULL, *hp = url + 8;
    memset(a, 0, sizeof *a);
    a->port = 6379;
    if (strncmp(url, "rediss://", 9) == 0)
        why = "TLS (rediss://) is not supported: reach Redis through a TLS tunnel (stunnel) or "
              "on a private network, with redis://";
    else if (strncmp(url, "redis://", 8) != 0)
        why = "must start with redis://";
    const char *at = why ? NULL : strrchr(hp, '@');
    if (at) {
        const char *colon = memchr(hp, ':', (size_t)(at - hp));
        if (!colon)
            why = "a password is given as redis://:PASSWORD@HOST or redis://USER:PASSWORD@HOST";
        else if (decode(hp, (size_t)(colon - hp), a->user, sizeof a->user))
            why = "the user has a bad %XX escape or a NUL, or is longer than 255 bytes";
        else if (decode(colon + 1, (size_t)(at - colon - 1), a->pass, sizeof a->pass))
            why = "the password has a bad %XX escape or a NUL, or is longer than 255 bytes";
        else if (!a->pass[0])
            why = "the password is empty";
        hp = at + 1;
    }
    size_t n = why ? 0 : strcspn(hp, ":/");
    if (why)
        ;
    else if (n == 0)
        why = "the host is missing";
    else if (n >= sizeof a->host)
        why = "the host is longer than 255 bytes";
    else {
        memcpy(a->host, hp, n);
        const char *rest = hp + n;
        if (*rest == ':') {
            size_t d = 0;
            a->port = 0;
            while (d < 6 && rest[1 + d] >= '0' && rest[1 + d] <= '9')
                a->port = a->port * 10 + (rest[1 + d++] - '0');
            if (d == 0 || a->port < 1 || a->port > 65535)
                why = "the port must be 1 to 65535";
            rest += 1 + d;
        }
        if (!why && *rest && strcmp(rest, "/") != 0)
            why = "nothing may follow HOST:PORT (no database number, no options)";
    }
    if (why) {
        char shown[600];
        memset(a, 0, sizeof *a);
        return tm__fail(TM_EINVAL, "%s: redis: %s, in '%s' (the form: redis://[[USER]:PASSWORD@]HOST[:PORT])",
                        origin, why, tm__redis_shown(url, shown, sizeof shown));
    }
    return TM_OK;
}

redisContext *tm__redis_connect(const tm_redis_addr *a, int timeout_ms, char *why, size_t cap)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(a->host, a->port, tv);
    redisReply *rep = NULL;
    if (!c || c->err) {
        snprintf(why, cap, "%s", c ? c->errstr : "out of memory");
        goto fail;
    }
    redisSetTimeout(c, tv);
    if (!a->pass[0])
        return c;
    const char *argv[] = {"AUTH", a->user, a->pass};
    rep = a->user[0] ? redisCommandArgv(c, 3, argv, NULL)
                     : redisCommandArgv(c, 2, (const char *[]){"AUTH", a->pass}, NULL);
    if (rep && rep->type != REDIS_REPLY_ERROR) {
        freeReplyObject(rep);
        return c;
    }
    snprintf(why, cap, "AUTH: %s", rep ? rep->str : c->errstr[0] ? c->errstr : "no reply");
fail:
    if (rep)
        freeReplyObject(rep);
    if (c)
        redisFree(c);
    return NULL;
}

int tm__redis_new(const char *url, const char *origin, tm_redis **out)
{
    tm_redis_addr a;
    *out = NULL;
    int rc = tm__redis_parse(url, origin, &a);
    if (rc)
        return rc;
    tm_redis *r = calloc(1, sizeof *r);
    if (!r || !(r->url = strdup(url))) {
        free(r);
        return TM_ENOMEM;
    }
    r->a = a;
    r->timeout_ms = 100;
    *out = r;
    return TM_OK;
}

const char *tm__redis_url(const tm_redis *r) { return r ? r->url : NULL; }

void tm__redis_free(tm_redis *r)
{
    if (!r)
        return;
    if (r->c)
        redisFree(r->c);
    free(r->url);
    free(r);
}

uint64_t tm__redis_errors(const tm_redis *r, int *down, char *last, size_t cap)
{
    *down = r && r->down;
    if (!r)
        return 0;
    if (last)
        snprintf(last, cap, "%s", r->last);
    return r->outages;
}

static void failed(tm_redis *r, int64_t now, const char *why)
{
    if (!r->down)
        r->outages++;
    r->down = 1;
    snprintf(r->last, sizeof r->last, "redis %s:%d: %s", r->a.host, r->a.port, why);
    if (r->c) {
        redisFree(r->c);
        r->c = NULL;
    }
    r->down_until = now + RETRY_US;
}

/* Sends one command (argc words) within the timeout; *out gets the reply. */
static int command(tm_redis *r, int argc, const char **argv, redisReply **out)
{
    int64_t now = tm__now_us();
    *out = NULL;
    if (now < r->down_until)
        return TM_EBUSY;
    char why[400];
    if (!r->c && !(r->c = tm__redis_connect(&r->a, r->timeout_ms, why, sizeof why))) {
        failed(r, now, why);
        return TM_EIO;
    }
    redisReply *rep = redisCommandArgv(r->c, argc, argv, NULL);
    if (!rep) {
        failed(r, now, r->c->errstr[0] ? r->c->errstr : "no reply");
        return TM_EIO;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        failed(r, now, rep->str);
        freeReplyObject(rep);
        return TM_EIO;
    }
    r->down = 0;
    *out = rep;
    return TM_OK;
}

void tm__redis_probe(tm_redis *r)
{
    redisReply *rep = NULL;
    const char *argv[] = {"PING"};
    if (r && (!r->c || r->down) && command(r, 1, argv, &rep) == TM_OK)
        freeReplyObject(rep);
}

/* Runs EVAL script over n keys with argv; *out gets the reply. */
static int eval(tm_redis *r, const char *script, size_t n, const char *const *keys, size_t nargs,
                char (*args)[32], redisReply **out)
{
    size_t argc = 3 + n + nargs;
    const char **argv = malloc(argc * sizeof *argv);
    *out = NULL;
    if (!argv)
        return TM_ENOMEM;
    char nk[24];
    snprintf(nk, sizeof nk, "%zu", n);
    argv[0] = "EVAL";
    argv[1] = script;
    argv[2] = nk;
    for (size_t i = 0; i < n; i++)
        argv[3 + i] = keys[i];
    for (size_t i = 0; i < nargs; i++)
        argv[3 + n + i] = args[i];
    int rc = command(r, (int)argc, argv, out);
    free(argv);
    return rc;
}

int tm__redis_claim(tm_redis *r, const char *key, int64_t ttl_ms, int nx)
{
    char ttl[24];
    redisReply *rep = NULL;
    snprintf(ttl, sizeof ttl, "%lld", (long long)(ttl_ms > 0 ? ttl_ms : 1));
    const char *argv[] = {"SET", key, "1", "PX", ttl, "NX"};
    int rc = command(r, nx ? 6 : 5, argv, &rep);
    if (rc)
        return -1;
    rc = rep->type == REDIS_REPLY_STATUS ? 1 : rep->type == REDIS_REPLY_NIL ? 0 : -1;
    freeReplyObject(rep);
    return rc;
}

void tm__redis_unclaim(tm_redis *r, const char *key)
{
    redisReply *rep = NULL;
    const char *argv[] = {"DEL", key};
    if (command(r, 2, argv, &rep) == TM_OK)
        freeReplyObject(rep);
}

/* Reads reply elements [from, from + n) as times into tats; 0 when one is
 * not a number's text. */
static int read_tats(const redisReply *rep, size_t from, size_t n, int64_t *tats)
{
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = rep->element[from + i];
        char *end = NULL;
        if (e->type != REDIS_REPLY_STRING)
            return 0;
        tats[i] = strtoll(e->str, &end, 10);
        if (end == e->str || *end)
            return 0;
    }
    return 1;
}

int tm__redis_gcra(tm_redis *r, size_t n, const char *const *keys, const double (*rule)[4],
                   int64_t now_us, int debit, int *allowed, double *over_us, size_t *worst,
                   int64_t *tats)
{
    char (*args)[32] = calloc(2 + 4 * n, sizeof *args);
    redisReply *rep = NULL;
    if (!args)
        return TM_ENOMEM;
    snprintf(args[0], sizeof args[0], "%lld", (long long)now_us);
    snprintf(args[1], sizeof args[1], "%d", debit ? 1 : 0);
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 4; k++)
            snprintf(args[2 + 4 * i + k], sizeof args[0], k == 3 ? "%.0f" : "%.3f", rule[i][k]);
    int rc = eval(r, gcra_lua, n, keys, 2 + 4 * n, args, &rep);
    free(args);
    if (rc)
        return rc;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 + n ||
        rep->element[0]->type != REDIS_REPLY_INTEGER || rep->element[1]->type != REDIS_REPLY_STRING ||
        rep->element[2]->type != REDIS_REPLY_INTEGER || !read_tats(rep, 3, n, tats)) {
        failed(r, now_us, "unexpected reply to the GCRA script");
        rc = TM_EIO;
    } else {
        *allowed = rep->element[0]->integer == 1;
        *over_us = strtod(rep->element[1]->str, NULL);
        *worst = rep->element[2]->integer > 0 ? (size_t)rep->element[2]->integer - 1 : 0;
    }
    freeReplyObject(rep);
    return rc;
}

int tm__redis_consume(tm_redis *r, size_t n, const char *const *keys, const double *inc_us,
                      int64_t now_us, int64_t *tats)
{
    char (*args)[32] = calloc(1 + n, sizeof *args);
    redisReply *rep = NULL;
    if (!args)
        return TM_ENOMEM;
    snprintf(args[0], sizeof args[0], "%lld", (long long)now_us);
    for (size_t i = 0; i < n; i++)
        snprintf(args[1 + i], sizeof args[0], "%.0f", inc_us[i]);
    int rc = eval(r, consume_lua, n, keys, 1 + n, args, &rep);
    free(args);
    if (rc == TM_OK && (rep->type != REDIS_REPLY_ARRAY || rep->elements != n || !read_tats(rep, 0, n, tats))) {
        failed(r, now_us, "unexpected reply to the consume script");
        rc = TM_EIO;
    }
    if (rep)
        freeReplyObject(rep);
    return rc;
}

/* The Redis key of a limiter key. */
void tm__redis_key(const char *key, char *buf, size_t cap) { snprintf(buf, cap, PREFIX "%s", key); }
