/*
 * cmd_prices.c — `tokmeter prices list|show|cost|import`: read the price
 * catalog, see which entry a model matches, what a call would cost and why,
 * and convert LiteLLM's community price map into a tokmeter price file.
 * These need no store.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/buf.h"
#include "../core/dec.h"
#include "../core/event.h"
#include "../core/json.h"
#include "../core/tmtime.h"
#include "../price/price.h"
#include "cli.h"

static const char *SUBS =
    "subcommands:\n"
    "  list [--provider P]            every price entry (user file first); --json writes a\n"
    "                                 price file that can be edited and used with --prices\n"
    "  show MODEL [--provider P] [--at TIME]\n"
    "                                 the entry MODEL is priced with, and why\n"
    "  cost --provider P --model M --input-tokens N ...\n"
    "                                 what one call would cost, part by part (event flags\n"
    "                                 as for `tokmeter track`)\n"
    "  import FILE [--output OUT]     convert LiteLLM's model_prices_and_context_window.json\n"
    "                                 into a tokmeter price file (stdout by default)\n"
    "exit status of show and cost: 0 priced, 2 no price matches (the event would be\n"
    "counted as unpriced), 64 usage error\n";

static tm_catalog *load(const cli_global *g)
{
    tm_catalog *c = NULL;
    int rc = tm__catalog_load(&c, cli_prices_path(g));
    if (rc)
        cli_error("prices", rc);
    return c;
}

static void mtok(int64_t v, unsigned has, unsigned bit, char *buf)
{
    if (has & bit)
        tm__price_per_mtok(v, buf);
    else
        strcpy(buf, "-");
}

/* Appends the named prices of p as price-file members. */
static void json_prices(tm_buf *b, const tm_prices *p)
{
    static const struct { unsigned bit; const char *name; size_t off; int scale; } f[] = {
        {TM_P_IN, "input_usd_per_mtok", offsetof(tm_prices, in), 6},
        {TM_P_OUT, "output_usd_per_mtok", offsetof(tm_prices, out), 6},
        {TM_P_CR, "cache_read_usd_per_mtok", offsetof(tm_prices, cache_read), 6},
        {TM_P_CW, "cache_write_usd_per_mtok", offsetof(tm_prices, cache_write), 6},
        {TM_P_CW1H, "cache_write_1h_usd_per_mtok", offsetof(tm_prices, cache_write_1h), 6},
        {TM_P_REQ, "request_usd", offsetof(tm_prices, request), 12},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        char d[48];
        if (!(p->has & f[i].bit))
            continue;
        tm__dec_format(*(const int64_t *)((const char *)p + f[i].off), f[i].scale, d);
        tm__buf_printf(b, ", \"%s\": \"%s\"", f[i].name, d);
    }
}

static void json_entry(tm_buf *b, const tm_price_entry *e)
{
    tm__buf_puts(b, "{\"provider\": ");
    tm__json_str(b, e->provider, strlen(e->provider));
    tm__buf_puts(b, ", \"model\": ");
    tm__json_str(b, e->model, strlen(e->model));
    json_prices(b, &e->base);
    if (e->ntiers) {
        tm__buf_puts(b, ", \"tiers\": [");
        for (size_t t = 0; t < e->ntiers; t++) {
            tm__buf_printf(b, "%s{\"above_input_tokens\": %lld", t ? ", " : "",
                           (long long)e->tiers[t].above);
            json_prices(b, &e->tiers[t].p);
            tm__buf_putc(b, '}');
        }
        tm__buf_putc(b, ']');
    }
    if (e->effective_us) {
        char ts[32];
        tm__time_format(e->effective_us, ts);
        tm__buf_printf(b, ", \"effective_from\": \"%s\"", ts);
    }
    if (e->checked)
        tm__buf_printf(b, ", \"checked\": \"%s\"", e->checked);
    tm__buf_putc(b, '}');
}

static int list(const cli_global *g, const char *provider)
{
    tm_catalog *c = load(g);
    if (!c)
        return EXIT_FAIL;
    const tm_price_entry *const *es;
    const tm_metric_price *ms;
    size_t n = tm__catalog_entries(c, &es), nm = tm__catalog_metrics(c, &ms), shown = 0;
    tm_buf b = TM_BUF_INIT;
    if (g->json)
        tm__buf_puts(&b, "{\"models\": [");
    else
        printf("%-11s %-36s %9s %9s %9s %9s %9s %10s %-6s %s\n", "PROVIDER", "MODEL", "IN/M",
               "OUT/M", "CREAD/M", "CWRITE/M", "CW1H/M", "REQUEST", "TIERS", "FROM");
    for (size_t i = 0; i < n; i++) {
        const tm_price_entry *e = es[i];
        if (provider && strcasecmp(provider, e->provider) != 0)
            continue;
        if (g->json) {
            tm__buf_puts(&b, shown ? ",\n  " : "\n  ");
            json_entry(&b, e);
        } else {
            char in[48], out[48], cr[48], cw[48], c1[48], rq[48];
            mtok(e->base.in, e->base.has, TM_P_IN, in);
            mtok(e->base.out, e->base.has, TM_P_OUT, out);
            mtok(e->base.cache_read, e->base.has, TM_P_CR, cr);
            mtok(e->base.cache_write, e->base.has, TM_P_CW, cw);
            mtok(e->base.cache_write_1h, e->base.has, TM_P_CW1H, c1);
            if (e->base.has & TM_P_REQ)
                tm__dec_format(e->base.request, 12, rq);
            else
                strcpy(rq, "-");
            printf("%-11s %-36s %9s %9s %9s %9s %9s %10s %-6zu %s\n", e->provider, e->model, in,
                   out, cr, cw, c1, rq, e->ntiers, e->origin);
        }
        shown++;
    }
    if (g->json) {
        tm__buf_puts(&b, "\n ],\n \"metrics\": [");
        for (size_t i = 0; i < nm; i++) {
            char d[48];
            tm__dec_format(ms[i].unit, 12, d);
            tm__buf_printf(&b, "%s{\"metric_type\": ", i ? ", " : "");
            tm__json_str(&b, ms[i].metric_type, strlen(ms[i].metric_type));
            tm__buf_printf(&b, ", \"unit_usd\": \"%s\"}", d);
        }
        tm__buf_puts(&b, "]}\n");
        fputs(b.data, stdout);
    } else {
        for (size_t i = 0; i < nm; i++) {
            char d[48];
            tm__dec_format(ms[i].unit, 12, d);
            printf("metric %-29s $%s per unit (%s)\n", ms[i].metric_type, d, ms[i].origin);
        }
        printf("%zu model entries (prices in USD per million tokens)\n", shown);
    }
    tm__buf_free(&b);
    tm__catalog_free(c);
    return EXIT_OK;
}

static void describe(const tm_price_entry *e, int exact)
{
    printf("%s match: %s/%s (%s%s%s)\n", exact ? "exact" : "glob", e->provider, e->model,
           e->origin, e->checked ? ", checked " : "", e->checked ? e->checked : "");
}

static int show(const cli_global *g, const char *model, const char *provider, const char *at)
{
    int64_t ts = tm__now_us();
    if (at && cli_parse_time("at", at, &ts) < 0)
        return EXIT_USAGE;
    tm_catalog *c = load(g);
    if (!c)
        return EXIT_FAIL;
    int exact = 0;
    const tm_price_entry *e = tm__price_match(c, provider, model, ts, &exact);
    int code = e ? EXIT_OK : EXIT_REJECTED; /* unpriced: 2, as for `prices cost` */
    if (g->json) {
        tm_buf b = TM_BUF_INIT;
        if (e) {
            tm__buf_printf(&b, "{\"rule\": \"%s\", \"entry\": ", exact ? "exact" : "glob");
            json_entry(&b, e);
            tm__buf_puts(&b, "}\n");
        } else {
            tm__buf_puts(&b, "{\"rule\": \"unpriced\", \"entry\": null}\n");
        }
        fputs(b.data, stdout);
        tm__buf_free(&b);
    } else if (!e) {
        printf("%s%s%s is unpriced: no entry matches (events are counted as unpriced, cost 0)\n",
               provider ? provider : "", provider ? "/" : "", model);
    } else {
        char in[48], out[48], cr[48], cw[48], c1[48];
        describe(e, exact);
        tm__price_per_mtok(e->base.in, in);
        tm__price_per_mtok(e->base.out, out);
        tm__price_per_mtok(e->base.cache_read, cr);
        tm__price_per_mtok(e->base.cache_write, cw);
        tm__price_per_mtok(e->base.has & TM_P_CW1H ? e->base.cache_write_1h : e->base.cache_write, c1);
        printf("  input $%s/M  output $%s/M  cache read $%s/M  cache write $%s/M (1h $%s/M)\n",
               in, out, cr, cw, c1);
        if (e->base.has & TM_P_REQ) {
            char rq[48];
            tm__dec_format(e->base.request, 12, rq);
            printf("  per request $%s\n", rq);
        }
        for (size_t t = 0; t < e->ntiers; t++) {
            tm__price_per_mtok(e->tiers[t].p.has & TM_P_IN ? e->tiers[t].p.in : e->base.in, in);
            tm__price_per_mtok(e->tiers[t].p.has & TM_P_OUT ? e->tiers[t].p.out : e->base.out, out);
            printf("  above %lld input tokens: input $%s/M  output $%s/M\n",
                   (long long)e->tiers[t].above, in, out);
        }
    }
    tm__catalog_free(c);
    return code;
}

static int cost(const cli_global *g, cli_fields *f)
{
    tm_arena arena = TM_ARENA_INIT;
    tm_event_builder b;
    tm_price_why why;
    char err[256];
    int code = EXIT_FAIL;
    tm_catalog *c = NULL;
    tm__event_builder_init(&b, &arena);
    if (cli_fields_apply(f, &b, "prices cost")) {
        code = EXIT_REJECTED;
        goto out;
    }
    if (tm__event_finish(&b.ev, tm__now_us(), err, sizeof err)) {
        fprintf(stderr, "tokmeter prices cost: %s\n", err);
        code = EXIT_REJECTED;
        goto out;
    }
    if (!(c = load(g)))
        goto out;
    if (tm__price_event(c, &b.ev, &why)) {
        cli_error("prices cost", TM_EINVAL);
        code = EXIT_REJECTED;
        goto out;
    }
    char total[48];
    tm__dec_format(b.ev.cost_pusd, 12, total);
    static const char *const names[6] = {"input", "output", "cache_read", "cache_write",
                                         "cache_write_1h", "request"};
    const int64_t counts[6] = {b.ev.input_tokens, b.ev.output_tokens, b.ev.cache_read_tokens,
                               b.ev.cache_write_tokens - b.ev.cache_write_1h_tokens,
                               b.ev.cache_write_1h_tokens, 1};
    const int64_t unit[6] = {why.applied.in, why.applied.out, why.applied.cache_read,
                             why.applied.cache_write, why.applied.cache_write_1h,
                             why.applied.request};
    if (g->json) {
        tm_buf o = TM_BUF_INIT;
        tm__buf_printf(&o, "{\"cost_usd\": %s, \"cost_source\": \"%s\", \"rule\": \"%s\"", total,
                       tm__cost_source_name(b.ev.cost_source), why.rule);
        if (why.entry) {
            tm__buf_puts(&o, ", \"entry\": ");
            json_entry(&o, why.entry);
            if (why.tier >= 0)
                tm__buf_printf(&o, ", \"tier_above_input_tokens\": %lld",
                               (long long)why.entry->tiers[why.tier].above);
            tm__buf_puts(&o, ", \"parts\": {");
            for (int i = 0; i < 6; i++) {
                char d[48];
                tm__dec_format(why.parts[i], 12, d);
                tm__buf_printf(&o, "%s\"%s\": %s", i ? ", " : "", names[i], d);
            }
            tm__buf_putc(&o, '}');
        }
        tm__buf_puts(&o, "}\n");
        fputs(o.data, stdout);
        tm__buf_free(&o);
    } else if (why.entry) {
        describe(why.entry, strcmp(why.rule, "exact") == 0);
        if (why.tier >= 0)
            printf("tier: more than %lld input tokens, so the tier's prices apply to every token\n",
                   (long long)why.entry->tiers[why.tier].above);
        for (int i = 0; i < 6; i++) {
            char u[48], d[48];
            if (counts[i] == 0 || (i == 5 && unit[i] == 0))
                continue;
            tm__dec_format(why.parts[i], 12, d);
            if (i == 5) {
                printf("  %-15s %29s = $%s\n", names[i], "1 request", d);
            } else {
                char rate[64];
                tm__price_per_mtok(unit[i], u);
                snprintf(rate, sizeof rate, "$%s/M", u);
                printf("  %-15s %10lld tokens × %-9s = $%s\n", names[i], (long long)counts[i], rate, d);
            }
        }
        printf("total: $%s\n", total);
    } else if (why.metric) {
        char u[48];
        tm__dec_format(why.metric->unit, 12, u);
        printf("metric %s at $%s per unit (%s)\ntotal: $%s\n", why.metric->metric_type, u,
               why.metric->origin, total);
    } else if (b.ev.cost_source == TM_COST_REPORTED) {
        printf("reported cost, kept as given\ntotal: $%s\n", total);
    } else {
        printf("unpriced: no price entry matches %s/%s (counted as unpriced, cost 0)\n",
               b.ev.provider ? b.ev.provider : "-", b.ev.model ? b.ev.model : "-");
    }
    code = b.ev.cost_source == TM_COST_UNPRICED ? EXIT_REJECTED : EXIT_OK;
out:
    tm__catalog_free(c);
    tm__arena_free(&arena);
    return code;
}

static int import(const char *path, const char *output)
{
    tm_buf in = TM_BUF_INIT, out = TM_BUF_INIT, notes = TM_BUF_INIT;
    size_t n = 0, skipped = 0;
    int code = EXIT_FAIL;
    in.max = 256u << 20;
    int rc = tm__buf_read_file(&in, path);
    if (rc == TM_OK)
        rc = tm__price_import_litellm(in.data ? in.data : "", in.len, &out, &n, &skipped, &notes);
    if (rc) {
        cli_error("prices import", rc);
        code = rc == TM_EINVAL ? EXIT_REJECTED : EXIT_FAIL;
        goto out;
    }
    FILE *f = output ? fopen(output, "w") : stdout;
    if (!f || fwrite(out.data, 1, out.len, f) != out.len || (output && fclose(f) != 0)) {
        fprintf(stderr, "tokmeter prices import: cannot write %s\n", output ? output : "stdout");
        goto out;
    }
    for (char *l = notes.data, *nl; l && *l; l = nl + 1) { /* models named twice, merged */
        nl = strchr(l, '\n');
        fprintf(stderr, "tokmeter prices import: %.*s\n", (int)(nl - l), l);
    }
    fprintf(stderr, "converted %zu models (%zu skipped: no token prices or no name, or finer than 1e-12 USD "
                    "per token)%s%s\n",
            n, skipped, output ? "; use it with --prices " : "", output ? output : "");
    code = EXIT_OK;
out:
    tm__buf_free(&in);
    tm__buf_free(&out);
    tm__buf_free(&notes);
    return code;
}

static int run(cli_global *g, int argc, char **argv)
{
    const char *provider = NULL, *at = NULL, *output = NULL;
    const char *sub = argc > 0 && argv[0][0] != '-' ? argv[0] : NULL;
    int code;
    if (!sub) {
        int help = argc > 0 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0);
        cli_help(&cmd_prices, NULL, SUBS);
        return help ? EXIT_OK : EXIT_USAGE;
    }
    if (strcmp(sub, "cost") == 0) {
        cli_fields *f = cli_fields_new();
        if (!f)
            return EXIT_FAIL;
        int npos = cli_parse(&cmd_prices, cli_fields_opts(f), g, argc - 1, argv + 1);
        if (g->help)
            cli_help(&cmd_prices, cli_fields_opts(f), SUBS);
        code = g->help ? EXIT_OK : npos != 0 ? EXIT_USAGE : cost(g, f);
        cli_fields_free(f);
        return code;
    }
    const cli_opt opts[] = {
        {"provider", "P", "only this provider (list), or the event's provider (show)", &provider, NULL},
        {"at", "TIME", "show: the price in force at TIME (default now)", &at, NULL, NULL, NULL},
        {"output", "FILE", "import: write the price file here instead of stdout", &output, NULL, NULL, NULL},
        {NULL, NULL, NULL, NULL, NULL, NULL, NULL},
    };
    int npos = cli_parse(&cmd_prices, opts, g, argc - 1, argv + 1);
    if (g->help) {
        cli_help(&cmd_prices, opts, SUBS);
        return EXIT_OK;
    }
    if (npos < 0)
        return EXIT_USAGE;
    char **pos = argv + 1;
    if (strcmp(sub, "list") == 0 && npos == 0)
        return list(g, provider);
    if (strcmp(sub, "show") == 0 && npos == 1)
        return show(g, pos[0], provider, at);
    if (strcmp(sub, "import") == 0 && npos == 1)
        return import(pos[0], output);
    static const char *const subs[] = {"list", "show", "cost", "import", NULL};
    return cli_bad_sub(sub, subs);
}

const cli_cmd cmd_prices = {"prices", "list|show|cost|import ...",
                            "Read the price catalog; what a call costs and why.", run};
