/*
 * alert.c — parsing alert rules and delivering webhooks with libcurl.
 */
#include "alert.h"

#include <curl/curl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/buf.h"
#include "../core/dec.h"
#include "../core/err.h"
#include "../core/json.h"
#include "../core/tz.h"
#include "../query/query.h"

static int bad(const char *path, int i, const char *field, const char *why)
{
    return tm__fail(TM_EINVAL, "%s: alerts.rules[%d].%s: %s", path, i, field, why);
}

static int parse_rule(tm_alert_rule *r, int i, const tm_jv *o, const char *path)
{
    memset(r, 0, sizeof *r);
    r->report_metric = -1;
    r->scope = -1;
    snprintf(r->tz, sizeof r->tz, "UTC");
    if (o->type != TM_J_OBJECT)
        return bad(path, i, "rule", "must be an object");
    const tm_jv *v;
    if (!(v = tm__json_get(o, "name")) || v->type != TM_J_STRING || !v->n || v->n >= sizeof r->name)
        return bad(path, i, "name", "is required (a short string)");
    memcpy(r->name, v->s, v->n + 1);
    if (!(v = tm__json_get(o, "metric")) || v->type != TM_J_STRING || v->n >= sizeof r->metric)
        return bad(path, i, "metric", "is required: a report metric, events:METRIC_TYPE or quota_percent");
    memcpy(r->metric, v->s, v->n + 1);
    if (strcmp(v->s, "quota_percent") == 0)
        r->quota_percent = 1;
    else if (strncmp(v->s, "events:", 7) == 0 && v->s[7] && v->n - 7 < sizeof r->metric_type)
        memcpy(r->metric_type, v->s + 7, v->n - 6);
    else {
        for (int m = 0; m < TM_NMETRIC; m++)
            if (strcmp(v->s, tm__metric_names[m]) == 0)
                r->report_metric = m;
        if (r->report_metric < 0)
            return bad(path, i, "metric", "unknown metric (cost_usd, requests, errors, error_rate, "
                                          "latency_p95_ms, total_tokens, events:TYPE, quota_percent)");
    }
    if ((v = tm__json_get(o, "scope")) && !(v->type == TM_J_STRING && strcmp(v->s, "global") == 0)) {
        for (int d = 0; d < TM_NDIM; d++)
            if (v->type == TM_J_STRING && strcmp(v->s, tm__dim_names[d]) == 0 && d != TM_D_SUCCESS)
                r->scope = d;
        if (r->scope < 0)
            return bad(path, i, "scope", "must be global, provider, model, user_id, endpoint, operation, metric_type or project");
    }
    if (r->quota_percent && r->scope != TM_D_USER)
        return bad(path, i, "scope", "quota_percent is per user: scope must be user_id");
    if ((v = tm__json_get(o, "where"))) {
        if (v->type != TM_J_OBJECT || v->n > 4)
            return bad(path, i, "where", "must be an object of at most 4 DIM: VALUE");
        for (size_t k = 0; k < v->n; k++) {
            if (v->vals[k]->type != TM_J_STRING)
                return bad(path, i, "where", "values must be strings");
            snprintf(r->where[r->nwhere++], sizeof r->where[0], "%s=%s", v->keys[k], v->vals[k]->s);
        }
    }
    const char *w = (v = tm__json_get(o, "window")) && v->type == TM_J_STRING ? v->s : "1h";
    snprintf(r->window_text, sizeof r->window_text, "%s", w);
    if (strcmp(w, "day") == 0) {
        r->window = TM_W_DAY;
    } else if (strcmp(w, "month") == 0) {
        r->window = TM_W_MONTH;
    } else {
        size_t n = strlen(w);
        uint64_t k;
        int64_t unit = n ? (w[n - 1] == 'm' ? 60 : w[n - 1] == 'h' ? 3600 : w[n - 1] == 'd' ? 86400 : 0) : 0;
        if (!unit || n < 2 || tm__uint_parse(w, n - 1, 100000, &k) || !k)
            return bad(path, i, "window", "must be day, month, or a span like 15m, 1h, 7d");
        r->window = TM_W_ROLLING;
        r->window_us = (int64_t)k * unit * 1000000;
    }
    if ((v = tm__json_get(o, "tz"))) {
        tm_tz *z = NULL;
        if (v->type != TM_J_STRING || v->n >= sizeof r->tz || tm__tz_load(v->s, &z))
            return bad(path, i, "tz", "not a time zone");
        tm__tz_free(z);
        memcpy(r->tz, v->s, v->n + 1);
    }
    static const char *const ops[] = {">", ">=", "<", "<="};
    const char *op = (v = tm__json_get(o, "op")) && v->type == TM_J_STRING ? v->s : ">";
    r->op = -1;
    for (int k = 0; k < 4; k++)
        if (strcmp(op, ops[k]) == 0)
            r->op = k;
    if (r->op < 0)
        return bad(path, i, "op", "must be >, >=, < or <=");
    if (!(v = tm__json_get(o, "threshold")) || (v->type != TM_J_NUMBER && v->type != TM_J_STRING) ||
        v->n >= sizeof r->threshold_text)
        return bad(path, i, "threshold", "is required (a number)");
    int cmp;
    if (tm__dec_cmp(v->s, v->n, "0", 1, &cmp))
        return bad(path, i, "threshold", "must be a number");
    memcpy(r->threshold_text, v->s, v->n + 1);
    return TM_OK;
}

int tm__alerts_load(tm_alerts **out, const char *path)
{
    tm_alerts *a = calloc(1, sizeof *a);
    tm_arena ar = TM_ARENA_INIT;
    tm_jv *root = NULL;
    int rc = TM_OK;
    *out = NULL;
    if (!a)
        return TM_ENOMEM;
    a->interval_s = 30;
    a->max_tries = 5;
    a->backoff_s = 1;
    if (!path || !*path)
        goto out;
    if ((rc = tm__json_load_file(&ar, path, 4u << 20, &root)))
        goto out;
    const tm_jv *al = tm__json_get(root, "alerts"), *v;
    if (!al)
        goto out;
    if (al->type != TM_J_OBJECT) {
        rc = tm__fail(TM_EINVAL, "%s: alerts: must be an object", path);
        goto out;
    }
    uint64_t n;
    if ((v = tm__json_get(al, "interval_s")) && !tm__uint_parse(v->s ? v->s : "", v->n, 86400, &n) && n)
        a->interval_s = (unsigned)n;
    if ((v = tm__json_get(al, "max_tries")) && !tm__uint_parse(v->s ? v->s : "", v->n, 100, &n) && n)
        a->max_tries = (unsigned)n;
    if ((v = tm__json_get(al, "backoff_s")) && v->type == TM_J_NUMBER)
        a->backoff_s = strtod(v->s, NULL);
    const tm_jv *hooks = tm__json_get(al, "webhooks"), *rules = tm__json_get(al, "rules");
    if (hooks && hooks->type == TM_J_ARRAY && hooks->n) {
        a->hooks = calloc(hooks->n, sizeof *a->hooks);
        for (size_t i = 0; a->hooks && i < hooks->n; i++, a->nhooks++) {
            const tm_jv *h = hooks->vals[i], *u = tm__json_get(h, "url"), *sec = tm__json_get(h, "secret"),
                        *env = tm__json_get(h, "secret_env");
            if (!u || u->type != TM_J_STRING || u->n >= sizeof a->hooks[i].url ||
                (strncmp(u->s, "http://", 7) && strncmp(u->s, "https://", 8))) {
                rc = tm__fail(TM_EINVAL, "%s: alerts.webhooks[%zu].url: must be an http(s) URL", path, i);
                goto out;
            }
            memcpy(a->hooks[i].url, u->s, u->n + 1);
            const char *secret = sec && sec->type == TM_J_STRING ? sec->s
                               : env && env->type == TM_J_STRING ? getenv(env->s) : NULL;
            if (env && env->type == TM_J_STRING && !secret) {
                rc = tm__fail(TM_EINVAL, "%s: alerts.webhooks[%zu].secret_env: %s is not set", path, i, env->s);
                goto out;
            }
            snprintf(a->hooks[i].secret, sizeof a->hooks[i].secret, "%s", secret ? secret : "");
        }
    }
    if (rules && rules->type == TM_J_ARRAY && rules->n) {
        if (!(a->rules = calloc(rules->n, sizeof *a->rules))) {
            rc = TM_ENOMEM;
            goto out;
        }
        for (size_t i = 0; rc == TM_OK && i < rules->n; i++, a->nrules++)
            rc = parse_rule(&a->rules[i], (int)i, rules->vals[i], path);
    }
out:
    tm__arena_free(&ar);
    if (rc) {
        tm__alerts_free(a);
        return rc;
    }
    *out = a;
    return TM_OK;
}

void tm__alerts_free(tm_alerts *a)
{
    if (!a)
        return;
    free(a->rules);
    free(a->hooks);
    free(a);
}

int tm__alert_holds(const tm_alert_rule *r, const char *v)
{
    int c;
    if (tm__dec_cmp(v, strlen(v), r->threshold_text, strlen(r->threshold_text), &c))
        return 0;
    switch (r->op) {
    case TM_OP_GT: return c > 0;
    case TM_OP_GE: return c >= 0;
    case TM_OP_LT: return c < 0;
    default: return c <= 0;
    }
}

void tm__webhook_sign(const char *secret, const char *body, char out[72])
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[32];
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, strlen(body));
    crypto_auth_hmacsha256_final(&st, mac);
    memcpy(out, "sha256=", 7);
    sodium_bin2hex(out + 7, 65, mac, 32);
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p, (void)arg;
    return size * n;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_start(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

int tm__webhook_send(const tm_webhook *h, const char *body, unsigned max_tries, double backoff_s)
{
    char sig[72], hdr[100], why[CURL_ERROR_SIZE + 64] = "";
    pthread_once(&curl_once, curl_start);
    if (sodium_init() < 0)
        return tm__fail(TM_EIO, "webhook: libsodium could not start");
    CURL *c = curl_easy_init();
    if (!c)
        return tm__fail(TM_ENOMEM, "webhook: curl could not start");
    struct curl_slist *hs = curl_slist_append(NULL, "Content-Type: application/json");
    if (h->secret[0]) {
        tm__webhook_sign(h->secret, body, sig);
        snprintf(hdr, sizeof hdr, "X-Tokmeter-Signature: %s", sig);
        hs = curl_slist_append(hs, hdr);
    }
    char cerr[CURL_ERROR_SIZE];
    curl_easy_setopt(c, CURLOPT_URL, h->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    int rc = TM_EIO;
    double wait = backoff_s;
    for (unsigned k = 0; k < max_tries; k++) {
        if (k) { /* exponential backoff with up to 25% jitter */
            double j = wait * (1.0 + 0.25 * (double)randombytes_uniform(1000) / 1000.0);
            struct timespec ts = {(time_t)j, (long)((j - (double)(time_t)j) * 1e9)};
            nanosleep(&ts, NULL);
            wait *= 2;
        }
        cerr[0] = '\0';
        CURLcode cc = curl_easy_perform(c);
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (cc == CURLE_OK && status >= 200 && status < 300) {
            rc = TM_OK;
            break;
        }
        if (cc != CURLE_OK)
            snprintf(why, sizeof why, "%s", cerr[0] ? cerr : curl_easy_strerror(cc));
        else
            snprintf(why, sizeof why, "HTTP %ld", status);
    }
    curl_slist_free_all(hs);
    curl_easy_cleanup(c);
    if (rc)
        return tm__fail(TM_EIO, "webhook %s: not delivered after %u tries: %s", h->url, max_tries, why);
    return TM_OK;
}
