/* docs/examples/track.c: record one call, then ask what it cost. */
#include <stdio.h>
#include <tokmeter.h>

int main(int argc, char **argv)
{
    const char *q[] = {"from", "2026-10-01", "to", "2026-11-01", "group_by", "model", NULL};
    tm *t;
    tm_event ev;
    tm_report *r;
    if (argc != 2 || tm_open(&t, argv[1], NULL) != TM_OK)
        return 1;
    tm_event_init(&ev);
    ev.provider = "openai"; ev.model = "gpt-4o-mini"; ev.user_id = "u1";
    ev.input_tokens = 1200; ev.output_tokens = 300;
    ev.ts_us = 1790848800000000;                /* 2026-10-01T10:00:00Z */
    ev.has = TM_HAS_TOKENS | TM_HAS_TS;
    if (tm_track_sync(t, &ev, NULL) != TM_OK || tm_report_run(t, q, &r) != TM_OK) {
        fprintf(stderr, "%s\n", tm_errmsg());
        return 1;
    }
    puts(tm_report_json(r));
    tm_report_free(r);
    return tm_close(t) == TM_OK ? 0 : 1;
}
