/*
 * route_metrics.c — health (/healthz, /readyz), the OpenAPI description and
 * the Prometheus text at /metrics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/dec.h"
#include "../core/err.h"
#include "../core/json.h"
#include "../core/tmtime.h"
#include "../store/store.h"
#include "server_int.h"
#include "proxy.h"

/* ---- health and metrics ---- */

enum MHD_Result tm__route_healthz(req *r)
{
    tm_buf b = TM_BUF_INIT;
    tm__buf_puts(&b, "{\"status\":\"ok\"}\n");
    enum MHD_Result ok = tm__reply(r, 200, &b);
    tm__buf_free(&b);
    return ok;
}

enum MHD_Result tm__route_readyz(req *r)
{
    int64_t v = 0;
    tm_store *s = tm__store(r->s->t);
    if (s->ops->version(s, &v) != TM_OK)
        return tm__reply_error(r, 503, "not_ready", "%s", tm_errmsg());
    return tm__route_healthz(r);
}

/* docs/openapi.yaml, compiled in by the Makefile (build/gen/openapi_data.c). */
extern const unsigned char tm__openapi_yaml[];
extern const unsigned long tm__openapi_yaml_len;

enum MHD_Result tm__route_openapi(req *r)
{
    return tm__reply_as(r, 200, tm__openapi_yaml, tm__openapi_yaml_len, 1, "application/yaml", NULL);
}

enum MHD_Result tm__route_metrics(req *r)
{
    tm_buf b = TM_BUF_INIT;
    tm__metrics_render(r->s, &b);
    enum MHD_Result ok = tm__reply_as(r, 200, b.data, b.len, 0, "text/plain; version=0.0.4", NULL);
    tm__buf_free(&b);
    return ok;
}

/* ---- Prometheus text ---- */

extern const double tm__dur_bounds[NBUCKETS];

/* A Prometheus label value, quoted: the text format escapes only \\, "
 * and newline (JSON's \uXXXX is not in it); other bytes go as they are. */
static void prom_label(tm_buf *b, const char *v)
{
    tm__buf_putc(b, '"');
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            tm__buf_putc(b, '\\');
        if (*v == '\n')
            tm__buf_puts(b, "\\n");
        else
            tm__buf_putc(b, *v);
    }
    tm__buf_putc(b, '"');
}

void tm__metrics_render(srv *s, tm_buf *b)
{
    tm__buf_puts(b, "# HELP tokmeter_http_requests_total HTTP requests by route and status.\n"
                    "# TYPE tokmeter_http_requests_total counter\n");
    for (size_t i = 0; i <= tm__nroutes; i++)
        for (int k = 0; k < NSTATUS; k++) {
            uint64_t n = __atomic_load_n(&s->requests[i][k], __ATOMIC_RELAXED);
            if (n)
                tm__buf_printf(b, "tokmeter_http_requests_total{route=\"%s\",status=\"%u\"} %llu\n",
                               i < tm__nroutes ? tm__routes[i].name : "unknown", tm__statuses[k],
                               (unsigned long long)n);
        }
    tm__buf_puts(b, "# HELP tokmeter_http_request_duration_seconds Time from request to response.\n"
                    "# TYPE tokmeter_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i <= tm__nroutes; i++) {
        uint64_t count = __atomic_load_n(&s->dur_count[i], __ATOMIC_RELAXED);
        if (!count)
            continue;
        const char *name = i < tm__nroutes ? tm__routes[i].name : "unknown";
        for (int k = 0; k < NBUCKETS; k++)
            tm__buf_printf(b, "tokmeter_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                           name, tm__dur_bounds[k], (unsigned long long)s->dur_le[i][k]);
        tm__buf_printf(b, "tokmeter_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
                          "tokmeter_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
                          "tokmeter_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                       name, (unsigned long long)count, name, (double)s->dur_sum_us[i] / 1e6, name,
                       (unsigned long long)count);
    }
    tm__buf_printf(b, "# HELP tokmeter_events_total Events received over HTTP, by outcome.\n"
                      "# TYPE tokmeter_events_total counter\n"
                      "tokmeter_events_total{result=\"accepted\"} %llu\n"
                      "tokmeter_events_total{result=\"duplicate\"} %llu\n"
                      "tokmeter_events_total{result=\"rejected\"} %llu\n",
                   (unsigned long long)s->events[0], (unsigned long long)s->events[1],
                   (unsigned long long)s->events[2]);
    tm_writer_stats ws;
    tm__writer_stats(tm__writer(s->t), &ws);
    tm__buf_puts(b, "# HELP tokmeter_commit_duration_seconds Durable commits (fsync included).\n"
                    "# TYPE tokmeter_commit_duration_seconds histogram\n");
    for (int k = 0; k < TM_COMMIT_BUCKETS; k++)
        tm__buf_printf(b, "tokmeter_commit_duration_seconds_bucket{le=\"%g\"} %llu\n",
                       tm__commit_bounds[k], (unsigned long long)ws.le[k]);
    tm__buf_printf(b, "tokmeter_commit_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
                      "tokmeter_commit_duration_seconds_sum %.6f\n"
                      "tokmeter_commit_duration_seconds_count %llu\n",
                   (unsigned long long)ws.count, ws.sum_s, (unsigned long long)ws.count);
    int64_t stored = 0;
    tm_count(s->t, &stored);
    uint64_t bytes = 0;
    const char *suffixes[] = {"", "-wal"};
    for (int i = 0; i < 2; i++) {
        char p[4200];
        struct stat st;
        snprintf(p, sizeof p, "%s%s", s->cfg.db, suffixes[i]);
        if (stat(p, &st) == 0)
            bytes += (uint64_t)st.st_size;
    }
    tm__buf_printf(b, "# HELP tokmeter_store_events Events in the store.\n"
                      "# TYPE tokmeter_store_events gauge\ntokmeter_store_events %lld\n"
                      "# HELP tokmeter_store_bytes Size of the store file and its log.\n"
                      "# TYPE tokmeter_store_bytes gauge\ntokmeter_store_bytes %llu\n",
                   (long long)stored, (unsigned long long)bytes);
    uint64_t hits = 0, misses = 0;
    tm__usage_stats(tm__pctx(s->t)->usage, &hits, &misses);
    tm__buf_printf(b, "# HELP tokmeter_quota_cache_total Quota checks answered from the users' sums kept in memory, or read from the store.\n"
                      "# TYPE tokmeter_quota_cache_total counter\n"
                      "tokmeter_quota_cache_total{result=\"hit\"} %llu\n"
                      "tokmeter_quota_cache_total{result=\"miss\"} %llu\n",
                   (unsigned long long)hits, (unsigned long long)misses);
    tm_notify *nt = tm__notifier(s->t);
    if (nt) {
        tm_notify_stats st;
        tm__notify_stats(nt, &st, NULL, 0);
        tm__buf_printf(b, "# HELP tokmeter_notify_total Change notifications through Redis.\n"
                          "# TYPE tokmeter_notify_total counter\n"
                          "tokmeter_notify_total{result=\"published\"} %llu\n"
                          "tokmeter_notify_total{result=\"received\"} %llu\n"
                          "tokmeter_notify_total{result=\"dropped\"} %llu\n"
                          "# HELP tokmeter_notify_up Whether Redis answers the change notifications.\n"
                          "# TYPE tokmeter_notify_up gauge\ntokmeter_notify_up %d\n",
                       (unsigned long long)st.published, (unsigned long long)st.received,
                       (unsigned long long)st.dropped, !st.down);
    }
    tm__proxy_metrics(s->proxy, b);
    /* Spend by provider, all time (day rollups): bounded to 50 providers. */
    tm_query_spec q;
    tm_qresult *res = NULL;
    tm__query_init(&q);
    if (tm__query_set(&q, "from", "1970-01-01") == TM_OK &&
        tm__query_set(&q, "group_by", "provider") == TM_OK &&
        tm__query_set(&q, "order_by", "cost_usd") == TM_OK && tm__query_set(&q, "limit", "50") == TM_OK &&
        tm__run_query(s->t, &q, &res) == TM_OK) {
        tm__buf_puts(b, "# HELP tokmeter_cost_usd_total Spend by provider (the 50 largest).\n"
                        "# TYPE tokmeter_cost_usd_total counter\n");
        for (size_t i = 0; i < res->nrows; i++) {
            char t[64];
            tm__metric_text(&res->rows[i].s, &res->rows[i].sk, TM_M_COST, t, sizeof t);
            tm__buf_puts(b, "tokmeter_cost_usd_total{provider=");
            prom_label(b, res->rows[i].dim[TM_D_PROVIDER]);
            tm__buf_printf(b, "} %s\n", t);
        }
    }
    tm__qresult_free(res);
    tm__query_free(&q);
}
