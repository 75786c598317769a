/*
 * alerts.c — the cost of evaluating alert rules.
 *
 *   bench_alerts [DIR]
 *
 * A store of 100,000 events this hour (100 users, 8 providers, some
 * failures and evaluation runs), and a config of 1,000 rules: a third
 * global daily cost, a third per-provider error rate over the last hour, a
 * third per-user evaluation counts over the day, with varied thresholds.
 * Prints the time of the first evaluation (which stores every state) and of
 * later ones (no transitions), per 1,000 rules.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../src/core/tmtime.h"
#include "../src/lib/lib.h"
#include "../src/policy/alert.h"
#include "bench.h"
#include "tokmeter.h"

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/var/tmp";
    char db[1024], cfg[1024], cmd[3200], user[32], prov[16];
    snprintf(db, sizeof db, "%s/bench-alerts.db", dir);
    snprintf(cfg, sizeof cfg, "%s/bench-alerts.json", dir);
    snprintf(cmd, sizeof cmd, "rm -f %s %s-wal %s-shm", db, db, db);
    if (system(cmd) != 0)
        return 1;
    FILE *f = fopen(cfg, "w");
    fputs("{\"alerts\": {\"rules\": [", f);
    for (int i = 0; i < 1000; i++) {
        if (i % 3 == 0)
            fprintf(f, "%s{\"name\": \"cost-%d\", \"metric\": \"cost_usd\", \"window\": \"day\", \"op\": \">\", \"threshold\": %d}",
                    i ? "," : "", i, i);
        else if (i % 3 == 1)
            fprintf(f, ",{\"name\": \"err-%d\", \"metric\": \"error_rate\", \"scope\": \"provider\", \"window\": \"1h\", \"op\": \">\", \"threshold\": 0.%02d}",
                    i, i % 100);
        else
            fprintf(f, ",{\"name\": \"eval-%d\", \"metric\": \"events:evaluation_run\", \"scope\": \"user_id\", \"window\": \"day\", \"op\": \">\", \"threshold\": %d}",
                    i, i % 200);
    }
    fputs("]}}", f);
    fclose(f);
    tm *t = NULL;
    if (tm_open(&t, db, NULL)) {
        fprintf(stderr, "open: %s\n", tm_errmsg());
        return 1;
    }
    unsigned long r = 88172645463325252ul;
    for (int i = 0; i < 100000; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        tm_event ev;
        tm_event_init(&ev);
        snprintf(user, sizeof user, "user-%lu", r % 100);
        snprintf(prov, sizeof prov, "p%lu", (r >> 8) % 8);
        ev.user_id = user;
        ev.provider = prov;
        ev.success = (r >> 20) % 20 != 0;
        ev.cost_pusd = (int64_t)((r >> 24) % 10000) * 1000000;
        ev.has = TM_HAS_SUCCESS | TM_HAS_COST;
        if ((r >> 40) % 10 == 0)
            ev.metric_type = "evaluation_run";
        tm_track(t, &ev);
    }
    tm_flush(t);
    tm_alerts *a = NULL;
    if (tm__alerts_load(&a, cfg)) {
        fprintf(stderr, "rules: %s\n", tm_errmsg());
        return 1;
    }
    int n = 0;
    double t0 = bench_now();
    tm__alerts_evaluate(tm__pctx(t), a, tm__now_us(), 0, NULL, NULL, &n);
    double first = bench_now() - t0;
    int n2 = 0;
    t0 = bench_now();
    for (int k = 0; k < 3; k++)
        tm__alerts_evaluate(tm__pctx(t), a, tm__now_us(), 0, NULL, NULL, &n2);
    double later = (bench_now() - t0) / 3;
    printf("alert rules over 100,000 events: 1,000 rules in %.1f ms (first, %d transitions stored), "
           "%.1f ms per 1,000 rules after (no transitions)\n", first * 1e3, n, later * 1e3);
    tm__alerts_free(a);
    tm_close(t);
    return 0;
}
