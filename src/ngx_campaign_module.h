
/*
 * Copyright (C) ngx_campaign developers
 */


#ifndef _NGX_CAMPAIGN_MODULE_H_INCLUDED_
#define _NGX_CAMPAIGN_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_campaign_alloc.h"
#include "ngx_campaign_json.h"
#include "ngx_campaign_template.h"
#include "ngx_campaign_definition.h"
#include "ngx_campaign_trigger.h"
#include "ngx_campaign_content.h"
#include "ngx_campaign_limits.h"


#define NGX_CAMPAIGN_EXECUTION_ID_LEN  36     /* a UUID's text */
#define NGX_CAMPAIGN_MAX_RETRY_DELAY   30000  /* ms, whatever the backoff */
#define NGX_CAMPAIGN_STORE_FP_LEN      20     /* a body's length, hash */


typedef struct ngx_campaign_store_s  ngx_campaign_store_t;


/* an answer as the store keeps it, for a replay */

typedef struct {
    ngx_uint_t                   status;
    ngx_uint_t                   problem;     /* application/problem+json */
    ngx_str_t                    body;
    time_t                       retry_after; /* of a running claim */
} ngx_campaign_store_answer_t;


typedef struct {
    ngx_campaign_t             **campaigns;   /* sorted by id */
    ngx_uint_t                   ncampaigns;
    ngx_str_t                    dir;
    ngx_campaign_store_t        *store;       /* campaign_zone */

    /* campaign_metrics, where it was first given; the log variables */
    ngx_str_t                    metrics_file;
    ngx_uint_t                   metrics_line;
    ngx_int_t                    log_variables[4];
    struct ngx_campaign_state_s *state;       /* campaign_state_file */
    struct ngx_campaign_caps_s  *caps;        /* campaign_frequency_rules */
    struct ngx_campaign_consent_s  *consent;  /* suppression, unsubscribe */
    ngx_str_t                    audiences;   /* campaign_audiences DIR */

    /* campaign_journal DIR; the API locations, by name, for its runs */
    ngx_str_t                    journal;
    ngx_array_t                  apis;        /* ngx_campaign_api_loc_t */
    time_t                       schedule_grace;
    time_t                       journal_keep;
    ngx_uint_t                   audience_batches;

    /* campaign_audience_max_duration; 0: none */
    ngx_msec_t                   audience_max_duration;
    ngx_uint_t                   audience_max_running;
    ngx_str_t                    audience_source;  /* a location's URI */

    ngx_array_t                  connectors;  /* ngx_campaign_connector_t * */
} ngx_campaign_main_conf_t;


typedef struct {
    ngx_str_t                    uri;
    ngx_str_t                    args;

    /* or a campaign_connector (connector.c); uri is then "connector=..." */
    struct ngx_campaign_connector_s  *connector;
} ngx_campaign_gateway_t;


typedef struct ngx_campaign_outbox_s  ngx_campaign_outbox_t;


typedef struct ngx_campaign_loc_conf_s {
    ngx_campaign_gateway_t      *gateways;    /* per channel, NULL: none */
    ngx_uint_t                   retries;
    ngx_msec_t                   retry_delay;

    ngx_flag_t                   api;
    off_t                        max_body_size;

    ngx_msec_t                   execution_timeout;
    ngx_uint_t                   concurrency;

    /* the API location's, for executions that no request starts */
    ngx_http_conf_ctx_t         *ctx;

    ngx_flag_t                   idempotency;
    time_t                       idempotency_window;

    ngx_http_complex_value_t    *profile_uri;
    ngx_http_complex_value_t    *profile_args;
    size_t                       profile_max_size;
    ngx_campaign_outbox_t       *outbox;

    struct ngx_campaign_keys_s  *keys;        /* campaign_api_keys */
} ngx_campaign_loc_conf_t;


/* one output buffer that grows from a pool; JSON answers are built in it */

typedef struct {
    u_char                      *start;
    u_char                      *pos;
    u_char                      *end;
    ngx_pool_t                  *pool;
    ngx_uint_t                   failed;      /* an allocation failed */
} ngx_campaign_out_t;


typedef struct ngx_campaign_execution_s  ngx_campaign_execution_t;
typedef struct ngx_campaign_message_s    ngx_campaign_message_t;
typedef struct ngx_campaign_sr_s         ngx_campaign_sr_t;

typedef void (*ngx_campaign_sr_done_pt)(ngx_campaign_sr_t *s);
typedef ngx_int_t (*ngx_campaign_sr_sink_pt)(void *data, u_char *p,
    size_t len);
typedef void (*ngx_campaign_settled_pt)(ngx_campaign_execution_t *e,
    void *data);


/*
 * One subrequest of ours, a profile lookup or a gateway attempt: its
 * completion goes to done() once, with the final status; its answer is
 * dropped, or kept in body when capture is set.
 */

struct ngx_campaign_sr_s {
    ngx_http_request_t          *request;     /* NULL once it is over */
    ngx_campaign_execution_t    *execution;
    ngx_campaign_message_t      *message;
    ngx_campaign_sr_done_pt      done;

    ngx_uint_t                   status;

    /* a captured answer, at most max_size bytes, from its own pool */
    ngx_pool_t                  *pool;
    u_char                      *start;
    u_char                      *pos;
    u_char                      *end;
    size_t                       max_size;

    unsigned                     capture:1;
    unsigned                     abandoned:1; /* its outcome is settled */
    unsigned                     too_large:1;
    unsigned                     unreadable:1;

    /* or each buffer of a 200 answer handed to sink, as it comes */
    ngx_campaign_sr_sink_pt      sink;
    void                        *sink_data;
    off_t                        received;
};


typedef enum {
    NGX_CAMPAIGN_MESSAGE_NEW = 0,         /* parsed, no profile yet */
    NGX_CAMPAIGN_MESSAGE_LOOKUP,          /* its profile is looked up */
    NGX_CAMPAIGN_MESSAGE_READY,           /* rendered, waiting to be sent */
    NGX_CAMPAIGN_MESSAGE_SENDING,         /* an attempt is in flight */
    NGX_CAMPAIGN_MESSAGE_WAITING,         /* waiting to be retried */
    NGX_CAMPAIGN_MESSAGE_DONE             /* settled */
} ngx_campaign_message_state_e;


typedef enum {
    NGX_CAMPAIGN_OUTCOME_NONE = 0,
    NGX_CAMPAIGN_OUTCOME_ACCEPTED,
    NGX_CAMPAIGN_OUTCOME_GATEWAY,         /* the gateway refused or failed */
    NGX_CAMPAIGN_OUTCOME_NO_PROFILE,
    NGX_CAMPAIGN_OUTCOME_LOOKUP,          /* the profile lookup failed */
    NGX_CAMPAIGN_OUTCOME_RENDER,          /* the content could not render */
    NGX_CAMPAIGN_OUTCOME_TIMEOUT,         /* the execution's time ran out */
    NGX_CAMPAIGN_OUTCOME_CAPPED,          /* a frequency rule said no */
    NGX_CAMPAIGN_OUTCOME_NO_CONSENT,      /* the profile's consent is "n" */
    NGX_CAMPAIGN_OUTCOME_SUPPRESSED,      /* its address is suppressed */
    NGX_CAMPAIGN_OUTCOME_INVALID          /* a connector: bad address */
} ngx_campaign_outcome_e;

#define NGX_CAMPAIGN_OUTCOME_LAST  NGX_CAMPAIGN_OUTCOME_INVALID


/* one message: a recipient's rendered payload and its delivery */

struct ngx_campaign_message_s {
    ngx_campaign_execution_t    *execution;
    ngx_campaign_recipient_t    *recipient;   /* NULL once rendered */
    ngx_uint_t                   index;

    /* the recipient's, copied: they outlive the trigger */
    ngx_str_t                    user_id;
    ngx_str_t                    namespace;

    ngx_campaign_message_state_e state;
    ngx_campaign_outcome_e       outcome;

    ngx_str_t                    payload;
    ngx_str_t                    idempotency_key;

    ngx_uint_t                   attempts;
    ngx_uint_t                   status;      /* the gateway's last answer */
    ngx_uint_t                   profile_status;

    ngx_event_t                  retry;
    ngx_campaign_sr_t           *sr;          /* the subrequest in flight */

    ngx_msec_t                   sent;        /* the attempt in flight */
    struct ngx_campaign_cap_hold_s  *cap;     /* frequency caps, caps.c */

    ngx_str_t                    unsubscribe_url;  /* consent.c */

    /* a connector's: what it rendered besides the payload; why it failed */
    void                        *connector_data;
    ngx_str_t                    reason;
};


typedef enum {
    NGX_CAMPAIGN_EXECUTION_PARSED = 0,
    NGX_CAMPAIGN_EXECUTION_LOOKUP,        /* profiles are looked up */
    NGX_CAMPAIGN_EXECUTION_RENDERED,      /* every message is rendered */
    NGX_CAMPAIGN_EXECUTION_SENDING,
    NGX_CAMPAIGN_EXECUTION_SETTLED        /* every outcome is known */
} ngx_campaign_execution_state_e;


/*
 * An execution: one unitary trigger now, one audience run later.  It is
 * owned by the worker, not by a client's request: it has its own pool and
 * its own (fake) connection and request, the main request of its
 * subrequests, so that it goes on when the client leaves and can be
 * started with no client at all.
 */

struct ngx_campaign_execution_s {
    ngx_pool_t                  *pool;
    ngx_log_t                   *log;
    ngx_connection_t            *connection;  /* fd -1, ours */
    ngx_http_request_t          *request;     /* main of our subrequests */

    ngx_campaign_execution_state_e  state;

    ngx_campaign_t              *campaign;
    ngx_campaign_gateway_t      *gateway;

    /*
     * The trigger, parsed, in a pool of its own that goes once every
     * message is rendered: profiles and context can be large, payloads
     * are small.
     */
    ngx_pool_t                  *trigger_pool;
    ngx_campaign_trigger_t       trigger;
    ngx_str_t                    request_id;
    ngx_campaign_loc_conf_t     *conf;

    u_char                       id[NGX_CAMPAIGN_EXECUTION_ID_LEN];
    ngx_str_t                    created_at;
    ngx_msec_t                   started;

    ngx_campaign_message_t      *messages;
    ngx_uint_t                   nmessages;

    ngx_uint_t                   in_flight;   /* subrequests of ours */
    ngx_uint_t                   waiting;     /* messages to be retried */

    /* whose $campaign_user_id a profile URI is being built for */
    ngx_campaign_message_t      *current;

    /* claimed in the store: the answer is kept under it */
    ngx_campaign_store_t        *store;
    ngx_str_t                    store_key;
    void                        *store_record;

    /* who waits for the outcome: the API's answer to a client */
    ngx_campaign_settled_pt      settled;
    void                        *data;

    ngx_event_t                  advance;     /* posted: go on */
    ngx_event_t                  deadline;    /* campaign_execution_timeout */
    ngx_event_t                  linger;      /* closes once subrequests end */

    ngx_queue_t                  queue;       /* the worker's executions */

    ngx_uint_t                   lingered;

    unsigned                     notified:1;
    unsigned                     closing:1;
    unsigned                     timed_out:1;
};


extern ngx_module_t  ngx_http_campaign_module;


void ngx_campaign_pool_alloc(ngx_campaign_alloc_t *a, ngx_pool_t *pool);
ngx_campaign_t *ngx_campaign_find(ngx_campaign_main_conf_t *cmcf,
    u_char *id, size_t len);

ngx_int_t ngx_campaign_api_handler(ngx_http_request_t *r);
ngx_int_t ngx_campaign_outbox_handler(ngx_http_request_t *r);
char *ngx_campaign_outbox_conf(ngx_conf_t *cf, ngx_campaign_outbox_t **outbox);

ngx_campaign_execution_t *ngx_campaign_execution_create(ngx_log_t *log);
ngx_int_t ngx_campaign_execution_messages(ngx_campaign_execution_t *e);
ngx_int_t ngx_campaign_execution_start(ngx_campaign_execution_t *e,
    ngx_http_request_t *client);
void ngx_campaign_execution_destroy(ngx_campaign_execution_t *e);
void ngx_campaign_execution_post(ngx_campaign_execution_t *e);
ngx_campaign_sr_t *ngx_campaign_execution_fetch(ngx_campaign_execution_t *e,
    ngx_str_t *uri, ngx_campaign_sr_done_pt done,
    ngx_campaign_sr_sink_pt sink, void *data);
void ngx_campaign_execution_profile(ngx_campaign_message_t *m,
    ngx_pool_t *pool, cJSON *profile);
void ngx_campaign_execution_settle(ngx_campaign_message_t *m,
    ngx_campaign_outcome_e outcome);
void ngx_campaign_execution_retry(ngx_campaign_message_t *m,
    ngx_msec_t delay);
void ngx_campaign_execution_exit(ngx_cycle_t *cycle);

ngx_int_t ngx_campaign_subrequest_init(ngx_conf_t *cf);
ngx_campaign_sr_t *ngx_campaign_subrequest(ngx_campaign_message_t *m,
    ngx_str_t *uri, ngx_str_t *args, ngx_uint_t method,
    ngx_str_t *method_name, ngx_http_headers_in_t *hi,
    ngx_http_request_body_t *rb, ngx_campaign_sr_done_pt done);
ngx_http_headers_in_t *ngx_campaign_subrequest_headers(
    ngx_campaign_execution_t *e, ngx_uint_t n);
ngx_table_elt_t *ngx_campaign_subrequest_header(ngx_pool_t *pool,
    ngx_http_headers_in_t *hi, char *key, u_char *value, size_t len);
ngx_campaign_message_t *ngx_campaign_subrequest_message(
    ngx_http_request_t *r);
void ngx_campaign_subrequest_release(ngx_campaign_sr_t *s);

ngx_int_t ngx_campaign_dispatch_render(ngx_campaign_message_t *m,
    ngx_pool_t *scratch);
ngx_int_t ngx_campaign_dispatch_send(ngx_campaign_message_t *m);
void ngx_campaign_dispatch_outcome(ngx_campaign_message_t *m,
    ngx_uint_t kind);

ngx_int_t ngx_campaign_profile_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_campaign_profile_lookup(ngx_campaign_message_t *m);
const char *ngx_campaign_outcome_reason(ngx_campaign_message_t *m);

ngx_int_t ngx_campaign_read_body(ngx_http_request_t *r, ngx_str_t *body);

char *ngx_campaign_store_zone(ngx_conf_t *cf, ngx_campaign_store_t **storep);
/*
 * What a unitary answer of n recipients takes, about: a claim makes room
 * for it, so that the answer usually needs no block of its own.
 */
#define NGX_CAMPAIGN_ANSWER_ROOM(n)  (96 + 160 * (n))

ngx_int_t ngx_campaign_store_claim(ngx_campaign_store_t *store,
    ngx_str_t *key, u_char *fingerprint, time_t lease, size_t room,
    ngx_pool_t *pool,
    ngx_campaign_store_answer_t *answer, void **handle, ngx_log_t *log);
void ngx_campaign_store_answer(ngx_campaign_store_t *store, void *handle,
    ngx_str_t *key, time_t window, ngx_campaign_store_answer_t *answer,
    ngx_log_t *log);
void ngx_campaign_store_release(ngx_campaign_store_t *store, ngx_str_t *key);
ngx_int_t ngx_campaign_store_take(ngx_campaign_store_t *store,
    ngx_str_t *key, ngx_uint_t rate, ngx_uint_t burst, ngx_uint_t n,
    ngx_msec_t *wait, ngx_log_t *log);
ngx_uint_t ngx_campaign_store_evictions(ngx_campaign_store_t *store);
void *ngx_campaign_store_counters(ngx_campaign_store_t *store,
    ngx_str_t *key, size_t size, ngx_log_t *log);
void ngx_campaign_store_usage(ngx_campaign_store_t *store, ngx_str_t *name,
    size_t *size, size_t *used);

ngx_int_t ngx_campaign_send_answer(ngx_http_request_t *r,
    ngx_campaign_store_answer_t *answer, ngx_uint_t replayed);
ngx_int_t ngx_campaign_send_in_progress(ngx_http_request_t *r,
    time_t retry_after, const char *pointer);
ngx_int_t ngx_campaign_problem_answer(ngx_http_request_t *r,
    ngx_pool_t *pool, ngx_uint_t status, const char *detail,
    ngx_campaign_problems_t *problems, ngx_campaign_store_answer_t *answer);

void ngx_campaign_out_init(ngx_campaign_out_t *o, ngx_pool_t *pool,
    size_t size);
void ngx_campaign_out_raw(ngx_campaign_out_t *o, const u_char *s, size_t len);
void ngx_campaign_out_string(ngx_campaign_out_t *o, const u_char *s,
    size_t len);
void ngx_campaign_out_uint(ngx_campaign_out_t *o, ngx_uint_t n);
#define ngx_campaign_out_literal(o, s)                                       \
    ngx_campaign_out_raw(o, (u_char *) s, sizeof(s) - 1)

ngx_int_t ngx_campaign_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_campaign_out_t *o);
ngx_int_t ngx_campaign_send_out(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_campaign_out_t *o);
ngx_int_t ngx_campaign_send_problem(ngx_http_request_t *r, ngx_uint_t status,
    const char *detail, ngx_campaign_problems_t *problems);
ngx_int_t ngx_campaign_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *detail, const char *pointer, const char *message);
ngx_int_t ngx_campaign_refuse(ngx_http_request_t *r, ngx_uint_t status,
    const char *detail, const char *pointer, const char *message);
ngx_campaign_t *ngx_campaign_by_id(ngx_http_request_t *r, ngx_str_t *id,
    ngx_int_t *rc);
ngx_campaign_t *ngx_campaign_trigger_campaign(ngx_http_request_t *r,
    ngx_str_t *id, ngx_int_t *answer);
ngx_int_t ngx_campaign_idempotency_key(ngx_http_request_t *r,
    ngx_pool_t *pool, ngx_uint_t audience, const char *campaign,
    ngx_str_t *request_id, ngx_str_t *key);
void ngx_campaign_unitary_fingerprint(ngx_str_t *body, u_char *fp);
ngx_int_t ngx_campaign_not_allowed(ngx_http_request_t *r, const char *allow);
ngx_int_t ngx_campaign_json_content_type(ngx_http_request_t *r);
ngx_uint_t ngx_campaign_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value);

ngx_int_t ngx_campaign_response_init(ngx_conf_t *cf);
ngx_str_t *ngx_campaign_log_escape(ngx_pool_t *pool, u_char *s, size_t len);


/* API keys: what an endpoint asks of the key presented */

#define NGX_CAMPAIGN_SCOPE_TRIGGER    0
#define NGX_CAMPAIGN_SCOPE_PREVIEW    1
#define NGX_CAMPAIGN_SCOPE_READ       2
#define NGX_CAMPAIGN_SCOPE_STOP       3
#define NGX_CAMPAIGN_SCOPE_KEY        4       /* any known key */
#define NGX_CAMPAIGN_SCOPE_OPEN       5       /* no key: health */

typedef struct ngx_campaign_keys_s  ngx_campaign_keys_t;

char *ngx_campaign_keys_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_campaign_keys_check(ngx_http_request_t *r, ngx_uint_t scope,
    ngx_str_t *id, ngx_int_t *answer);
ngx_array_t *ngx_campaign_keys_patterns(ngx_http_request_t *r,
    ngx_uint_t scope);
ngx_uint_t ngx_campaign_keys_match(ngx_array_t *patterns, ngx_str_t *id);


/* the stop switch, kept in the zone and in campaign_state_file */

typedef struct {
    ngx_uint_t                   value;
    time_t                       since;       /* when it got the value */
} ngx_campaign_store_flag_t;

typedef struct ngx_campaign_state_s  ngx_campaign_state_t;

ngx_int_t ngx_campaign_store_set_flag(ngx_campaign_store_t *store,
    ngx_str_t *key, ngx_campaign_store_flag_t *flag, ngx_uint_t keep,
    ngx_log_t *log);
ngx_atomic_uint_t ngx_campaign_store_flags_set(ngx_campaign_store_t *store);
ngx_int_t ngx_campaign_store_get_flag(ngx_campaign_store_t *store,
    ngx_str_t *key, ngx_campaign_store_flag_t *flag);

char *ngx_campaign_state_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_campaign_state_init(ngx_conf_t *cf);
ngx_int_t ngx_campaign_state_seed(ngx_cycle_t *cycle);
ngx_int_t ngx_campaign_stopped(ngx_http_request_t *r, ngx_campaign_t *c,
    ngx_int_t *answer);
ngx_int_t ngx_campaign_campaigns(ngx_http_request_t *r, ngx_str_t *id);
ngx_int_t ngx_campaign_switch(ngx_http_request_t *r, ngx_str_t *id,
    ngx_uint_t stop);
ngx_int_t ngx_campaign_send_stopped(ngx_http_request_t *r,
    const char *message);


/*
 * Metrics (ngx_campaign_metrics.c): per campaign and channel counters in
 * campaign_zone, served by campaign_metrics and campaigns/{id}/report.
 * What happened to a recipient's message, whoever decides it:
 */

typedef enum {
    NGX_CAMPAIGN_METRIC_ACCEPTED = 0,     /* the gateway accepted it */
    NGX_CAMPAIGN_METRIC_FAILED,           /* settled, not accepted */
    NGX_CAMPAIGN_METRIC_RETRIED,          /* an attempt, to be retried */
    NGX_CAMPAIGN_METRIC_REPLAYED,         /* its trigger was a replay */
    NGX_CAMPAIGN_METRIC_THROTTLED,        /* its trigger got 429 */
    NGX_CAMPAIGN_METRIC_CAPPED,           /* a frequency cap held it */
    NGX_CAMPAIGN_METRIC_STOPPED,          /* its campaign is stopped */
    NGX_CAMPAIGN_METRIC_NO_CONSENT,       /* its profile did not consent */
    NGX_CAMPAIGN_METRIC_SUPPRESSED,       /* its address is suppressed */
    NGX_CAMPAIGN_METRIC_INVALID,          /* a connector: bad address */
    NGX_CAMPAIGN_METRIC_OUTCOMES
} ngx_campaign_metric_e;

ngx_int_t ngx_campaign_metrics_add_variables(ngx_conf_t *cf);
char *ngx_campaign_metrics_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_campaign_metrics_check(ngx_conf_t *cf);
ngx_int_t ngx_campaign_metrics_init(ngx_cycle_t *cycle);

void ngx_campaign_metrics_count(ngx_campaign_t *c,
    ngx_campaign_metric_e metric, ngx_uint_t n);
void ngx_campaign_metrics_message(ngx_campaign_message_t *m,
    ngx_campaign_outcome_e outcome);
void ngx_campaign_metrics_gateway(ngx_campaign_message_t *m);

void ngx_campaign_metrics_trigger(ngx_http_request_t *r,
    ngx_campaign_execution_t *e);
void ngx_campaign_metrics_answered(ngx_http_request_t *r,
    ngx_campaign_execution_t *e, ngx_campaign_metric_e metric,
    ngx_campaign_store_answer_t *answer);
void ngx_campaign_metrics_settled(ngx_http_request_t *r,
    ngx_campaign_execution_t *e);
void ngx_campaign_metrics_outcome(ngx_http_request_t *r,
    ngx_campaign_execution_t *e, const char *outcome);

ngx_int_t ngx_campaign_metrics_report(ngx_http_request_t *r, ngx_str_t *id);
void ngx_campaign_metrics_json(ngx_campaign_out_t *o, ngx_campaign_t *c);


/* frequency caps: counts in a window, in the zone */

#define NGX_CAMPAIGN_STORE_COUNT_MAX  32      /* counts per step */

typedef struct {
    ngx_str_t                    key;
    ngx_uint_t                   max;
    time_t                       expires;     /* the window's end */
} ngx_campaign_store_count_t;

ngx_int_t ngx_campaign_store_count(ngx_campaign_store_t *store,
    ngx_campaign_store_count_t *counts, ngx_uint_t n, ngx_uint_t *full,
    ngx_log_t *log);
void ngx_campaign_store_count_settle(ngx_campaign_store_t *store,
    ngx_campaign_store_count_t *counts, ngx_uint_t n, ngx_uint_t commit);

typedef struct ngx_campaign_caps_s      ngx_campaign_caps_t;
typedef struct ngx_campaign_cap_hold_s  ngx_campaign_cap_hold_t;

char *ngx_campaign_caps_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_campaign_caps_init(ngx_conf_t *cf);
ngx_int_t ngx_campaign_caps_reserve(ngx_http_request_t *r,
    ngx_campaign_execution_t *e);
void ngx_campaign_caps_settle(ngx_campaign_message_t *m);
const char *ngx_campaign_caps_reason(ngx_campaign_message_t *m);


/* consent and suppression lists, one-click unsubscribes (consent.c) */

typedef struct ngx_campaign_consent_s  ngx_campaign_consent_t;

ngx_int_t ngx_campaign_store_suppress(ngx_campaign_store_t *store,
    ngx_str_t *key, ngx_log_t *log);
ngx_uint_t ngx_campaign_store_suppressed(ngx_campaign_store_t *store,
    ngx_str_t *key);
ngx_int_t ngx_campaign_store_suppressions(ngx_campaign_store_t *store,
    ngx_pool_t *pool, ngx_array_t *keys);

char *ngx_campaign_suppression_list(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_campaign_unsubscribe_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_campaign_unsubscribe_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_campaign_unsubscribe_url(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_campaign_unsubscribe_expiry(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_campaign_unsubscribe(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_campaign_consent_init(ngx_conf_t *cf);
ngx_int_t ngx_campaign_consent_seed(ngx_cycle_t *cycle);
ngx_campaign_outcome_e ngx_campaign_consent_check(ngx_campaign_message_t *m);
ngx_campaign_outcome_e ngx_campaign_consent_held(
    ngx_campaign_main_conf_t *cmcf, ngx_campaign_t *c,
    ngx_campaign_recipient_t *rcp, ngx_str_t *address);
#define NGX_CAMPAIGN_CONSENT_ADDRESS_MAX  254
void ngx_campaign_consent_done(ngx_campaign_message_t *m);


/* audience executions: a JSON Lines audience fanned out (fanout.c) */

void ngx_campaign_execution_id(u_char *id);
ngx_uint_t ngx_campaign_state_stopped(ngx_campaign_main_conf_t *cmcf,
    ngx_campaign_t *c);
void *ngx_campaign_store_counters_find(ngx_campaign_store_t *store,
    ngx_str_t *key, size_t size);

char *ngx_campaign_audiences_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_campaign_audience_source_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_campaign_fanout_body(ngx_http_request_t *r);
ngx_int_t ngx_campaign_fanout_status(ngx_http_request_t *r, ngx_str_t *id);
void ngx_campaign_fanout_exit(ngx_cycle_t *cycle);


/* the journal of audience executions (journal.c) */

typedef struct {
    ngx_str_t                    name;        /* the location's prefix */
    ngx_campaign_loc_conf_t     *conf;
} ngx_campaign_api_loc_t;

char *ngx_campaign_journal_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_campaign_journal_check(ngx_conf_t *cf);
ngx_int_t ngx_campaign_journal_write(ngx_str_t *dir, u_char *name,
    u_char *data, size_t len, ngx_log_t *log);
ngx_int_t ngx_campaign_journal_read(ngx_str_t *dir, u_char *name,
    ngx_pool_t *pool, ngx_str_t *data, ngx_log_t *log);
void ngx_campaign_journal_remove(ngx_str_t *dir, u_char *name,
    ngx_log_t *log);
ngx_int_t ngx_campaign_journal_init_process(ngx_cycle_t *cycle);
ngx_uint_t ngx_campaign_journal_alive(ngx_pid_t pid);

ngx_int_t ngx_campaign_fanout_resume(ngx_campaign_main_conf_t *cmcf,
    u_char *id);


/* an audience call, as a schedule keeps it and starts it (schedule.c) */

typedef struct {
    ngx_str_t                    campaign_id;
    ngx_str_t                    audience_id;
    ngx_str_t                    request_id;
    ngx_str_t                    api;
    ngx_str_t                    context;     /* JSON text, or empty */
    uint64_t                     execute_at;  /* ms since the epoch */
} ngx_campaign_fanout_call_t;

ngx_int_t ngx_campaign_fanout_start(ngx_campaign_main_conf_t *cmcf,
    ngx_campaign_fanout_call_t *call, u_char *id, ngx_str_t *reason);
ngx_int_t ngx_campaign_fanout_print(ngx_pool_t *pool, cJSON *v,
    ngx_str_t *text);
void ngx_campaign_out_ms_time(ngx_campaign_out_t *o, uint64_t ms);

ngx_int_t ngx_campaign_schedule_time(u_char *p, size_t len, uint64_t *ms);
ngx_int_t ngx_campaign_schedule_create(ngx_http_request_t *r,
    ngx_campaign_fanout_call_t *call, ngx_campaign_out_t *o);
ngx_int_t ngx_campaign_schedule_handler(ngx_http_request_t *r,
    ngx_str_t *id);
void ngx_campaign_schedule_due(ngx_campaign_main_conf_t *cmcf,
    ngx_log_t *log);
void ngx_campaign_fanout_beat(void);
ngx_uint_t ngx_campaign_fanout_running(u_char *id);
ngx_int_t ngx_campaign_fanout_take(ngx_campaign_main_conf_t *cmcf,
    u_char *id);


/*
 * Audience executions' metrics (metrics.c), per campaign: executions by
 * what became of them, those in progress, and their recipients by
 * outcome, in the order of the status's counters: sent, failed, the
 * skipped reasons, malformed lines, timed_out.
 */

typedef enum {
    NGX_CAMPAIGN_AUDIENCE_STARTED = 0,
    NGX_CAMPAIGN_AUDIENCE_SUCCEEDED,
    NGX_CAMPAIGN_AUDIENCE_FAILED,
    NGX_CAMPAIGN_AUDIENCE_STOPPED,
    NGX_CAMPAIGN_AUDIENCE_EXECUTIONS
} ngx_campaign_audience_metric_e;

#define NGX_CAMPAIGN_AUDIENCE_OUTCOMES  12

void ngx_campaign_metrics_audience(ngx_campaign_t *c,
    ngx_campaign_audience_metric_e metric);
void ngx_campaign_metrics_audience_recipients(ngx_campaign_t *c,
    ngx_uint_t *counts);


/* files the workers write, checked at configuration time (files.c) */

void ngx_campaign_files_check(ngx_cycle_t *cycle, const char *directive,
    ngx_str_t *file, ngx_str_t *dir, ngx_str_t *lock, const char *loss);


#endif /* _NGX_CAMPAIGN_MODULE_H_INCLUDED_ */
