/*
 * cmd_track.c — `tokmeter track`: record one event from flags, durably.
 *
 * The flags are made from the event's field table (core/event.c), one per
 * accepted spelling (--input-tokens, --prompt-tokens, ...), so the CLI can
 * never drift from the JSON API.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/event.h"
#include "cli.h"

#define MAXF 64

typedef struct fields {
    cli_opt opts[MAXF + 1];
    const char *vals[MAXF];
    char names[MAXF][40];   /* --flag-name (dashes)                         */
    char keys[MAXF][40];    /* field_name (as the JSON API spells it)        */
    size_t n;
} fields;

static void collect(void *arg, const char *name, const char *canonical, const char *help)
{
    fields *f = arg;
    (void)canonical;
    for (const char *p = name; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            return; /* camelCase spellings are for JSON payloads only */
    if (f->n == MAXF || strcmp(name, "cost_source") == 0) /* an output echo */
        return;
    snprintf(f->keys[f->n], sizeof f->keys[0], "%s", name);
    snprintf(f->names[f->n], sizeof f->names[0], "%s", name);
    for (char *p = f->names[f->n]; *p; p++)
        if (*p == '_')
            *p = '-';
    f->opts[f->n] = (cli_opt){f->names[f->n], "VALUE", help ? help : "(same as above)",
                              &f->vals[f->n], NULL};
    f->n++;
}

static int run(cli_global *g, int argc, char **argv)
{
    fields *f = calloc(1, sizeof *f);
    tm_arena arena = TM_ARENA_INIT;
    tm_event_builder b;
    tm *t = NULL;
    int code = EXIT_FAIL, dup = 0, rc;
    if (!f)
        return EXIT_FAIL;
    tm__event_fields(collect, f);
    int npos = cli_parse(&cmd_track, f->opts, g, argc, argv);
    if (npos < 0 || (npos > 0 && !g->help)) {
        if (npos > 0)
            fprintf(stderr, "tokmeter track: unexpected argument '%s' (fields are flags: "
                            "--provider openai ...)\n", argv[0]);
        code = EXIT_USAGE;
        goto out;
    }
    if (g->help) {
        cli_help(&cmd_track, f->opts,
                 "Tokens are whole numbers; value, latency_ms and cost_usd are decimals;\n"
                 "timestamps are RFC 3339 or epoch milliseconds; --metadata and --usage take JSON.\n"
                 "example: tokmeter track --provider openai --model gpt-4o-mini \\\n"
                 "           --input-tokens 1200 --output-tokens 300 --latency-ms 812 --user-id u1\n");
        code = EXIT_OK;
        goto out;
    }
    tm__event_builder_init(&b, &arena);
    for (size_t i = 0; i < f->n; i++) {
        if (!f->vals[i])
            continue;
        if ((rc = tm__event_set_text(&b, f->keys[i], f->vals[i]))) {
            fprintf(stderr, "tokmeter track: %s\n", rc == TM_EINVAL ? b.err : tm_strerror(rc));
            code = rc == TM_EINVAL ? EXIT_REJECTED : EXIT_FAIL;
            goto out;
        }
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
        printf("{\"accepted\": %d, \"duplicates\": %d, \"rejected\": 0}\n", !dup, dup);
    else if (dup)
        printf("duplicate: an event with id '%s' is already stored (not counted again)\n", b.ev.id);
    else
        printf("stored 1 event\n");
    code = EXIT_OK;
out:
    if (tm_close(t) && code == EXIT_OK) {
        cli_error("close", TM_EIO);
        code = EXIT_FAIL;
    }
    tm__arena_free(&arena);
    free(f);
    return code;
}

const cli_cmd cmd_track = {"track", "--FIELD VALUE ...",
                           "Record one usage event, durably, from one flag per field.", run};
