/*
 * cmd_keys.c — `tokmeter keys create|list|revoke`: API keys for the daemon.
 * A new key is printed once; the store keeps only its hash.
 */
#include <string.h>

#include "../core/tmtime.h"
#include "../lib/lib.h"
#include "../server/server.h"
#include "cli.h"

static const char *SUBS =
    "subcommands:\n"
    "  create --scope ingest|read|admin [--user U] [--name N]\n"
    "        ingest keys may only send events and run checks (POST /v1/check, which\n"
    "        spends rate-limit budgets); read keys may only read, and a read key with\n"
    "        --user sees only that user's usage; an ingest key with --user may only\n"
    "        check that user's limits; admin keys may do everything.\n"
    "        The key is printed once: keep it; only its hash is stored.\n"
    "  list  every key: id, scope, user, name, created, revoked\n"
    "  revoke ID    (the id, or the whole key)\n\n"
    "The daemon requires a key (Authorization: Bearer KEY) as soon as one exists.\n";

static int print_key(void *arg, const tm_key_rec *k)
{
    const cli_global *g = arg;
    char created[32], revoked[32] = "-";
    tm__time_format(k->created_us - k->created_us % 1000000, created);
    if (k->revoked_us)
        tm__time_format(k->revoked_us - k->revoked_us % 1000000, revoked);
    if (g->json)
        printf("{\"id\": \"%s\", \"scope\": \"%s\", \"user_id\": \"%s\", \"name\": \"%s\", "
               "\"created\": \"%s\", \"revoked\": %s%s%s}\n",
               k->id, k->scope, k->user, k->name, created, k->revoked_us ? "\"" : "",
               k->revoked_us ? revoked : "null", k->revoked_us ? "\"" : "");
    else
        printf("%-14s %-7s %-16s %-20s %-21s %s\n", k->id, k->scope, k->user[0] ? k->user : "-",
               k->name[0] ? k->name : "-", created, revoked);
    return 0;
}

static int run(cli_global *g, int argc, char **argv)
{
    const char *scope = NULL, *user = NULL, *name = NULL;
    const char *sub = argc > 0 && argv[0][0] != '-' ? argv[0] : NULL;
    const cli_opt opts[] = {
        {"scope", "S", "create: ingest, read or admin", &scope, NULL, NULL, NULL},
        {"user", "U", "create: bind a read or ingest key to one user", &user, NULL, NULL, NULL},
        {"name", "N", "create: a name to recognise the key by", &name, NULL, NULL, NULL},
        {NULL, NULL, NULL, NULL, NULL, NULL, NULL},
    };
    int npos = cli_parse(&cmd_keys, opts, g, sub ? argc - 1 : argc, sub ? argv + 1 : argv);
    if (g->help || !sub) {
        cli_help(&cmd_keys, opts, SUBS);
        return g->help ? EXIT_OK : EXIT_USAGE;
    }
    if (npos < 0)
        return EXIT_USAGE;
    int code = EXIT_USAGE, rc = TM_OK;
    if (strcmp(sub, "create") == 0 && npos == 0) {
        if (!scope) {
            fprintf(stderr, "tokmeter keys create: --scope is required (ingest, read or admin)\n");
            return EXIT_USAGE;
        }
        tm *t = cli_open(g);
        if (!t)
            return EXIT_FAIL;
        char key[64];
        tm_key_rec rec;
        rc = tm__key_create(t, scope, user, name, key, sizeof key, &rec);
        if (rc == TM_OK) {
            if (g->json)
                printf("{\"id\": \"%s\", \"key\": \"%s\", \"scope\": \"%s\", \"user_id\": \"%s\"}\n",
                       rec.id, key, rec.scope, rec.user);
            else
                printf("%s\n(id %s, scope %s%s%s; shown once: only its hash is stored)\n", key,
                       rec.id, rec.scope, rec.user[0] ? ", user " : "", rec.user);
        }
        tm_close(t);
    } else if (strcmp(sub, "list") == 0 && npos == 0) {
        tm *t = cli_open(g);
        if (!t)
            return EXIT_FAIL;
        if (!g->json)
            printf("%-14s %-7s %-16s %-20s %-21s %s\n", "ID", "SCOPE", "USER", "NAME", "CREATED", "REVOKED");
        rc = tm__key_list(t, print_key, g);
        tm_close(t);
    } else if (strcmp(sub, "revoke") == 0 && npos == 1) {
        tm *t = cli_open(g);
        if (!t)
            return EXIT_FAIL;
        rc = tm__key_revoke(t, argv[1]);
        if (rc == TM_OK)
            printf("revoked %s\n", argv[1]);
        tm_close(t);
    } else {
        static const char *const subs[] = {"create", "list", "revoke", NULL};
        return cli_bad_sub(sub, subs);
    }
    if (rc) {
        cli_error("keys", rc);
        code = rc == TM_EINVAL ? EXIT_USAGE : EXIT_FAIL;
    } else {
        code = EXIT_OK;
    }
    return code;
}

const cli_cmd cmd_keys = {"keys", "create|list|revoke ...", "API keys for the daemon.", run};
