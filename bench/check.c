/*
 * check.c — the cost of asking before a call: tm_check in-process.
 *
 *   bench_check [DIR] [EVENTS_PER_USER]
 *
 * A store with 100 users on a tier with three limits (requests, cost, an
 * evaluation count) and EVENTS_PER_USER events each this month; then
 * p50/p99 of tm_check: each user's first check (the period's sums are
 * read from the events), 2,000 later checks, and 2,000 later checks each
 * after a durable write of one more event for that user (the commit hook
 * keeps the sums current).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "tokmeter.h"

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/var/tmp";
    long per = argc > 2 ? strtol(argv[2], NULL, 10) : 1000;
    char db[1024], cfg[1024], cmd[3200], user[32];
    snprintf(db, sizeof db, "%s/bench-check.db", dir);
    snprintf(cfg, sizeof cfg, "%s/bench-check.json", dir);
    snprintf(cmd, sizeof cmd, "rm -f %s %s-wal %s-shm", db, db, db);
    if (system(cmd) != 0)
        return 1;
    FILE *f = fopen(cfg, "w");
    fputs("{\"tiers\": {\"std\": {\"period\": \"month\", \"limits\": {\"requests\": 1000000, "
          "\"cost_usd\": \"1000\", \"events:evaluation_run\": 1000}}}, \"default_tier\": \"std\","
          " \"rate_limits\": [{\"scope\": \"user\", \"requests_per_second\": 1000000}]}", f);
    fclose(f);
    tm *t = NULL;
    tm_options o = {.config = cfg};
    if (tm_open(&t, db, &o)) {
        fprintf(stderr, "open: %s\n", tm_errmsg());
        return 1;
    }
    for (long u = 0; u < 100; u++)
        for (long i = 0; i < per; i++) {
            tm_event ev;
            tm_event_init(&ev);
            snprintf(user, sizeof user, "user-%ld", u);
            ev.user_id = user;
            ev.provider = "openai";
            ev.model = "gpt-4o-mini";
            ev.input_tokens = 1000 + i;
            ev.has = TM_HAS_TOKENS;
            tm_track(t, &ev);
        }
    tm_flush(t);
    enum { N = 2000 };
    static double lat[N];
    static const char *const phase[] = {"first check per user", "later checks",
                                        "later checks, each after a durable write"};
    for (int ph = 0; ph < 3; ph++) {
        int n = ph == 0 ? 100 : N;
        for (int i = 0; i < n; i++) {
            snprintf(user, sizeof user, "user-%d", ph == 0 ? i : (i * 37) % 100);
            if (ph == 2) {
                tm_event ev;
                tm_event_init(&ev);
                ev.user_id = user;
                ev.provider = "openai";
                ev.model = "gpt-4o-mini";
                ev.input_tokens = 1000 + i;
                ev.has = TM_HAS_TOKENS;
                if (tm_track_sync(t, &ev, NULL)) {
                    fprintf(stderr, "track: %s\n", tm_errmsg());
                    return 1;
                }
            }
            tm_check_request rq = {.user_id = user, .operation = "chat", .estimated_tokens = 500};
            tm_check_result res;
            double t0 = bench_now();
            if (tm_check(t, &rq, &res) || !res.allowed) {
                fprintf(stderr, "check: %s %s\n", tm_errmsg(), res.reason);
                return 1;
            }
            lat[i] = (bench_now() - t0) * 1e6;
        }
        qsort(lat, (size_t)n, sizeof lat[0], bench_cmpd);
        printf("tm_check in-process, 3 limits, %ld events per user this month, %s: p50 %.1f us  p99 %.1f us\n",
               per, phase[ph], lat[n / 2], lat[n * 99 / 100]);
    }
    tm_close(t);
    return 0;
}
