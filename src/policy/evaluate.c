/*
 * evaluate.c — evaluating alert rules over the committed events.
 *
 * Each rule is a report query (its window, its scope as the group-by, its
 * filters); each row's metric is compared with the threshold. A pass over
 * the rules runs each distinct query once (rules that differ only in
 * threshold or comparison share it), reads which (rule, key) pairs are
 * firing once, and writes every change of state in one transaction. A
 * change is a transition, stored with its notification, logged and posted
 * to the webhooks — once per transition, never on every evaluation. Keys
 * that were firing and no longer appear in the window count as 0 (and
 * usually resolve).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/err.h"
#include "../core/json.h"
#include "../core/strmap.h"
#include "../core/tmtime.h"
#include "../store/store.h"
#include "alert.h"
#include "policy.h"

typedef struct pass {
    const tm_pctx *pc;
    int64_t now;
    tm_strmap firing;       /* "rule\x1fkey" of the pairs firing now           */
    tm_strmap queries;      /* query text → index into results                */
    tm_qresult **results;
    size_t nresults, cap;
    tm_alert_change *ch;    /* the states to record                           */
    char **owned;           /* per change: its body, key and value (owned)     */
    size_t nch, capch;
} pass;

static int collect_firing(void *arg, const tm_alert_entry *e)
{
    pass *p = arg;
    char key[600];
    snprintf(key, sizeof key, "%s\x1f%s", e->rule, e->key);
    return tm__strmap_put(&p->firing, key, 1);
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
    *from = tm__tz_floor(z, now / 1000000, r->window == TM_W_MONTH ? TM_CAL_MONTH : TM_CAL_DAY) * 1000000;
    tm__tz_free(z);
    return TM_OK;
}

/* The rule's query result, run once per pass per distinct query. */
static int rule_query(pass *p, const tm_alert_rule *r, tm_qresult **out)
{
    /* The query as (key, value) pairs; their text is also the cache key. */
    const char *key[12];
    char val[12][220], text[2800] = "";
    int np = 0;
    int64_t from = 0;
    int rc = window_from(r, p->now, &from);
    if (rc)
        return rc;
    key[np] = "from", snprintf(val[np++], sizeof val[0], "%lld", (long long)(from / 1000));
    key[np] = "to", snprintf(val[np++], sizeof val[0], "%lld", (long long)(p->now / 1000 + 1));
    key[np] = "tz", snprintf(val[np++], sizeof val[0], "%s", r->tz);
    if (r->scope >= 0)
        key[np] = "group_by", snprintf(val[np++], sizeof val[0], "%s", tm__dim_names[r->scope]);
    for (int i = 0; i < r->nwhere; i++)
        key[np] = "where", snprintf(val[np++], sizeof val[0], "%s", r->where[i]);
    if (r->metric_type[0])
        key[np] = "where", snprintf(val[np++], sizeof val[0], "metric_type=%s", r->metric_type);
    for (int i = 0, n = 0; i < np; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, "%s=%s\n", key[i], val[i]);
    int64_t ix;
    if (tm__strmap_get(&p->queries, text, &ix)) {
        *out = p->results[ix];
        return TM_OK;
    }
    tm_query_spec q;
    tm__query_init(&q);
    for (int i = 0; rc == TM_OK && i < np; i++)
        rc = tm__query_set(&q, key[i], val[i]);
    tm_qresult *res = NULL;
    if (rc == TM_OK)
        rc = tm__query_run(p->pc->store, p->pc->rollups, &q, tm__now_us(), &res);
    tm__query_free(&q);
    if (rc)
        return rc;
    tm_qresult **nr = tm__grow(p->results, p->nresults, &p->cap, sizeof *nr, 16);
    if (!nr) {
        tm__qresult_free(res);
        return TM_ENOMEM;
    }
    p->results = nr;
    p->results[p->nresults] = res;
    if ((rc = tm__strmap_put(&p->queries, text, (int64_t)p->nresults++)))
        return rc;
    *out = res;
    return TM_OK;
}

/* Queues the state of (rule, key) when it differs from the stored one. */
static int note(pass *p, const tm_alert_rule *r, const char *key, const char *value)
{
    static const char *const ops[] = {">", ">=", "<", "<="};
    char fkey[600], at[32];
    int64_t was = 0;
    int firing = tm__alert_holds(r, value);
    snprintf(fkey, sizeof fkey, "%s\x1f%s", r->name, key);
    if (tm__strmap_get(&p->firing, fkey, &was) == firing)
        return TM_OK; /* unchanged: nothing to write */
    tm__strmap_put(&p->firing, fkey, firing); /* a key is judged once per rule */
    tm__time_format(p->now, at);
    tm_buf b = TM_BUF_INIT;
    tm__buf_puts(&b, "{\"rule\": ");
    tm__json_str(&b, r->name, strlen(r->name));
    tm__buf_puts(&b, ", \"key\": ");
    tm__json_str(&b, key, strlen(key));
    tm__buf_printf(&b, ", \"scope\": \"%s\", \"state\": \"%s\", \"metric\": \"%s\", \"value\": %s, "
                       "\"op\": \"%s\", \"threshold\": %s, \"window\": \"%s\", \"at\": \"%s\"}",
                   r->scope >= 0 ? tm__dim_names[r->scope] : "global", firing ? "firing" : "resolved",
                   r->metric, value, ops[r->op], r->threshold_text, r->window_text, at);
    if (!b.data)
        return TM_ENOMEM;
    if (p->nch == p->capch) {
        size_t cap = p->capch ? p->capch * 2 : 32;
        tm_alert_change *c = realloc(p->ch, cap * sizeof *c);
        char **o = c ? realloc(p->owned, cap * 3 * sizeof *o) : NULL;
        if (c)
            p->ch = c;
        if (!o) {
            tm__buf_free(&b);
            return TM_ENOMEM;
        }
        p->owned = o;
        p->capch = cap;
    }
    tm_alert_change *c = &p->ch[p->nch];
    p->owned[p->nch * 3] = b.data;
    p->owned[p->nch * 3 + 1] = strdup(key);
    p->owned[p->nch * 3 + 2] = strdup(value);
    *c = (tm_alert_change){r->name, p->owned[p->nch * 3 + 1], p->owned[p->nch * 3 + 2],
                           r->threshold_text, b.data, firing, 0};
    p->nch++;
    return c->key && c->value ? TM_OK : TM_ENOMEM;
}

static int evaluate_rule(pass *p, const tm_alert_rule *r)
{
    tm_qresult *res = NULL;
    int rc = rule_query(p, r, &res);
    size_t nkeys = rc ? 0 : r->scope >= 0 ? res->nrows : 1; /* global: the totals */
    for (size_t i = 0; rc == TM_OK && i < nkeys; i++) {
        const tm_qrow *row = r->scope >= 0 ? &res->rows[i] : &res->totals;
        const char *key = r->scope >= 0 ? row->dim[r->scope] : "*";
        char v[64];
        if (r->scope == TM_D_USER && !*key)
            continue; /* events without a user are nobody's quota or count */
        if (r->quota_percent) {
            if ((rc = tm__quota_percent(p->pc, key, p->now, v)))
                break;
        } else {
            tm__metric_text(&row->s, &row->sk, r->report_metric >= 0 ? r->report_metric : TM_M_EVENTS,
                            v, sizeof v);
            if (strcmp(v, "null") == 0)
                continue; /* no latency: nothing to compare */
        }
        rc = note(p, r, key, v);
    }
    /* Keys of this rule firing before but not in the window now: value 0. */
    char prefix[80];
    size_t pl = (size_t)snprintf(prefix, sizeof prefix, "%s\x1f", r->name);
    for (size_t i = 0; rc == TM_OK && i < p->firing.cap; i++) {
        const tm_strmap_slot *sl = &p->firing.slots[i];
        if (sl->key && sl->value == 1 && strncmp(sl->key, prefix, pl) == 0) {
            int present = 0;
            for (size_t k = 0; k < nkeys && !present; k++) {
                const char *key = r->scope >= 0 ? res->rows[k].dim[r->scope] : "*";
                present = strcmp(key, sl->key + pl) == 0;
            }
            if (!present) {
                char key[600];
                snprintf(key, sizeof key, "%s", sl->key + pl);
                rc = note(p, r, key, "0");
            }
        }
    }
    return rc;
}

typedef struct apply_ctx {
    pass *p;
} apply_ctx;

static int apply_task(tm_store *s, void *arg)
{
    pass *p = ((apply_ctx *)arg)->p;
    return s->meta->alert_set(s, p->ch, p->nch, p->now);
}

int tm__alerts_evaluate(const tm_pctx *pc, const tm_alerts *a, int64_t now, int deliver,
                        void (*on)(void *arg, const char *body, int delivered), void *arg,
                        int *transitions)
{
    pass p;
    memset(&p, 0, sizeof p);
    p.pc = pc;
    p.now = now;
    *transitions = 0;
    tm_store *s = pc->store;
    int rc = a && a->nrules ? s->meta->alert_list(s, 1, 0, collect_firing, &p) : TM_OK;
    for (int i = 0; a && rc == TM_OK && i < a->nrules; i++) {
        rc = evaluate_rule(&p, &a->rules[i]);
        if (rc == TM_EINVAL)
            rc = tm__fail(TM_EINVAL, "alert %s: %s", a->rules[i].name, tm_errmsg());
    }
    apply_ctx ac = {&p};
    if (rc == TM_OK && p.nch)
        rc = tm__writer_exec(pc->writer, apply_task, &ac);
    for (size_t i = 0; rc == TM_OK && i < p.nch; i++) {
        if (!p.ch[i].changed)
            continue; /* another evaluator got there first */
        ++*transitions;
        int drc = TM_OK;
        for (int h = 0; deliver && h < a->nhooks; h++) {
            int one = tm__webhook_send(&a->hooks[h], p.ch[i].body, a->max_tries, a->backoff_s);
            if (one && !drc)
                drc = one;
        }
        if (on)
            on(arg, p.ch[i].body, drc);
    }
    for (size_t i = 0; i < p.nch * 3; i++)
        free(p.owned[i]);
    free(p.owned);
    free(p.ch);
    for (size_t i = 0; i < p.nresults; i++)
        tm__qresult_free(p.results[i]);
    free(p.results);
    tm__strmap_clear(&p.queries);
    tm__strmap_clear(&p.firing);
    return rc;
}

int tm__alert_history(const tm_pctx *c, int firing_only, size_t limit,
                      int (*fn)(void *arg, const tm_alert_entry *e), void *arg)
{
    return c->store->meta->alert_list(c->store, firing_only, limit, fn, arg);
}

static int record_task(tm_store *s, void *arg)
{
    return s->meta->alert_set(s, arg, 1, tm__now_us());
}

int tm__alert_record(const tm_pctx *c, tm_alert_change *ch)
{
    return tm__writer_exec(c->writer, record_task, ch);
}
