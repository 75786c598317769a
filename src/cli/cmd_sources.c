/*
 * cmd_sources.c — `tokmeter sources add|list|remove`: the usage sources
 * `tokmeter collect` pulls, kept in the config file. A source names the
 * environment variable holding its key; the key itself is never written.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "../core/json.h"
#include "../ingest/ingest.h"
#include "cli.h"

static int env_name_ok(const char *s)
{
    if (!*s || (*s >= '0' && *s <= '9'))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "tokmeter sources: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return EXIT_USAGE;
}

static int add(const char *config, int argc, char **argv, const char *type, const char *key_env,
               const char *base_url, const char *path)
{
    if (argc != 1)
        return fail("add: give exactly one NAME");
    const char *name = argv[0];
    tm_source s;
    memset(&s, 0, sizeof s);
    if (!tm__source_name_ok(name))
        return fail("add: NAME '%s' must be 1-64 of A-Z a-z 0-9 _ - .", name);
    if (!type)
        return fail("add: --type is required (openai-usage, anthropic-usage, claude-code, codex, opencode)");
    if ((s.type = tm__src_type(type)) < 0)
        return fail("add: --type: unknown type '%s' (openai-usage, anthropic-usage, claude-code, codex, opencode)", type);
    int api = s.type == TM_SRC_OPENAI || s.type == TM_SRC_ANTHROPIC;
    if (!api && (key_env || base_url))
        return fail("add: --key-env and --base-url are for openai-usage and anthropic-usage; %s reads local files (--path)", type);
    if (api && path)
        return fail("add: --path is for local-log sources, not %s", type);
    if (key_env && !env_name_ok(key_env))
        return fail("add: --key-env takes the NAME of an environment variable holding the key "
                    "(like OPENAI_ADMIN_KEY), not '%.8s...'; tokmeter never stores keys", key_env);
    if (base_url && strncmp(base_url, "http://", 7) != 0 && strncmp(base_url, "https://", 8) != 0)
        return fail("add: --base-url must start with http:// or https://, not '%s'", base_url);
    snprintf(s.name, sizeof s.name, "%s", name);
    if (api)
        snprintf(s.key_env, sizeof s.key_env, "%s",
                 key_env ? key_env : s.type == TM_SRC_OPENAI ? "OPENAI_ADMIN_KEY" : "ANTHROPIC_ADMIN_KEY");
    if (base_url) {
        size_t n = strlen(base_url);
        while (n && base_url[n - 1] == '/')
            n--;
        snprintf(s.base_url, sizeof s.base_url, "%.*s", (int)n, base_url);
    }
    if (path)
        snprintf(s.path, sizeof s.path, "%s", path);
    tm_source *all = NULL;
    size_t n = 0;
    int rc = tm__sources_load(config, &all, &n);
    for (size_t i = 0; rc == TM_OK && i < n; i++)
        if (strcmp(all[i].name, name) == 0) {
            free(all);
            fprintf(stderr, "tokmeter sources: add: a source named '%s' exists already "
                            "(`tokmeter sources remove %s` first)\n", name, name);
            return EXIT_USAGE;
        }
    tm_source *grown = rc == TM_OK ? realloc(all, (n + 1) * sizeof *all) : NULL;
    if (rc == TM_OK && !grown)
        rc = TM_ENOMEM;
    if (rc == TM_OK) {
        all = grown;
        all[n++] = s;
        rc = tm__sources_save(config, all, n);
    }
    free(all);
    if (rc) {
        cli_error("sources", rc);
        return EXIT_FAIL;
    }
    printf("added source %s (%s) to %s\n", name, type, config);
    if (api && !getenv(s.key_env))
        printf("note: $%s is not set in this shell; `tokmeter collect` reads the key from it\n", s.key_env);
    return EXIT_OK;
}

static int list(const char *config, int json)
{
    tm_source *all = NULL;
    size_t n = 0;
    int rc = tm__sources_load(config, &all, &n);
    if (rc) {
        cli_error("sources", rc);
        return EXIT_FAIL;
    }
    tm_buf b = TM_BUF_INIT;
    if (json)
        tm__buf_putc(&b, '[');
    else if (n)
        tm__buf_printf(&b, "%-20s %-16s %-22s %s\n", "NAME", "TYPE", "KEY", "WHERE");
    else
        tm__buf_printf(&b, "no sources in %s; add one with `tokmeter sources add NAME --type "
                           "openai-usage --key-env OPENAI_ADMIN_KEY`\n", config);
    for (size_t i = 0; i < n; i++) {
        const tm_source *s = &all[i];
        int api = s->type == TM_SRC_OPENAI || s->type == TM_SRC_ANTHROPIC;
        const char *where = api ? (s->base_url[0] ? s->base_url : "(provider default)")
                                : (s->path[0] ? s->path : "(default directories)");
        if (json) {
            tm__buf_puts(&b, i ? ",{\"name\":" : "{\"name\":");
            tm__json_str(&b, s->name, strlen(s->name));
            tm__buf_printf(&b, ",\"type\":\"%s\",\"key_env\":", tm__src_name(s->type));
            if (api) tm__json_str(&b, s->key_env, strlen(s->key_env)); else tm__buf_puts(&b, "null");
            tm__buf_printf(&b, ",\"key_set\":%s,\"base_url\":", api && getenv(s->key_env) ? "true" : "false");
            if (s->base_url[0]) tm__json_str(&b, s->base_url, strlen(s->base_url)); else tm__buf_puts(&b, "null");
            tm__buf_puts(&b, ",\"path\":");
            if (s->path[0]) tm__json_str(&b, s->path, strlen(s->path)); else tm__buf_puts(&b, "null");
            tm__buf_putc(&b, '}');
        } else {
            char key[160];
            snprintf(key, sizeof key, "%s%s", api ? "$" : "-", api ? s->key_env : "");
            if (api && !getenv(s->key_env))
                strncat(key, " (unset)", sizeof key - strlen(key) - 1);
            tm__buf_printf(&b, "%-20s %-16s %-22s %s\n", s->name, tm__src_name(s->type), key, where);
        }
    }
    if (json)
        tm__buf_puts(&b, "]\n");
    if (b.data)
        fputs(b.data, stdout);
    tm__buf_free(&b);
    free(all);
    return EXIT_OK;
}

static int remove_(const char *config, int argc, char **argv)
{
    if (argc != 1)
        return fail("remove: give exactly one NAME");
    tm_source *all = NULL;
    size_t n = 0, kept = 0;
    int rc = tm__sources_load(config, &all, &n), found = 0;
    for (size_t i = 0; rc == TM_OK && i < n; i++) {
        if (strcmp(all[i].name, argv[0]) == 0)
            found = 1;
        else
            all[kept++] = all[i];
    }
    if (rc == TM_OK && !found) {
        free(all);
        fprintf(stderr, "tokmeter sources: remove: no source named '%s' in %s\n", argv[0], config);
        return EXIT_FAIL;
    }
    if (rc == TM_OK)
        rc = tm__sources_save(config, all, kept);
    free(all);
    if (rc) {
        cli_error("sources", rc);
        return EXIT_FAIL;
    }
    printf("removed source %s (its collected usage stays in the store)\n", argv[0]);
    return EXIT_OK;
}

static int run(cli_global *g, int argc, char **argv)
{
    const char *type = NULL, *key_env = NULL, *base_url = NULL, *path = NULL;
    const cli_opt opts[] = {
        {"type", "TYPE", "add: openai-usage, anthropic-usage, claude-code, codex or opencode", &type, NULL, NULL, NULL},
        {"key-env", "VAR", "add: the environment variable holding the admin key (default OPENAI_ADMIN_KEY or ANTHROPIC_ADMIN_KEY)", &key_env, NULL, NULL, NULL},
        {"base-url", "URL", "add: the API's address (default https://api.openai.com or https://api.anthropic.com)", &base_url, NULL, NULL, NULL},
        {"path", "DIR", "add: where a claude-code, codex or opencode source reads (default: its usual directories)", &path, NULL, NULL, NULL},
        {NULL, NULL, NULL, NULL, NULL, NULL, NULL},
    };
    int npos = cli_parse(&cmd_sources, opts, g, argc, argv);
    if (g->help) {
        cli_help(&cmd_sources, opts,
                 "Subcommands:\n"
                 "  add NAME --type TYPE [--key-env VAR] [--base-url URL] [--path DIR]\n"
                 "  list\n"
                 "  remove NAME\n"
                 "Only the NAME of the variable holding a key is stored, never the key.\n"
                 "Sources live in the config file: --config FILE, else $TOKMETER_CONFIG, else\n"
                 "${XDG_CONFIG_HOME:-~/.config}/tokmeter/config.json.\n"
                 "Examples:\n"
                 "  tokmeter sources add openai --type openai-usage --key-env OPENAI_ADMIN_KEY\n"
                 "  tokmeter sources add anthropic --type anthropic-usage --key-env ANTHROPIC_ADMIN_KEY\n"
                 "  tokmeter sources add laptop --type claude-code\n"
                 "  tokmeter collect\n");
        return EXIT_OK;
    }
    if (npos < 1) {
        if (npos == 0)
            fprintf(stderr, "tokmeter sources: add, list or remove?\n");
        return EXIT_USAGE;
    }
    const char *config = cli_config_target(g);
    if (strcmp(argv[0], "add") == 0)
        return add(config, npos - 1, argv + 1, type, key_env, base_url, path);
    if (strcmp(argv[0], "list") == 0 && npos == 1)
        return list(config, g->json);
    if (strcmp(argv[0], "remove") == 0)
        return remove_(config, npos - 1, argv + 1);
    static const char *const subs[] = {"add", "list", "remove", NULL};
    return cli_bad_sub(argv[0], subs);
}

const cli_cmd cmd_sources = {"sources", "add|list|remove ...",
                             "Configure the usage sources `collect` pulls (provider APIs, agent logs).",
                             run};
