/*
 * cli.c — option parsing and helpers shared by the command files.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/dec.h"
#include "../core/event.h"
#include "../core/tmtime.h"

static const cli_opt *find(const cli_opt *opts, const char *name, size_t n)
{
    for (const cli_opt *o = opts; o && o->name; o++)
        if (strlen(o->name) == n && strncmp(o->name, name, n) == 0)
            return o;
    return NULL;
}

int cli_parse(const cli_cmd *cmd, const cli_opt *opts, cli_global *g, int argc, char **argv)
{
    const cli_opt globals[] = {
        {"db", "PATH", NULL, &g->db, NULL, NULL, NULL},
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
    printf("  %-28s %s\n", "--db PATH", "the store (default $TOKMETER_DB, else ~/.local/share/tokmeter/tokmeter.db)");
    printf("  %-28s %s\n", "--prices FILE", "a price file to use before the built-in prices ($TOKMETER_PRICES)");
    printf("  %-28s %s\n", "--config FILE", "tiers, rate limits, alerts, sources ($TOKMETER_CONFIG, else ~/.config/tokmeter/config.json)");
    printf("  %-28s %s\n", "--json", "machine-readable output");
    printf("  %-28s %s\n", "-h, --help", "this help");
    if (extra)
        printf("\n%s", extra);
}

const char *cli_db_path(const cli_global *g)
{
    static char path[4096];
    const char *env;
    if (g->db && *g->db)
        return g->db;
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

void cli_error(const char *what, int err)
{
    const char *m = tm_errmsg();
    fprintf(stderr, "tokmeter: %s: %s\n", what, m && *m ? m : tm_strerror(err));
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
            fprintf(stderr, "tokmeter: TOKMETER_STORE_MODE: must be octal permission bits with the "
                            "owner's read and write (like 0600 or 0640), not '%s'\n", mode);
            return NULL;
        }
        o.store_mode = (unsigned)m;
    }
    int rc = tm_open(&t, path, &o);
    if (rc) {
        char what[4200];
        snprintf(what, sizeof what, "cannot open store %s", path);
        cli_error(what, rc);
        return NULL;
    }
    return t;
}

int cli_parse_time(const char *s, int64_t *us)
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
        return 0;
    }
    return tm__time_parse(s, n, us, &why);
}

int cli_parse_count(const char *opt, const char *s, size_t *out)
{
    uint64_t v;
    if (tm__uint_parse(s, strlen(s), 1000000000000ull, &v) != TM_DEC_OK) {
        fprintf(stderr, "tokmeter: --%s: must be a non-negative integer, not '%s'\n", opt, s);
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

const char *cli_count(int64_t v, char buf[32])
{
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%lld", (long long)(v < 0 ? -v : v)), o = 0;
    if (v < 0)
        buf[o++] = '-';
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}
