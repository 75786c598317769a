/*
 * alert.h — alert rules (the config's "alerts" section), and notifying a
 * webhook: a JSON POST signed with HMAC-SHA256, retried with backoff.
 *
 *   "alerts": {"interval_s": 30, "max_tries": 5, "backoff_s": 1,
 *              "webhooks": [{"url": "http://...", "secret_env": "HOOK_SECRET"}],
 *              "rules": [{"name": "daily-cost", "metric": "cost_usd", "window": "day",
 *                         "op": ">", "threshold": "50"}, ...]}
 */
#ifndef TM_POLICY_ALERT_H
#define TM_POLICY_ALERT_H

#include <stddef.h>
#include <stdint.h>

enum { TM_W_ROLLING, TM_W_DAY, TM_W_MONTH };
enum { TM_OP_GT, TM_OP_GE, TM_OP_LT, TM_OP_LE };

typedef struct tm_alert_rule {
    char name[65];
    char metric[80];        /* as configured                                   */
    int report_metric;      /* a TM_M_* of the report, or -1                    */
    char metric_type[65];   /* events:METRIC_TYPE: count of that metric type    */
    int quota_percent;      /* quota use, percent of the fullest limit          */
    int scope;              /* a TM_D_* dimension, or -1 for global              */
    char where[4][200];     /* DIM=V filters                                     */
    int nwhere;
    int window;             /* rolling, or calendar day / month in tz            */
    int64_t window_us;
    char window_text[16];
    char tz[64];
    int op;
    char threshold_text[48]; /* a number's text, compared exactly (tm__dec_cmp) */
} tm_alert_rule;

typedef struct tm_webhook {
    char url[1024];
    char secret[256];       /* "" : unsigned                                    */
} tm_webhook;

typedef struct tm_alerts {
    tm_alert_rule *rules;
    int nrules;
    tm_webhook *hooks;
    int nhooks;
    unsigned interval_s;    /* the daemon evaluates this often (default 30)      */
    unsigned max_tries;     /* deliveries per notification (default 5)           */
    double backoff_s;       /* first retry after this, doubling (default 1)      */
} tm_alerts;

/* Loads the "alerts" section of a config file (NULL or absent: no rules). */
int tm__alerts_load(tm_alerts **out, const char *path);
void tm__alerts_free(tm_alerts *a);

/* 1 when value (a number's text, as the report prints it) satisfies the
 * rule's comparison with its threshold, compared exactly: no floating
 * point touches a cost. 0 when it does not, or value is not a number. */
int tm__alert_holds(const tm_alert_rule *r, const char *value);

/* POSTs body to the webhook: up to max_tries tries, waiting backoff_s,
 * 2·backoff_s, ... (with jitter) between them, honouring nothing but 2xx as
 * delivered. The header X-Tokmeter-Signature is "sha256=" + the hex HMAC of
 * the body with the secret. Returns TM_OK or TM_EIO (message says why). */
int tm__webhook_send(const tm_webhook *h, const char *body, unsigned max_tries, double backoff_s);

/* The signature header value of body (for tests and receivers). */
void tm__webhook_sign(const char *secret, const char *body, char out[72]);

#endif
