/*
 * price.h — the face of pricing: the price catalog (built-in data plus a
 * user's price file), model matching, and exact cost in integer money.
 *
 * Units: a token price is pico-USD per token (an integer: every price with
 * up to 6 decimals per million tokens is exact); a request or unit price is
 * pico-USD. Costs are computed in 128 bits and must fit 64 (9.2M USD per
 * event). The rules are in docs/pricing.md.
 */
#ifndef TM_PRICE_PRICE_H
#define TM_PRICE_PRICE_H

#include <stddef.h>
#include <stdint.h>

#include "../core/buf.h"
#include "tokmeter.h"

/* Bits of tm_prices.has: which prices an entry or tier names. */
enum {
    TM_P_IN = 1, TM_P_OUT = 2, TM_P_CR = 4, TM_P_CW = 8, TM_P_CW1H = 16, TM_P_REQ = 32,
};

typedef struct tm_prices {
    int64_t in, out, cache_read, cache_write, cache_write_1h; /* pUSD per token */
    int64_t request;                                          /* pUSD per call  */
    unsigned has;
} tm_prices;

typedef struct tm_price_tier {
    int64_t above;          /* applies when input+cache tokens exceed this   */
    tm_prices p;            /* names only what changes; the rest is the base */
} tm_price_tier;

typedef struct tm_price_entry {
    const char *provider;   /* lower case                                   */
    const char *model;      /* exact name or glob (* ?), lower case         */
    size_t prefix;          /* literal characters before the first wildcard */
    int glob;
    int64_t effective_us;   /* in force from; 0: always                     */
    tm_prices base;
    tm_price_tier *tiers;         /* ascending by `above`                          */
    size_t ntiers;
    const char *checked;    /* date the price was checked, or NULL          */
    const char *origin;     /* "built-in" or the price file's path          */
} tm_price_entry;

typedef struct tm_metric_price {
    const char *metric_type;
    int64_t unit;           /* pUSD per unit of value                        */
    int64_t effective_us;
    const char *origin;
} tm_metric_price;

typedef struct tm_catalog tm_catalog;

/* Loads the built-in catalog and, if user_path is not NULL, the user's
 * price file, whose entries are consulted first. On error returns TM_EINVAL
 * (a bad file: the message names the file, the entry and the field) or
 * TM_ENOTFOUND / TM_EIO for an unreadable file. */
int tm__catalog_load(tm_catalog **out, const char *user_path);

/* Parses a price file held in memory (for tests and `prices import`). */
int tm__catalog_add_json(tm_catalog *c, const char *json, size_t len, const char *origin);

tm_catalog *tm__catalog_new(void);
void tm__catalog_free(tm_catalog *c);

/* Every entry, user entries first, for `prices list`. */
size_t tm__catalog_entries(const tm_catalog *c, const tm_price_entry *const **out);
/* The per-unit metric prices, in file order. */
size_t tm__catalog_metrics(const tm_catalog *c, const tm_metric_price **out);

/* Why an event costs what it does. */
typedef struct tm_price_why {
    const char *rule;               /* "exact", "glob", "metric", "reported", "unpriced" */
    const tm_price_entry *entry;    /* the matched model entry, if any               */
    const tm_metric_price *metric;  /* the matched metric entry, if any              */
    int tier;                       /* index into entry->tiers, or -1                */
    tm_prices applied;              /* the prices used (base merged with the tier)   */
    int64_t parts[6];               /* pUSD: in, out, cache_read, cache_write (5m),
                                       cache_write_1h, request                       */
} tm_price_why;

/* Sets ev->cost_pusd and ev->cost_source from the catalog, unless the event
 * carries a reported cost (TM_HAS_COST), which is kept. ev must have passed
 * tm__event_finish. why may be NULL. Returns TM_OK, or TM_EINVAL when the
 * cost would not fit 64 bits (message set). */
int tm__price_event(const tm_catalog *c, tm_event *ev, tm_price_why *why);

/* Finds the model entry in force for provider/model at ts (either string may
 * be NULL), or NULL. *exact tells how it matched. */
const tm_price_entry *tm__price_match(const tm_catalog *c, const char *provider,
                                      const char *model, int64_t ts, int *exact);

/* Converts LiteLLM's model_prices_and_context_window.json into a tokmeter
 * price file, appended to out. *n gets the number of models converted,
 * *skipped those without token prices. Entries naming one model twice
 * ("acme-big" and "acme/acme-big", both under provider acme) become one:
 * the entry whose key names the provider is kept (else the first), and
 * each price it lacks (cache, long-context tier) is taken from the others;
 * notes (may be NULL) gets a line for each such model. */
int tm__price_import_litellm(const char *json, size_t len, tm_buf *out, size_t *n,
                             size_t *skipped, tm_buf *notes);

/* Appends a pUSD-per-token price as USD per million tokens ("0.0375"). */
void tm__price_per_mtok(int64_t pusd_per_token, char *buf);

#endif
