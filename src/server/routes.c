/*
 * routes.c — the daemon's route table (docs/api.md): method, path prefix,
 * metrics name, key scope and handler. The handlers live by area:
 * route_events.c (ingest), route_usage.c (queries), route_users.c (quota,
 * tiers, checks), route_seed.c (the seed guide's routes), route_alerts.c,
 * route_metrics.c (health, OpenAPI, Prometheus), route_export.c,
 * route_web.c (the dashboard) and proxy.c (the gateway).
 */
#include "server_int.h"

const route tm__routes[] = {
    {"POST", "/v1/events", "", "/v1/events", SC_INGEST, tm__route_post_events},
    {"POST", "/api/usage/track", "", "/api/usage/track", SC_INGEST, tm__route_post_events},
    {"GET", "/v1/usage", "", "/v1/usage", SC_READ, tm__route_get_usage},
    {"GET", "/v1/errors", "", "/v1/errors", SC_READ, tm__route_get_errors},
    {"GET", "/v1/users/", "/usage", "/v1/users/{id}/usage", SC_READ, tm__route_get_user_usage},
    {"GET", "/v1/users/", "/quota", "/v1/users/{id}/quota", SC_READ, tm__route_get_user_quota},
    {"PUT", "/v1/users/", "", "/v1/users/{id}", SC_INGEST, tm__route_put_user},
    {"POST", "/v1/check", "", "/v1/check", SC_INGEST, tm__route_post_check},
    {"GET", "/api/usage/metrics/realtime", "", "/api/usage/metrics/realtime", SC_READ, tm__route_seed_realtime},
    {"GET", "/api/usage/metrics/aggregates", "", "/api/usage/metrics/aggregates", SC_READ, tm__route_seed_aggregates},
    {"GET", "/api/usage/costs/by-provider", "", "/api/usage/costs/by-provider", SC_READ, tm__route_seed_costs},
    {"GET", "/api/usage/performance/latency", "", "/api/usage/performance/latency", SC_READ, tm__route_seed_latency},
    {"GET", "/api/usage/", "", "/api/usage/{userId}", SC_READ, tm__route_seed_user},
    {"GET", "/v1/alerts", "", "/v1/alerts", SC_READ, tm__route_get_alerts},
    {"GET", "/v1/me", "", "/v1/me", SC_READ, tm__route_get_me},
    {"GET", "/v1/export", "", "/v1/export", SC_READ, tm__get_export}, /* admin only: it checks */
    {"GET", "/healthz", "", "/healthz", SC_OPEN, tm__route_healthz},
    {"GET", "/readyz", "", "/readyz", SC_OPEN, tm__route_readyz},
    {"GET", "/metrics", "", "/metrics", SC_METRICS, tm__route_metrics},
    {"GET", "/openapi.yaml", "", "/openapi.yaml", SC_OPEN, tm__route_openapi},
    /* The gateway's paths are dispatched to proxy.c before this table is
     * searched; the entry names its metrics (method "*" matches nothing). */
    {"*", "/proxy/", "/*", "proxy", SC_OPEN, NULL},
    {"GET", "/", "", "/", SC_OPEN, tm__get_web},
    {"GET", "/assets/", "", "/assets/{file}", SC_OPEN, tm__get_web},
};
const size_t tm__nroutes = sizeof tm__routes / sizeof tm__routes[0];
