/*
 * cmd_track.c — `tokmeter track`: record one event from flags, durably.
 *
 * The flags are the event's fields (cli_fields, from core/event.c's table),
 * one per accepted spelling (--input-tokens, --prompt-tokens, ...).
 */
#include <stdlib.h>
#include <string.h>

#include "../core/event.h"
#include "cli.h"

static int run(cli_global *g, int argc, char **argv)
{
    cli_fields *f = cli_fields_new();
    tm_arena arena = TM_ARENA_INIT;
    tm_event_builder b;
    tm *t = NULL;
    int code = EXIT_FAIL, dup = 0, rc;
    if (!f)
        return EXIT_FAIL;
    int npos = cli_parse(&cmd_track, cli_fields_opts(f), g, argc, argv);
    if (npos < 0 || (npos > 0 && !g->help)) {
        if (npos > 0)
            fprintf(stderr, "tokmeter track: unexpected argument '%s' (fields are flags: "
                            "--provider openai ...)\n", argv[0]);
        code = EXIT_USAGE;
        goto out;
    }
    if (g->help) {
        cli_help(&cmd_track, cli_fields_opts(f),
                 "Tokens are whole numbers; value, latency_ms and cost_usd are decimals;\n"
                 "timestamps are RFC 3339 or epoch milliseconds; --metadata and --usage take JSON.\n"
                 "example: tokmeter track --provider openai --model gpt-4o-mini \\\n"
                 "           --input-tokens 1200 --output-tokens 300 --latency-ms 812 --user-id u1\n");
        code = EXIT_OK;
        goto out;
    }
    tm__event_builder_init(&b, &arena);
    if ((rc = cli_fields_apply(f, &b, "track"))) {
        code = rc == TM_EINVAL ? EXIT_REJECTED : EXIT_FAIL;
        goto out;
    }
    if (!(t = cli_open(g)))
        goto out;
    rc = tm_track_sync(t, &b.ev, &dup);
    if (rc) {
        fprintf(stderr, "tokmeter track: %s\n", *tm_errmsg() ? tm_errmsg() : tm_strerror(rc));
        code = rc == TM_EINVAL ? EXIT_REJECTED : EXIT_FAIL;
        goto out;
    }
    if (g->json)
        printf("{\"accepted\": %d, \"duplicates\": %d, \"rejected\": []}\n", !dup, dup);
    else if (dup)
        printf("duplicate: an event with id '%s' is already stored (not counted again)\n", b.ev.id);
    else
        printf("stored 1 event\n");
    code = EXIT_OK;
out:
    if (tm_close(t) && code == EXIT_OK) {
        cli_error("track", TM_EIO);
        code = EXIT_FAIL;
    }
    tm__arena_free(&arena);
    cli_fields_free(f);
    return code;
}

const cli_cmd cmd_track = {"track", "--FIELD VALUE ...",
                           "Record one usage event, durably, from one flag per field.", run};
