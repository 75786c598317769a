/*
 * config.c — fuzzes the config file (docs/config.md) through every reader
 * of it: the daemon's settings (tm__server_config_load), the quota tiers and
 * rate limits (tm__policy_load), the alert rules (tm__alerts_load) and the
 * collector sources (tm__sources_load). Each reads a path, so the input is
 * written to a scratch file first.
 *
 * Beyond the sanitizers: every tier that loads yields a period holding the
 * instant asked about (at a few instants, DST days among them), every rate
 * rule answers a check, and sources that load survive a save and reload.
 */
#include "../src/ingest/ingest.h"
#include "../src/policy/alert.h"
#include "../src/policy/policy.h"
#include "../src/server/server.h"
#include "fuzz.h"

static const int64_t instants[] = {0, 1774746000000000LL /* 2026-03-29T01:00Z */,
                                   1792890000000000LL /* 2026-10-25T01:00Z */,
                                   253402300799000000LL /* 9999-12-31T23:59:59Z */};

static void check_policy(tm_policy *p)
{
    for (int i = 0; i < p->ntiers; i++)
        for (size_t k = 0; k < sizeof instants / sizeof instants[0]; k++) {
            int64_t start = 0, reset = 0;
            if (tm__period_bounds(&p->tiers[i], instants[k], &start, &reset) != TM_OK)
                continue;
            if (!(start <= instants[k] && instants[k] < reset)) {
                fprintf(stderr, "config: tier %s: period [%lld, %lld) does not hold %lld\n",
                        p->tiers[i].name, (long long)start, (long long)reset, (long long)instants[k]);
                abort();
            }
        }
    double retry = 0;
    char why[200];
    for (size_t k = 0; k < sizeof instants / sizeof instants[0]; k++)
        tm__rate_check(p, "u1", "chat", 1, 1000, instants[k], 1, &retry, why, sizeof why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_file("config.json", data, size);
    tm_server_config cfg;
    tm__server_defaults(&cfg);
    tm__server_config_load(&cfg, path);

    tm_policy *p = NULL;
    if (tm__policy_load(&p, path) == TM_OK && p)
        check_policy(p);
    tm__policy_free(p);

    tm_alerts *a = NULL;
    tm__alerts_load(&a, path);
    tm__alerts_free(a);

    tm_source *src = NULL, *again = NULL;
    size_t n = 0, n2 = 0;
    if (tm__sources_load(path, &src, &n) == TM_OK) {
        char copy[600];
        snprintf(copy, sizeof copy, "%s.saved", path);
        remove(copy);
        if (tm__sources_save(copy, src, n) != TM_OK || tm__sources_load(copy, &again, &n2) != TM_OK ||
            n2 != n) {
            fprintf(stderr, "config: %zu sources loaded, saved and reloaded as %zu: %s\n", n, n2,
                    tm_errmsg());
            abort();
        }
    }
    free(src);
    free(again);
    return 0;
}
