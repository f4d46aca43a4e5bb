
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
static const char *ngx_campaign_inactive(ngx_campaign_t *c, u_char *buf,
    size_t size);
static ngx_int_t ngx_campaign_execution_init(ngx_http_request_t *r,
    ngx_campaign_execution_t *e);
static ngx_int_t ngx_campaign_execution_answer(ngx_http_request_t *r,
    ngx_campaign_execution_t *e);


static ngx_str_t  ngx_campaign_health_path = ngx_string("health");
static ngx_str_t  ngx_campaign_campaigns_path = ngx_string("campaigns/");
static ngx_str_t  ngx_campaign_preview_path = ngx_string("/preview");
static ngx_str_t  ngx_campaign_unitary_path =
    ngx_string("executions/unitary");


ngx_int_t
ngx_campaign_api_handler(ngx_http_request_t *r)
{
    ngx_str_t                  path, id;
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
                return ngx_campaign_refuse(r, NGX_HTTP_NOT_FOUND,
                                           "no such endpoint", "", "");
            }

            path.data++;
            path.len--;
        }
    }

    if (path.len == ngx_campaign_health_path.len
        && ngx_strncmp(path.data, ngx_campaign_health_path.data,
                       path.len) == 0)
    {
        return ngx_campaign_health(r);
    }

    if (path.len == ngx_campaign_unitary_path.len
        && ngx_strncmp(path.data, ngx_campaign_unitary_path.data,
                       path.len) == 0)
    {
        return ngx_campaign_unitary(r);
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
        id.data = path.data + ngx_campaign_campaigns_path.len;
        id.len = path.len - ngx_campaign_campaigns_path.len
                 - ngx_campaign_preview_path.len;

        return ngx_campaign_preview(r, &id);
    }

    return ngx_campaign_refuse(r, NGX_HTTP_NOT_FOUND, "no such endpoint",
                               "", "");
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
    ngx_campaign_t            *c;
    ngx_campaign_execution_t  *e;
    ngx_campaign_main_conf_t  *cmcf;

    if (r->method != NGX_HTTP_POST) {
        return ngx_campaign_not_allowed(r, "POST");
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_campaign_module);

    c = ngx_campaign_find(cmcf, id->data, id->len);
    if (c == NULL) {
        return ngx_campaign_refuse(r, NGX_HTTP_NOT_FOUND, "unknown campaign",
                                   "", "no campaign has this id");
    }

    /* the module's context is always an execution: here one that sends none */

    e = ngx_pcalloc(r->pool, sizeof(ngx_campaign_execution_t));
    if (e == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    e->request = r;
    e->campaign = c;

    ngx_http_set_ctx(r, e, ngx_http_campaign_module);

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
    ngx_str_t                 body;
    ngx_campaign_t           *c;
    ngx_campaign_out_t        o;
    ngx_campaign_alloc_t      a;
    ngx_campaign_problems_t   problems;
    ngx_campaign_execution_t *e;

    if (r->connection->error) {
        return NGX_HTTP_CLIENT_CLOSED_REQUEST;
    }

    e = ngx_http_get_module_ctx(r, ngx_http_campaign_module);
    c = e->campaign;

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


static ngx_int_t
ngx_campaign_unitary_run(ngx_http_request_t *r)
{
    u_char                      detail[NGX_MAX_ERROR_STR];
    ngx_int_t                   rc;
    ngx_str_t                   body;
    const char                 *why;
    ngx_campaign_t             *c;
    ngx_campaign_alloc_t        a;
    ngx_campaign_trigger_t     *t;
    ngx_campaign_loc_conf_t    *cplcf;
    ngx_campaign_execution_t   *e;
    ngx_campaign_problems_t     problems;
    ngx_campaign_main_conf_t   *cmcf;

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

    e = ngx_pcalloc(r->pool, sizeof(ngx_campaign_execution_t));
    if (e == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    t = &e->trigger;

    ngx_campaign_pool_alloc(&a, r->pool);
    ngx_memzero(&problems, sizeof(ngx_campaign_problems_t));

    rc = ngx_campaign_trigger_parse(&a, body.data, body.len, NULL, t,
                                    &problems);
    if (rc == -2) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != 0) {
        if (problems.status == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
            return ngx_campaign_send_problem(r, problems.status,
                                             "context data is too large",
                                             &problems);
        }

        return ngx_campaign_send_problem(r, NGX_HTTP_BAD_REQUEST,
                                         "the request is invalid",
                                         &problems);
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_campaign_module);

    c = ngx_campaign_find(cmcf, (u_char *) t->campaign_id,
                          ngx_strlen(t->campaign_id));
    if (c == NULL) {
        return ngx_campaign_send_error(r, NGX_HTTP_NOT_FOUND,
                                       "unknown campaign", "/campaignId",
                                       "no campaign has this id");
    }

    why = ngx_campaign_inactive(c, detail, sizeof(detail));
    if (why) {
        return ngx_campaign_send_error(r, NGX_HTTP_CONFLICT,
                                       "the campaign cannot be triggered "
                                       "now", "/campaignId", why);
    }

    rc = ngx_campaign_trigger_validate(&a, t, c, &problems);
    if (rc == -2) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != 0) {
        return ngx_campaign_send_problem(r, NGX_HTTP_BAD_REQUEST,
                                         "the request is invalid",
                                         &problems);
    }

    cplcf = ngx_http_get_module_loc_conf(r, ngx_http_campaign_module);

    if (cplcf->gateways == NULL
        || cplcf->gateways[c->channel].uri.len == 0)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "campaign \"%s\": no campaign_gateway for channel "
                      "\"%s\"", c->id, ngx_campaign_channel_name(c->channel));

        return ngx_campaign_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "no gateway is configured for "
                                       "the campaign's channel", "", "");
    }

    e->request = r;
    e->campaign = c;
    e->gateway = &cplcf->gateways[c->channel];
    e->retries = cplcf->retries;
    e->retry_delay = cplcf->retry_delay;

    if (ngx_campaign_execution_init(r, e) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_set_ctx(r, e, ngx_http_campaign_module);

    rc = ngx_campaign_profile_start(e, cplcf);

    if (rc == NGX_DONE) {
        return NGX_DONE;
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_campaign_execution_dispatch(r, e);
}


/*
 * With every profile known: the messages of the recipients that have one
 * are rendered and sent.
 */

ngx_int_t
ngx_campaign_execution_dispatch(ngx_http_request_t *r,
    ngx_campaign_execution_t *e)
{
    ngx_int_t  rc;

    rc = ngx_campaign_dispatch_start(e);

    if (rc == NGX_HTTP_INTERNAL_SERVER_ERROR) {
        return ngx_campaign_send_error(r, rc, "the messages could not be "
                                       "rendered", "", "");
    }

    if (rc == NGX_DONE || rc == NGX_ERROR) {
        return rc;
    }

    return ngx_campaign_execution_answer(r, e);
}


static const char *
ngx_campaign_inactive(ngx_campaign_t *c, u_char *buf, size_t size)
{
    u_char    *p, *last;
    time_t     now, at;
    ngx_tm_t   tm;

    now = ngx_time();
    last = buf + size - 1;

    if (c->type != NGX_CAMPAIGN_TRANSACTIONAL) {
        return "is a marketing campaign: trigger it through "
               "executions/audience";
    }

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


static ngx_int_t
ngx_campaign_execution_init(ngx_http_request_t *r,
    ngx_campaign_execution_t *e)
{
    u_char                  *p, *id;
    uint32_t                 rnd[4];
    ngx_tm_t                 tm;
    ngx_uint_t               i;
    ngx_time_t              *tp;
    ngx_pool_cleanup_t      *cln;
    ngx_campaign_message_t  *m;

    static const char  hex[] = "0123456789abcdef";

    /* a version 4 UUID */

#if (NGX_OPENSSL)
    if (RAND_bytes((u_char *) rnd, sizeof(rnd)) != 1)
#endif
    {
        for (i = 0; i < 4; i++) {
            rnd[i] = (uint32_t) ngx_random() ^ ((uint32_t) ngx_random() << 16);
        }
    }

    p = (u_char *) rnd;
    p[6] = (p[6] & 0x0f) | 0x40;
    p[8] = (p[8] & 0x3f) | 0x80;

    id = e->id;

    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            *id++ = '-';
        }

        *id++ = hex[p[i] >> 4];
        *id++ = hex[p[i] & 0xf];
    }

    tp = ngx_timeofday();
    ngx_gmtime(tp->sec, &tm);

    e->created_at.data = ngx_pnalloc(r->pool,
                                     sizeof("1970-01-01T00:00:00.000Z") - 1);
    if (e->created_at.data == NULL) {
        return NGX_ERROR;
    }

    e->nmessages = e->trigger.nrecipients;
    e->messages = ngx_pcalloc(r->pool,
                              e->nmessages * sizeof(ngx_campaign_message_t));
    if (e->messages == NULL) {
        return NGX_ERROR;
    }

    /* whatever ends the request, no message goes unaccounted for */

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_campaign_dispatch_cleanup;
    cln->data = e;

    for (i = 0; i < e->nmessages; i++) {
        m = &e->messages[i];

        m->execution = e;
        m->recipient = &e->trigger.recipients[i];

        p = ngx_pnalloc(r->pool, NGX_CAMPAIGN_EXECUTION_ID_LEN + 1
                                 + NGX_INT_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        m->idempotency_key.data = p;
        m->idempotency_key.len = ngx_sprintf(p, "%*s-%ui",
                                             (size_t)
                                             NGX_CAMPAIGN_EXECUTION_ID_LEN,
                                             e->id, i)
                                 - p;
    }

    e->created_at.len = ngx_sprintf(e->created_at.data,
                                    "%4d-%02d-%02dT%02d:%02d:%02d.%03MZ",
                                    tm.ngx_tm_year, tm.ngx_tm_mon,
                                    tm.ngx_tm_mday, tm.ngx_tm_hour,
                                    tm.ngx_tm_min, tm.ngx_tm_sec, tp->msec)
                        - e->created_at.data;

    return NGX_OK;
}


void
ngx_campaign_execution_finish(ngx_http_request_t *r)
{
    ngx_campaign_execution_t  *e;

    e = ngx_http_get_module_ctx(r, ngx_http_campaign_module);

    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_http_finalize_request(r, ngx_campaign_execution_answer(r, e));
}


static ngx_int_t
ngx_campaign_execution_answer(ngx_http_request_t *r,
    ngx_campaign_execution_t *e)
{
    u_char                   *p;
    ngx_uint_t                i, accepted, timedout, unknown, lookups,
                              status;
    const char               *detail, *reason;
    ngx_campaign_out_t        o;
    ngx_campaign_message_t   *m;
    ngx_campaign_problems_t   problems;

    accepted = 0;
    timedout = 0;
    unknown = 0;
    lookups = 0;

    for (i = 0; i < e->nmessages; i++) {
        m = &e->messages[i];

        accepted += m->accepted;
        timedout += (m->status == NGX_HTTP_GATEWAY_TIME_OUT);
        unknown += (m->profile_failed
                    && m->profile_status == NGX_HTTP_NOT_FOUND);
        lookups += m->profile_failed;
    }

    if (accepted == 0) {

        /* as AJO does for profiles it does not know */

        if (unknown == e->nmessages) {
            status = NGX_HTTP_NOT_FOUND;
            detail = "no recipient has a profile";

        } else if (lookups == e->nmessages) {
            status = NGX_HTTP_BAD_GATEWAY;
            detail = "every recipient's profile lookup failed";

        } else {
            status = (timedout == e->nmessages) ? NGX_HTTP_GATEWAY_TIME_OUT
                                                : NGX_HTTP_BAD_GATEWAY;
            detail = "every recipient's dispatch failed";
        }

        problems.items = ngx_palloc(r->pool, e->nmessages
                                             * sizeof(ngx_campaign_problem_t));
        if (problems.items == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        problems.nitems = e->nmessages;
        problems.nalloc = e->nmessages;
        problems.status = status;

        for (i = 0; i < e->nmessages; i++) {
            m = &e->messages[i];

            p = ngx_pnalloc(r->pool, 128 + NGX_INT_T_LEN * 3);
            if (p == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            problems.items[i].pointer = (char *) p;

            if (m->profile_failed) {
                p = ngx_sprintf(p, "/recipients/%ui/userId%Z", i);
                problems.items[i].message = (char *) p;
                ngx_sprintf(p, "%s%Z", ngx_campaign_profile_reason(m));
                continue;
            }

            p = ngx_sprintf(p, "/recipients/%ui%Z", i);

            problems.items[i].message = (char *) p;
            ngx_sprintf(p, "gateway answered %ui after %ui attempt(s)%Z",
                        m->status, m->attempts);
        }

        return ngx_campaign_send_problem(r, status, detail, &problems);
    }

    ngx_campaign_out_init(&o, r->pool, 256 + 160 * e->nmessages);

    ngx_campaign_out_literal(&o, "{\"executionId\":");
    ngx_campaign_out_string(&o, e->id, NGX_CAMPAIGN_EXECUTION_ID_LEN);
    ngx_campaign_out_literal(&o, ",\"requestId\":");
    ngx_campaign_out_string(&o, (u_char *) e->trigger.request_id,
                            ngx_strlen(e->trigger.request_id));
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
        ngx_campaign_out_string(&o, (u_char *) m->recipient->user_id,
                                ngx_strlen(m->recipient->user_id));
        ngx_campaign_out_literal(&o, ",\"messageId\":");
        ngx_campaign_out_string(&o, m->idempotency_key.data,
                                m->idempotency_key.len);

        if (m->accepted) {
            ngx_campaign_out_literal(&o, ",\"status\":\"accepted\"");

        } else {
            ngx_campaign_out_literal(&o, ",\"status\":\"failed\"");
        }

        if (m->profile_failed) {
            reason = ngx_campaign_profile_reason(m);
            ngx_campaign_out_literal(&o, ",\"reason\":");
            ngx_campaign_out_string(&o, (u_char *) reason,
                                    ngx_strlen(reason));

        } else {
            ngx_campaign_out_literal(&o, ",\"gatewayStatus\":");
            ngx_campaign_out_uint(&o, m->status);
        }

        ngx_campaign_out_literal(&o, ",\"attempts\":");
        ngx_campaign_out_uint(&o, m->attempts);
        ngx_campaign_out_literal(&o, "}");
    }

    ngx_campaign_out_literal(&o, "]}");

    return ngx_campaign_send_json(r, NGX_HTTP_ACCEPTED, NULL, &o);
}
