
/*
 * Copyright (C) ngx_campaign developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_campaign_module.h"


/*
 * Gateway dispatch: one POST subrequest per recipient to the channel's
 * gateway location, all in parallel.  The subrequests are background ones
 * whose answers a body filter drops (only their status matters), so
 * nothing of theirs reaches the client, whatever their size; the main
 * request waits for the last of them and answers.  5xx answers (which is
 * how proxy_pass reports timeouts and refused connections too) are retried
 * after retry_delay, doubled each time.
 */


static ngx_int_t ngx_campaign_dispatch_payload(ngx_campaign_execution_t *e,
    ngx_campaign_message_t *m);
static ngx_int_t ngx_campaign_dispatch_send(ngx_campaign_message_t *m);
static ngx_http_headers_in_t *ngx_campaign_dispatch_headers(
    ngx_http_request_t *r, ngx_campaign_message_t *m);
static ngx_table_elt_t *ngx_campaign_dispatch_header(ngx_http_request_t *r,
    ngx_http_headers_in_t *hi, char *key, u_char *value, size_t len);
static void ngx_campaign_dispatch_retry(ngx_event_t *ev);
static void ngx_campaign_dispatch_settle(ngx_campaign_message_t *m);


static ngx_int_t ngx_campaign_dispatch_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);


#define NGX_CAMPAIGN_GATEWAY_HEADERS  4


static ngx_str_t  ngx_campaign_post = ngx_string("POST");

static ngx_http_output_body_filter_pt  ngx_campaign_next_body_filter;


ngx_int_t
ngx_campaign_dispatch_init(ngx_conf_t *cf)
{
    ngx_campaign_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_campaign_dispatch_body_filter;

    return NGX_OK;
}


ngx_int_t
ngx_campaign_dispatch_start(ngx_campaign_execution_t *e)
{
    ngx_int_t                rc;
    ngx_uint_t               i;
    ngx_http_request_t      *r;
    ngx_campaign_message_t  *m;

    r = e->request;

    for (i = 0; i < e->nmessages; i++) {
        m = &e->messages[i];

        if (m->done) {
            continue;
        }

        rc = ngx_campaign_dispatch_payload(e, m);
        if (rc != NGX_OK) {
            return rc;
        }

        m->retry.handler = ngx_campaign_dispatch_retry;
        m->retry.data = m;
        m->retry.log = r->connection->log;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    for (i = 0; i < e->nmessages; i++) {
        m = &e->messages[i];

        if (m->done) {
            continue;
        }

        e->pending++;

        if (ngx_campaign_dispatch_send(m) != NGX_OK) {
            m->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
            m->done = 1;
            e->pending--;
        }
    }

    return e->pending ? NGX_DONE : NGX_OK;
}


/*
 * The payload a gateway receives (docs/api.md, "Gateway payload"):
 * rendered content goes in through JSON string escaping only.
 */

static ngx_int_t
ngx_campaign_dispatch_payload(ngx_campaign_execution_t *e,
    ngx_campaign_message_t *m)
{
    size_t                     n, len;
    u_char                    *json;
    const char                *language;
    ngx_campaign_t            *c;
    ngx_campaign_out_t         o;
    ngx_http_request_t        *r;
    ngx_campaign_alloc_t       a;
    ngx_campaign_rendered_t   *rendered;
    ngx_campaign_recipient_t  *rcp;

    r = e->request;
    c = e->campaign;
    rcp = m->recipient;

    ngx_campaign_pool_alloc(&a, r->pool);

    if (ngx_campaign_content_render(&a, c, rcp->data, &language, &rendered,
                                    &n)
        != 0
        || ngx_campaign_content_json(&a, rendered, n, &json, &len) != 0)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "campaign \"%s\": rendering for \"%s\" failed: "
                      "out of memory or over the limits",
                      c->id, rcp->user_id);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_campaign_out_init(&o, r->pool, 512 + len);

    ngx_campaign_out_literal(&o, "{\"messageId\":");
    ngx_campaign_out_string(&o, m->idempotency_key.data,
                            m->idempotency_key.len);
    ngx_campaign_out_literal(&o, ",\"executionId\":");
    ngx_campaign_out_string(&o, e->id, NGX_CAMPAIGN_EXECUTION_ID_LEN);
    ngx_campaign_out_literal(&o, ",\"campaignId\":");
    ngx_campaign_out_string(&o, (u_char *) c->id, ngx_strlen(c->id));
    ngx_campaign_out_literal(&o, ",\"requestId\":");
    ngx_campaign_out_string(&o, (u_char *) e->trigger.request_id,
                            ngx_strlen(e->trigger.request_id));
    ngx_campaign_out_literal(&o, ",\"channel\":\"");
    ngx_campaign_out_raw(&o, (u_char *) ngx_campaign_channel_name(c->channel),
                         ngx_strlen(ngx_campaign_channel_name(c->channel)));
    ngx_campaign_out_literal(&o, "\",\"createdAt\":");
    ngx_campaign_out_string(&o, e->created_at.data, e->created_at.len);

    ngx_campaign_out_literal(&o, ",\"recipient\":{\"userId\":");
    ngx_campaign_out_string(&o, (u_char *) rcp->user_id,
                            ngx_strlen(rcp->user_id));
    ngx_campaign_out_literal(&o, ",\"namespace\":");
    ngx_campaign_out_string(&o, (u_char *) rcp->namespace,
                            ngx_strlen(rcp->namespace));
    ngx_campaign_out_literal(&o, ",\"type\":");
    ngx_campaign_out_string(&o, (u_char *) rcp->type, ngx_strlen(rcp->type));
    ngx_campaign_out_literal(&o, ",\"address\":");
    ngx_campaign_out_string(&o, (u_char *) rcp->address,
                            ngx_strlen(rcp->address));

    if (rcp->platform) {
        ngx_campaign_out_literal(&o, ",\"platform\":");
        ngx_campaign_out_string(&o, (u_char *) rcp->platform,
                                ngx_strlen(rcp->platform));
    }

    if (rcp->app_id) {
        ngx_campaign_out_literal(&o, ",\"appID\":");
        ngx_campaign_out_string(&o, (u_char *) rcp->app_id,
                                ngx_strlen(rcp->app_id));
    }

    ngx_campaign_out_literal(&o, "},\"language\":");
    ngx_campaign_out_string(&o, (u_char *) language, ngx_strlen(language));
    ngx_campaign_out_literal(&o, ",\"content\":");
    ngx_campaign_out_raw(&o, json, len);
    ngx_campaign_out_literal(&o, "}");

    if (o.failed) {
        return NGX_ERROR;
    }

    m->payload.data = o.start;
    m->payload.len = o.pos - o.start;

    return NGX_OK;
}


/*
 * A background subrequest of ours.  It gets variables of its own (a
 * subrequest shares the cached ones of its parent: the gateway's
 * $http_idempotency_key would be the first message's for all of them) and
 * the headers given.  Everything is allocated before it is created: once
 * ngx_http_subrequest() has posted it, it runs.
 */

ngx_http_request_t *
ngx_campaign_subrequest(ngx_http_request_t *r, ngx_str_t *uri,
    ngx_str_t *args, ngx_http_post_subrequest_pt handler, void *data,
    ngx_uint_t method, ngx_str_t *method_name, ngx_http_headers_in_t *hi,
    ngx_http_request_body_t *rb)
{
    ngx_http_request_t          *sr;
    ngx_http_variable_value_t   *vv;
    ngx_http_core_main_conf_t   *cmcf;
    ngx_http_post_subrequest_t  *ps;

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NULL;
    }

    ps->handler = handler;
    ps->data = data;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    vv = ngx_pcalloc(r->pool, cmcf->variables.nelts
                              * sizeof(ngx_http_variable_value_t));
    if (vv == NULL) {
        return NULL;
    }

    if (ngx_http_subrequest(r, uri, args->len ? args : NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_BACKGROUND)
        != NGX_OK)
    {
        return NULL;
    }

    sr->method = method;
    sr->method_name = *method_name;
    sr->variables = vv;
    sr->request_body = rb;

    /* the list lives in one part: only its "last" points into the struct */

    sr->headers_in = *hi;
    sr->headers_in.headers.last = &sr->headers_in.headers.part;

    return sr;
}


/*
 * A subrequest starts with a copy of the client's headers; ours get none
 * of them (the trigger's credentials are no gateway's or profile
 * service's business).  Host and Server stay, for $host.  n is the most
 * headers the caller adds.
 */

ngx_http_headers_in_t *
ngx_campaign_subrequest_headers(ngx_http_request_t *r, ngx_uint_t n)
{
    ngx_http_headers_in_t  *hi;

    hi = ngx_pcalloc(r->pool, sizeof(ngx_http_headers_in_t));
    if (hi == NULL) {
        return NULL;
    }

    hi->host = r->headers_in.host;
    hi->server = r->headers_in.server;
    hi->content_length_n = -1;
    hi->keep_alive_n = -1;

    if (ngx_list_init(&hi->headers, r->pool, ngx_max(n, 1),
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NULL;
    }

    return hi;
}


/*
 * One attempt of a message.
 */

static ngx_int_t
ngx_campaign_dispatch_send(ngx_campaign_message_t *m)
{
    ngx_buf_t                *b;
    ngx_chain_t              *cl;
    ngx_http_request_t       *r, *sr;
    ngx_http_headers_in_t    *hi;
    ngx_campaign_gateway_t   *gw;
    ngx_http_request_body_t  *rb;

    r = m->execution->request;
    gw = m->execution->gateway;

    rb = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (rb == NULL) {
        return NGX_ERROR;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->start = m->payload.data;
    b->pos = b->start;
    b->last = b->start + m->payload.len;
    b->end = b->last;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

    rb->bufs = cl;
    rb->buf = b;

    hi = ngx_campaign_dispatch_headers(r, m);
    if (hi == NULL) {
        return NGX_ERROR;
    }

    sr = ngx_campaign_subrequest(r, &gw->uri, &gw->args,
                                 ngx_campaign_dispatch_done, m, NGX_HTTP_POST,
                                 &ngx_campaign_post, hi, rb);
    if (sr == NULL) {
        return NGX_ERROR;
    }

    m->attempts++;
    m->subrequest = sr;
    m->status = 0;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "campaign: message %V attempt %ui to \"%V\"",
                   &m->idempotency_key, m->attempts, &gw->uri);

    return NGX_OK;
}


/*
 * The gateway gets only what describes the message.
 */

static ngx_http_headers_in_t *
ngx_campaign_dispatch_headers(ngx_http_request_t *r,
    ngx_campaign_message_t *m)
{
    u_char                 *p;
    ngx_table_elt_t        *h;
    ngx_http_headers_in_t  *hi;

    hi = ngx_campaign_subrequest_headers(r, NGX_CAMPAIGN_GATEWAY_HEADERS);
    if (hi == NULL) {
        return NULL;
    }

    hi->content_length_n = m->payload.len;

    h = ngx_campaign_dispatch_header(r, hi, "Content-Type",
                                     (u_char *) "application/json",
                                     sizeof("application/json") - 1);
    if (h == NULL) {
        return NULL;
    }

    hi->content_type = h;

    p = ngx_pnalloc(r->pool, NGX_OFF_T_LEN);
    if (p == NULL) {
        return NULL;
    }

    h = ngx_campaign_dispatch_header(r, hi, "Content-Length", p,
                                     ngx_sprintf(p, "%uz", m->payload.len)
                                     - p);
    if (h == NULL) {
        return NULL;
    }

    hi->content_length = h;

    if (ngx_campaign_dispatch_header(r, hi, "Idempotency-Key",
                                     m->idempotency_key.data,
                                     m->idempotency_key.len)
        == NULL)
    {
        return NULL;
    }

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NULL;
    }

    if (ngx_campaign_dispatch_header(r, hi, "X-Campaign-Attempt", p,
                                     ngx_sprintf(p, "%ui", m->attempts + 1)
                                     - p)
        == NULL)
    {
        return NULL;
    }

    return hi;
}


static ngx_table_elt_t *
ngx_campaign_dispatch_header(ngx_http_request_t *r, ngx_http_headers_in_t *hi,
    char *key, u_char *value, size_t len)
{
    size_t            n;
    ngx_table_elt_t  *h;

    h = ngx_list_push(&hi->headers);
    if (h == NULL) {
        return NULL;
    }

    n = ngx_strlen(key);

    h->key.data = (u_char *) key;
    h->key.len = n;
    h->value.data = value;
    h->value.len = len;

    h->lowcase_key = ngx_pnalloc(r->pool, n);
    if (h->lowcase_key == NULL) {
        return NULL;
    }

    h->hash = ngx_hash_strlow(h->lowcase_key, h->key.data, n);
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return h;
}


ngx_int_t
ngx_campaign_dispatch_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_campaign_message_t *m = data;

    ngx_uint_t                 status;
    ngx_msec_t                 delay;
    ngx_campaign_execution_t  *e;

    if (m->subrequest != sr) {
        return ngx_campaign_subrequest_survive(rc);
    }

    if (ngx_campaign_subrequest_answer(sr, rc, &m->status) == NGX_AGAIN) {
        return rc;
    }

    m->subrequest = NULL;
    e = m->execution;
    status = m->status;

    if (status >= NGX_HTTP_OK && status < NGX_HTTP_SPECIAL_RESPONSE) {
        m->accepted = 1;
        ngx_campaign_dispatch_settle(m);
        return ngx_campaign_subrequest_survive(rc);
    }

    if (status >= NGX_HTTP_INTERNAL_SERVER_ERROR
        && m->attempts <= e->retries)
    {
        delay = e->retry_delay << (m->attempts - 1);

        ngx_log_error(NGX_LOG_INFO, sr->connection->log, 0,
                      "campaign: gateway answered %ui for message %V, "
                      "retrying in %Mms", status, &m->idempotency_key,
                      delay);

        ngx_add_timer(&m->retry, delay);
        return ngx_campaign_subrequest_survive(rc);
    }

    ngx_log_error(NGX_LOG_WARN, sr->connection->log, 0,
                  "campaign: message %V failed, gateway answered %ui "
                  "after %ui attempt(s)", &m->idempotency_key, status,
                  m->attempts);

    ngx_campaign_dispatch_settle(m);

    return ngx_campaign_subrequest_survive(rc);
}


/*
 * The final answer of a subrequest of ours.  A subrequest may be finalized
 * more than once: with a status first, when a special response or an
 * error_page follows, then once that is done.  NGX_AGAIN until the end,
 * then NGX_OK with *status set.
 */

ngx_int_t
ngx_campaign_subrequest_answer(ngx_http_request_t *sr, ngx_int_t rc,
    ngx_uint_t *status)
{
    if (rc == NGX_AGAIN) {
        return NGX_AGAIN;
    }

    if (rc != NGX_HTTP_CLOSE
        && rc != NGX_HTTP_REQUEST_TIME_OUT
        && rc != NGX_HTTP_CLIENT_CLOSED_REQUEST
        && (rc >= NGX_HTTP_SPECIAL_RESPONSE
            || rc == NGX_HTTP_CREATED
            || rc == NGX_HTTP_NO_CONTENT))
    {
        *status = rc;
        return NGX_AGAIN;
    }

    if (rc == NGX_ERROR || rc == NGX_HTTP_CLIENT_CLOSED_REQUEST
        || rc == NGX_HTTP_REQUEST_TIME_OUT)
    {
        if (*status == 0) {
            *status = NGX_HTTP_BAD_GATEWAY;
        }

    } else if (rc >= NGX_HTTP_OK) {
        *status = rc;

    } else {
        *status = sr->headers_out.status ? sr->headers_out.status
                                         : NGX_HTTP_BAD_GATEWAY;
    }

    return NGX_OK;
}


/*
 * NGX_ERROR (or a closed connection) from a subrequest would terminate
 * the main request with it: the failure is the subrequest's, already
 * recorded, not the trigger's.
 */

ngx_int_t
ngx_campaign_subrequest_survive(ngx_int_t rc)
{
    if (rc == NGX_ERROR || rc == NGX_HTTP_CLOSE
        || rc == NGX_HTTP_REQUEST_TIME_OUT
        || rc == NGX_HTTP_CLIENT_CLOSED_REQUEST)
    {
        return NGX_OK;
    }

    return rc;
}


static void
ngx_campaign_dispatch_retry(ngx_event_t *ev)
{
    ngx_campaign_message_t *m = ev->data;

    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = m->execution->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    if (c->error) {
        /* the client is gone: no one is waiting for this message */
        m->status = NGX_HTTP_CLIENT_CLOSED_REQUEST;
        ngx_campaign_dispatch_settle(m);
        ngx_http_run_posted_requests(c);
        return;
    }

    if (ngx_campaign_dispatch_send(m) != NGX_OK) {
        m->subrequest = NULL;
        m->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        ngx_campaign_dispatch_settle(m);
    }

    ngx_http_run_posted_requests(c);
}


static void
ngx_campaign_dispatch_settle(ngx_campaign_message_t *m)
{
    ngx_http_request_t        *r;
    ngx_campaign_execution_t  *e;

    e = m->execution;
    r = e->request;

    m->done = 1;

    if (--e->pending) {
        return;
    }

    /* the last answer is in: the main request runs once more, to answer */

    r->write_event_handler = ngx_campaign_execution_finish;

    if (ngx_http_post_request(r, NULL) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_ERROR);
    }
}


/*
 * The pool goes: normally every message has settled by then; when the
 * request was terminated (a worker_shutdown_timeout, a lost client) the
 * messages still waiting are said so, once each.
 */

void
ngx_campaign_dispatch_cleanup(void *data)
{
    ngx_campaign_execution_t *e = data;

    ngx_uint_t               i;
    ngx_campaign_message_t  *m;

    for (i = 0; i < e->nmessages; i++) {
        m = &e->messages[i];

        if (m->retry.timer_set) {
            ngx_del_timer(&m->retry);
        }

        if (!m->done) {
            ngx_log_error(NGX_LOG_WARN, e->request->connection->log, 0,
                          "campaign: message %V abandoned after %ui "
                          "attempt(s): the request ended first",
                          &m->idempotency_key, m->attempts);
        }
    }
}


/*
 * The answers to our subrequests stop here, before the postpone filter
 * would keep them: a gateway's is read (so that upstream keepalive works)
 * and dropped, a profile's is kept by the lookup.
 */

static ngx_int_t
ngx_campaign_dispatch_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t                 *cl;
    ngx_http_post_subrequest_t  *ps;

    /* r->ctx is lost on an internal redirect, post_subrequest is kept */

    ps = r->post_subrequest;

    if (r == r->main || ps == NULL) {
        return ngx_campaign_next_body_filter(r, in);
    }

    if (ps->handler == ngx_campaign_profile_done) {
        ngx_campaign_profile_capture(ps->data, in);

    } else if (ps->handler != ngx_campaign_dispatch_done) {
        return ngx_campaign_next_body_filter(r, in);
    }

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
    }

    return NGX_OK;
}
