/*
 * cli.c — option parsing and helpers shared by the command files.
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/dec.h"
#include "../core/err.h"
#include "../core/event.h"
#include "../core/json.h"
#include "../core/text.h"
#include "../core/tmtime.h"
#include "../store/store.h"

static const cli_opt *find(const cli_opt *opts, const char *name, size_t n)
{
    for (const cli_opt *o = opts; o && o->name; o++)
        if (strlen(o->name) == n && strncmp(o->name, name, n) == 0)
            return o;
    return NULL;
}

/* The command being run, for the "tokmeter CMD: message" form of errors. */
static const char *cur_cmd = "";

void cli_set_command(const char *name) { cur_cmd = name; }

int cli_parse(const cli_cmd *cmd, const cli_opt *opts, cli_global *g, int argc, char **argv)
{
    const cli_opt globals[] = {
        {"db", "PATH", NULL, &g->db, NULL, NULL, NULL},
        {"store", "URL", NULL, &g->store, NULL, NULL, NULL},
        {"prices", "FILE", NULL, &g->prices, NULL, NULL, NULL},
        {"config", "FILE", NULL, &g->config, NULL, NULL, NULL},
        {"json", NULL, NULL, NULL, &g->json, NULL, NULL},
        {"help", NULL, NULL, NULL, &g->help, NULL, NULL},
        {NULL, NULL, NULL, NULL, NULL, NULL, NULL},
    };
    int npos = 0, only_pos = 0;
    for (int i = 0; i < argc; i++) {
        char *a = argv[i];
        if (only_pos || a[0] != '-' || strcmp(a, "-") == 0) {
            argv[npos++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (strcmp(a, "-h") == 0) {
            g->help = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "tokmeter %s: unknown option %s (see tokmeter %s --help)\n",
                    cmd->name, a, cmd->name);
            return -1;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t n = eq ? (size_t)(eq - name) : strlen(name);
        const cli_opt *o = find(opts, name, n);
        if (!o)
            o = find(globals, name, n);
        if (!o) {
            fprintf(stderr, "tokmeter %s: unknown option --%.*s (see tokmeter %s --help)\n",
                    cmd->name, (int)n, name, cmd->name);
            return -1;
        }
        if (!o->arg) {
            if (eq) {
                fprintf(stderr, "tokmeter %s: --%s takes no value\n", cmd->name, o->name);
                return -1;
            }
            *o->flag = 1;
            continue;
        }
        const char *arg = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
        if (arg && o->list) {
            if (*o->nlist == CLI_LIST_MAX) {
                fprintf(stderr, "tokmeter %s: --%s given more than %d times\n", cmd->name, o->name,
                        CLI_LIST_MAX);
                return -1;
            }
            o->list[(*o->nlist)++] = arg;
        } else if (arg) {
            *o->val = arg;
        } else {
            fprintf(stderr, "tokmeter %s: --%s needs a value (%s)\n", cmd->name, o->name, o->arg);
            return -1;
        }
    }
    return npos;
}

void cli_help(const cli_cmd *cmd, const cli_opt *opts, const char *extra)
{
    printf("usage: tokmeter %s [options] %s\n\n%s\n\noptions:\n", cmd->name,
           cmd->args ? cmd->args : "", cmd->summary);
    for (const cli_opt *o = opts; o && o->name; o++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        printf("  %-28s %s\n", left, o->help ? o->help : "");
    }
    printf("  %-28s %s\n", "--db PATH", "the SQLite store (default: the config's \"store\" or \"db\", else $TOKMETER_STORE, $TOKMETER_DB, else ~/.local/share/tokmeter/tokmeter.db)");
    printf("  %-28s %s\n", "--store URL", "the store as a URL: postgres://... or sqlite:PATH ($TOKMETER_STORE)");
    printf("  %-28s %s\n", "--prices FILE", "a price file to use before the built-in prices ($TOKMETER_PRICES)");
    printf("  %-28s %s\n", "--config FILE", "tiers, rate limits, alerts, sources ($TOKMETER_CONFIG, else ~/.config/tokmeter/config.json)");
    printf("  %-28s %s\n", "--json", "machine-readable output");
    printf("  %-28s %s\n", "-h, --help", "this help");
    if (extra)
        printf("\n%s", extra);
}

/* The config file's "store" (else its "db"), read once; NULL when the
 * file or both keys are missing (a broken file is reported when the store
 * opens and loads it). */
static const char *config_store(const cli_global *g)
{
    static char store[4096];
    static int read;
    if (read)
        return store[0] ? store : NULL;
    read = 1;
    const char *cfg = cli_config_path(g);
    tm_arena a = TM_ARENA_INIT;
    tm_jv *root = NULL;
    if (cfg && tm__json_load_file(&a, cfg, 4u << 20, &root) == TM_OK && root->type == TM_J_OBJECT) {
        const char *keys[] = {"store", "db"};
        for (int k = 0; k < 2 && !store[0]; k++) {
            const tm_jv *v = tm__json_get(root, keys[k]);
            if (v && v->type == TM_J_STRING && v->n < sizeof store)
                snprintf(store, sizeof store, "%s", v->s);
        }
    }
    tm__arena_free(&a);
    tm__clear_err();
    return store[0] ? store : NULL;
}

const char *cli_db_path(const cli_global *g)
{
    static char path[4096];
    const char *env;
    if (g->store && *g->store)
        return g->store;
    if (g->db && *g->db)
        return g->db;
    if ((env = config_store(g)))
        return env;
    if ((env = getenv("TOKMETER_STORE")) && *env)
        return env;
    if ((env = getenv("TOKMETER_DB")) && *env)
        return env;
    if ((env = getenv("XDG_DATA_HOME")) && *env) {
        snprintf(path, sizeof path, "%s/tokmeter/tokmeter.db", env);
        return path;
    }
    env = getenv("HOME");
    snprintf(path, sizeof path, "%s/.local/share/tokmeter/tokmeter.db", env && *env ? env : ".");
    return path;
}

const char *cli_db_shown(const cli_global *g)
{
    static char shown[4096];
    return tm__store_shown(cli_db_path(g), shown, sizeof shown);
}

/* m past a leading "p: ", when it starts so. */
static const char *past(const char *m, const char *p)
{
    size_t n = strlen(p);
    return n && strncmp(m, p, n) == 0 && m[n] == ':' && m[n + 1] == ' ' ? m + n + 2 : m;
}

void cli_error(const char *what, int err)
{
    const char *m = tm_errmsg();
    if (!m || !*m)
        m = tm_strerror(err);
    /* A library message that names the same subject ("keys: ...") is not
     * prefixed twice. */
    fprintf(stderr, "tokmeter %s: %s\n", what, past(past(m, what), cur_cmd));
}

const char *cli_config_target(const cli_global *g)
{
    static char def[4200];
    const char *env = getenv("TOKMETER_CONFIG"), *xdg = getenv("XDG_CONFIG_HOME"),
               *home = getenv("HOME");
    if (g->config && *g->config)
        return g->config;
    if (env && *env)
        return env;
    if (xdg && *xdg)
        snprintf(def, sizeof def, "%s/tokmeter/config.json", xdg);
    else
        snprintf(def, sizeof def, "%s/.config/tokmeter/config.json", home ? home : "");
    return def;
}

const char *cli_config_path(const cli_global *g)
{
    const char *p = cli_config_target(g);
    if ((g->config && *g->config) || p == getenv("TOKMETER_CONFIG"))
        return p;
    return access(p, F_OK) == 0 ? p : NULL;
}

const char *cli_prices_path(const cli_global *g)
{
    const char *env = getenv("TOKMETER_PRICES");
    if (g->prices && *g->prices)
        return g->prices;
    return env && *env ? env : NULL;
}

int cli_readable(const char *what, const char *path)
{
    if (!path || access(path, R_OK) == 0)
        return 0;
    fprintf(stderr, "tokmeter %s: cannot read the %s %s: %s\n", cur_cmd, what, path, strerror(errno));
    return -1;
}

tm *cli_open(const cli_global *g)
{
    tm *t = NULL;
    const char *path = cli_db_path(g);
    tm_options o = {.prices = cli_prices_path(g), .config = cli_config_path(g)};
    const char *mode = getenv("TOKMETER_STORE_MODE");
    if (mode && *mode) { /* octal permission bits of a new store */
        char *end;
        unsigned long m = strtoul(mode, &end, 8);
        if (*end || m > 0777 || (m & 0600) != 0600) {
            fprintf(stderr, "tokmeter %s: TOKMETER_STORE_MODE: must be octal permission bits with "
                            "the owner's read and write (like 0600 or 0640), not '%s'\n", cur_cmd, mode);
            return NULL;
        }
        o.store_mode = (unsigned)m;
    }
    if (cli_readable("config file", o.config) || cli_readable("price file", o.prices))
        return NULL;
    int rc = tm_open(&t, path, &o);
    if (rc) {
        const char *m = tm_errmsg();
        char what[4200];
        if (o.config && m && strncmp(m, o.config, strlen(o.config)) == 0) {
            snprintf(what, sizeof what, "config file %s", o.config);
            if (strncmp(m + strlen(o.config), ": ", 2) == 0)
                m += strlen(o.config) + 2;
        } else if (o.prices && m && strncmp(m, o.prices, strlen(o.prices)) == 0) {
            snprintf(what, sizeof what, "price file %s", o.prices);
            if (strncmp(m + strlen(o.prices), ": ", 2) == 0)
                m += strlen(o.prices) + 2;
        } else
            snprintf(what, sizeof what, "cannot open store %s", cli_db_shown(g));
        fprintf(stderr, "tokmeter %s: %s: %s\n", cur_cmd, what, m && *m ? m : tm_strerror(rc));
        return NULL;
    }
    return t;
}

static int parse_time(const char *s, int64_t *us)
{
    size_t n = strlen(s);
    const char *why;
    if (n >= 2 && strchr("smhdw", s[n - 1]) && s[0] >= '0' && s[0] <= '9') {
        uint64_t v;
        if (tm__uint_parse(s, n - 1, 1000000000ull, &v) != TM_DEC_OK)
            return -1;
        int64_t unit = s[n - 1] == 's' ? 1 : s[n - 1] == 'm' ? 60 : s[n - 1] == 'h' ? 3600
                     : s[n - 1] == 'd' ? 86400 : 604800;
        *us = tm__now_us() - (int64_t)v * unit * TM_US_PER_SEC;
        if (*us < 0)
            *us = 0;
        return 1;
    }
    return tm__time_parse(s, n, us, &why) == 0 ? 0 : -1;
}

int cli_parse_time(const char *opt, const char *s, int64_t *us)
{
    int rc = parse_time(s, us);
    if (rc < 0)
        fprintf(stderr, "tokmeter %s: --%s: '%s' is not a time: give RFC 3339 (2026-10-01T13:05:00Z), "
                        "a date (2026-10-01), epoch milliseconds, or a span back from now (30m, 24h, "
                        "7d, 2w)\n", cur_cmd, opt, s);
    return rc;
}

int cli_parse_count(const char *opt, const char *s, size_t *out)
{
    uint64_t v;
    if (tm__uint_parse(s, strlen(s), 1000000000000ull, &v) != TM_DEC_OK) {
        fprintf(stderr, "tokmeter %s: --%s: must be a non-negative integer, not '%s'\n", cur_cmd, opt, s);
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

/* ---- event fields as flags ---- */

#define MAXF 64

struct cli_fields {
    cli_opt opts[MAXF + 1];
    const char *vals[MAXF];
    char names[MAXF][40];   /* --flag-name (dashes)                         */
    char keys[MAXF][40];    /* field_name (as the JSON API spells it)        */
    size_t n;
};

static void collect(void *arg, const char *name, const char *canonical, const char *help)
{
    cli_fields *f = arg;
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
                              &f->vals[f->n], NULL, NULL, NULL};
    f->n++;
}

cli_fields *cli_fields_new(void)
{
    cli_fields *f = calloc(1, sizeof *f);
    if (f)
        tm__event_fields(collect, f);
    return f;
}

const cli_opt *cli_fields_opts(cli_fields *f) { return f->opts; }

int cli_fields_apply(cli_fields *f, tm_event_builder *b, const char *cmd)
{
    for (size_t i = 0; i < f->n; i++) {
        if (!f->vals[i])
            continue;
        int rc = tm__event_set_text(b, f->keys[i], f->vals[i]);
        if (rc) {
            fprintf(stderr, "tokmeter %s: %s\n", cmd, rc == TM_EINVAL ? b->err : tm_strerror(rc));
            return rc;
        }
    }
    return TM_OK;
}

void cli_fields_free(cli_fields *f) { free(f); }

const char *cli_count(int64_t v, char buf[32]) { return tm__fmt_count(v, buf); }

/* Edit distance with adjacent swaps counted as one edit ("reprot"). */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 32 || lb > 32)
        return 99;
    size_t d[33][33];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

const char *cli_nearest(const char *s, const char *const *names)
{
    const char *best = NULL;
    size_t bd = 3; /* at most two edits away */
    for (; *names; names++) {
        size_t d = distance(s, *names);
        if (d < bd && d < strlen(*names)) {
            bd = d;
            best = *names;
        }
    }
    return best;
}

int cli_bad_sub(const char *sub, const char *const *subs)
{
    for (const char *const *p = subs; *p; p++)
        if (strcmp(sub, *p) == 0) {
            fprintf(stderr, "tokmeter %s %s: wrong number of arguments (see tokmeter %s --help)\n",
                    cur_cmd, sub, cur_cmd);
            return EXIT_USAGE;
        }
    const char *near = cli_nearest(sub, subs);
    fprintf(stderr, "tokmeter %s: unknown subcommand '%s' (one of:", cur_cmd, sub);
    for (const char *const *p = subs; *p; p++)
        fprintf(stderr, " %s%s", *p, p[1] ? "," : ")");
    if (near)
        fprintf(stderr, "; did you mean '%s'?", near);
    fprintf(stderr, "\n");
    return EXIT_USAGE;
}
