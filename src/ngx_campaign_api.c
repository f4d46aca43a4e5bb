
/*
 * Copyright (C) ngx_campaign developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_campaign_module.h"


/*
 * The API under the location that carries "campaign_api": AJO's
 * "executions/unitary" and "health".
 */


static ngx_uint_t ngx_campaign_api_endpoint(ngx_http_request_t *r,
    ngx_str_t *id);
static ngx_uint_t ngx_campaign_api_campaign_endpoint(ngx_str_t *path,
    ngx_str_t *id);
static ngx_int_t ngx_campaign_health(ngx_http_request_t *r);
static ngx_int_t ngx_campaign_read_json(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt handler);
static ngx_int_t ngx_campaign_preview(ngx_http_request_t *r,
    ngx_str_t *id);
static void ngx_campaign_preview_body(ngx_http_request_t *r);
static ngx_int_t ngx_campaign_preview_run(ngx_http_request_t *r);
static ngx_int_t ngx_campaign_unitary(ngx_http_request_t *r);
static void ngx_campaign_unitary_body(ngx_http_request_t *r);
static ngx_int_t ngx_campaign_unitary_run(ngx_http_request_t *r);
static ngx_int_t ngx_campaign_unitary_check(ngx_http_request_t *r,
    ngx_campaign_execution_t *e, ngx_str_t *body, ngx_int_t *answer);
static const char *ngx_campaign_inactive(ngx_campaign_t *c, u_char *buf,
    size_t size);
static void ngx_campaign_unitary_client_gone(void *data);
static void ngx_campaign_unitary_settled(ngx_campaign_execution_t *e,
    void *data);
static ngx_int_t ngx_campaign_unitary_claim(ngx_http_request_t *r,
    ngx_campaign_execution_t *e, ngx_str_t *body, ngx_int_t *answer);
static ngx_int_t ngx_campaign_unitary_throttle(ngx_http_request_t *r,
    ngx_campaign_execution_t *e, ngx_int_t *answer);
static ngx_int_t ngx_campaign_unitary_key(ngx_http_request_t *r,
    ngx_campaign_execution_t *e, ngx_str_t *key);
static uint64_t ngx_campaign_unitary_mix(uint64_t x);
static ngx_int_t ngx_campaign_unitary_outcome(ngx_campaign_execution_t *e,
    ngx_campaign_store_answer_t *answer, const char **detail);


/* a client waiting for an execution's outcome */

typedef struct {
    ngx_http_request_t          *request;
    ngx_campaign_execution_t    *execution;
} ngx_campaign_waiter_t;


#define NGX_CAMPAIGN_ENDPOINT_NONE      0
#define NGX_CAMPAIGN_ENDPOINT_HEALTH    1
#define NGX_CAMPAIGN_ENDPOINT_UNITARY   2
#define NGX_CAMPAIGN_ENDPOINT_PREVIEW   3
#define NGX_CAMPAIGN_ENDPOINT_LIST      4
#define NGX_CAMPAIGN_ENDPOINT_CAMPAIGN  5
#define NGX_CAMPAIGN_ENDPOINT_STOP      6
#define NGX_CAMPAIGN_ENDPOINT_RESUME    7
#define NGX_CAMPAIGN_ENDPOINT_REPORT    8
#define NGX_CAMPAIGN_ENDPOINT_AUDIENCE  9
#define NGX_CAMPAIGN_ENDPOINT_AUDIENCE_STATUS  10
#define NGX_CAMPAIGN_ENDPOINT_SCHEDULES 11
#define NGX_CAMPAIGN_ENDPOINT_SCHEDULE  12


/* what an API key must grant, by endpoint (campaign_api_keys) */

static ngx_uint_t  ngx_campaign_api_scopes[] = {
    NGX_CAMPAIGN_SCOPE_KEY,                /* none: no probing without one */
    NGX_CAMPAIGN_SCOPE_OPEN,               /* health */
    NGX_CAMPAIGN_SCOPE_TRIGGER,            /* unitary: and its campaign's */
    NGX_CAMPAIGN_SCOPE_PREVIEW,
    NGX_CAMPAIGN_SCOPE_READ,               /* list: shows the key's only */
    NGX_CAMPAIGN_SCOPE_READ,
    NGX_CAMPAIGN_SCOPE_STOP,
    NGX_CAMPAIGN_SCOPE_STOP,
    NGX_CAMPAIGN_SCOPE_READ,               /* report */
    NGX_CAMPAIGN_SCOPE_TRIGGER,            /* audience: and its campaign's */
    NGX_CAMPAIGN_SCOPE_READ,               /* audience execution's status */
    NGX_CAMPAIGN_SCOPE_READ,               /* schedules: the key's only */
    NGX_CAMPAIGN_SCOPE_KEY                 /* a schedule: its campaign's */
};


static ngx_str_t  ngx_campaign_health_path = ngx_string("health");
static ngx_str_t  ngx_campaign_campaigns_path = ngx_string("campaigns/");
static ngx_str_t  ngx_campaign_preview_path = ngx_string("/preview");
static ngx_str_t  ngx_campaign_unitary_path =
    ngx_string("executions/unitary");
static ngx_str_t  ngx_campaign_audience_path =
    ngx_string("executions/audience");
static ngx_str_t  ngx_campaign_schedules_path =
    ngx_string("executions/schedules");


ngx_int_t
ngx_campaign_api_handler(ngx_http_request_t *r)
{
    ngx_int_t   rc;
    ngx_str_t   id;
    ngx_uint_t  endpoint;

    endpoint = ngx_campaign_api_endpoint(r, &id);

    if (ngx_campaign_keys_check(r, ngx_campaign_api_scopes[endpoint],
                                endpoint == NGX_CAMPAIGN_ENDPOINT_PREVIEW
                                || (endpoint >= NGX_CAMPAIGN_ENDPOINT_CAMPAIGN
                                    && endpoint
                                       <= NGX_CAMPAIGN_ENDPOINT_REPORT)
                                ? &id : NULL, &rc)
        != NGX_OK)
    {
        return rc;
    }

    switch (endpoint) {

    case NGX_CAMPAIGN_ENDPOINT_HEALTH:
        return ngx_campaign_health(r);

    case NGX_CAMPAIGN_ENDPOINT_UNITARY:
        return ngx_campaign_unitary(r);

    case NGX_CAMPAIGN_ENDPOINT_PREVIEW:
        return ngx_campaign_preview(r, &id);

    case NGX_CAMPAIGN_ENDPOINT_LIST:
        return ngx_campaign_campaigns(r, NULL);

    case NGX_CAMPAIGN_ENDPOINT_CAMPAIGN:
        return ngx_campaign_campaigns(r, &id);

    case NGX_CAMPAIGN_ENDPOINT_STOP:
        return ngx_campaign_switch(r, &id, 1);

    case NGX_CAMPAIGN_ENDPOINT_RESUME:
        return ngx_campaign_switch(r, &id, 0);

    case NGX_CAMPAIGN_ENDPOINT_REPORT:
        return ngx_campaign_metrics_report(r, &id);

    case NGX_CAMPAIGN_ENDPOINT_AUDIENCE:
        if (r->method != NGX_HTTP_POST) {
            return ngx_campaign_not_allowed(r, "POST");
        }

        return ngx_campaign_read_json(r, ngx_campaign_fanout_body);

    case NGX_CAMPAIGN_ENDPOINT_AUDIENCE_STATUS:
        return ngx_campaign_fanout_status(r, &id);

    case NGX_CAMPAIGN_ENDPOINT_SCHEDULES:
        return ngx_campaign_schedule_handler(r, NULL);

    case NGX_CAMPAIGN_ENDPOINT_SCHEDULE:
        return ngx_campaign_schedule_handler(r, &id);

    default:
        return ngx_campaign_refuse(r, NGX_HTTP_NOT_FOUND, "no such endpoint",
                                   "", "");
    }
}


/*
 * The endpoint is the rest of the URI after the location's prefix; id is
 * the campaign's id of campaigns/{id}/...
 */

static ngx_uint_t
ngx_campaign_api_endpoint(ngx_http_request_t *r, ngx_str_t *id)
{
    ngx_str_t                  path;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    path = r->uri;

    if (path.len >= clcf->name.len
        && ngx_strncmp(path.data, clcf->name.data, clcf->name.len) == 0)
    {
        path.data += clcf->name.len;
        path.len -= clcf->name.len;

        /* "location /ajo/im" is not "/ajo/imhealth" */

        if (clcf->name.len && clcf->name.data[clcf->name.len - 1] != '/') {
            if (path.len == 0 || path.data[0] != '/') {
                return NGX_CAMPAIGN_ENDPOINT_NONE;
            }

            path.data++;
            path.len--;
        }
    }

    if (path.len == ngx_campaign_health_path.len
        && ngx_strncmp(path.data, ngx_campaign_health_path.data,
                       path.len) == 0)
    {
        return NGX_CAMPAIGN_ENDPOINT_HEALTH;
    }

    if (path.len == ngx_campaign_unitary_path.len
        && ngx_strncmp(path.data, ngx_campaign_unitary_path.data,
                       path.len) == 0)
    {
        return NGX_CAMPAIGN_ENDPOINT_UNITARY;
    }

    /* executions/audience, executions/audience/{executionId} */

    if (path.len >= ngx_campaign_audience_path.len
        && ngx_strncmp(path.data, ngx_campaign_audience_path.data,
                       ngx_campaign_audience_path.len) == 0)
    {
        if (path.len == ngx_campaign_audience_path.len) {
            return NGX_CAMPAIGN_ENDPOINT_AUDIENCE;
        }

        if (path.len > ngx_campaign_audience_path.len + 1
            && path.data[ngx_campaign_audience_path.len] == '/')
        {
            id->data = path.data + ngx_campaign_audience_path.len + 1;
            id->len = path.len - ngx_campaign_audience_path.len - 1;

            return NGX_CAMPAIGN_ENDPOINT_AUDIENCE_STATUS;
        }

        return NGX_CAMPAIGN_ENDPOINT_NONE;
    }

    /* executions/schedules, executions/schedules/{scheduleId} */

    if (path.len >= ngx_campaign_schedules_path.len
        && ngx_strncmp(path.data, ngx_campaign_schedules_path.data,
                       ngx_campaign_schedules_path.len) == 0)
    {
        if (path.len == ngx_campaign_schedules_path.len) {
            return NGX_CAMPAIGN_ENDPOINT_SCHEDULES;
        }

        if (path.len > ngx_campaign_schedules_path.len + 1
            && path.data[ngx_campaign_schedules_path.len] == '/')
        {
            id->data = path.data + ngx_campaign_schedules_path.len + 1;
            id->len = path.len - ngx_campaign_schedules_path.len - 1;

            return NGX_CAMPAIGN_ENDPOINT_SCHEDULE;
        }

        return NGX_CAMPAIGN_ENDPOINT_NONE;
    }

    /* campaigns/{id}/preview */

    if (path.len > ngx_campaign_campaigns_path.len
                   + ngx_campaign_preview_path.len
        && ngx_strncmp(path.data, ngx_campaign_campaigns_path.data,
                       ngx_campaign_campaigns_path.len) == 0
        && ngx_strncmp(path.data + path.len - ngx_campaign_preview_path.len,
                       ngx_campaign_preview_path.data,
                       ngx_campaign_preview_path.len) == 0)
    {
        id->data = path.data + ngx_campaign_campaigns_path.len;
        id->len = path.len - ngx_campaign_campaigns_path.len
                  - ngx_campaign_preview_path.len;

        return NGX_CAMPAIGN_ENDPOINT_PREVIEW;
    }

    return ngx_campaign_api_campaign_endpoint(&path, id);
}


/*
 * campaigns, campaigns/{id}, campaigns/{id}/stop, campaigns/{id}/resume
 * and campaigns/{id}/report
 */

static ngx_uint_t
ngx_campaign_api_campaign_endpoint(ngx_str_t *path, ngx_str_t *id)
{
    u_char      *slash, *last;
    ngx_str_t    rest;
    ngx_uint_t   endpoint;

    if (path->len == ngx_campaign_campaigns_path.len - 1
        && ngx_strncmp(path->data, ngx_campaign_campaigns_path.data,
                       path->len) == 0)
    {
        return NGX_CAMPAIGN_ENDPOINT_LIST;
    }

    if (path->len <= ngx_campaign_campaigns_path.len
        || ngx_strncmp(path->data, ngx_campaign_campaigns_path.data,
                       ngx_campaign_campaigns_path.len) != 0)
    {
        return NGX_CAMPAIGN_ENDPOINT_NONE;
    }

    rest.data = path->data + ngx_campaign_campaigns_path.len;
    rest.len = path->len - ngx_campaign_campaigns_path.len;
    last = rest.data + rest.len;

    slash = ngx_strlchr(rest.data, last, '/');

    if (slash == NULL) {
        *id = rest;
        return NGX_CAMPAIGN_ENDPOINT_CAMPAIGN;
    }

    if (last - slash == sizeof("/stop") - 1
        && ngx_strncmp(slash, "/stop", sizeof("/stop") - 1) == 0)
    {
        endpoint = NGX_CAMPAIGN_ENDPOINT_STOP;

    } else if (last - slash == sizeof("/report") - 1
               && ngx_strncmp(slash, "/report", sizeof("/report") - 1) == 0)
    {
        endpoint = NGX_CAMPAIGN_ENDPOINT_REPORT;

    } else if (last - slash == sizeof("/resume") - 1
               && ngx_strncmp(slash, "/resume", sizeof("/resume") - 1) == 0)
    {
        endpoint = NGX_CAMPAIGN_ENDPOINT_RESUME;

    } else {
        return NGX_CAMPAIGN_ENDPOINT_NONE;
    }

    if (slash == rest.data) {
        return NGX_CAMPAIGN_ENDPOINT_NONE;
    }

    id->data = rest.data;
    id->len = slash - rest.data;

    return endpoint;
}


static ngx_int_t
ngx_campaign_health(ngx_http_request_t *r)
{
    ngx_campaign_out_t         o;
    ngx_campaign_main_conf_t  *cmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_campaign_not_allowed(r, "GET, HEAD");
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_campaign_module);

    ngx_campaign_out_init(&o, r->pool, 64);
    ngx_campaign_out_literal(&o, "{\"status\":\"UP\",\"campaigns\":");
    ngx_campaign_out_uint(&o, cmcf->ncampaigns);
    ngx_campaign_out_literal(&o, "}");

    return ngx_campaign_send_json(r, NGX_HTTP_OK, NULL, &o);
}


static ngx_int_t
ngx_campaign_unitary(ngx_http_request_t *r)
{
    if (r->method != NGX_HTTP_POST) {
        return ngx_campaign_not_allowed(r, "POST");
    }

    return ngx_campaign_read_json(r, ngx_campaign_unitary_body);
}


/*
 * The checks a JSON body passes before it is read, then the read.
 */

static ngx_int_t
ngx_campaign_read_json(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt handler)
{
    ngx_int_t                 rc;
    ngx_campaign_loc_conf_t  *cplcf;

    if (ngx_campaign_json_content_type(r) != NGX_OK) {
        return ngx_campaign_refuse(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                   "the body must be JSON "
                                   "(Content-Type: application/json)",
                                   "", "unsupported Content-Type");
    }

    cplcf = ngx_http_get_module_loc_conf(r, ngx_http_campaign_module);

    /* HTTP/2 and HTTP/3 bodies without a length are "chunked" too */

    if (r->headers_in.chunked) {
        /* a body of unknown length could not be bounded while it is read */

        return ngx_campaign_refuse(r, NGX_HTTP_LENGTH_REQUIRED,
                                   "a Content-Length is required", "",
                                   "the body has no Content-Length");
    }

    /* read into memory whole: bounded even where client_max_body_size is 0 */

    if (r->headers_in.content_length_n > cplcf->max_body_size) {
        return ngx_campaign_refuse(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                   "the body exceeds "
                                   "campaign_api_max_body_size",
                                   "", "request body too large");
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_campaign_preview(ngx_http_request_t *r, ngx_str_t *id)
{
    ngx_int_t  rc;

    if (r->method != NGX_HTTP_POST) {
        return ngx_campaign_not_allowed(r, "POST");
    }

    if (ngx_campaign_by_id(r, id, &rc) == NULL) {
        return rc;
    }

    return ngx_campaign_read_json(r, ngx_campaign_preview_body);
}


static void
ngx_campaign_preview_body(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_campaign_preview_run(r));
}


/*
 * What every field of the campaign renders to for this profile and
 * context, in the language they choose; nothing is sent.  Any status
 * of the campaign can be previewed: drafts are what previews are for.
 */

static ngx_int_t
ngx_campaign_preview_run(ngx_http_request_t *r)
{
    int                       rc;
    size_t                    len;
    cJSON                    *data;
    u_char                   *json;
    ngx_str_t                 body, id;
    ngx_campaign_t           *c;
    ngx_campaign_out_t        o;
    ngx_campaign_alloc_t      a;
    ngx_campaign_problems_t   problems;
    ngx_campaign_main_conf_t *cmcf;

    if (r->connection->error) {
        return NGX_HTTP_CLIENT_CLOSED_REQUEST;
    }

    /* found before the body was read: the configuration is the same */

    (void) ngx_campaign_api_endpoint(r, &id);

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_campaign_module);
    c = ngx_campaign_find(cmcf, id.data, id.len);

    if (ngx_campaign_read_body(r, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_campaign_pool_alloc(&a, r->pool);
    ngx_memzero(&problems, sizeof(ngx_campaign_problems_t));

    rc = ngx_campaign_trigger_parse_preview(&a, body.data, body.len, &data,
                                            &problems);
    if (rc == -2) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != 0) {
        return ngx_campaign_send_problem(r, NGX_HTTP_BAD_REQUEST,
                                         "the request is invalid",
                                         &problems);
    }

    if (ngx_campaign_content_preview(&a, c, data, &json, &len) != 0) {
        return ngx_campaign_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       "the content could not be rendered",
                                       "", "");
    }

    o.start = json;
    o.pos = json + len;
    o.end = o.pos;
    o.pool = r->pool;
    o.failed = 0;

    return ngx_campaign_send_json(r, NGX_HTTP_OK, NULL, &o);
}


static void
ngx_campaign_unitary_body(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    rc = ngx_campaign_unitary_run(r);

    if (rc == NGX_DONE) {
        return;
    }

    ngx_http_finalize_request(r, rc);
}


/*
 * The checks a trigger passes, every problem in one answer; then the
 * execution starts and the client waits for its outcome, unless it
 * leaves: the execution goes on without it.
 */

static ngx_int_t
ngx_campaign_unitary_run(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_str_t                  body;
    ngx_http_cleanup_t        *cln;
    ngx_campaign_waiter_t     *w;
    ngx_campaign_execution_t  *e;

    if (r->connection->error) {
        return NGX_HTTP_CLIENT_CLOSED_REQUEST;
    }

    if (ngx_campaign_read_body(r, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (body.len == 0) {
        return ngx_campaign_send_error(r, NGX_HTTP_BAD_REQUEST,
                                       "the request body is empty", "",
                                       "a JSON object is required");
    }

    e = ngx_campaign_execution_create(r->connection->log);
    if (e == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* while it is checked, a refusal's log line names its requestId */

    ngx_http_set_ctx(r, e, ngx_http_campaign_module);

    if (ngx_campaign_unitary_check(r, e, &body, &rc) != NGX_OK) {
        ngx_http_set_ctx(r, NULL, ngx_http_campaign_module);
        ngx_campaign_execution_destroy(e);
        return rc;
    }

    /*
     * a stopped campaign's trigger is refused once it is found good, and
     * before it is claimed: it is not kept, nor does it take tokens
     */

    ngx_campaign_metrics_trigger(r, e);

    if (ngx_campaign_stopped(r, e->campaign, &rc) != NGX_OK) {
        ngx_campaign_metrics_answered(r, e, NGX_CAMPAIGN_METRIC_STOPPED,
                                      NULL);
        ngx_http_set_ctx(r, NULL, ngx_http_campaign_module);
        ngx_campaign_execution_destroy(e);
        return rc;
    }

    ngx_http_set_ctx(r, NULL, ngx_http_campaign_module);

    /* a repeat is answered as the first was, or refused */

    if (ngx_campaign_unitary_claim(r, e, &body, &rc) != NGX_OK) {
        ngx_campaign_execution_destroy(e);
        return rc;
    }

    /* capped recipients are answered, not sent (frequency rules) */

    if (ngx_campaign_caps_reserve(r, e) != NGX_OK) {
        if (e->store) {
            ngx_campaign_store_release(e->store, &e->store_key);
        }

        ngx_campaign_execution_destroy(e);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a throttled trigger is not kept: it may be sent again */

    if (ngx_campaign_unitary_throttle(r, e, &rc) != NGX_OK) {
        if (e->store) {
            ngx_campaign_store_release(e->store, &e->store_key);
        }

        ngx_campaign_execution_destroy(e);
        return rc;
    }

    w = ngx_palloc(r->pool, sizeof(ngx_campaign_waiter_t));
    cln = ngx_http_cleanup_add(r, 0);

    if (w == NULL || cln == NULL) {
        if (e->store) {
            ngx_campaign_store_release(e->store, &e->store_key);
        }

        ngx_campaign_execution_destroy(e);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w->request = r;
    w->execution = e;

    cln->handler = ngx_campaign_unitary_client_gone;
    cln->data = w;

    e->settled = ngx_campaign_unitary_settled;
    e->data = w;

    /* a client that leaves is noticed, and let go */

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    if (ngx_campaign_execution_start(e, r) != NGX_OK) {
        w->execution = NULL;

        if (e->store) {
            ngx_campaign_store_release(e->store, &e->store_key);
        }

        ngx_campaign_execution_destroy(e);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the answer may be sent already, if every message has settled */

    return NGX_DONE;
}


/*
 * NGX_OK when the trigger is good and e holds it; NGX_DECLINED when it is
 * refused, with what the refusal's answer returned in *answer.
 */

static ngx_int_t
ngx_campaign_unitary_check(ngx_http_request_t *r, ngx_campaign_execution_t *e,
    ngx_str_t *body, ngx_int_t *answer)
{
    u_char                      detail[NGX_MAX_ERROR_STR];
    ngx_int_t                   rc;
    ngx_str_t                   id;
    const char                 *why;
    ngx_campaign_t             *c;
    ngx_campaign_alloc_t        a;
    ngx_campaign_trigger_t     *t;
    ngx_campaign_loc_conf_t    *cplcf;
    ngx_campaign_problems_t     problems;

    t = &e->trigger;

    ngx_campaign_pool_alloc(&a, e->trigger_pool);
    ngx_memzero(&problems, sizeof(ngx_campaign_problems_t));

    rc = ngx_campaign_trigger_parse(&a, body->data, body->len, NULL, t,
                                    &problems);
    if (rc == -2) {
        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    if (rc != 0) {
        if (problems.status == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
            *answer = ngx_campaign_send_problem(r, problems.status,
                                             "context data is too large",
                                             &problems);
            return NGX_DECLINED;
        }

        *answer = ngx_campaign_send_problem(r, NGX_HTTP_BAD_REQUEST,
                                         "the request is invalid",
                                         &problems);

        return NGX_DECLINED;
    }

    id.data = (u_char *) t->campaign_id;
    id.len = ngx_strlen(t->campaign_id);

    c = ngx_campaign_trigger_campaign(r, &id, answer);
    if (c == NULL) {
        return NGX_DECLINED;
    }

    why = ngx_campaign_inactive(c, detail, sizeof(detail));
    if (why) {
        *answer = ngx_campaign_send_error(r, NGX_HTTP_CONFLICT,
                                       "the campaign cannot be triggered "
                                       "now", "/campaignId", why);
        return NGX_DECLINED;
    }

    rc = ngx_campaign_trigger_validate(&a, t, c, &problems);
    if (rc == -2) {
        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    if (rc != 0) {
        *answer = ngx_campaign_send_problem(r, NGX_HTTP_BAD_REQUEST,
                                         "the request is invalid",
                                         &problems);
        return NGX_DECLINED;
    }

    cplcf = ngx_http_get_module_loc_conf(r, ngx_http_campaign_module);

    if (cplcf->gateways == NULL
        || cplcf->gateways[c->channel].uri.len == 0)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "campaign \"%s\": no campaign_gateway for channel "
                      "\"%s\"", c->id, ngx_campaign_channel_name(c->channel));

        *answer = ngx_campaign_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "no gateway is configured for "
                                       "the campaign's channel", "", "");

        return NGX_DECLINED;
    }

    e->campaign = c;
    e->conf = cplcf;
    e->gateway = &cplcf->gateways[c->channel];

    if (ngx_campaign_execution_messages(e) != NGX_OK) {
        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static const char *
ngx_campaign_inactive(ngx_campaign_t *c, u_char *buf, size_t size)
{
    u_char    *p, *last;
    time_t     now, at;
    ngx_tm_t   tm;

    now = ngx_time();
    last = buf + size - 1;

    if (c->status != NGX_CAMPAIGN_LIVE) {
        p = ngx_snprintf(buf, last - buf, "campaign is %s, not live",
                         ngx_campaign_status_name(c->status));
        *p = '\0';
        return (char *) buf;
    }

    if (c->start && now < c->start) {
        at = c->start;
        p = ngx_snprintf(buf, last - buf, "campaign starts at ");

    } else if (c->end && now >= c->end) {
        at = c->end;
        p = ngx_snprintf(buf, last - buf, "campaign ended at ");

    } else {
        return NULL;
    }

    ngx_gmtime(at, &tm);

    p = ngx_snprintf(p, last - p, "%4d-%02d-%02dT%02d:%02d:%02dZ",
                     tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                     tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);
    *p = '\0';

    return (char *) buf;
}


static void
ngx_campaign_unitary_client_gone(void *data)
{
    ngx_campaign_waiter_t *w = data;

    ngx_campaign_execution_t  *e;

    e = w->execution;

    if (e == NULL) {
        return;
    }

    ngx_log_error(NGX_LOG_INFO, w->request->connection->log, 0,
                  "campaign: the client left, execution %*s goes on",
                  (size_t) NGX_CAMPAIGN_EXECUTION_ID_LEN, e->id);

    ngx_campaign_metrics_outcome(w->request, e, "left");

    /* its answer is still kept for a repeat */

    e->data = NULL;
    w->execution = NULL;
}


static void
ngx_campaign_unitary_settled(ngx_campaign_execution_t *e, void *data)
{
    ngx_campaign_waiter_t *w = data;

    ngx_int_t                     rc;
    ngx_str_t                    *id;
    const char                   *detail;
    ngx_connection_t             *c;
    ngx_http_request_t           *r;
    ngx_campaign_store_answer_t   answer;

    /* a problem's instance is the client's URI, as the execution kept it */

    rc = ngx_campaign_unitary_outcome(e, &answer, &detail);

    if (rc == NGX_OK && e->store) {
        ngx_campaign_store_answer(e->store, e->store_record, &e->store_key,
                                  e->conf->idempotency_window, &answer,
                                  e->log);

    } else if (e->store) {
        ngx_campaign_store_release(e->store, &e->store_key);
    }

    if (w == NULL) {
        return;
    }

    r = w->request;
    c = r->connection;

    w->execution = NULL;

    ngx_http_set_log_request(c->log, r);

    if (rc != NGX_OK) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

    } else {
        if (answer.problem) {
            id = ngx_campaign_log_escape(r->pool, e->request_id.data,
                                         e->request_id.len);

            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "campaign: %ui problem: %s, requestId \"%V\"",
                          answer.status, detail, id);
        }

        ngx_campaign_metrics_settled(r, e);

        rc = ngx_campaign_send_answer(r, &answer, 0);
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/*
 * The idempotency key of a trigger: its Idempotency-Key header when it
 * has one (draft-ietf-httpapi-idempotency-key-header), else its
 * campaignId and requestId.  The first claims it and runs; a repeat with
 * the same body is answered as the first was, and sends nothing.
 */

static ngx_int_t
ngx_campaign_unitary_claim(ngx_http_request_t *r, ngx_campaign_execution_t *e,
    ngx_str_t *body, ngx_int_t *answer)
{
    u_char                        fp[NGX_CAMPAIGN_STORE_FP_LEN];
    time_t                        lease;
    ngx_int_t                     rc;
    ngx_str_t                     key;
    const char                   *pointer;
    ngx_campaign_store_answer_t   a;
    ngx_campaign_main_conf_t     *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_campaign_module);

    if (cmcf->store == NULL || !e->conf->idempotency) {
        return NGX_OK;
    }

    rc = ngx_campaign_unitary_key(r, e, &key);

    if (rc == NGX_DECLINED) {
        ngx_campaign_metrics_outcome(r, NULL, "invalid");

        *answer = ngx_campaign_send_error(r, NGX_HTTP_BAD_REQUEST,
                                          "the Idempotency-Key header is "
                                          "invalid", "",
                                          "Idempotency-Key must be 1 to 255 "
                                          "characters of A-Z a-z 0-9 "
                                          "- _ . : ~ + / =, once");
        return NGX_DECLINED;
    }

    if (rc != NGX_OK) {
        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    pointer = (key.data[0] == 'h') ? "" : "/requestId";

    ngx_campaign_unitary_fingerprint(body, fp);

    /* a claim outlives any execution, not a crashed worker */

    lease = e->conf->execution_timeout / 1000 + 10;

    rc = ngx_campaign_store_claim(cmcf->store, &key, fp, lease,
                                  NGX_CAMPAIGN_ANSWER_ROOM(e->nmessages),
                                  r->pool, &a, &e->store_record,
                                  r->connection->log);

    switch (rc) {

    case NGX_OK:
        e->store = cmcf->store;
        e->store_key = key;
        return NGX_OK;

    case NGX_DONE:
        ngx_campaign_metrics_answered(r, e, NGX_CAMPAIGN_METRIC_REPLAYED, &a);
        *answer = ngx_campaign_send_answer(r, &a, 1);
        return NGX_DECLINED;

    case NGX_BUSY:
        ngx_campaign_metrics_outcome(r, NULL, "in_progress");
        *answer = ngx_campaign_send_in_progress(r, a.retry_after, pointer);
        return NGX_DECLINED;

    case NGX_DECLINED:
        ngx_campaign_metrics_outcome(r, NULL, "key_reused");
        *answer = ngx_campaign_send_error(r, 422, "the key was used before "
                                          "with another body", pointer,
                                          "an earlier request with this key "
                                          "had a different body");
        return NGX_DECLINED;

    default:
        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }
}


/*
 * A campaign's throttle: a trigger takes as many tokens as it has
 * recipients to send to (capped ones are not), all or none, from the
 * campaign's bucket in the zone; without them it is refused with 429 and
 * nothing is sent.
 */

static ngx_int_t
ngx_campaign_unitary_throttle(ngx_http_request_t *r,
    ngx_campaign_execution_t *e, ngx_int_t *answer)
{
    u_char                    *p;
    ngx_int_t                  rc;
    ngx_str_t                  key;
    ngx_uint_t                 i, n;
    ngx_msec_t                 wait;
    ngx_table_elt_t           *h;
    ngx_campaign_t            *c;
    ngx_campaign_main_conf_t  *cmcf;

    c = e->campaign;
    cmcf = ngx_http_get_module_main_conf(r, ngx_http_campaign_module);

    n = 0;

    for (i = 0; i < e->nmessages; i++) {
        n += (e->messages[i].state != NGX_CAMPAIGN_MESSAGE_DONE);
    }

    if (!c->has_throttle || cmcf->store == NULL || n == 0) {
        return NGX_OK;
    }

    key.len = sizeof("t:") - 1 + ngx_strlen(c->id);
    key.data = ngx_pnalloc(r->pool, key.len);
    if (key.data == NULL) {
        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    ngx_memcpy(ngx_cpymem(key.data, "t:", 2), c->id, key.len - 2);

    rc = ngx_campaign_store_take(cmcf->store, &key, c->rate, c->burst,
                                 n, &wait, r->connection->log);

    if (rc == NGX_OK) {
        return NGX_OK;
    }

    if (rc == NGX_ERROR) {
        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    ngx_campaign_metrics_answered(r, e, NGX_CAMPAIGN_METRIC_THROTTLED, NULL);

    if (rc == NGX_DECLINED) {
        *answer = ngx_campaign_send_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                          "the trigger has more recipients "
                                          "than the campaign's throttle "
                                          "lets through at once",
                                          "/recipients",
                                          "more recipients than the "
                                          "throttle's burst");
        return NGX_DECLINED;
    }

    h = ngx_list_push(&r->headers_out.headers);
    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);

    if (h == NULL || p == NULL) {
        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Retry-After");
    h->value.data = p;
    h->value.len = ngx_sprintf(p, "%M", (wait + 999) / 1000) - p;

    *answer = ngx_campaign_send_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                      "the campaign's throttle is "
                                      "exhausted for now", "",
                                      "retry after the time in Retry-After");
    return NGX_DECLINED;
}


/* NGX_DECLINED: an Idempotency-Key header that is not one */

static ngx_int_t
ngx_campaign_unitary_key(ngx_http_request_t *r, ngx_campaign_execution_t *e,
    ngx_str_t *key)
{
    return ngx_campaign_idempotency_key(r, e->pool, 0, e->campaign->id,
                                        &e->request_id, key);
}


/*
 * The idempotency key of a trigger: its Idempotency-Key header (checked
 * against its alphabet: NGX_DECLINED when it is not one), else its
 * campaignId and requestId; NGX_DONE when it has neither (an audience
 * call without a requestId).  Audience calls have keys of their own, so
 * that a header's key names one endpoint's request only.
 */

ngx_int_t
ngx_campaign_idempotency_key(ngx_http_request_t *r, ngx_pool_t *pool,
    ngx_uint_t audience, const char *campaign, ngx_str_t *request_id,
    ngx_str_t *key)
{
    u_char      *p, *v, *last;
    size_t       len, plen;
    ngx_str_t    value;
    ngx_uint_t   n;

    static ngx_str_t  name = ngx_string("Idempotency-Key");

    plen = audience ? 3 : 2;

    n = ngx_campaign_header(r, &name, &value);

    if (n > 1) {
        return NGX_DECLINED;
    }

    if (n == 1) {
        v = value.data;
        last = v + value.len;

        /* a structured field string, "...", or the bare token */

        if (value.len >= 2 && v[0] == '"' && last[-1] == '"') {
            v++;
            last--;
        }

        len = last - v;

        if (len == 0 || len > 255) {
            return NGX_DECLINED;
        }

        for (p = v; p < last; p++) {
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                  || (*p >= '0' && *p <= '9')
                  || ngx_strlchr((u_char *) "-_.:~+/=",
                                 (u_char *) "-_.:~+/=" + 8, *p)))
            {
                return NGX_DECLINED;
            }
        }

        key->len = plen + len;
        key->data = ngx_pnalloc(pool, key->len);
        if (key->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(ngx_cpymem(key->data, audience ? "ah:" : "h:", plen),
                   v, len);

        return NGX_OK;
    }

    if (request_id == NULL || request_id->len == 0) {
        return NGX_DONE;
    }

    len = ngx_strlen(campaign);

    key->len = plen + len + 1 + request_id->len;
    key->data = ngx_pnalloc(pool, key->len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(key->data, audience ? "ar:" : "r:", plen);
    p = ngx_cpymem(p, campaign, len);
    *p++ = LF;
    ngx_memcpy(p, request_id->data, request_id->len);

    return NGX_OK;
}


/*
 * What tells a repeat from another request under the same key (422): the
 * body's length and a 128-bit hash of it, in two 64-bit lanes that each
 * take every 8 bytes in turn.  A step of a lane (xor or add, multiply by
 * an odd constant, rotate) is a bijection of the lane and of the word, so
 * bodies of one length that differ in one word never collide; others do
 * by chance one in 2^128.  A collision made on purpose needs the first
 * body, and only replays the first answer to a client who could send
 * that body itself: no cryptographic hash is needed.  nginx's SHA-1
 * took 9% of a worker's time under load, OpenSSL's 3%; this one, 0.2 us
 * for a trigger of 720 bytes, is not seen in a profile.
 */

void
ngx_campaign_unitary_fingerprint(ngx_str_t *body, u_char *fp)
{
    u_char    *p, *last;
    uint32_t   len;
    uint64_t   a, b, w;

    len = (uint32_t) body->len;

    a = 0x9e3779b97f4a7c15ULL ^ len;
    b = 0x6a09e667f3bcc909ULL + len;

    p = body->data;
    last = p + body->len;

    for ( ;; ) {
        if (last - p >= 8) {
            ngx_memcpy(&w, p, 8);
            p += 8;

        } else if (p < last) {
            w = 0;
            ngx_memcpy(&w, p, last - p);
            p = last;

        } else {
            break;
        }

        a = (a ^ w) * 0x87c37b91114253d5ULL;
        a = (a << 31) | (a >> 33);

        b = (b + w) * 0x4cf5ad432745937fULL;
        b = (b << 27) | (b >> 37);
    }

    /* every bit of each lane moves every bit of both */

    a += b;
    b += a;

    a = ngx_campaign_unitary_mix(a);
    b = ngx_campaign_unitary_mix(b);

    a += b;
    b += a;

    ngx_memcpy(fp, &len, 4);
    ngx_memcpy(fp + 4, &a, 8);
    ngx_memcpy(fp + 12, &b, 8);
}


static uint64_t
ngx_campaign_unitary_mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;

    return x;
}


/*
 * 202 with every recipient's outcome when at least one message was
 * accepted, capped (a frequency rule's answer, not a failure), or held
 * back by consent or a suppression list;
 * otherwise a problem that says why none was.
 */

static ngx_int_t
ngx_campaign_unitary_outcome(ngx_campaign_execution_t *e,
    ngx_campaign_store_answer_t *answer, const char **detailp)
{
    u_char                   *p;
    ngx_pool_t               *pool;
    ngx_uint_t                i, n[NGX_CAMPAIGN_OUTCOME_LAST + 1],
                              status;
    const char               *detail, *reason;
    ngx_campaign_out_t        o;
    ngx_campaign_message_t   *m;
    ngx_campaign_problems_t   problems;

    pool = e->pool;

    ngx_memzero(n, sizeof(n));

    for (i = 0; i < e->nmessages; i++) {
        n[e->messages[i].outcome]++;
    }

    if (n[NGX_CAMPAIGN_OUTCOME_ACCEPTED] == 0
        && n[NGX_CAMPAIGN_OUTCOME_CAPPED] == 0
        && n[NGX_CAMPAIGN_OUTCOME_NO_CONSENT] == 0
        && n[NGX_CAMPAIGN_OUTCOME_SUPPRESSED] == 0)
    {

        if (n[NGX_CAMPAIGN_OUTCOME_NO_PROFILE] == e->nmessages) {
            /* as AJO does for profiles it does not know */
            status = NGX_HTTP_NOT_FOUND;
            detail = "no recipient has a profile";

        } else if (n[NGX_CAMPAIGN_OUTCOME_NO_PROFILE]
                   + n[NGX_CAMPAIGN_OUTCOME_LOOKUP] == e->nmessages)
        {
            status = NGX_HTTP_BAD_GATEWAY;
            detail = "every recipient's profile lookup failed";

        } else if (n[NGX_CAMPAIGN_OUTCOME_RENDER] == e->nmessages) {
            status = NGX_HTTP_INTERNAL_SERVER_ERROR;
            detail = "the messages could not be rendered";

        } else if (n[NGX_CAMPAIGN_OUTCOME_TIMEOUT] == e->nmessages
                   || e->timed_out)
        {
            status = NGX_HTTP_GATEWAY_TIME_OUT;
            detail = "the execution timed out";

        } else {
            status = NGX_HTTP_BAD_GATEWAY;
            detail = "every recipient's dispatch failed";

            for (i = 0; i < e->nmessages; i++) {
                m = &e->messages[i];

                if ((m->outcome == NGX_CAMPAIGN_OUTCOME_GATEWAY
                     && m->status != NGX_HTTP_GATEWAY_TIME_OUT)
                    || m->outcome == NGX_CAMPAIGN_OUTCOME_INVALID)
                {
                    break;
                }
            }

            if (i == e->nmessages) {
                status = NGX_HTTP_GATEWAY_TIME_OUT;
            }
        }

        problems.items = ngx_palloc(pool, e->nmessages
                                             * sizeof(ngx_campaign_problem_t));
        if (problems.items == NULL) {
            return NGX_ERROR;
        }

        problems.nitems = e->nmessages;
        problems.nalloc = e->nmessages;
        problems.status = status;

        for (i = 0; i < e->nmessages; i++) {
            m = &e->messages[i];

            p = ngx_pnalloc(pool, 128 + NGX_INT_T_LEN * 3 + m->reason.len);
            if (p == NULL) {
                return NGX_ERROR;
            }

            problems.items[i].pointer = (char *) p;

            reason = ngx_campaign_outcome_reason(m);

            if (m->outcome == NGX_CAMPAIGN_OUTCOME_NO_PROFILE
                || m->outcome == NGX_CAMPAIGN_OUTCOME_LOOKUP)
            {
                p = ngx_sprintf(p, "/recipients/%ui/userId%Z", i);
                problems.items[i].message = (char *) p;
                ngx_sprintf(p, "%s%Z", reason);
                continue;
            }

            p = ngx_sprintf(p, "/recipients/%ui%Z", i);
            problems.items[i].message = (char *) p;

            if (m->outcome == NGX_CAMPAIGN_OUTCOME_GATEWAY
                && m->reason.len == 0)
            {
                ngx_sprintf(p, "gateway answered %ui after %ui attempt(s)%Z",
                            m->status, m->attempts);

            } else {
                ngx_sprintf(p, "%s%Z", reason);
            }
        }

        *detailp = detail;

        return ngx_campaign_problem_answer(e->request, pool, status, detail,
                                           &problems, answer);
    }

    ngx_campaign_out_init(&o, pool, 256 + 160 * e->nmessages);

    ngx_campaign_out_literal(&o, "{\"executionId\":");
    ngx_campaign_out_string(&o, e->id, NGX_CAMPAIGN_EXECUTION_ID_LEN);
    ngx_campaign_out_literal(&o, ",\"requestId\":");
    ngx_campaign_out_string(&o, e->request_id.data, e->request_id.len);
    ngx_campaign_out_literal(&o, ",\"campaignId\":");
    ngx_campaign_out_string(&o, (u_char *) e->campaign->id,
                            ngx_strlen(e->campaign->id));
    ngx_campaign_out_literal(&o, ",\"createdAt\":");
    ngx_campaign_out_string(&o, e->created_at.data, e->created_at.len);
    ngx_campaign_out_literal(&o, ",\"recipients\":[");

    for (i = 0; i < e->nmessages; i++) {
        m = &e->messages[i];

        if (i) {
            ngx_campaign_out_literal(&o, ",");
        }

        ngx_campaign_out_literal(&o, "{\"userId\":");
        ngx_campaign_out_string(&o, m->user_id.data, m->user_id.len);
        ngx_campaign_out_literal(&o, ",\"messageId\":");
        ngx_campaign_out_string(&o, m->idempotency_key.data,
                                m->idempotency_key.len);

        if (m->outcome == NGX_CAMPAIGN_OUTCOME_ACCEPTED) {
            ngx_campaign_out_literal(&o, ",\"status\":\"accepted\"");

        } else if (m->outcome == NGX_CAMPAIGN_OUTCOME_CAPPED) {
            ngx_campaign_out_literal(&o, ",\"status\":\"capped\"");

        } else if (m->outcome == NGX_CAMPAIGN_OUTCOME_NO_CONSENT) {
            ngx_campaign_out_literal(&o, ",\"status\":\"no_consent\"");

        } else if (m->outcome == NGX_CAMPAIGN_OUTCOME_SUPPRESSED) {
            ngx_campaign_out_literal(&o, ",\"status\":\"suppressed\"");

        } else if (m->outcome == NGX_CAMPAIGN_OUTCOME_INVALID) {
            ngx_campaign_out_literal(&o,
                                     ",\"status\":\"invalid_address\"");

        } else {
            ngx_campaign_out_literal(&o, ",\"status\":\"failed\"");
        }

        reason = ngx_campaign_outcome_reason(m);

        if (reason) {
            ngx_campaign_out_literal(&o, ",\"reason\":");
            ngx_campaign_out_string(&o, (u_char *) reason,
                                    ngx_strlen(reason));
        }

        if (m->status) {
            ngx_campaign_out_literal(&o, ",\"gatewayStatus\":");
            ngx_campaign_out_uint(&o, m->status);
        }

        ngx_campaign_out_literal(&o, ",\"attempts\":");
        ngx_campaign_out_uint(&o, m->attempts);
        ngx_campaign_out_literal(&o, "}");
    }

    ngx_campaign_out_literal(&o, "]}");

    if (o.failed) {
        return NGX_ERROR;
    }

    *detailp = NULL;

    answer->status = NGX_HTTP_ACCEPTED;
    answer->problem = 0;
    answer->body.data = o.start;
    answer->body.len = o.pos - o.start;

    return NGX_OK;
}
