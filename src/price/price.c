/*
 * price.c — the price catalog, matching and cost.
 *
 * The catalog is an array of model entries and metric entries. Lookup uses
 * a map from "rank␟provider␟model" to the newest version of an exact entry
 * (versions of one name are chained newest first through `next`), and a
 * list of glob entries; rank 0 is the user's price file, rank 1 the
 * built-in data, so the user's entries are consulted first. Names are
 * compared in lower case.
 *
 *   match(provider, model, ts):
 *     for rank in (user, built-in):
 *       exact name, newest version in force at ts      → "exact"
 *       glob with the longest literal prefix, in force  → "glob"
 *     none                                              → unpriced
 */
#include "price.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/arena.h"
#include "../core/dec.h"
#include "../core/err.h"
#include "../core/event.h"
#include "../core/json.h"
#include "../core/strmap.h"
#include "../core/tmtime.h"

/* The built-in catalog, data/prices.json, compiled in by the Makefile. */
extern const unsigned char tm__prices_json[];
extern const unsigned long tm__prices_json_len;

typedef struct entry {
    tm_price_entry e;
    int rank;           /* 0 user, 1 built-in */
    long next;          /* older version of the same exact name, or -1 */
} entry;

struct tm_catalog {
    tm_arena arena;     /* every string and tier array */
    entry *entries;
    size_t n, cap;
    tm_metric_price *metrics;
    size_t nm, capm;
    tm_strmap exact;    /* key → index of the newest version */
    size_t *globs;      /* indexes of glob entries, user first */
    size_t nglobs;
    const tm_price_entry **view;    /* for tm__catalog_entries */
    int64_t *eff;       /* every entry's effective_us, sorted, unique    */
    size_t neff;
    uint64_t gen;       /* changes with every reindex (the match memo's key) */
};

tm_catalog *tm__catalog_new(void)
{
    return calloc(1, sizeof(tm_catalog));
}

void tm__catalog_free(tm_catalog *c)
{
    if (!c)
        return;
    tm__arena_free(&c->arena);
    free(c->entries);
    free(c->metrics);
    free(c->globs);
    free(c->view);
    free(c->eff);
    tm__strmap_clear(&c->exact);
    free(c);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static int key_of(char *buf, size_t cap, int rank, const char *provider, const char *model)
{
    int n = snprintf(buf, cap, "%d\x1f%s\x1f%s", rank, provider, model);
    if (n < 0 || (size_t)n >= cap)
        return -1;
    lower(buf);
    return 0;
}

/* Rebuilds the exact map (chains newest first) and the glob list. */
static int reindex(tm_catalog *c)
{
    char key[600];
    tm__strmap_clear(&c->exact);
    free(c->globs);
    c->globs = malloc((c->n ? c->n : 1) * sizeof *c->globs);
    if (!c->globs)
        return TM_ENOMEM;
    c->nglobs = 0;
    for (int rank = 0; rank < 2; rank++)
        for (size_t i = 0; i < c->n; i++)
            if (c->entries[i].rank == rank && c->entries[i].e.glob)
                c->globs[c->nglobs++] = i;
    /* The dates on which the set of entries in force changes: between two
     * of them every match gives the same answer (see tm__price_match). */
    static _Atomic uint64_t generation;
    free(c->eff);
    if (!(c->eff = malloc((c->n ? c->n : 1) * sizeof *c->eff)))
        return TM_ENOMEM;
    for (size_t i = 0; i < c->n; i++)
        c->eff[i] = c->entries[i].e.effective_us;
    qsort(c->eff, c->n, sizeof *c->eff, cmp_i64);
    c->neff = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->neff == 0 || c->eff[c->neff - 1] != c->eff[i])
            c->eff[c->neff++] = c->eff[i];
    c->gen = ++generation;
    for (size_t i = 0; i < c->n; i++) {
        entry *e = &c->entries[i];
        e->next = -1;
        if (e->e.glob)
            continue;
        if (key_of(key, sizeof key, e->rank, e->e.provider, e->e.model))
            continue;
        int64_t head;
        if (!tm__strmap_get(&c->exact, key, &head)) {
            if (tm__strmap_put(&c->exact, key, (int64_t)i))
                return TM_ENOMEM;
            continue;
        }
        /* Insert into the chain, newest effective_from first. */
        long *link = NULL, cur = (long)head;
        if (e->e.effective_us >= c->entries[cur].e.effective_us) {
            e->next = cur;
            if (tm__strmap_put(&c->exact, key, (int64_t)i))
                return TM_ENOMEM;
            continue;
        }
        while (cur >= 0 && c->entries[cur].e.effective_us > e->e.effective_us) {
            link = &c->entries[cur].next;
            cur = *link;
        }
        e->next = cur;
        *link = (long)i;
    }
    return TM_OK;
}

/* ---- parsing price files ---- */

typedef struct loader {
    tm_catalog *c;
    const char *origin;
    char path[96];      /* "models[3].tiers[0]" */
} loader;

static int bad(loader *l, const char *field, const char *why)
{
    return tm__fail(TM_EINVAL, "%s: %s%s%s: %s", l->origin, l->path, l->path[0] ? "." : "",
                    field, why);
}

/* A decimal from a number or string, exactly at `scale`, ≥ 0. */
static int exact_dec(loader *l, const tm_jv *v, const char *field, int scale, int64_t *out)
{
    int64_t hi;
    if (v->type != TM_J_NUMBER && v->type != TM_J_STRING)
        return bad(l, field, "must be a decimal number (a JSON number or a string)");
    int rc = tm__dec_parse(v->s, v->n, scale, 0, out);
    if (rc == TM_DEC_NEGATIVE)
        return bad(l, field, "must not be negative");
    if (rc != TM_DEC_OK)
        return bad(l, field, rc == TM_DEC_RANGE ? "is out of range" : "must be a decimal number");
    /* Exact: the same text at 3 more places must be the value × 1000. */
    if (tm__dec_parse(v->s, v->n, scale + 3, 0, &hi) == TM_DEC_OK && hi != *out * 1000)
        return bad(l, field, scale == 6 ? "has more than 6 decimal places (a price per million "
                                          "tokens is kept to 1e-12 USD per token)"
                                        : "has more than 12 decimal places");
    return TM_OK;
}

static const struct {
    const char *name;
    unsigned bit;
    size_t off;
    int scale;
} price_fields[] = {
    {"input_usd_per_mtok", TM_P_IN, offsetof(tm_prices, in), 6},
    {"output_usd_per_mtok", TM_P_OUT, offsetof(tm_prices, out), 6},
    {"cache_read_usd_per_mtok", TM_P_CR, offsetof(tm_prices, cache_read), 6},
    {"cache_write_usd_per_mtok", TM_P_CW, offsetof(tm_prices, cache_write), 6},
    {"cache_write_1h_usd_per_mtok", TM_P_CW1H, offsetof(tm_prices, cache_write_1h), 6},
    {"request_usd", TM_P_REQ, offsetof(tm_prices, request), 12},
};
#define NPRICE (sizeof price_fields / sizeof price_fields[0])

/* Reads member `key` of an entry or tier if it is a price field. Returns 1
 * if it was one (rc in *rc), 0 if not. */
static int price_member(loader *l, const char *key, const tm_jv *v, tm_prices *p, int *rc)
{
    for (size_t i = 0; i < NPRICE; i++) {
        if (strcmp(key, price_fields[i].name) != 0)
            continue;
        *rc = exact_dec(l, v, key, price_fields[i].scale,
                        (int64_t *)((char *)p + price_fields[i].off));
        if (*rc == TM_OK)
            p->has |= price_fields[i].bit;
        return 1;
    }
    return 0;
}

static int string_member(loader *l, const tm_jv *v, const char *field, const char **out)
{
    if (v->type != TM_J_STRING || v->n == 0)
        return bad(l, field, "must be a non-empty string");
    char *s = tm__arena_strndup(&l->c->arena, v->s, v->n);
    if (!s)
        return TM_ENOMEM;
    *out = s;
    return TM_OK;
}

static int effective(loader *l, const tm_jv *v, int64_t *out)
{
    const char *why;
    if (v->type != TM_J_STRING || tm__time_parse(v->s, v->n, out, &why) != 0)
        return bad(l, "effective_from", "must be an RFC 3339 time (2025-09-29T00:00:00Z)");
    return TM_OK;
}

static int parse_tiers(loader *l, const tm_jv *arr, tm_price_entry *e)
{
    size_t base = strlen(l->path);
    if (arr->type != TM_J_ARRAY)
        return bad(l, "tiers", "must be an array");
    if (!arr->n)
        return TM_OK;
    e->tiers = tm__arena_alloc(&l->c->arena, arr->n * sizeof *e->tiers);
    if (!e->tiers)
        return TM_ENOMEM;
    memset(e->tiers, 0, arr->n * sizeof *e->tiers);
    for (size_t i = 0; i < arr->n; i++) {
        const tm_jv *t = arr->vals[i];
        tm_price_tier *tier = &e->tiers[i];
        int rc = TM_OK, have_above = 0;
        snprintf(l->path + base, sizeof l->path - base, ".tiers[%zu]", i);
        if (t->type != TM_J_OBJECT)
            return bad(l, "tier", "must be an object");
        for (size_t k = 0; k < t->n && rc == TM_OK; k++) {
            const char *key = t->keys[k];
            const tm_jv *v = t->vals[k];
            if (price_member(l, key, v, &tier->p, &rc))
                continue;
            if (strcmp(key, "above_input_tokens") == 0) {
                uint64_t a;
                if (v->type != TM_J_NUMBER || tm__uint_parse(v->s, v->n, 1ull << 53, &a))
                    return bad(l, key, "must be a non-negative integer");
                tier->above = (int64_t)a;
                have_above = 1;
            } else {
                return bad(l, key, "unknown field");
            }
        }
        if (rc)
            return rc;
        if (!have_above)
            return bad(l, "above_input_tokens", "is required in a tier");
        if (i > 0 && tier->above <= e->tiers[i - 1].above)
            return bad(l, "above_input_tokens", "tiers must be in ascending order");
    }
    l->path[base] = '\0';
    e->ntiers = arr->n;
    return TM_OK;
}

static size_t literal_prefix(const char *p)
{
    size_t n = strcspn(p, "*?[");
    return n;
}

static int parse_model(loader *l, const tm_jv *o, int rank)
{
    tm_catalog *c = l->c;
    entry en;
    int rc = TM_OK;
    memset(&en, 0, sizeof en);
    en.rank = rank;
    en.e.origin = l->origin;
    if (o->type != TM_J_OBJECT)
        return bad(l, "entry", "must be an object");
    for (size_t k = 0; k < o->n && rc == TM_OK; k++) {
        const char *key = o->keys[k];
        const tm_jv *v = o->vals[k];
        if (price_member(l, key, v, &en.e.base, &rc))
            continue;
        if (strcmp(key, "provider") == 0)
            rc = string_member(l, v, key, &en.e.provider);
        else if (strcmp(key, "model") == 0)
            rc = string_member(l, v, key, &en.e.model);
        else if (strcmp(key, "tiers") == 0)
            rc = parse_tiers(l, v, &en.e);
        else if (strcmp(key, "effective_from") == 0)
            rc = effective(l, v, &en.e.effective_us);
        else if (strcmp(key, "checked") == 0)
            rc = string_member(l, v, key, &en.e.checked);
        else if (strcmp(key, "note") != 0 && strcmp(key, "source") != 0)
            rc = bad(l, key, "unknown field");
    }
    if (rc)
        return rc;
    if (!en.e.provider)
        return bad(l, "provider", "is required");
    if (!en.e.model)
        return bad(l, "model", "is required");
    lower((char *)en.e.provider);
    lower((char *)en.e.model);
    en.e.prefix = literal_prefix(en.e.model);
    en.e.glob = en.e.model[en.e.prefix] != '\0';
    entry *p = tm__grow(c->entries, c->n, &c->cap, sizeof *p, 128);
    if (!p)
        return TM_ENOMEM;
    c->entries = p;
    c->entries[c->n++] = en;
    return TM_OK;
}

static int parse_metric(loader *l, const tm_jv *o)
{
    tm_catalog *c = l->c;
    tm_metric_price m;
    int rc = TM_OK, have_unit = 0;
    memset(&m, 0, sizeof m);
    m.origin = l->origin;
    if (o->type != TM_J_OBJECT)
        return bad(l, "entry", "must be an object");
    for (size_t k = 0; k < o->n && rc == TM_OK; k++) {
        const char *key = o->keys[k];
        const tm_jv *v = o->vals[k];
        if (strcmp(key, "metric_type") == 0)
            rc = string_member(l, v, key, &m.metric_type);
        else if (strcmp(key, "unit_usd") == 0)
            rc = exact_dec(l, v, key, 12, &m.unit), have_unit = 1;
        else if (strcmp(key, "effective_from") == 0)
            rc = effective(l, v, &m.effective_us);
        else if (strcmp(key, "note") != 0)
            rc = bad(l, key, "unknown field");
    }
    if (rc)
        return rc;
    if (!m.metric_type)
        return bad(l, "metric_type", "is required");
    if (!have_unit)
        return bad(l, "unit_usd", "is required");
    tm_metric_price *p = tm__grow(c->metrics, c->nm, &c->capm, sizeof *p, 16);
    if (!p)
        return TM_ENOMEM;
    c->metrics = p;
    c->metrics[c->nm++] = m;
    return TM_OK;
}

static int add_json(tm_catalog *c, const char *json, size_t len, const char *origin, int rank)
{
    tm_arena a = TM_ARENA_INIT;
    tm_jv *root = NULL;
    char jerr[200];
    loader l = {c, NULL, ""};
    int rc;
    if (!(l.origin = tm__arena_strndup(&c->arena, origin, strlen(origin))))
        return TM_ENOMEM;
    rc = tm__json_parse(&a, json, len, &root, jerr, sizeof jerr);
    if (rc == TM_EINVAL)
        rc = tm__fail(TM_EINVAL, "%s: %s", origin, jerr);
    else if (rc == TM_OK && root->type != TM_J_OBJECT)
        rc = tm__fail(TM_EINVAL, "%s: must be a JSON object with \"models\" and \"metrics\"", origin);
    for (size_t k = 0; rc == TM_OK && k < root->n; k++) {
        const char *key = root->keys[k];
        const tm_jv *v = root->vals[k];
        int models = strcmp(key, "models") == 0;
        if (!models && strcmp(key, "metrics") != 0) {
            if (strcmp(key, "_comment") != 0)
                rc = tm__fail(TM_EINVAL, "%s: %s: unknown field (expected models, metrics)", origin, key);
            continue;
        }
        if (v->type != TM_J_ARRAY) {
            rc = tm__fail(TM_EINVAL, "%s: %s: must be an array", origin, key);
            break;
        }
        for (size_t i = 0; i < v->n && rc == TM_OK; i++) {
            snprintf(l.path, sizeof l.path, "%s[%zu]", key, i);
            rc = models ? parse_model(&l, v->vals[i], rank) : parse_metric(&l, v->vals[i]);
        }
    }
    if (rc == TM_OK)
        rc = reindex(c);
    tm__arena_free(&a);
    return rc;
}

int tm__catalog_add_json(tm_catalog *c, const char *json, size_t len, const char *origin)
{
    return add_json(c, json, len, origin, 0);
}

int tm__catalog_load(tm_catalog **out, const char *user_path)
{
    tm_catalog *c = tm__catalog_new();
    tm_buf file = TM_BUF_INIT;
    int rc;
    *out = NULL;
    if (!c)
        return TM_ENOMEM;
    rc = add_json(c, (const char *)tm__prices_json, tm__prices_json_len, "built-in prices", 1);
    if (rc == TM_OK && user_path && *user_path) {
        file.max = 256u << 20;
        rc = tm__buf_read_file(&file, user_path);
        if (rc == TM_OK)
            rc = add_json(c, file.data ? file.data : "", file.len, user_path, 0);
    }
    tm__buf_free(&file);
    if (rc) {
        tm__catalog_free(c);
        return rc;
    }
    *out = c;
    return TM_OK;
}

size_t tm__catalog_entries(const tm_catalog *cc, const tm_price_entry *const **out)
{
    tm_catalog *c = (tm_catalog *)cc;
    free(c->view);
    c->view = malloc((c->n ? c->n : 1) * sizeof *c->view);
    if (!c->view)
        return 0;
    size_t k = 0;
    for (int rank = 0; rank < 2; rank++)
        for (size_t i = 0; i < c->n; i++)
            if (c->entries[i].rank == rank)
                c->view[k++] = &c->entries[i].e;
    *out = c->view;
    return k;
}

size_t tm__catalog_metrics(const tm_catalog *c, const tm_metric_price **out)
{
    *out = c->metrics;
    return c->nm;
}

/* ---- matching ---- */

static const tm_price_entry *match_exact(const tm_catalog *c, int rank, const char *provider,
                                         const char *model, int64_t ts)
{
    char key[600];
    int64_t head;
    if (!provider || !model || key_of(key, sizeof key, rank, provider, model) ||
        !tm__strmap_get(&c->exact, key, &head))
        return NULL;
    for (long i = (long)head; i >= 0; i = c->entries[i].next)
        if (c->entries[i].e.effective_us <= ts)
            return &c->entries[i].e;
    return NULL;
}

static const tm_price_entry *match_uncached(const tm_catalog *c, const char *provider,
                                           const char *model, int64_t ts, int *exact);

/* Matching walks the globs with fnmatch; importers price a million events
 * of a handful of models. A small per-thread memo keyed by the catalog's
 * generation, provider and model answers again for any ts between the same
 * two effective dates (the set of entries in force is the same there). */
#define MEMO 8
static __thread struct memo {
    uint64_t gen;
    int has_provider, exact;
    char provider[64], model[128];
    int64_t lo, hi;             /* valid for lo <= ts < hi */
    const tm_price_entry *best;
} memo[MEMO];
static __thread unsigned memo_next;

const tm_price_entry *tm__price_match(const tm_catalog *c, const char *provider,
                                      const char *model, int64_t ts, int *exact)
{
    const char *m = model ? model : "";
    for (int i = 0; i < MEMO; i++) {
        struct memo *e = &memo[i];
        if (e->gen == c->gen && c->gen && ts >= e->lo && ts < e->hi &&
            e->has_provider == (provider != NULL) && strcmp(e->model, m) == 0 &&
            (!provider || strcmp(e->provider, provider) == 0)) {
            *exact = e->exact;
            return e->best;
        }
    }
    const tm_price_entry *best = match_uncached(c, provider, model, ts, exact);
    if (strlen(m) < sizeof memo[0].model && (!provider || strlen(provider) < sizeof memo[0].provider)) {
        struct memo *e = &memo[memo_next++ % MEMO];
        size_t lo = 0, hi = c->neff; /* first effective date > ts */
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (c->eff[mid] <= ts)
                lo = mid + 1;
            else
                hi = mid;
        }
        e->gen = c->gen;
        e->lo = lo ? c->eff[lo - 1] : INT64_MIN;
        e->hi = lo < c->neff ? c->eff[lo] : INT64_MAX;
        e->has_provider = provider != NULL;
        snprintf(e->provider, sizeof e->provider, "%s", provider ? provider : "");
        snprintf(e->model, sizeof e->model, "%s", m);
        e->best = best;
        e->exact = *exact;
    }
    return best;
}

static const tm_price_entry *match_uncached(const tm_catalog *c, const char *provider,
                                           const char *model, int64_t ts, int *exact)
{
    char p[160], m[160];
    const tm_price_entry *best = NULL;
    snprintf(p, sizeof p, "%s", provider ? provider : "");
    snprintf(m, sizeof m, "%s", model ? model : "");
    lower(p);
    lower(m);
    for (int rank = 0; rank < 2 && !best; rank++) {
        if (provider) {
            best = match_exact(c, rank, p, m, ts);
        } else {
            /* No provider: an exact model name under any provider. */
            for (size_t i = 0; i < c->n && !best; i++) {
                const entry *e = &c->entries[i];
                if (e->rank == rank && !e->e.glob && strcmp(e->e.model, m) == 0) {
                    best = match_exact(c, rank, e->e.provider, m, ts);
                }
            }
        }
        if (best) {
            *exact = 1;
            return best;
        }
        for (size_t g = 0; g < c->nglobs; g++) {
            const entry *e = &c->entries[c->globs[g]];
            if (e->rank != rank || e->e.effective_us > ts)
                continue;
            if (provider ? strcmp(e->e.provider, p) != 0 : e->e.prefix == 0)
                continue; /* without a provider, a bare "*" would match anything */
            if (fnmatch(e->e.model, m, 0) != 0)
                continue;
            if (!best || e->e.prefix > best->prefix ||
                (e->e.prefix == best->prefix && e->e.effective_us > best->effective_us))
                best = &e->e;
        }
    }
    *exact = 0;
    return best;
}

static const tm_metric_price *match_metric(const tm_catalog *c, const char *metric, int64_t ts)
{
    const tm_metric_price *best = NULL;
    int best_rank = 2;
    for (size_t i = 0; i < c->nm; i++) {
        const tm_metric_price *m = &c->metrics[i];
        int rank = strcmp(m->origin, "built-in prices") == 0;
        if (strcmp(m->metric_type, metric) != 0 || m->effective_us > ts)
            continue;
        if (!best || rank < best_rank || (rank == best_rank && m->effective_us > best->effective_us)) {
            best = m;
            best_rank = rank;
        }
    }
    return best;
}

/* ---- cost ---- */

static int64_t pick(const tm_prices *base, const tm_prices *tier, unsigned bit, size_t off)
{
    const tm_prices *p = tier && (tier->has & bit) ? tier : base;
    return *(const int64_t *)((const char *)p + off);
}

int tm__price_event(const tm_catalog *c, tm_event *ev, tm_price_why *why)
{
    tm_price_why local;
    if (!why)
        why = &local;
    memset(why, 0, sizeof *why);
    why->tier = -1;
    if (ev->has & TM_HAS_COST) {
        ev->cost_source = TM_COST_REPORTED;
        why->rule = "reported";
        return TM_OK;
    }
    ev->cost_pusd = 0;
    ev->cost_source = TM_COST_UNPRICED;
    why->rule = "unpriced";
    if (!c)
        return TM_OK;

    tm_i128 cost;
    if (ev->metric_type && strcmp(ev->metric_type, "llm_call") != 0) {
        const tm_metric_price *m = match_metric(c, ev->metric_type, ev->ts_us);
        if (!m)
            return TM_OK;
        /* value (1e-9 units) × unit (pUSD), rounded half to even to pUSD. */
        tm_i128 x = (tm_i128)ev->value_nano * m->unit, q = x / TM_VALUE_SCALE,
                r = x % TM_VALUE_SCALE;
        if (2 * r > TM_VALUE_SCALE || (2 * r == TM_VALUE_SCALE && (q & 1)))
            q++;
        cost = q;
        why->rule = "metric";
        why->metric = m;
    } else {
        int exact = 0;
        const tm_price_entry *e = tm__price_match(c, ev->provider, ev->model, ev->ts_us, &exact);
        if (!e)
            return TM_OK;
        int64_t inputs = ev->input_tokens + ev->cache_read_tokens + ev->cache_write_tokens;
        const tm_prices *tier = NULL;
        /* Tiers are per request: a usage bucket summing many requests is
         * priced at the base rates. */
        size_t ntiers = tm__event_is_bucket(ev) ? 0 : e->ntiers;
        for (size_t i = 0; i < ntiers; i++)
            if (inputs > e->tiers[i].above) { /* at the threshold is not above it */
                tier = &e->tiers[i].p;
                why->tier = (int)i;
            }
        tm_prices *a = &why->applied;
        a->in = pick(&e->base, tier, TM_P_IN, offsetof(tm_prices, in));
        a->out = pick(&e->base, tier, TM_P_OUT, offsetof(tm_prices, out));
        a->cache_read = pick(&e->base, tier, TM_P_CR, offsetof(tm_prices, cache_read));
        a->cache_write = pick(&e->base, tier, TM_P_CW, offsetof(tm_prices, cache_write));
        a->request = pick(&e->base, tier, TM_P_REQ, offsetof(tm_prices, request));
        /* The 1-hour write price falls back to the (tier's or base) write price. */
        if (tier && (tier->has & TM_P_CW1H))
            a->cache_write_1h = tier->cache_write_1h;
        else if (tier && (tier->has & TM_P_CW))
            a->cache_write_1h = tier->cache_write;
        else
            a->cache_write_1h = e->base.has & TM_P_CW1H ? e->base.cache_write_1h : a->cache_write;
        tm_i128 parts[6] = {
            (tm_i128)ev->input_tokens * a->in,
            (tm_i128)ev->output_tokens * a->out,
            (tm_i128)ev->cache_read_tokens * a->cache_read,
            (tm_i128)(ev->cache_write_tokens - ev->cache_write_1h_tokens) * a->cache_write,
            (tm_i128)ev->cache_write_1h_tokens * a->cache_write_1h,
            (tm_i128)a->request,
        };
        cost = 0;
        for (int i = 0; i < 6; i++) {
            cost += parts[i];
            why->parts[i] = parts[i] > INT64_MAX ? INT64_MAX : (int64_t)parts[i];
        }
        why->rule = exact ? "exact" : "glob";
        why->entry = e;
    }
    if (cost > INT64_MAX)
        return tm__fail(TM_EINVAL, "cost_usd: the computed cost exceeds 9223372 USD for one event");
    ev->cost_pusd = (int64_t)cost;
    ev->cost_source = TM_COST_COMPUTED;
    return TM_OK;
}

/* ---- LiteLLM import ---- */

void tm__price_per_mtok(int64_t pusd_per_token, char *buf)
{
    tm__dec_format(pusd_per_token, 6, buf);
}

/* A LiteLLM per-token USD cost, exactly, as pUSD per token; -1 if absent,
 * -2 if not representable. */
static int64_t litellm_cost(const tm_jv *o, const char *key)
{
    const tm_jv *v = tm__json_get(o, key);
    int64_t p, hi;
    if (!v || v->type == TM_J_NULL)
        return -1;
    if (v->type != TM_J_NUMBER && v->type != TM_J_STRING)
        return -2;
    if (tm__dec_parse(v->s, v->n, 12, 0, &p) != TM_DEC_OK)
        return -2;
    if (tm__dec_parse(v->s, v->n, 15, 0, &hi) == TM_DEC_OK && hi != p * 1000)
        return -2; /* finer than a pico-dollar per token */
    return p;
}

typedef struct litellm_map {
    const char *litellm, *ours;
} litellm_map;

/* Appends the prices named in map as "ours": "USD per Mtok" pairs, the
 * first after `open` and the rest after ", ". Each is the first of the
 * entries os[0..nos) to give it (os[0] the one kept: see below); *count
 * gets how many, *ok 0 when one of them is malformed. */
static int put_litellm(tm_buf *line, const tm_jv *const *os, size_t nos, const litellm_map *map,
                       size_t n, const char *open, int *count, int *ok)
{
    int rc = TM_OK;
    for (size_t k = 0; k < n && rc == TM_OK; k++) {
        int64_t v = -1;
        for (size_t j = 0; j < nos && v == -1; j++)
            v = litellm_cost(os[j], map[k].litellm);
        char d[48];
        if (v == -2)
            *ok = 0;
        if (v < 0)
            continue;
        tm__price_per_mtok(v, d);
        rc = tm__buf_printf(line, "%s\"%s\": \"%s\"", (*count)++ ? ", " : open, map[k].ours, d);
    }
    return rc;
}

/* An entry of LiteLLM's file that has token prices: its provider, and its
 * model as the provider reports it ("openrouter/anthropic/claude-3.5"
 * under provider openrouter is the model "anthropic/claude-3.5"). */
typedef struct litellm_ent {
    const char *name;           /* the key in LiteLLM's file                */
    const tm_jv *o, *prov;
    const char *model;
    int named;                  /* the key names the provider               */
    int later;                  /* not the model's first entry: written with it */
    int64_t next;               /* the next entry for the same model, or -1 */
} litellm_ent;

/* 1: an entry with token prices, in *e; 0: one without, or with an empty
 * provider or model name (skipped); -1:
 * LiteLLM's sample_spec (not a model). */
static int litellm_entry(const char *name, const tm_jv *o, litellm_ent *e)
{
    const tm_jv *prov = tm__json_get(o, "litellm_provider");
    if (strcmp(name, "sample_spec") == 0)
        return -1;
    int64_t in = litellm_cost(o, "input_cost_per_token");
    int64_t outp = litellm_cost(o, "output_cost_per_token");
    if (o->type != TM_J_OBJECT || !prov || prov->type != TM_J_STRING || (in < 0 && outp < 0) ||
        in == -2 || outp == -2)
        return 0;
    size_t pl = prov->n;
    *e = (litellm_ent){name, o, prov, name, 0, 0, -1};
    if (strncmp(name, prov->s, pl) == 0 && name[pl] == '/') {
        e->model = name + pl + 1;
        e->named = 1;
    }
    if (!*e->model || !pl) { /* "" or "acme/": a price file needs both names */
        *e = (litellm_ent){0};
        return 0;
    }
    return 1;
}

int tm__price_import_litellm(const char *json, size_t len, tm_buf *out, size_t *n,
                             size_t *skipped, tm_buf *notes)
{
    tm_arena a = TM_ARENA_INIT;
    tm_jv *root = NULL;
    char jerr[200];
    litellm_ent *ents = NULL;
    tm_strmap first = TM_STRMAP_INIT; /* "provider\x1fmodel" -> 1 + its first entry */
    tm_buf key = TM_BUF_INIT;
    int rc = tm__json_parse(&a, json, len, &root, jerr, sizeof jerr);
    *n = *skipped = 0;
    if (rc == TM_EINVAL)
        rc = tm__fail(TM_EINVAL, "litellm prices: %s", jerr);
    if (rc == TM_OK && root->type != TM_J_OBJECT)
        rc = tm__fail(TM_EINVAL, "litellm prices: must be an object of models");
    if (rc == TM_OK && !(ents = calloc(root->n ? root->n : 1, sizeof *ents)))
        rc = TM_ENOMEM;
    if (rc == TM_OK)
        rc = tm__buf_puts(out, "{\"_comment\": \"converted from LiteLLM's model_prices_and_context_window.json by tokmeter prices import\",\n \"models\": [");
    static const litellm_map map[] = {
        {"input_cost_per_token", "input_usd_per_mtok"},
        {"output_cost_per_token", "output_usd_per_mtok"},
        {"cache_read_input_token_cost", "cache_read_usd_per_mtok"},
        {"cache_creation_input_token_cost", "cache_write_usd_per_mtok"},
        {"cache_creation_input_token_cost_above_1hr", "cache_write_1h_usd_per_mtok"},
    };
    static const litellm_map map200k[] = {
        {"input_cost_per_token_above_200k_tokens", "input_usd_per_mtok"},
        {"output_cost_per_token_above_200k_tokens", "output_usd_per_mtok"},
        {"cache_read_input_token_cost_above_200k_tokens", "cache_read_usd_per_mtok"},
        {"cache_creation_input_token_cost_above_200k_tokens", "cache_write_usd_per_mtok"},
    };
    /* Entries naming one model twice ("acme-big" and "acme/acme-big" both
     * under provider acme) become one: chained from the first. */
    for (size_t i = 0; rc == TM_OK && i < root->n; i++) {
        litellm_ent *e = &ents[i];
        int is = litellm_entry(root->keys[i], root->vals[i], e);
        if (is <= 0) {
            *skipped += is == 0;
            continue;
        }
        int64_t head = 0;
        tm__buf_reset(&key);
        if ((rc = tm__buf_printf(&key, "%.*s\x1f%s", (int)e->prov->n, e->prov->s, e->model)))
            break;
        if (!tm__strmap_get(&first, key.data, &head)) {
            rc = tm__strmap_put(&first, key.data, (int64_t)i + 1);
            continue;
        }
        size_t j = (size_t)head - 1;
        while (ents[j].next >= 0)
            j = (size_t)ents[j].next;
        ents[j].next = (int64_t)i;
        e->later = 1;
    }
    for (size_t i = 0; rc == TM_OK && i < root->n; i++) {
        if (!ents[i].o || ents[i].later)
            continue;
        /* The entry kept: the first whose key names the provider, else the
         * first; a price it lacks comes from the others, in file order. */
        const tm_jv *os[16];
        size_t nos = 0, keep = i;
        for (int64_t j = (int64_t)i; j >= 0; j = ents[j].next)
            if (ents[j].named && !ents[keep].named)
                keep = (size_t)j;
        os[nos++] = ents[keep].o;
        for (int64_t j = (int64_t)i; j >= 0 && nos < sizeof os / sizeof os[0]; j = ents[j].next)
            if ((size_t)j != keep)
                os[nos++] = ents[j].o;
        const litellm_ent *e = &ents[keep];
        if (nos > 1 && notes) {
            rc = tm__buf_printf(notes, "%.*s/%s is named %zu times (", (int)e->prov->n, e->prov->s,
                                e->model, nos);
            for (int64_t j = (int64_t)i; rc == TM_OK && j >= 0; j = ents[j].next)
                rc = tm__buf_printf(notes, "%s\"%s\"", (size_t)j == i ? "" : ", ", ents[j].name);
            if (rc == TM_OK)
                rc = tm__buf_printf(notes, "): kept \"%s\"%s, a price it lacks taken from the others\n",
                                    e->name, e->named ? " (its key names the provider)" : " (the first)");
        }
        tm_buf line = TM_BUF_INIT;
        if (rc == TM_OK) rc = tm__buf_puts(&line, *n ? ",\n  {\"provider\": " : "\n  {\"provider\": ");
        if (rc == TM_OK) rc = tm__json_str(&line, e->prov->s, e->prov->n);
        if (rc == TM_OK) rc = tm__buf_puts(&line, ", \"model\": ");
        if (rc == TM_OK) rc = tm__json_str(&line, e->model, strlen(e->model));
        int ok = 1, base = 0, tier = 0;
        if (rc == TM_OK)
            rc = put_litellm(&line, os, nos, map, sizeof map / sizeof map[0], ", ", &base, &ok);
        if (rc == TM_OK)
            rc = put_litellm(&line, os, nos, map200k, sizeof map200k / sizeof map200k[0],
                             ", \"tiers\": [{\"above_input_tokens\": 200000, ", &tier, &ok);
        if (rc == TM_OK)
            rc = tm__buf_puts(&line, tier ? "}], \"source\": \"litellm\"}" : ", \"source\": \"litellm\"}");
        if (rc == TM_OK && ok) {
            rc = tm__buf_add(out, line.data, line.len);
            ++*n;
        } else if (rc == TM_OK) {
            ++*skipped;
        }
        tm__buf_free(&line);
    }
    if (rc == TM_OK)
        rc = tm__buf_puts(out, "\n ],\n \"metrics\": []}\n");
    free(ents);
    tm__strmap_clear(&first);
    tm__buf_free(&key);
    tm__arena_free(&a);
    return rc;
}
