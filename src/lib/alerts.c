/*
 * alerts.c — evaluating alert rules over the committed events.
 *
 * Each rule is a report query (its window, its scope as the group-by, its
 * filters); each row's metric is compared with the threshold. Every (rule,
 * key) has a state in the store; a change of state is a transition, stored
 * with its notification, logged and posted to the webhooks — once per
 * transition, never on every evaluation. Keys that were firing and no
 * longer appear in the window count as 0 (and usually resolve).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/err.h"
#include "../core/json.h"
#include "../core/tmtime.h"
#include "../policy/alert.h"
#include "../store/store.h"
#include "lib.h"

typedef struct seen {
    char keys[256][256];
    long double values[256];
    int n;
} seen;

static void add_key(seen *s, const char *key, long double v)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->keys[i], key) == 0)
            return;
    if (s->n == 256)
        return;
    snprintf(s->keys[s->n], sizeof s->keys[0], "%s", key);
    s->values[s->n++] = v;
}

typedef struct firing_ctx {
    const char *rule;
    seen *s;
} firing_ctx;

static int collect_firing(void *arg, int64_t ts, const char *body)
{
    firing_ctx *c = arg;
    tm_arena a = TM_ARENA_INIT;
    tm_jv *v = NULL;
    char err[100];
    (void)ts;
    if (tm__json_parse(&a, body, strlen(body), &v, err, sizeof err) == TM_OK) {
        const tm_jv *r = tm__json_get(v, "rule"), *k = tm__json_get(v, "key");
        if (r && k && r->type == TM_J_STRING && k->type == TM_J_STRING && strcmp(r->s, c->rule) == 0)
            add_key(c->s, k->s, 0);
    }
    tm__arena_free(&a);
    return 0;
}

typedef struct set_ctx {
    const char *rule, *key, *value, *threshold, *body;
    int firing, changed;
} set_ctx;

static int set_task(tm_store *s, void *arg)
{
    set_ctx *c = arg;
    return s->ops->alert_set(s, c->rule, c->key, c->firing, c->value, c->threshold, c->body,
                             tm__now_us(), &c->changed);
}

/* The window's start for rule r at now. */
static int window_from(const tm_alert_rule *r, int64_t now, int64_t *from)
{
    if (r->window == TM_W_ROLLING) {
        *from = now - r->window_us;
        return TM_OK;
    }
    tm_tz *z = NULL;
    int rc = tm__tz_load(r->tz, &z);
    if (rc)
        return rc;
    int64_t secs = now / 1000000, local = secs + tm__tz_offset(z, secs), days = local / 86400, y;
    unsigned m, d;
    if (r->window == TM_W_MONTH) {
        tm__civil_from_days(days, &y, &m, &d);
        days = tm__days_from_civil(y, m, 1);
    }
    *from = tm__tz_local_to_utc(z, days * 86400) * 1000000;
    tm__tz_free(z);
    return TM_OK;
}

static int evaluate_rule(tm *t, const tm_alerts *a, const tm_alert_rule *r, int64_t now, int deliver,
                         void (*on)(void *, const char *, int), void *arg, int *transitions)
{
    static const char *const ops[] = {">", ">=", "<", "<="};
    seen *s = calloc(1, sizeof *s);
    tm_query_spec q;
    tm_qresult *res = NULL;
    char f[32], to[32], mt[100];
    int64_t from = 0;
    int rc = s ? window_from(r, now, &from) : TM_ENOMEM;
    tm__query_init(&q);
    snprintf(f, sizeof f, "%lld", (long long)(from / 1000));
    snprintf(to, sizeof to, "%lld", (long long)(now / 1000 + 1));
    if (rc == TM_OK) rc = tm__query_set(&q, "from", f);
    if (rc == TM_OK) rc = tm__query_set(&q, "to", to);
    if (rc == TM_OK) rc = tm__query_set(&q, "tz", r->tz);
    if (rc == TM_OK && r->scope >= 0) rc = tm__query_set(&q, "group_by", tm__dim_names[r->scope]);
    for (int i = 0; rc == TM_OK && i < r->nwhere; i++)
        rc = tm__query_set(&q, "where", r->where[i]);
    if (rc == TM_OK && r->metric_type[0]) {
        snprintf(mt, sizeof mt, "metric_type=%s", r->metric_type);
        rc = tm__query_set(&q, "where", mt);
    }
    if (rc == TM_OK)
        rc = tm__run_query(t, &q, &res);
    /* The value of each key in the window. */
    size_t nkeys = rc ? 0 : r->scope >= 0 ? res->nrows : 1; /* global: the totals */
    for (size_t i = 0; rc == TM_OK && i < nkeys; i++) {
        const tm_qrow *row = r->scope >= 0 ? &res->rows[i] : &res->totals;
        const char *key = r->scope >= 0 ? row->dim[r->scope] : "*";
        long double v;
        if (r->scope == TM_D_USER && !*key)
            continue; /* events without a user are nobody's quota or count */
        if (r->quota_percent) {
            if ((rc = tm__quota_percent(t, key, now, &v)))
                break;
        } else {
            char txt[64];
            tm__metric_text(&row->s, &row->sk, r->report_metric >= 0 ? r->report_metric : TM_M_EVENTS,
                            txt, sizeof txt);
            if (strcmp(txt, "null") == 0)
                continue; /* no latency: nothing to compare */
            v = strtold(txt, NULL);
        }
        add_key(s, key, v);
    }
    /* Keys firing before but not in the window now. */
    firing_ctx fc = {r->name, s};
    tm_store *st = tm__store(t);
    if (rc == TM_OK)
        rc = st->ops->alert_list(st, 1, 0, collect_firing, &fc);
    for (int i = 0; rc == TM_OK && i < s->n; i++) {
        char value[64], at[32], body[1400];
        int firing = tm__alert_holds(r, s->values[i]);
        snprintf(value, sizeof value, "%.6Lf", s->values[i]);
        char *e = value + strlen(value) - 1;
        while (*e == '0')
            *e-- = '\0';
        if (*e == '.')
            *e = '\0';
        tm__time_format(now, at);
        tm_buf b = TM_BUF_INIT;
        tm__buf_puts(&b, "{\"rule\": ");
        tm__json_str(&b, r->name, strlen(r->name));
        tm__buf_puts(&b, ", \"key\": ");
        tm__json_str(&b, s->keys[i], strlen(s->keys[i]));
        tm__buf_printf(&b, ", \"scope\": \"%s\", \"state\": \"%s\", \"metric\": \"%s\", \"value\": %s, "
                           "\"op\": \"%s\", \"threshold\": %s, \"window\": \"%s\", \"at\": \"%s\"}",
                       r->scope >= 0 ? tm__dim_names[r->scope] : "global", firing ? "firing" : "resolved",
                       r->metric, value, ops[r->op], r->threshold_text, r->window_text, at);
        snprintf(body, sizeof body, "%s", b.data ? b.data : "{}");
        tm__buf_free(&b);
        set_ctx sc = {r->name, s->keys[i], value, r->threshold_text, body, firing, 0};
        if ((rc = tm__writer_exec(tm__writer(t), set_task, &sc)) || !sc.changed)
            continue;
        ++*transitions;
        int drc = TM_OK;
        for (int h = 0; deliver && h < a->nhooks; h++) {
            int one = tm__webhook_send(&a->hooks[h], body, a->max_tries, a->backoff_s);
            if (one && !drc)
                drc = one;
        }
        if (on)
            on(arg, body, drc);
    }
    tm__qresult_free(res);
    tm__query_free(&q);
    free(s);
    return rc;
}

int tm__alerts_evaluate(tm *t, const tm_alerts *a, int64_t now, int deliver,
                        void (*on)(void *arg, const char *body, int delivered), void *arg,
                        int *transitions)
{
    int rc = TM_OK;
    *transitions = 0;
    for (int i = 0; a && rc == TM_OK && i < a->nrules; i++) {
        rc = evaluate_rule(t, a, &a->rules[i], now, deliver, on, arg, transitions);
        if (rc == TM_EINVAL) /* a rule's query failed: name it */
            rc = tm__fail(TM_EINVAL, "alert %s: %s", a->rules[i].name, tm_errmsg());
    }
    return rc;
}
