/*
 * quota.c — users' tiers, their quotas, and the check before a call.
 *
 * A quota's use is a report query (src/query) over the user's events in
 * the current period, so `tokmeter quota` and `tokmeter report` agree to
 * the last digit. The check adds the call's estimate to each use, compares
 * with the limits (hard: deny; soft: allow with a warning), and asks the
 * rate limiter.
 *
 * The query reads every event of the user's period; a check must not. So
 * the handle keeps each checked user's period sums (usage cache) at one
 * store version. A check reads the store's version first and uses sums
 * only at that version or a later one, so it is never stale.
 *
 * The cache moves from version v - 1 to v past the commits of that step
 * (SQLite: commit v, a counter every process shares; PostgreSQL: the
 * transaction ids the store's `commits` names for the step of this
 * handle's own versions). Each commit comes with a message, "commit c
 * changed these users' sums" (or everyone's): this process's own from the
 * commit hook, other daemons' through Redis (notify.c). When the cache
 * holds the message of every commit in the step it drops only the users
 * they name; otherwise (a lost message, a daemon killed before it
 * published, Redis down, a CLI import, a reprice, retention, a fold) it
 * empties. A message still on its way is waited for a little (Redis is a
 * hop behind the store). On SQLite the commit hook also adds each of its
 * own new events to its user's sums. Sums recounted between versions v0
 * and v1 are kept when no step after v0 named the user. The sums
 * themselves always come from the store; messages only say whose to drop.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/buf.h"
#include "../core/err.h"
#include "../core/json.h"
#include "../core/strmap.h"
#include "../core/tmtime.h"
#include "../store/store.h"
#include "policy.h"

/* ---- the usage cache ---- */

#define UC_TYPES 8          /* metric types per user kept; more: not cached */
_Static_assert(UC_TYPES <= TM_MAX_LIMITS, "a tier's limits fit when the types do not");
#define UC_MAX 65536        /* users; past it the cache starts again empty   */

typedef struct usage_sums {
    int64_t requests, tokens;
    tm_i128 cost;
    int ntypes;
    struct { char name[65]; int64_t events; tm_i128 value; } type[UC_TYPES];
} usage_sums;

typedef struct uc_entry {
    char *user;
    int64_t from, to;
    int valid;
    usage_sums u;
} uc_entry;

#define UC_PENDING 64      /* messages of commits past the cache's, kept    */
#define UC_HISTORY 16      /* steps whose dropped users are remembered,     */
#define UC_HISTORY_MAX 16384 /* up to this many bytes of names a step        */
#define UC_WAIT_US 5000    /* for a step's messages on their way (Redis)    */
#define UC_WAIT_LOCAL_US 200 /* (no Redis: only this process's own commits)  */

struct tm_usage_cache {
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* a message came, or the version moved          */
    int64_t version;        /* the store version every entry reflects        */
    int64_t horizon;        /* every commit named below it is in that version */
    int remote;             /* other processes' messages are coming (Redis)  */
    tm_strmap index;        /* user → i + 1                                   */
    uc_entry *e;
    size_t n, cap;
    struct { int64_t id; char *users; } pending[UC_PENDING]; /* id 0: free    */
    /* The users each of the latest steps dropped: "\n" then names each
     * ended by '\n'; NULL: everyone (or not known). */
    struct { int64_t v; char *users; } hist[UC_HISTORY];
    uint64_t hits, misses;
};

struct tm_usage_cache *tm__usage_new(void)
{
    struct tm_usage_cache *c = calloc(1, sizeof *c);
    if (c) {
        pthread_mutex_init(&c->mu, NULL);
        pthread_cond_init(&c->cv, NULL);
        c->version = -1;
    }
    return c;
}

static void uc_clear(struct tm_usage_cache *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->e[i].user);
    c->n = 0;
    tm__strmap_clear(&c->index);
}

void tm__usage_free(struct tm_usage_cache *c)
{
    if (!c)
        return;
    uc_clear(c);
    for (int i = 0; i < UC_PENDING; i++)
        free(c->pending[i].users);
    for (int i = 0; i < UC_HISTORY; i++)
        free(c->hist[i].users);
    free(c->e);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static uc_entry *uc_find(struct tm_usage_cache *c, const char *user)
{
    int64_t i;
    return tm__strmap_get(&c->index, user, &i) ? &c->e[i - 1] : NULL;
}

/* Adds one event to sums; -1 when its metric type does not fit. */
static int uc_add(usage_sums *u, const tm_event *ev)
{
    int k = 0;
    while (k < u->ntypes && strcmp(u->type[k].name, ev->metric_type) != 0)
        k++;
    if (k == u->ntypes) {
        if (k == UC_TYPES || strlen(ev->metric_type) >= sizeof u->type[k].name)
            return -1;
        snprintf(u->type[k].name, sizeof u->type[k].name, "%s", ev->metric_type);
        u->ntypes++;
    }
    u->type[k].events++;
    u->type[k].value += ev->value_nano;
    u->requests += strcmp(ev->metric_type, "llm_call") == 0;
    u->tokens += ev->total_tokens;
    u->cost += ev->cost_pusd;
    return 0;
}

/* Drops the sums of users: a list of names each ended by '\n', or NULL
 * for everyone. */
static void uc_drop(struct tm_usage_cache *c, const char *users)
{
    if (!users)
        uc_clear(c);
    for (const char *u = users; u && *u;) {
        const char *end = strchr(u, '\n');
        char name[256];
        size_t len = end ? (size_t)(end - u) : strlen(u);
        if (len < sizeof name) {
            memcpy(name, u, len);
            name[len] = '\0';
            uc_entry *e = uc_find(c, name);
            if (e)
                e->valid = 0;
        } else {
            uc_clear(c); /* no cached user has so long a name; be safe */
        }
        u += len + (end != NULL);
    }
}

static int uc_kept(const struct tm_usage_cache *c, int64_t id)
{
    for (int i = 0; i < UC_PENDING; i++)
        if (c->pending[i].id == id)
            return i;
    return -1;
}

static void uc_unkeep(struct tm_usage_cache *c, int i)
{
    free(c->pending[i].users);
    c->pending[i].id = 0, c->pending[i].users = NULL;
}

/* The cache at version v, the step to it having dropped users (taken:
 * "\n" then names, or NULL for everyone), past every commit named below
 * horizon: the messages of those are done. */
static void uc_at(struct tm_usage_cache *c, int64_t v, int64_t horizon, char *users)
{
    c->version = v;
    c->horizon = horizon;
    free(c->hist[v % UC_HISTORY].users);
    c->hist[v % UC_HISTORY].v = v;
    c->hist[v % UC_HISTORY].users = users;
    for (int i = 0; i < UC_PENDING; i++)
        if (c->pending[i].id && c->pending[i].id < horizon)
            uc_unkeep(c, i);
    pthread_cond_broadcast(&c->cv);
}

/* Could a step after v0, up to the cache's version, have changed user's
 * sums (or is that no longer known)? */
static int uc_changed(const struct tm_usage_cache *c, const char *user, int64_t v0)
{
    char pat[260];
    if (snprintf(pat, sizeof pat, "\n%s\n", user) >= (int)sizeof pat)
        return 1;
    for (int64_t k = v0 + 1; k <= c->version; k++) {
        const char *u = c->hist[k % UC_HISTORY].users;
        if (c->hist[k % UC_HISTORY].v != k || !u || strstr(u, pat))
            return 1;
    }
    return 0;
}

/* The commits of the step from version k - 1 to k (store s's `commits`;
 * SQLite: commit k), and the horizon at k; 0 when they are not known. */
static int uc_step(tm_store *s, int64_t k, int64_t *ids, size_t *n, int64_t *horizon)
{
    *n = 1, ids[0] = k, *horizon = k + 1;
    return !s->ops->commits || s->ops->commits(s, k, ids, n, horizon) == TM_OK;
}

/* Moves the cache to store version v (ahead of it), step by step: a step
 * whose commits' messages are all kept drops only their users; any other
 * empties the cache. A message not yet come (Redis is a hop behind the
 * store; the own commit hook runs just after the commit) is waited for up
 * to UC_WAIT_US. Further than UC_PENDING steps: empty at once. mu held. */
static void uc_advance(struct tm_usage_cache *c, tm_store *s, int64_t v)
{
    int64_t ids[TM_STEP_MAX], horizon, deadline = 0;
    size_t n;
    if (c->version < 0 || v - c->version > UC_PENDING) {
        uc_clear(c);
        uc_step(s, v, ids, &n, &horizon);
        uc_at(c, v, horizon, NULL);
    }
    while (c->version < v) {
        int64_t k = c->version + 1;
        int known = uc_step(s, k, ids, &n, &horizon);
        size_t have = 0;
        for (size_t i = 0; known && i < n; i++)
            have += uc_kept(c, ids[i]) >= 0;
        if (known && have < n) {
            int64_t now = tm__now_us();
            deadline = deadline ? deadline : now + (c->remote ? UC_WAIT_US : UC_WAIT_LOCAL_US);
            if (now < deadline) {
                struct timespec until = tm__deadline(deadline - now);
                pthread_cond_timedwait(&c->cv, &c->mu, &until);
                continue; /* another thread may have moved the cache meanwhile */
            }
        }
        tm_buf users = TM_BUF_INIT;
        int all = !known || have < n || tm__buf_putc(&users, '\n') != TM_OK;
        for (size_t i = 0; !all && i < n; i++) {
            const char *u = c->pending[uc_kept(c, ids[i])].users;
            all = !u || tm__buf_puts(&users, u) != TM_OK;
        }
        if (all)
            tm__buf_free(&users);
        uc_drop(c, all ? NULL : users.data + 1);
        for (size_t i = 0; i < n; i++) { /* a step's messages are done with it */
            int j = uc_kept(c, ids[i]);
            if (j >= 0)
                uc_unkeep(c, j);
        }
        if (!all && users.len > UC_HISTORY_MAX) /* remembered as everyone */
            tm__buf_free(&users);
        uc_at(c, k, horizon, all ? NULL : users.data);
    }
}

void tm__usage_notify(struct tm_usage_cache *c, int64_t id, const char *users)
{
    pthread_mutex_lock(&c->mu);
    int slot = -1;
    for (int i = 0; id > 0 && id >= c->horizon && slot == -1 && i < UC_PENDING; i++)
        if (c->pending[i].id == 0 || c->pending[i].id == id)
            slot = c->pending[i].id == id ? -2 : i; /* free, or already kept */
    char *copy = slot >= 0 && users ? strdup(users) : NULL;
    if (slot >= 0 && (copy || !users)) {
        c->pending[slot].id = id;
        c->pending[slot].users = copy;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
}

void tm__usage_remote(struct tm_usage_cache *c, int on)
{
    pthread_mutex_lock(&c->mu);
    c->remote = on;
    pthread_mutex_unlock(&c->mu);
}

void tm__usage_commit(struct tm_usage_cache *c, tm_store *s, tm_event *const *evs,
                      const unsigned char *dup, size_t n, int64_t version)
{
    pthread_mutex_lock(&c->mu);
    if (c->version >= 0 && c->version < version - 1)
        uc_advance(c, s, version - 1); /* others' commits first, if notified */
    int seen = c->version == version - 1;
    uc_at(c, version, version + 1, NULL); /* a recount across it is not kept */
    for (size_t i = 0; seen && c->n && i < n; i++)
        if (dup[i] == 2) /* it replaced a copy whose user and sums are unknown here */
            seen = 0;
    if (!seen) /* or a commit went by unseen (another process, a reprice): recount */
        uc_clear(c);
    for (size_t i = 0; c->n && i < n; i++) {
        const tm_event *ev = evs[i];
        uc_entry *e = dup[i] == 1 || !ev->user_id ? NULL : uc_find(c, ev->user_id);
        if (!e || !e->valid || ev->ts_us < e->from || ev->ts_us >= e->to)
            continue;
        if (uc_add(&e->u, ev) != 0) /* a metric type too many */
            e->valid = 0;
    }
    pthread_mutex_unlock(&c->mu);
}

void tm__usage_stats(struct tm_usage_cache *c, uint64_t *hits, uint64_t *misses)
{
    pthread_mutex_lock(&c->mu);
    *hits = c->hits;
    *misses = c->misses;
    pthread_mutex_unlock(&c->mu);
}

/* Keeps u, user's sums over [from, to) counted between store versions v0
 * and v1, if no step after v0 changed them: then they are the sums at
 * every version from v0 to v1. The cache moves to v0 if behind, keeps u at
 * its version if no step since v0 named user, and moves on to v1 (which
 * drops u again if a step up to v1 names user). */
static void uc_put(struct tm_usage_cache *c, tm_store *s, const char *user, int64_t from,
                   int64_t to, int64_t v0, int64_t v1, const usage_sums *u)
{
    pthread_mutex_lock(&c->mu);
    if (c->version < v0)
        uc_advance(c, s, v0);
    int keep = c->version >= v0 && !uc_changed(c, user, v0);
    uc_entry *e = keep ? uc_find(c, user) : NULL;
    if (keep && !e && c->n == UC_MAX)
        uc_clear(c);
    if (keep && !e) {
        uc_entry *p = tm__grow(c->e, c->n, &c->cap, sizeof *p, 64);
        char *copy = p ? strdup(user) : NULL;
        if (p)
            c->e = p;
        if (copy && tm__strmap_put(&c->index, copy, (int64_t)c->n + 1) == TM_OK) {
            e = &c->e[c->n++];
            e->user = copy;
        } else {
            free(copy);
        }
    }
    if (e) {
        e->from = from;
        e->to = to;
        e->u = *u;
        e->valid = 1;
    }
    if (keep && c->version < v1)
        uc_advance(c, s, v1);
    pthread_mutex_unlock(&c->mu);
}

/* user's sums over [from, to) as of store version v or later, if cached
 * (the cache first moved to v if it is behind). */
static int uc_get(struct tm_usage_cache *c, tm_store *s, const char *user, int64_t from,
                  int64_t to, int64_t v, usage_sums *out)
{
    pthread_mutex_lock(&c->mu);
    if (c->version < v)
        uc_advance(c, s, v);
    uc_entry *e = c->version >= v ? uc_find(c, user) : NULL;
    int hit = e && e->valid && e->from == from && e->to == to;
    if (hit)
        *out = e->u;
    c->hits += hit != 0;
    c->misses += !hit;
    pthread_mutex_unlock(&c->mu);
    return hit;
}

typedef struct user_ctx {
    const char *id, *tier, *overrides;
} user_ctx;

static int user_task(tm_store *s, void *arg)
{
    user_ctx *c = arg;
    return s->meta->user_put(s, c->id, c->tier, c->overrides, tm__now_us());
}

int tm__user_set(const tm_pctx *pc, const char *user, const char *tier, const char *overrides)
{
    tm_policy *p = tm__pctx_policy(pc);
    if (!*user || strlen(user) > 128)
        return tm__fail(TM_EINVAL, "user: must be 1 to 128 bytes");
    if (tier && !tm__policy_tier(p, tier) && (!p || !p->ntiers))
        return tm__fail(TM_EINVAL, "tier: no tier named '%s': no tiers are configured (the config "
                                   "file: --config FILE or $TOKMETER_CONFIG)", tier);
    if (tier && !tm__policy_tier(p, tier)) { /* name the ones there are */
        tm_buf names = TM_BUF_INIT;
        for (int i = 0; i < p->ntiers; i++)
            tm__buf_printf(&names, "%s%s", i ? ", " : "", p->tiers[i].name);
        int rc = tm__fail(TM_EINVAL, "tier: no tier named '%s' in the config (its tiers: %s)", tier,
                          names.data ? names.data : "");
        tm__buf_free(&names);
        return rc;
    }
    if (overrides) { /* check them against some tier before storing */
        tm_tier scratch;
        memset(&scratch, 0, sizeof scratch);
        int rc = tm__tier_override(&scratch, overrides, NULL);
        if (rc)
            return rc;
    }
    user_ctx c = {user, tier, overrides};
    return tm__writer_exec(pc->writer, user_task, &c);
}

/* The user's effective tier (default tier, else none) with overrides;
 * set (may be NULL, else ≥ 80 bytes) gets the tier name stored for the
 * user, "" when none, even one that no loaded config defines. */
static int effective_tier(const tm_pctx *pc, const char *user, tm_tier *out, int *has, char *set)
{
    char name[80] = "";
    char *ov = NULL;
    tm_store *s = pc->store;
    tm_policy *p = tm__pctx_policy(pc);
    int rc = s->meta->user_get(s, user, name, sizeof name, &ov);
    if (rc && rc != TM_ENOTFOUND)
        return rc;
    if (set)
        snprintf(set, 80, "%s", name);
    const tm_tier *base = tm__policy_tier(p, name[0] ? name : p ? p->default_tier : NULL);
    *has = base != NULL;
    memset(out, 0, sizeof *out);
    if (base)
        *out = *base;
    else
        snprintf(out->tz, sizeof out->tz, "UTC"), out->period = TM_PERIOD_MONTH, out->anchor_day = 1;
    rc = ov ? tm__tier_override(out, ov, "user overrides") : TM_OK;
    if (ov && out->nlimits)
        *has = 1;
    free(ov);
    return rc;
}

/* Is metric type name one that tier limits? */
static int limited(const tm_tier *tier, const char *name)
{
    for (int i = 0; i < tier->nlimits; i++)
        if ((tier->limits[i].kind == TM_L_EVENTS || tier->limits[i].kind == TM_L_VALUE) &&
            strcmp(tier->limits[i].metric_type, name) == 0)
            return 1;
    return 0;
}

/* The user's sums over [from, to): from the cache, else one report query
 * over the user's events grouped by metric type (kept when no commit
 * landed while it ran). A user with more metric types than the sums hold
 * gets the ones tier limits first, and is not cached. */
static int user_sums(const tm_pctx *pc, const char *user, const tm_tier *tier, int64_t from,
                     int64_t to, usage_sums *u)
{
    tm_store *s = pc->store;
    tm_query_spec q;
    tm_qresult *res = NULL;
    char w[200];
    int64_t v0 = -1, v1 = -2;
    memset(u, 0, sizeof *u);
    int rc = s->ops->version(s, &v0);
    if (rc == TM_OK && uc_get(pc->usage, s, user, from, to, v0, u))
        return TM_OK;
    snprintf(w, sizeof w, "user_id=%s", user);
    tm__query_init(&q);
    if (rc == TM_OK) rc = tm__query_span(&q, from, to);
    if (rc == TM_OK) rc = tm__query_set(&q, "where", w);
    if (rc == TM_OK) rc = tm__query_set(&q, "group_by", "metric_type");
    if (rc == TM_OK) rc = tm__query_set(&q, "metrics", "events,requests,value,total_tokens,cost_usd");
    if (rc == TM_OK)
        rc = tm__query_run(s, pc->rollups, &q, tm__now_us(), &res);
    int fits = 1;
    if (rc == TM_OK) {
        u->requests = res->totals.s.requests;
        u->tokens = res->totals.s.total;
        u->cost = res->totals.s.cost;
        for (int pass = 0; pass < 2; pass++) /* limited types first */
            for (size_t k = 0; k < res->nrows; k++) {
                const char *name = res->rows[k].dim[TM_D_METRIC];
                if (limited(tier, name) != (pass == 0))
                    continue;
                if (u->ntypes == UC_TYPES || strlen(name) >= sizeof u->type[0].name) {
                    fits = 0;
                    continue;
                }
                snprintf(u->type[u->ntypes].name, sizeof u->type[0].name, "%s", name);
                u->type[u->ntypes].events = res->rows[k].s.events;
                u->type[u->ntypes].value = res->rows[k].s.value;
                u->ntypes++;
            }
        rc = s->ops->version(s, &v1);
    }
    if (rc == TM_OK && fits)
        uc_put(pc->usage, s, user, from, to, v0, v1, u);
    tm__qresult_free(res);
    tm__query_free(&q);
    return rc;
}

/* The use of every limit in [from, to): requests, tokens and cost from the
 * totals, events:/value: limits from their metric type's sums. */
static int limits_use(const tm_pctx *pc, const char *user, const tm_tier *tier, int64_t from, int64_t to,
                      tm_i128 *used)
{
    usage_sums u;
    if (tier->nlimits == 0)
        return TM_OK;
    int rc = user_sums(pc, user, tier, from, to, &u);
    for (int i = 0; rc == TM_OK && i < tier->nlimits; i++) {
        const tm_limit *l = &tier->limits[i];
        used[i] = 0;
        if (l->kind == TM_L_EVENTS || l->kind == TM_L_VALUE) {
            for (int k = 0; k < u.ntypes; k++)
                if (strcmp(u.type[k].name, l->metric_type) == 0)
                    used[i] = l->kind == TM_L_EVENTS ? u.type[k].events : u.type[k].value;
        } else {
            used[i] = l->kind == TM_L_REQUESTS ? u.requests : l->kind == TM_L_TOKENS ? u.tokens : u.cost;
        }
    }
    return rc;
}

int tm__quota_get(const tm_pctx *pc, const char *user, int64_t now, tm_quota *qu)
{
    int rc = effective_tier(pc, user, &qu->tier, &qu->has, qu->set_tier);
    if (rc == TM_OK)
        rc = tm__period_bounds(&qu->tier, now, &qu->start, &qu->reset);
    if (rc == TM_OK)
        rc = limits_use(pc, user, &qu->tier, qu->start, qu->reset, qu->used);
    return rc;
}

void tm__quota_json(tm_buf *b, const char *user, const tm_quota *qu, const tm_i128 *extra)
{
    char s[32], r[32];
    tm__time_format(qu->start, s);
    tm__time_format(qu->reset, r);
    tm__buf_puts(b, "{\"user_id\": ");
    tm__json_str(b, user, strlen(user));
    tm__buf_puts(b, ", \"tier\": ");
    if (qu->tier.name[0])
        tm__json_str(b, qu->tier.name, strlen(qu->tier.name));
    else
        tm__buf_puts(b, "null");
    tm__buf_printf(b, ", \"period_start\": \"%s\", \"reset_at\": \"%s\", \"limits\": {", s, r);
    for (int i = 0; i < qu->tier.nlimits; i++) {
        const tm_limit *l = &qu->tier.limits[i];
        tm_i128 used = qu->used[i] + (extra ? extra[i] : 0), rem = l->limit - used;
        char lt[48], ut[48], rt[48];
        tm__limit_text(l, l->limit, lt);
        tm__limit_text(l, used, ut);
        tm__limit_text(l, rem < 0 ? 0 : rem, rt);
        tm__buf_printf(b, "%s\"%s\": {\"limit\": %s, \"used\": %s, \"remaining\": %s%s}", i ? ", " : "",
                       l->name, lt, ut, rt, l->soft ? ", \"soft\": true" : "");
    }
    tm__buf_puts(b, "}}");
}

int tm__quota_limit(const tm_pctx *pc, const char *user, const char *name, char *buf, size_t cap)
{
    tm_tier tier;
    int has = 0;
    int rc = effective_tier(pc, user, &tier, &has, NULL);
    snprintf(buf, cap, "null");
    for (int i = 0; rc == TM_OK && i < tier.nlimits; i++)
        if (strcmp(tier.limits[i].name, name) == 0)
            tm__limit_text(&tier.limits[i], tier.limits[i].limit, buf);
    return rc;
}

int tm__check(const tm_pctx *pc, const tm_check_request *rq, tm_check_result *out, tm_buf *json)
{
    tm_quota qu;
    int64_t now = tm__now_us();
    tm_i128 extra[TM_MAX_LIMITS] = {0};
    memset(out, 0, sizeof *out);
    out->allowed = 1;
    if (!rq->user_id || !*rq->user_id)
        return tm__fail(TM_EINVAL, "user_id: is required");
    if (rq->estimated_tokens < 0 || rq->estimated_cost_pusd < 0)
        return tm__fail(TM_EINVAL, "estimated_tokens: must not be negative");
    int rc = tm__quota_get(pc, rq->user_id, now, &qu);
    if (rc)
        return rc;
    out->reset_us = qu.reset;
    for (int i = 0; i < qu.tier.nlimits; i++) {
        const tm_limit *l = &qu.tier.limits[i];
        extra[i] = l->kind == TM_L_REQUESTS ? 1 : l->kind == TM_L_TOKENS ? rq->estimated_tokens
                 : l->kind == TM_L_COST ? rq->estimated_cost_pusd : 0;
        if (qu.used[i] + extra[i] <= l->limit)
            continue;
        char lt[48], ut[48];
        tm__limit_text(l, l->limit, lt);
        tm__limit_text(l, qu.used[i] + extra[i], ut);
        if (l->soft) {
            if (!out->soft_exceeded)
                snprintf(out->warning, sizeof out->warning, "soft limit: %s would be %s of %s", l->name, ut, lt);
            out->soft_exceeded = 1;
        } else if (out->allowed) {
            out->allowed = 0;
            snprintf(out->reason, sizeof out->reason, "quota: %s would be %s of %s this period", l->name, ut, lt);
            out->retry_after_s = (double)(qu.reset - now) / 1e6;
        }
    }
    if (out->allowed) {
        double wait = 0;
        char why[200] = "";
        if (!tm__rate_check(tm__pctx_policy(pc), rq->user_id, rq->operation, 1, rq->estimated_tokens,
                            now, 1, &wait, why, sizeof why)) {
            out->allowed = 0;
            out->retry_after_s = wait;
            snprintf(out->reason, sizeof out->reason, "%s", why);
        }
    }
    if (json) {
        tm__buf_printf(json, "{\"allowed\": %s, \"reason\": ", out->allowed ? "true" : "false");
        const char *reason = out->allowed ? (out->soft_exceeded ? out->warning : "within limits") : out->reason;
        tm__json_str(json, reason, strlen(reason));
        tm__buf_puts(json, ", \"quota\": ");
        tm__quota_json(json, rq->user_id, &qu, NULL);
        if (out->allowed || out->retry_after_s < 0) /* < 0: no wait would help */
            tm__buf_puts(json, ", \"retry_after_s\": null}\n");
        else
            tm__buf_printf(json, ", \"retry_after_s\": %.3f}\n", out->retry_after_s);
    }
    return TM_OK;
}

int tm__quota_percent(const tm_pctx *pc, const char *user, int64_t now_us, char *buf)
{
    tm_quota qu;
    int rc = tm__quota_get(pc, user, now_us, &qu);
    tm_i128 best = 0; /* percent × 10^6 */
    for (int i = 0; rc == TM_OK && i < qu.tier.nlimits; i++) {
        const tm_limit *l = &qu.tier.limits[i];
        if (l->limit > 0) {
            tm_i128 n = qu.used[i] * 100000000, q = n / l->limit, r = n % l->limit;
            if (2 * r > l->limit || (2 * r == l->limit && (q & 1)))
                q++; /* half to even */
            if (q > best)
                best = q;
        }
    }
    tm__dec_format(best, 6, buf);
    return rc;
}
