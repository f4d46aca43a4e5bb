
/*
 * Copyright (C) ngx_campaign developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_campaign_module.h"


/*
 * Metrics.  Each campaign has a block of counters in campaign_zone, one
 * set per channel, made by the master process when it reads the
 * configuration (at start and on each reload: the zone keeps them) and
 * found through the campaign's definition, so that the workers that fork
 * from it add to them with atomic operations, without the zone's lock and
 * without a look-up.  campaign_metrics serves them in the Prometheus text
 * format, campaigns/{id}/report as JSON.
 *
 * The access log variables of an API request ($campaign_id, ...) are set
 * in the request's variables as the trigger goes: the log reads them.
 */


#define NGX_CAMPAIGN_METRICS_BUCKETS  12

#define NGX_CAMPAIGN_VAR_ID           0
#define NGX_CAMPAIGN_VAR_EXECUTION    1
#define NGX_CAMPAIGN_VAR_RECIPIENTS   2
#define NGX_CAMPAIGN_VAR_OUTCOME      3


/* a histogram: counts per bucket, not cumulative, "+Inf" last; sum in ms */

typedef struct {
    ngx_atomic_t                 le[NGX_CAMPAIGN_METRICS_BUCKETS + 1];
    ngx_atomic_t                 sum;
} ngx_campaign_histogram_t;


typedef struct {
    ngx_atomic_t                 triggers;
    ngx_atomic_t                 recipients;
    ngx_atomic_t                 messages[NGX_CAMPAIGN_METRIC_OUTCOMES];
    ngx_campaign_histogram_t     gateway;     /* per gateway attempt */
    ngx_campaign_histogram_t     trigger;     /* per trigger answered */
} ngx_campaign_counters_t;


/* what lives in the zone for a campaign: its channel may change */

typedef struct {
    ngx_campaign_counters_t      channels[NGX_CAMPAIGN_CHANNEL_COUNT];
} ngx_campaign_metrics_t;


/*
 * A marketing campaign's audience executions, whatever the channel: a
 * record of its own, so that the one above stays within 1 KB of the
 * zone's slab sizes.
 */

typedef struct {
    ngx_atomic_t                 audience[NGX_CAMPAIGN_AUDIENCE_EXECUTIONS];
    ngx_atomic_t                 audience_running;    /* a gauge */
    ngx_atomic_t                 audience_recipients[
                                     NGX_CAMPAIGN_AUDIENCE_OUTCOMES];
} ngx_campaign_audience_metrics_t;


typedef struct {
    ngx_str_t                    name;
    ngx_str_t                    help;
} ngx_campaign_family_t;


static ngx_int_t ngx_campaign_metrics_handler(ngx_http_request_t *r);
static void ngx_campaign_metrics_counters(ngx_campaign_out_t *o,
    ngx_campaign_main_conf_t *cmcf, ngx_uint_t family);
static void ngx_campaign_metrics_histograms(ngx_campaign_out_t *o,
    ngx_campaign_main_conf_t *cmcf, ngx_uint_t gateway);
static void ngx_campaign_metrics_zone(ngx_campaign_out_t *o,
    ngx_campaign_main_conf_t *cmcf);
static void ngx_campaign_metrics_family(ngx_campaign_out_t *o,
    ngx_campaign_family_t *f, const char *type);
static void ngx_campaign_metrics_labels(ngx_campaign_out_t *o,
    ngx_campaign_t *c, ngx_uint_t channel);
static void ngx_campaign_metrics_label_value(ngx_campaign_out_t *o,
    u_char *s, size_t len);
static ngx_uint_t ngx_campaign_metrics_shown(ngx_campaign_t *c,
    ngx_uint_t channel);
static void ngx_campaign_metrics_histogram_json(ngx_campaign_out_t *o,
    ngx_campaign_histogram_t *h);
static void ngx_campaign_metrics_seconds(ngx_campaign_out_t *o,
    ngx_atomic_uint_t ms);
static void ngx_campaign_metrics_observe(ngx_campaign_histogram_t *h,
    ngx_msec_t ms);
static void ngx_campaign_metrics_trigger_latency(ngx_http_request_t *r,
    ngx_campaign_t *c);
static void ngx_campaign_metrics_set_variable(ngx_http_request_t *r,
    ngx_uint_t n, u_char *data, size_t len);
static void ngx_campaign_metrics_unset_variable(ngx_http_request_t *r,
    ngx_uint_t n);
static ngx_int_t ngx_campaign_metrics_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static void ngx_campaign_metrics_audiences(ngx_campaign_out_t *o,
    ngx_campaign_main_conf_t *cmcf);


/* the upper bounds of the latency buckets, in ms, and as "le" says them */

static ngx_msec_t  ngx_campaign_metrics_bounds[] = {
    1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000
};

static ngx_str_t  ngx_campaign_metrics_le[] = {
    ngx_string("0.001"), ngx_string("0.005"), ngx_string("0.01"),
    ngx_string("0.025"), ngx_string("0.05"), ngx_string("0.1"),
    ngx_string("0.25"), ngx_string("0.5"), ngx_string("1"),
    ngx_string("2.5"), ngx_string("5"), ngx_string("10"),
    ngx_string("+Inf")
};


/* by ngx_campaign_metric_e */

static ngx_str_t  ngx_campaign_metrics_outcomes[] = {
    ngx_string("accepted"),
    ngx_string("failed"),
    ngx_string("retried"),
    ngx_string("replayed"),
    ngx_string("throttled"),
    ngx_string("capped"),
    ngx_string("stopped"),
    ngx_string("no_consent"),
    ngx_string("suppressed"),
    ngx_string("invalid_address")
};


static ngx_campaign_family_t  ngx_campaign_metrics_families[] = {

    { ngx_string("ngx_campaign_triggers_total"),
      ngx_string("Triggers that passed their checks.") },

    { ngx_string("ngx_campaign_recipients_total"),
      ngx_string("Recipients of the triggers that passed their checks.") },

    { ngx_string("ngx_campaign_messages_total"),
      ngx_string("Messages by outcome; retried counts gateway attempts "
                 "that are retried.") },

    { ngx_string("ngx_campaign_gateway_latency_seconds"),
      ngx_string("Time from a gateway attempt's start to its answer.") },

    { ngx_string("ngx_campaign_trigger_latency_seconds"),
      ngx_string("Time from a trigger's request to its answer.") },

    { ngx_string("ngx_campaign_zone_size_bytes"),
      ngx_string("Size of the campaign_zone shared memory zone.") },

    { ngx_string("ngx_campaign_zone_used_bytes"),
      ngx_string("Bytes of the campaign_zone in pages in use.") },

    { ngx_string("ngx_campaign_zone_evictions_total"),
      ngx_string("Idempotency records let go before their window "
                 "because the zone was full.") }
};


static ngx_str_t  ngx_campaign_log_variables[] = {
    ngx_string("campaign_id"),
    ngx_string("campaign_execution_id"),
    ngx_string("campaign_recipients"),
    ngx_string("campaign_outcome")
};


static ngx_str_t  ngx_campaign_metrics_type =
    ngx_string("text/plain; version=0.0.4; charset=utf-8");


/* campaign_metrics; */

char *
ngx_campaign_metrics_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_campaign_loc_conf_t *cplcf = conf;

    ngx_http_core_loc_conf_t  *clcf;
    ngx_campaign_main_conf_t  *cmcf;

    if (cplcf->api == 1) {
        return "cannot share a location with \"campaign_api\"";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == ngx_campaign_metrics_handler) {
        return "is duplicate";
    }

    clcf->handler = ngx_campaign_metrics_handler;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_campaign_module);

    if (cmcf->metrics_line == 0) {
        cmcf->metrics_file = cf->conf_file->file.name;
        cmcf->metrics_line = cf->conf_file->line;
    }

    return NGX_CONF_OK;
}


/*
 * The counters are shared by every worker: without a zone a scrape would
 * see one worker's share, changing with the worker that answers it.
 */

ngx_int_t
ngx_campaign_metrics_check(ngx_conf_t *cf)
{
    ngx_campaign_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_campaign_module);

    if (cmcf->metrics_line && cmcf->store == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"campaign_metrics\" needs \"campaign_zone\", "
                      "which holds the counters, in %V:%ui",
                      &cmcf->metrics_file, cmcf->metrics_line);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * In the master process, once the zone is there: each campaign of the new
 * configuration finds its counters, or gets new ones.
 */

ngx_int_t
ngx_campaign_metrics_init(ngx_cycle_t *cycle)
{
    u_char                     buf[sizeof("m:") - 1 + 64];
    size_t                     len;
    ngx_str_t                  key;
    ngx_uint_t                 i;
    ngx_campaign_t            *c;
    ngx_campaign_main_conf_t  *cmcf;

    cmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_campaign_module);

    if (cmcf == NULL || cmcf->store == NULL) {
        return NGX_OK;
    }

    for (i = 0; i < cmcf->ncampaigns; i++) {
        c = cmcf->campaigns[i];

        len = ngx_min(ngx_strlen(c->id), sizeof(buf) - 2);

        key.data = buf;
        key.len = ngx_cpymem(ngx_cpymem(buf, "m:", 2), c->id, len) - buf;

        c->metrics = ngx_campaign_store_counters(cmcf->store, &key,
                                              sizeof(ngx_campaign_metrics_t),
                                              cycle->log);
        if (c->metrics == NULL) {
            ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                          "campaign \"%s\": no room for its counters in "
                          "campaign_zone, they are not kept", c->id);
        }

        if (c->type != NGX_CAMPAIGN_MARKETING) {
            continue;
        }

        buf[0] = 'a';

        c->audience_metrics = ngx_campaign_store_counters(cmcf->store, &key,
                                     sizeof(ngx_campaign_audience_metrics_t),
                                     cycle->log);
    }

    return NGX_OK;
}


void
ngx_campaign_metrics_count(ngx_campaign_t *c, ngx_campaign_metric_e metric,
    ngx_uint_t n)
{
    ngx_campaign_metrics_t  *mt;

    mt = c->metrics;

    if (mt == NULL || n == 0) {
        return;
    }

    (void) ngx_atomic_fetch_add(&mt->channels[c->channel].messages[metric],
                                n);
}


/*
 * A message settles.  A stop is counted where it is decided: its trigger
 * runs no message.
 */

void
ngx_campaign_metrics_message(ngx_campaign_message_t *m,
    ngx_campaign_outcome_e outcome)
{
    if (m->state == NGX_CAMPAIGN_MESSAGE_DONE) {
        return;
    }

    switch (outcome) {

    case NGX_CAMPAIGN_OUTCOME_ACCEPTED:
        ngx_campaign_metrics_count(m->execution->campaign,
                                   NGX_CAMPAIGN_METRIC_ACCEPTED, 1);
        break;

    case NGX_CAMPAIGN_OUTCOME_GATEWAY:
    case NGX_CAMPAIGN_OUTCOME_NO_PROFILE:
    case NGX_CAMPAIGN_OUTCOME_LOOKUP:
    case NGX_CAMPAIGN_OUTCOME_RENDER:
    case NGX_CAMPAIGN_OUTCOME_TIMEOUT:
        ngx_campaign_metrics_count(m->execution->campaign,
                                   NGX_CAMPAIGN_METRIC_FAILED, 1);
        break;

    case NGX_CAMPAIGN_OUTCOME_CAPPED:
        ngx_campaign_metrics_count(m->execution->campaign,
                                   NGX_CAMPAIGN_METRIC_CAPPED, 1);
        break;

    case NGX_CAMPAIGN_OUTCOME_NO_CONSENT:
        ngx_campaign_metrics_count(m->execution->campaign,
                                   NGX_CAMPAIGN_METRIC_NO_CONSENT, 1);
        break;

    case NGX_CAMPAIGN_OUTCOME_SUPPRESSED:
        ngx_campaign_metrics_count(m->execution->campaign,
                                   NGX_CAMPAIGN_METRIC_SUPPRESSED, 1);
        break;

    case NGX_CAMPAIGN_OUTCOME_INVALID:
        ngx_campaign_metrics_count(m->execution->campaign,
                                   NGX_CAMPAIGN_METRIC_INVALID, 1);
        break;

    default:
        break;
    }
}


/* a gateway attempt answered */

void
ngx_campaign_metrics_gateway(ngx_campaign_message_t *m)
{
    ngx_campaign_t          *c;
    ngx_campaign_metrics_t  *mt;

    c = m->execution->campaign;
    mt = c->metrics;

    if (mt) {
        ngx_campaign_metrics_observe(&mt->channels[c->channel].gateway,
                                     ngx_current_msec - m->sent);
    }
}


/* a trigger passed its checks: it counts, and its request says so */

void
ngx_campaign_metrics_trigger(ngx_http_request_t *r,
    ngx_campaign_execution_t *e)
{
    u_char                  *p;
    ngx_campaign_t          *c;
    ngx_campaign_metrics_t  *mt;

    c = e->campaign;
    mt = c->metrics;

    if (mt) {
        (void) ngx_atomic_fetch_add(&mt->channels[c->channel].triggers, 1);
        (void) ngx_atomic_fetch_add(&mt->channels[c->channel].recipients,
                                    e->nmessages);
    }

    /* an id of a definition: [A-Za-z0-9._-], nothing to escape in a log */

    ngx_campaign_metrics_set_variable(r, NGX_CAMPAIGN_VAR_ID,
                                      (u_char *) c->id, ngx_strlen(c->id));

    /* the execution may go before the request is logged */

    p = ngx_pnalloc(r->pool, NGX_CAMPAIGN_EXECUTION_ID_LEN + NGX_INT_T_LEN);
    if (p == NULL) {
        return;
    }

    ngx_memcpy(p, e->id, NGX_CAMPAIGN_EXECUTION_ID_LEN);

    ngx_campaign_metrics_set_variable(r, NGX_CAMPAIGN_VAR_EXECUTION, p,
                                      NGX_CAMPAIGN_EXECUTION_ID_LEN);

    p += NGX_CAMPAIGN_EXECUTION_ID_LEN;

    ngx_campaign_metrics_set_variable(r, NGX_CAMPAIGN_VAR_RECIPIENTS, p,
                                      ngx_sprintf(p, "%ui", e->nmessages)
                                      - p);
}


/*
 * A checked trigger answered without running: a replay, a throttle, or
 * a stopped campaign.  Its recipients count under metric, but for those
 * already settled (capped before the throttle said no); a replay's
 * executionId is the first answer's.
 */

void
ngx_campaign_metrics_answered(ngx_http_request_t *r,
    ngx_campaign_execution_t *e, ngx_campaign_metric_e metric,
    ngx_campaign_store_answer_t *answer)
{
    u_char      *p;
    ngx_str_t   *name;
    ngx_uint_t   i, n;

    static u_char  prefix[] = "{\"executionId\":\"";

    n = 0;

    for (i = 0; i < e->nmessages; i++) {
        n += (e->messages[i].state != NGX_CAMPAIGN_MESSAGE_DONE);
    }

    ngx_campaign_metrics_count(e->campaign, metric, n);
    ngx_campaign_metrics_trigger_latency(r, e->campaign);

    name = &ngx_campaign_metrics_outcomes[metric];
    ngx_campaign_metrics_set_variable(r, NGX_CAMPAIGN_VAR_OUTCOME,
                                      name->data, name->len);

    ngx_campaign_metrics_unset_variable(r, NGX_CAMPAIGN_VAR_EXECUTION);

    if (answer == NULL
        || answer->body.len < sizeof(prefix) - 1
                              + NGX_CAMPAIGN_EXECUTION_ID_LEN
        || ngx_strncmp(answer->body.data, prefix, sizeof(prefix) - 1) != 0)
    {
        return;
    }

    /* the stored answer is ours; its id is checked all the same */

    p = answer->body.data + sizeof(prefix) - 1;

    for (i = 0; i < NGX_CAMPAIGN_EXECUTION_ID_LEN; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')
              || p[i] == '-'))
        {
            return;
        }
    }

    ngx_campaign_metrics_set_variable(r, NGX_CAMPAIGN_VAR_EXECUTION, p,
                                      NGX_CAMPAIGN_EXECUTION_ID_LEN);
}


/* the execution settled, and its client is answered */

void
ngx_campaign_metrics_settled(ngx_http_request_t *r,
    ngx_campaign_execution_t *e)
{
    ngx_uint_t   i, n, capped, held;
    const char  *outcome;

    n = 0;
    capped = 0;
    held = 0;

    for (i = 0; i < e->nmessages; i++) {
        n += (e->messages[i].outcome == NGX_CAMPAIGN_OUTCOME_ACCEPTED);
        capped += (e->messages[i].outcome == NGX_CAMPAIGN_OUTCOME_CAPPED);
        held += (e->messages[i].outcome == NGX_CAMPAIGN_OUTCOME_NO_CONSENT
                 || e->messages[i].outcome
                    == NGX_CAMPAIGN_OUTCOME_SUPPRESSED);
    }

    if (n == e->nmessages) {
        outcome = "accepted";

    } else if (capped == e->nmessages) {
        outcome = "capped";

    } else if (capped + held == e->nmessages) {
        outcome = "held";

    } else if (n) {
        outcome = "partial";

    } else {
        outcome = "failed";
    }

    ngx_campaign_metrics_trigger_latency(r, e->campaign);
    ngx_campaign_metrics_outcome(r, e, outcome);
}


/* outcome is a literal; without an execution, none ran */

void
ngx_campaign_metrics_outcome(ngx_http_request_t *r,
    ngx_campaign_execution_t *e, const char *outcome)
{
    ngx_campaign_metrics_set_variable(r, NGX_CAMPAIGN_VAR_OUTCOME,
                                      (u_char *) outcome,
                                      ngx_strlen(outcome));

    if (e == NULL) {
        ngx_campaign_metrics_unset_variable(r, NGX_CAMPAIGN_VAR_EXECUTION);
    }
}


static void
ngx_campaign_metrics_trigger_latency(ngx_http_request_t *r,
    ngx_campaign_t *c)
{
    ngx_time_t              *tp;
    ngx_msec_int_t           ms;
    ngx_campaign_metrics_t  *mt;

    mt = c->metrics;

    if (mt == NULL) {
        return;
    }

    tp = ngx_timeofday();

    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));

    ngx_campaign_metrics_observe(&mt->channels[c->channel].trigger,
                                 (ngx_msec_t) ngx_max(ms, 0));
}


static void
ngx_campaign_metrics_observe(ngx_campaign_histogram_t *h, ngx_msec_t ms)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_CAMPAIGN_METRICS_BUCKETS; i++) {
        if (ms <= ngx_campaign_metrics_bounds[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&h->le[i], 1);
    (void) ngx_atomic_fetch_add(&h->sum, ms);
}


/*
 * The Prometheus text format, version 0.0.4.
 */

static ngx_int_t
ngx_campaign_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_uint_t                 i;
    ngx_campaign_out_t         o;
    ngx_campaign_main_conf_t  *cmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_campaign_not_allowed(r, "GET, HEAD");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_campaign_module);

    ngx_campaign_out_init(&o, r->pool, 4096 + 2048 * cmcf->ncampaigns);

    for (i = 0; i < 3; i++) {
        ngx_campaign_metrics_counters(&o, cmcf, i);
    }

    ngx_campaign_metrics_histograms(&o, cmcf, 1);
    ngx_campaign_metrics_histograms(&o, cmcf, 0);
    ngx_campaign_metrics_zone(&o, cmcf);
    ngx_campaign_metrics_audiences(&o, cmcf);

    return ngx_campaign_send_out(r, NGX_HTTP_OK, &ngx_campaign_metrics_type,
                                 &o);
}


/* family 0: triggers, 1: recipients, 2: messages by outcome */

static void
ngx_campaign_metrics_counters(ngx_campaign_out_t *o,
    ngx_campaign_main_conf_t *cmcf, ngx_uint_t family)
{
    ngx_uint_t                i, ch, k;
    ngx_campaign_t           *c;
    ngx_campaign_family_t    *f;
    ngx_campaign_counters_t  *cn;
    ngx_campaign_metrics_t   *mt;

    f = &ngx_campaign_metrics_families[family];

    ngx_campaign_metrics_family(o, f, "counter");

    for (i = 0; i < cmcf->ncampaigns; i++) {
        c = cmcf->campaigns[i];
        mt = c->metrics;

        for (ch = 0; mt && ch < NGX_CAMPAIGN_CHANNEL_COUNT; ch++) {

            if (!ngx_campaign_metrics_shown(c, ch)) {
                continue;
            }

            cn = &mt->channels[ch];

            if (family < 2) {
                ngx_campaign_out_raw(o, f->name.data, f->name.len);
                ngx_campaign_metrics_labels(o, c, ch);
                ngx_campaign_out_literal(o, "} ");
                ngx_campaign_out_uint(o, family == 0 ? cn->triggers
                                                     : cn->recipients);
                ngx_campaign_out_literal(o, "\n");
                continue;
            }

            for (k = 0; k < NGX_CAMPAIGN_METRIC_OUTCOMES; k++) {
                ngx_campaign_out_raw(o, f->name.data, f->name.len);
                ngx_campaign_metrics_labels(o, c, ch);
                ngx_campaign_out_literal(o, ",outcome=\"");
                ngx_campaign_out_raw(o, ngx_campaign_metrics_outcomes[k].data,
                                     ngx_campaign_metrics_outcomes[k].len);
                ngx_campaign_out_literal(o, "\"} ");
                ngx_campaign_out_uint(o, cn->messages[k]);
                ngx_campaign_out_literal(o, "\n");
            }
        }
    }
}


static void
ngx_campaign_metrics_histograms(ngx_campaign_out_t *o,
    ngx_campaign_main_conf_t *cmcf, ngx_uint_t gateway)
{
    ngx_uint_t                 i, ch, k;
    ngx_campaign_t            *c;
    ngx_atomic_uint_t          n;
    ngx_campaign_family_t     *f;
    ngx_campaign_metrics_t    *mt;
    ngx_campaign_histogram_t  *h;

    f = &ngx_campaign_metrics_families[gateway ? 3 : 4];

    ngx_campaign_metrics_family(o, f, "histogram");

    for (i = 0; i < cmcf->ncampaigns; i++) {
        c = cmcf->campaigns[i];
        mt = c->metrics;

        for (ch = 0; mt && ch < NGX_CAMPAIGN_CHANNEL_COUNT; ch++) {

            if (!ngx_campaign_metrics_shown(c, ch)) {
                continue;
            }

            h = gateway ? &mt->channels[ch].gateway
                        : &mt->channels[ch].trigger;

            /* cumulative, and the count is the last bucket's */

            n = 0;

            for (k = 0; k <= NGX_CAMPAIGN_METRICS_BUCKETS; k++) {
                n += h->le[k];

                ngx_campaign_out_raw(o, f->name.data, f->name.len);
                ngx_campaign_out_literal(o, "_bucket");
                ngx_campaign_metrics_labels(o, c, ch);
                ngx_campaign_out_literal(o, ",le=\"");
                ngx_campaign_out_raw(o, ngx_campaign_metrics_le[k].data,
                                     ngx_campaign_metrics_le[k].len);
                ngx_campaign_out_literal(o, "\"} ");
                ngx_campaign_out_uint(o, n);
                ngx_campaign_out_literal(o, "\n");
            }

            ngx_campaign_out_raw(o, f->name.data, f->name.len);
            ngx_campaign_out_literal(o, "_sum");
            ngx_campaign_metrics_labels(o, c, ch);
            ngx_campaign_out_literal(o, "} ");
            ngx_campaign_metrics_seconds(o, h->sum);
            ngx_campaign_out_literal(o, "\n");

            ngx_campaign_out_raw(o, f->name.data, f->name.len);
            ngx_campaign_out_literal(o, "_count");
            ngx_campaign_metrics_labels(o, c, ch);
            ngx_campaign_out_literal(o, "} ");
            ngx_campaign_out_uint(o, n);
            ngx_campaign_out_literal(o, "\n");
        }
    }
}


static void
ngx_campaign_metrics_zone(ngx_campaign_out_t *o,
    ngx_campaign_main_conf_t *cmcf)
{
    size_t                  size, used;
    ngx_str_t               name;
    ngx_uint_t              i, value[3];
    ngx_campaign_family_t  *f;

    static const char  *types[] = { "gauge", "gauge", "counter" };

    if (cmcf->store == NULL) {
        return;
    }

    ngx_campaign_store_usage(cmcf->store, &name, &size, &used);

    value[0] = size;
    value[1] = used;
    value[2] = ngx_campaign_store_evictions(cmcf->store);

    for (i = 0; i < 3; i++) {
        f = &ngx_campaign_metrics_families[5 + i];

        ngx_campaign_metrics_family(o, f, types[i]);
        ngx_campaign_out_raw(o, f->name.data, f->name.len);
        ngx_campaign_out_literal(o, "{zone=\"");
        ngx_campaign_metrics_label_value(o, name.data, name.len);
        ngx_campaign_out_literal(o, "\"} ");
        ngx_campaign_out_uint(o, value[i]);
        ngx_campaign_out_literal(o, "\n");
    }
}


static void
ngx_campaign_metrics_family(ngx_campaign_out_t *o, ngx_campaign_family_t *f,
    const char *type)
{
    ngx_campaign_out_literal(o, "# HELP ");
    ngx_campaign_out_raw(o, f->name.data, f->name.len);
    ngx_campaign_out_literal(o, " ");
    ngx_campaign_out_raw(o, f->help.data, f->help.len);
    ngx_campaign_out_literal(o, "\n# TYPE ");
    ngx_campaign_out_raw(o, f->name.data, f->name.len);
    ngx_campaign_out_literal(o, " ");
    ngx_campaign_out_raw(o, (u_char *) type, ngx_strlen(type));
    ngx_campaign_out_literal(o, "\n");
}


/* {campaign="...",channel="..." without the closing brace */

static void
ngx_campaign_metrics_labels(ngx_campaign_out_t *o, ngx_campaign_t *c,
    ngx_uint_t channel)
{
    const char  *name;

    name = ngx_campaign_channel_name(channel);

    ngx_campaign_out_literal(o, "{campaign=\"");
    ngx_campaign_metrics_label_value(o, (u_char *) c->id, ngx_strlen(c->id));
    ngx_campaign_out_literal(o, "\",channel=\"");
    ngx_campaign_out_raw(o, (u_char *) name, ngx_strlen(name));
    ngx_campaign_out_literal(o, "\"");
}


/* a label value escapes "\", '"' and a line feed */

static void
ngx_campaign_metrics_label_value(ngx_campaign_out_t *o, u_char *s,
    size_t len)
{
    u_char  *p, *last, *from;

    from = s;
    last = s + len;

    for (p = s; p < last; p++) {

        if (*p != '\\' && *p != '"' && *p != LF) {
            continue;
        }

        ngx_campaign_out_raw(o, from, p - from);

        if (*p == LF) {
            ngx_campaign_out_literal(o, "\\n");

        } else {
            ngx_campaign_out_literal(o, "\\");
            ngx_campaign_out_raw(o, p, 1);
        }

        from = p + 1;
    }

    ngx_campaign_out_raw(o, from, last - from);
}


/* a campaign's channel, and any other that has counted (before a reload) */

static ngx_uint_t
ngx_campaign_metrics_shown(ngx_campaign_t *c, ngx_uint_t channel)
{
    ngx_campaign_counters_t  *cn;

    if (channel == (ngx_uint_t) c->channel) {
        return 1;
    }

    cn = &((ngx_campaign_metrics_t *) c->metrics)->channels[channel];

    return cn->triggers || cn->gateway.le[NGX_CAMPAIGN_METRICS_BUCKETS]
           || cn->messages[NGX_CAMPAIGN_METRIC_ACCEPTED]
           || cn->messages[NGX_CAMPAIGN_METRIC_FAILED];
}


static void
ngx_campaign_metrics_seconds(ngx_campaign_out_t *o, ngx_atomic_uint_t ms)
{
    u_char  buf[NGX_ATOMIC_T_LEN + 4];

    ngx_campaign_out_raw(o, buf, ngx_sprintf(buf, "%uA.%03uA",
                                             ms / 1000, ms % 1000)
                                 - buf);
}


/*
 * GET campaigns/{id}/report: the same counters as JSON.
 */

ngx_int_t
ngx_campaign_metrics_report(ngx_http_request_t *r, ngx_str_t *id)
{
    ngx_int_t                  rc;
    const char                *name;
    ngx_campaign_t            *c;
    ngx_campaign_out_t         o;
    ngx_campaign_main_conf_t  *cmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_campaign_not_allowed(r, "GET, HEAD");
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_campaign_module);

    c = ngx_campaign_by_id(r, id, &rc);
    if (c == NULL) {
        return rc;
    }

    ngx_campaign_metrics_set_variable(r, NGX_CAMPAIGN_VAR_ID,
                                      (u_char *) c->id, ngx_strlen(c->id));

    if (cmcf->store == NULL) {
        return ngx_campaign_refuse(r, NGX_HTTP_NOT_FOUND,
                                   "no counters are kept without "
                                   "campaign_zone", "",
                                   "campaign_zone is not set");
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    name = ngx_campaign_channel_name(c->channel);

    ngx_campaign_out_init(&o, r->pool, 2048);

    ngx_campaign_out_literal(&o, "{\"campaignId\":");
    ngx_campaign_out_string(&o, (u_char *) c->id, ngx_strlen(c->id));
    ngx_campaign_out_literal(&o, ",\"channel\":\"");
    ngx_campaign_out_raw(&o, (u_char *) name, ngx_strlen(name));
    ngx_campaign_out_literal(&o, "\",\"counters\":");
    ngx_campaign_metrics_json(&o, c);
    ngx_campaign_out_literal(&o, "}");

    return ngx_campaign_send_json(r, NGX_HTTP_OK, NULL, &o);
}


/*
 * A campaign's counters as a JSON object, by channel: null when they are
 * not kept (no campaign_zone, or no room in it).
 */

void
ngx_campaign_metrics_json(ngx_campaign_out_t *o, ngx_campaign_t *c)
{
    ngx_uint_t                ch, k, n;
    const char               *name;
    ngx_campaign_metrics_t   *mt;
    ngx_campaign_counters_t  *cn;

    mt = c->metrics;

    if (mt == NULL) {
        ngx_campaign_out_literal(o, "null");
        return;
    }

    ngx_campaign_out_literal(o, "{");

    n = 0;

    for (ch = 0; ch < NGX_CAMPAIGN_CHANNEL_COUNT; ch++) {

        if (!ngx_campaign_metrics_shown(c, ch)) {
            continue;
        }

        cn = &mt->channels[ch];
        name = ngx_campaign_channel_name(ch);

        if (n++) {
            ngx_campaign_out_literal(o, ",");
        }

        ngx_campaign_out_literal(o, "\"");
        ngx_campaign_out_raw(o, (u_char *) name, ngx_strlen(name));
        ngx_campaign_out_literal(o, "\":{\"triggers\":");
        ngx_campaign_out_uint(o, cn->triggers);
        ngx_campaign_out_literal(o, ",\"recipients\":");
        ngx_campaign_out_uint(o, cn->recipients);
        ngx_campaign_out_literal(o, ",\"messages\":{");

        for (k = 0; k < NGX_CAMPAIGN_METRIC_OUTCOMES; k++) {
            if (k) {
                ngx_campaign_out_literal(o, ",");
            }

            ngx_campaign_out_literal(o, "\"");
            ngx_campaign_out_raw(o, ngx_campaign_metrics_outcomes[k].data,
                                 ngx_campaign_metrics_outcomes[k].len);
            ngx_campaign_out_literal(o, "\":");
            ngx_campaign_out_uint(o, cn->messages[k]);
        }

        ngx_campaign_out_literal(o, "},\"gatewayLatency\":");
        ngx_campaign_metrics_histogram_json(o, &cn->gateway);
        ngx_campaign_out_literal(o, ",\"triggerLatency\":");
        ngx_campaign_metrics_histogram_json(o, &cn->trigger);
        ngx_campaign_out_literal(o, "}");
    }

    ngx_campaign_out_literal(o, "}");
}


/* {"count":N,"sum":seconds,"buckets":{"0.001":N,...,"+Inf":N}} */

static void
ngx_campaign_metrics_histogram_json(ngx_campaign_out_t *o,
    ngx_campaign_histogram_t *h)
{
    ngx_uint_t         k;
    ngx_atomic_uint_t  n;

    ngx_campaign_out_literal(o, "{\"buckets\":{");

    n = 0;

    for (k = 0; k <= NGX_CAMPAIGN_METRICS_BUCKETS; k++) {
        n += h->le[k];

        if (k) {
            ngx_campaign_out_literal(o, ",");
        }

        ngx_campaign_out_literal(o, "\"");
        ngx_campaign_out_raw(o, ngx_campaign_metrics_le[k].data,
                             ngx_campaign_metrics_le[k].len);
        ngx_campaign_out_literal(o, "\":");
        ngx_campaign_out_uint(o, n);
    }

    ngx_campaign_out_literal(o, "},\"count\":");
    ngx_campaign_out_uint(o, n);
    ngx_campaign_out_literal(o, ",\"sum\":");
    ngx_campaign_metrics_seconds(o, h->sum);
    ngx_campaign_out_literal(o, "}");
}


/*
 * Access log variables.  They are "not found" ("-" in a log) until the
 * trigger sets them, in the request's own variables; $campaign_outcome
 * of an API request that nothing set says what its status means.
 */

ngx_int_t
ngx_campaign_metrics_add_variables(ngx_conf_t *cf)
{
    ngx_int_t                  index;
    ngx_uint_t                 i;
    ngx_http_variable_t       *var;
    ngx_campaign_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_campaign_module);

    for (i = 0; i < 4; i++) {
        var = ngx_http_add_variable(cf, &ngx_campaign_log_variables[i], 0);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = ngx_campaign_metrics_variable;
        var->data = i;

        index = ngx_http_get_variable_index(cf,
                                            &ngx_campaign_log_variables[i]);
        if (index == NGX_ERROR) {
            return NGX_ERROR;
        }

        cmcf->log_variables[i] = index;
    }

    return NGX_OK;
}


static void
ngx_campaign_metrics_set_variable(ngx_http_request_t *r, ngx_uint_t n,
    u_char *data, size_t len)
{
    ngx_http_variable_value_t  *v;
    ngx_campaign_main_conf_t   *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_campaign_module);

    v = &r->variables[cmcf->log_variables[n]];

    v->data = data;
    v->len = len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->escape = 0;
}


static void
ngx_campaign_metrics_unset_variable(ngx_http_request_t *r, ngx_uint_t n)
{
    ngx_http_variable_value_t  *v;
    ngx_campaign_main_conf_t   *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_campaign_module);

    v = &r->variables[cmcf->log_variables[n]];

    v->len = 0;
    v->valid = 0;
    v->not_found = 1;
}


static ngx_int_t
ngx_campaign_metrics_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    const char               *outcome;
    ngx_campaign_loc_conf_t  *cplcf;

    cplcf = ngx_http_get_module_loc_conf(r, ngx_http_campaign_module);

    if (data != NGX_CAMPAIGN_VAR_OUTCOME || cplcf == NULL || cplcf->api != 1) {
        v->not_found = 1;
        return NGX_OK;
    }

    switch (r->headers_out.status) {

    case NGX_HTTP_BAD_REQUEST:
    case NGX_HTTP_NOT_ALLOWED:
    case NGX_HTTP_LENGTH_REQUIRED:
    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
    case NGX_HTTP_UNSUPPORTED_MEDIA_TYPE:
        outcome = "invalid";
        break;

    case NGX_HTTP_UNAUTHORIZED:
        outcome = "unauthorized";
        break;

    case NGX_HTTP_FORBIDDEN:
        outcome = "forbidden";
        break;

    case NGX_HTTP_NOT_FOUND:
        outcome = "not_found";
        break;

    case NGX_HTTP_CONFLICT:
        outcome = "inactive";
        break;

    default:

        if (r->headers_out.status < NGX_HTTP_INTERNAL_SERVER_ERROR) {
            v->not_found = 1;
            return NGX_OK;
        }

        outcome = "error";
    }

    v->data = (u_char *) outcome;
    v->len = ngx_strlen(outcome);
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/* audience executions */

static ngx_str_t  ngx_campaign_metrics_audience_states[] = {
    ngx_string("started"),
    ngx_string("succeeded"),
    ngx_string("failed"),
    ngx_string("stopped")
};


/* by NGX_CAMPAIGN_AUDIENCE_OUTCOMES: the status's counters, in order */

static ngx_str_t  ngx_campaign_metrics_audience_outcomes[] = {
    ngx_string("sent"),
    ngx_string("failed"),
    ngx_string("no_consent"),
    ngx_string("suppressed"),
    ngx_string("capped"),
    ngx_string("invalid"),
    ngx_string("no_profile"),
    ngx_string("duplicate"),
    ngx_string("stopped"),
    ngx_string("malformed"),
    ngx_string("timed_out"),
    ngx_string("invalid_address")
};


static ngx_campaign_family_t  ngx_campaign_metrics_audience_families[] = {

    { ngx_string("ngx_campaign_audience_executions_started_total"),
      ngx_string("Audience executions started.") },

    { ngx_string("ngx_campaign_audience_executions_ended_total"),
      ngx_string("Audience executions ended, by status.") },

    { ngx_string("ngx_campaign_audience_executions_running"),
      ngx_string("Audience executions in progress, or in the journal "
                 "to be resumed.") },

    { ngx_string("ngx_campaign_audience_recipients_total"),
      ngx_string("Lines of audience executions by outcome: sent, failed, "
                 "skipped by reason, malformed.") }
};


/*
 * An execution starts (or, after a restart, is resumed from its journal)
 * and is in progress until it ends: the gauge goes up and down with it.
 */

void
ngx_campaign_metrics_audience(ngx_campaign_t *c,
    ngx_campaign_audience_metric_e metric)
{
    ngx_campaign_audience_metrics_t  *mt;

    mt = c->audience_metrics;

    if (mt == NULL) {
        return;
    }

    (void) ngx_atomic_fetch_add(&mt->audience[metric], 1);

    (void) ngx_atomic_fetch_add(&mt->audience_running,
                                metric == NGX_CAMPAIGN_AUDIENCE_STARTED
                                ? 1 : (ngx_atomic_int_t) -1);
}


void
ngx_campaign_metrics_audience_recipients(ngx_campaign_t *c,
    ngx_uint_t *counts)
{
    ngx_uint_t                        i;
    ngx_campaign_audience_metrics_t  *mt;

    mt = c->audience_metrics;

    if (mt == NULL) {
        return;
    }

    for (i = 0; i < NGX_CAMPAIGN_AUDIENCE_OUTCOMES; i++) {
        if (counts[i]) {
            (void) ngx_atomic_fetch_add(&mt->audience_recipients[i],
                                        counts[i]);
        }
    }
}


/* family 0: started, 1: ended by status, 2: running, 3: recipients */

static void
ngx_campaign_metrics_audiences(ngx_campaign_out_t *o,
    ngx_campaign_main_conf_t *cmcf)
{
    ngx_str_t                        *label;
    ngx_uint_t                        i, k, f, first, last;
    ngx_campaign_t                   *c;
    ngx_atomic_int_t                  running;
    ngx_campaign_family_t            *fm;
    ngx_campaign_audience_metrics_t  *mt;

    static const char  *types[] = { "counter", "counter", "gauge",
                                    "counter" };

    /* no family without a series: only marketing campaigns have them */

    for (i = 0; i < cmcf->ncampaigns; i++) {
        c = cmcf->campaigns[i];

        if (c->audience_metrics) {
            break;
        }
    }

    if (i == cmcf->ncampaigns) {
        return;
    }

    for (f = 0; f < 4; f++) {
        fm = &ngx_campaign_metrics_audience_families[f];

        ngx_campaign_metrics_family(o, fm, types[f]);

        first = (f == 1) ? NGX_CAMPAIGN_AUDIENCE_SUCCEEDED : 0;
        last = (f == 1) ? NGX_CAMPAIGN_AUDIENCE_EXECUTIONS
                        : (f == 3) ? NGX_CAMPAIGN_AUDIENCE_OUTCOMES : 1;

        for (i = 0; i < cmcf->ncampaigns; i++) {
            c = cmcf->campaigns[i];
            mt = c->audience_metrics;

            /* a transactional campaign takes no audience execution */

            if (mt == NULL || c->type != NGX_CAMPAIGN_MARKETING) {
                continue;
            }

            for (k = first; k < last; k++) {
                ngx_campaign_out_raw(o, fm->name.data, fm->name.len);
                ngx_campaign_out_literal(o, "{campaign=\"");
                ngx_campaign_metrics_label_value(o, (u_char *) c->id,
                                                 ngx_strlen(c->id));
                ngx_campaign_out_literal(o, "\"");

                if (f == 1 || f == 3) {
                    if (f == 1) {
                        label = &ngx_campaign_metrics_audience_states[k];
                        ngx_campaign_out_literal(o, ",status=\"");

                    } else {
                        label = &ngx_campaign_metrics_audience_outcomes[k];
                        ngx_campaign_out_literal(o, ",outcome=\"");
                    }

                    ngx_campaign_out_raw(o, label->data, label->len);
                    ngx_campaign_out_literal(o, "\"");
                }

                ngx_campaign_out_literal(o, "} ");

                switch (f) {

                case 0:
                case 1:
                    ngx_campaign_out_uint(o, mt->audience[k]);
                    break;

                case 2:
                    running = (ngx_atomic_int_t) mt->audience_running;
                    ngx_campaign_out_uint(o, running > 0 ? running : 0);
                    break;

                default:
                    ngx_campaign_out_uint(o, mt->audience_recipients[k]);
                }

                ngx_campaign_out_literal(o, "\n");
            }
        }
    }
}
