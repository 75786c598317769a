/*
 * copy.c — copies one store into another, whatever their backends
 * (tokmeter copy: SQLite to PostgreSQL and back): every event with its id,
 * time, tokens and cost, the API keys (hashes), users' tiers and the alert
 * history, through the backends' own functions.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/err.h"
#include "../core/event.h"
#include "store.h"

#define BATCH 2000

typedef struct copy_ctx {
    tm_store *dst;
    tm_event *evs[BATCH];
    unsigned char dup[BATCH];
    size_t n;
    int64_t events, found;
    tm_alert_entry *alerts;
    size_t nalerts, capalerts;
} copy_ctx;

static int flush(copy_ctx *c)
{
    tm_cellset cells = {0};
    int64_t version = 0, commit = 0;
    int rc = c->n ? c->dst->ops->append(c->dst, c->evs, c->n, c->dup, &cells, &version, &commit) : TM_OK;
    for (size_t i = 0; i < c->n; i++) {
        c->events += rc == TM_OK && c->dup[i] != 1;
        free(c->evs[i]);
    }
    tm__cellset_free(&cells);
    c->n = 0;
    return rc;
}

static int event_cb(void *arg, const tm_event *ev)
{
    copy_ctx *c = arg;
    tm_event *e = tm__event_clone(ev);
    if (!e)
        return TM_ENOMEM;
    e->has &= ~(unsigned)(TM__HAS_GEN_ID | TM__HAS_REPLACE); /* every id is kept as it is */
    c->evs[c->n++] = e;
    return c->n == BATCH ? flush(c) : TM_OK;
}

static int key_cb(void *arg, const tm_key_rec *k)
{
    copy_ctx *c = arg;
    int found = 0, rc = c->dst->meta->key_put(c->dst, k);
    if (rc == TM_OK && k->revoked_us)
        rc = c->dst->meta->key_revoke(c->dst, k->id, k->revoked_us, &found);
    c->found++;
    return rc;
}

static int user_cb(void *arg, const char *id, const char *tier, const char *overrides, int64_t updated)
{
    copy_ctx *c = arg;
    c->found++;
    return c->dst->meta->user_put(c->dst, id, tier, overrides, updated);
}

static char *dup_or_null(const char *s, int *rc)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *rc = TM_ENOMEM;
    return d;
}

/* Alerts come newest first; they are kept and written oldest first. */
static int alert_cb(void *arg, const tm_alert_entry *e)
{
    copy_ctx *c = arg;
    int rc = TM_OK;
    tm_alert_entry *grown = tm__grow(c->alerts, c->nalerts, &c->capalerts, sizeof *c->alerts, 64);
    if (!grown)
        return TM_ENOMEM;
    c->alerts = grown;
    c->alerts[c->nalerts++] = (tm_alert_entry){
        e->ts_us, dup_or_null(e->rule, &rc), dup_or_null(e->key, &rc), dup_or_null(e->state, &rc),
        dup_or_null(e->body, &rc), dup_or_null(e->value, &rc), dup_or_null(e->threshold, &rc)};
    return rc;
}

static int count_cb(void *arg, const tm_key_rec *k)
{
    (void)k;
    ++*(int64_t *)arg;
    return TM_OK;
}

static int count_user_cb(void *arg, const char *id, const char *tier, const char *o, int64_t u)
{
    (void)id, (void)tier, (void)o, (void)u;
    ++*(int64_t *)arg;
    return TM_OK;
}

static int count_alert_cb(void *arg, const tm_alert_entry *e)
{
    (void)e;
    ++*(int64_t *)arg;
    return TM_OK;
}

/* What a store holds: events, keys, users, alert transitions (the last
 * only as "some" or none: one is enough to say). */
static int holdings(tm_store *d, int64_t n[4])
{
    n[0] = n[1] = n[2] = n[3] = 0;
    int rc = d->ops->count(d, &n[0]);
    if (rc == TM_OK)
        rc = d->meta->key_list(d, NULL, count_cb, &n[1]);
    if (rc == TM_OK)
        rc = d->meta->user_list(d, count_user_cb, &n[2]);
    if (rc == TM_OK)
        rc = d->meta->alert_list(d, 0, 1, count_alert_cb, &n[3]);
    return rc;
}

/* The source must hold something: a mistyped --from (a new, empty
 * PostgreSQL schema) is not taken for an empty store to copy. */
static int check_source(tm_store *src, const char *from)
{
    int64_t n[4];
    char shown[4096];
    int rc = holdings(src, n);
    if (rc == TM_OK && n[0] + n[1] + n[2] + n[3] == 0)
        rc = tm__fail(TM_EINVAL, "copy: the source %s is empty (no events, keys, users or alerts); "
                                 "is it the store you meant?", tm__store_shown(from, shown, sizeof shown));
    return rc;
}

/* The destination must be empty: then "exactly" is well defined. */
static int check_empty(tm_store *d, const char *to)
{
    int64_t n[4];
    char shown[4096];
    int rc = holdings(d, n);
    if (rc == TM_OK && n[0] + n[1] + n[2] + n[3])
        rc = tm__fail(TM_EINVAL,
                      "copy: the destination %s is not empty (%lld events, %lld keys, %lld users,"
                      " %s alerts); copy into a new store",
                      tm__store_shown(to, shown, sizeof shown), (long long)n[0], (long long)n[1], (long long)n[2], n[3] ? "some" : "no");
    return rc;
}

int tm_store_copy(const char *from, const char *to, tm_copy_result *out)
{
    tm_store *src = NULL, *dst = NULL;
    copy_ctx *c = calloc(1, sizeof *c);
    int rc;
    tm__clear_err();
    memset(out, 0, sizeof *out);
    if (!c)
        return TM_ENOMEM;
    if (!from || !*from || !to || !*to || strcmp(from, to) == 0) {
        rc = tm__fail(TM_EINVAL, "copy: give two different stores");
        goto out;
    }
    /* Opening a store creates it (a SQLite file, a PostgreSQL schema's
     * tables): a source that does not exist is refused before that. */
    int exists = 1;
    if ((rc = tm__store_exists(from, &exists)) == TM_OK && !exists) {
        char shown[4096];
        if (tm__store_is_postgres(from))
            rc = tm__fail(TM_EINVAL, "copy: the source %s holds no tokmeter store (no tm_schema table); "
                                     "is it the store you meant?", tm__store_shown(from, shown, sizeof shown));
        else
            rc = tm__fail(TM_EINVAL, "copy: the source %s does not exist",
                          strncmp(from, "sqlite:", 7) == 0 ? from + 7 : from);
    }
    if (rc)
        goto out;
    if ((rc = tm__store_open(from, 0, &src)) || (rc = check_source(src, from)) ||
        (rc = tm__store_open(to, 0, &dst)) || (rc = check_empty(dst, to)))
        goto out;
    c->dst = dst;
    if ((rc = src->ops->scan(src, NULL, event_cb, c)) || (rc = flush(c)))
        goto out;
    out->events = c->events;
    c->found = 0;
    if ((rc = src->meta->key_list(src, NULL, key_cb, c)))
        goto out;
    out->keys = c->found;
    c->found = 0;
    if ((rc = src->meta->user_list(src, user_cb, c)))
        goto out;
    out->users = c->found;
    if ((rc = src->meta->alert_list(src, 0, 0, alert_cb, c)))
        goto out;
    for (size_t i = c->nalerts; i-- > 0 && rc == TM_OK;)
        rc = dst->meta->alert_put(dst, &c->alerts[i]);
    if (rc == TM_OK)
        out->alerts = (int64_t)c->nalerts;
out:
    for (size_t i = 0; i < c->n; i++)
        free(c->evs[i]);
    for (size_t i = 0; i < c->nalerts; i++) {
        tm_alert_entry *a = &c->alerts[i];
        free((char *)a->rule), free((char *)a->key), free((char *)a->state);
        free((char *)a->body), free((char *)a->value), free((char *)a->threshold);
    }
    free(c->alerts);
    free(c);
    tm__store_close(src);
    tm__store_close(dst);
    return rc;
}
