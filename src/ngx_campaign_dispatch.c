
/*
 * Copyright (C) ngx_campaign developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_campaign_module.h"
#include "ngx_campaign_connector.h"


/*
 * Gateway dispatch: the payload of a message, and its attempts, each a
 * POST subrequest to the channel's gateway location.  5xx answers (which
 * is how proxy_pass reports timeouts and refused connections too) are
 * retried after campaign_gateway_retry_delay, doubled each time, at most
 * NGX_CAMPAIGN_MAX_RETRY_DELAY; the execution keeps the time.  A
 * connector's attempts (connector.c) come to the same outcomes.
 */


static ngx_http_headers_in_t *ngx_campaign_dispatch_headers(
    ngx_campaign_message_t *m);
static void ngx_campaign_dispatch_done(ngx_campaign_sr_t *s);


#define NGX_CAMPAIGN_GATEWAY_HEADERS  4


static ngx_str_t  ngx_campaign_post = ngx_string("POST");


/*
 * The payload a gateway receives (docs/api.md, "Gateway payload"):
 * rendered content goes in through JSON string escaping only.
 */

ngx_int_t
ngx_campaign_dispatch_render(ngx_campaign_message_t *m, ngx_pool_t *scratch)
{
    size_t                     len, n;
    u_char                    *json;
    ngx_int_t                  rc;
    const char                *language;
    ngx_campaign_rendered_t   *r;
    ngx_campaign_t            *c;
    ngx_campaign_out_t         o;
    ngx_campaign_alloc_t       a;
    ngx_campaign_recipient_t  *rcp;
    ngx_campaign_execution_t  *e;

    e = m->execution;
    c = e->campaign;
    rcp = m->recipient;

    ngx_campaign_pool_alloc(&a, scratch);

    /* a connector builds its own request from the rendered entries */

    if (e->gateway->connector) {
        if (ngx_campaign_content_render(&a, c, rcp->data, &language, &r, &n)
            != 0)
        {
            ngx_log_error(NGX_LOG_WARN, e->log, 0,
                          "campaign: rendering message %V failed: "
                          "out of memory or over the limits",
                          &m->idempotency_key);
            return NGX_ERROR;
        }

        rc = ngx_campaign_connector_render(m, rcp->data, r, n, language);

        if (rc == NGX_DECLINED) {
            ngx_log_error(NGX_LOG_INFO, e->log, 0,
                          "campaign: message %V not sent: its address "
                          "is not one connector \"%V\" can send to",
                          &m->idempotency_key,
                          &e->gateway->connector->name);
        }

        return rc;
    }

    if (ngx_campaign_content_render_json(&a, c, rcp->data, &language, &json,
                                         &len)
        != 0)
    {
        ngx_log_error(NGX_LOG_WARN, e->log, 0,
                      "campaign: rendering message %V failed: "
                      "out of memory or over the limits",
                      &m->idempotency_key);
        return NGX_ERROR;
    }

    ngx_campaign_out_init(&o, e->pool, 512 + len);

    ngx_campaign_out_literal(&o, "{\"messageId\":");
    ngx_campaign_out_string(&o, m->idempotency_key.data,
                            m->idempotency_key.len);
    ngx_campaign_out_literal(&o, ",\"executionId\":");
    ngx_campaign_out_string(&o, e->id, NGX_CAMPAIGN_EXECUTION_ID_LEN);
    ngx_campaign_out_literal(&o, ",\"campaignId\":");
    ngx_campaign_out_string(&o, (u_char *) c->id, ngx_strlen(c->id));
    ngx_campaign_out_literal(&o, ",\"requestId\":");
    ngx_campaign_out_string(&o, e->request_id.data, e->request_id.len);
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

    /* RFC 8058 one-click unsubscribe, for marketing e-mail (consent.c) */

    if (m->unsubscribe_url.len && c->channel == NGX_CAMPAIGN_CHANNEL_EMAIL) {
        ngx_campaign_out_literal(&o, ",\"headers\":{\"List-Unsubscribe\":\"<");
        ngx_campaign_out_raw(&o, m->unsubscribe_url.data,
                             m->unsubscribe_url.len);
        ngx_campaign_out_literal(&o, ">\",\"List-Unsubscribe-Post\":"
                                 "\"List-Unsubscribe=One-Click\"}");
    }

    ngx_campaign_out_literal(&o, "}");

    if (o.failed) {
        return NGX_ERROR;
    }

    m->payload.data = o.start;
    m->payload.len = o.pos - o.start;

    return NGX_OK;
}


/*
 * One attempt of a message.
 */

ngx_int_t
ngx_campaign_dispatch_send(ngx_campaign_message_t *m)
{
    ngx_buf_t                 *b;
    ngx_chain_t               *cl;
    ngx_campaign_sr_t         *s;
    ngx_http_headers_in_t     *hi;
    ngx_campaign_gateway_t    *gw;
    ngx_http_request_body_t   *rb;
    ngx_campaign_execution_t  *e;

    e = m->execution;
    gw = e->gateway;

    if (gw->connector) {
        return ngx_campaign_connector_send(m);
    }

    rb = ngx_pcalloc(e->pool, sizeof(ngx_http_request_body_t));
    if (rb == NULL) {
        return NGX_ERROR;
    }

    b = ngx_calloc_buf(e->pool);
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

    cl = ngx_alloc_chain_link(e->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

    rb->bufs = cl;
    rb->buf = b;

    hi = ngx_campaign_dispatch_headers(m);
    if (hi == NULL) {
        return NGX_ERROR;
    }

    s = ngx_campaign_subrequest(m, &gw->uri, &gw->args, NGX_HTTP_POST,
                                &ngx_campaign_post, hi, rb,
                                ngx_campaign_dispatch_done);
    if (s == NULL) {
        return NGX_ERROR;
    }

    m->attempts++;
    m->sr = s;
    m->status = 0;
    m->sent = ngx_current_msec;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, e->log, 0,
                   "campaign: message %V attempt %ui to \"%V\"",
                   &m->idempotency_key, m->attempts, &gw->uri);

    return NGX_OK;
}


/*
 * The gateway gets only what describes the message.
 */

static ngx_http_headers_in_t *
ngx_campaign_dispatch_headers(ngx_campaign_message_t *m)
{
    u_char                 *p;
    ngx_pool_t             *pool;
    ngx_table_elt_t        *h;
    ngx_http_headers_in_t  *hi;

    pool = m->execution->pool;

    hi = ngx_campaign_subrequest_headers(m->execution,
                                         NGX_CAMPAIGN_GATEWAY_HEADERS);
    if (hi == NULL) {
        return NULL;
    }

    hi->content_length_n = m->payload.len;

    h = ngx_campaign_subrequest_header(pool, hi, "Content-Type",
                                     (u_char *) "application/json",
                                     sizeof("application/json") - 1);
    if (h == NULL) {
        return NULL;
    }

    hi->content_type = h;

    p = ngx_pnalloc(pool, NGX_OFF_T_LEN);
    if (p == NULL) {
        return NULL;
    }

    h = ngx_campaign_subrequest_header(pool, hi, "Content-Length", p,
                                     ngx_sprintf(p, "%uz", m->payload.len)
                                     - p);
    if (h == NULL) {
        return NULL;
    }

    hi->content_length = h;

    if (ngx_campaign_subrequest_header(pool, hi, "Idempotency-Key",
                                     m->idempotency_key.data,
                                     m->idempotency_key.len)
        == NULL)
    {
        return NULL;
    }

    p = ngx_pnalloc(pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NULL;
    }

    if (ngx_campaign_subrequest_header(pool, hi, "X-Campaign-Attempt", p,
                                     ngx_sprintf(p, "%ui", m->attempts + 1)
                                     - p)
        == NULL)
    {
        return NULL;
    }

    return hi;
}


static void
ngx_campaign_dispatch_done(ngx_campaign_sr_t *s)
{
    ngx_uint_t               status;
    ngx_campaign_message_t  *m;

    m = s->message;

    m->sr = NULL;
    m->status = s->status;
    status = s->status;

    if (status >= NGX_HTTP_OK && status < NGX_HTTP_SPECIAL_RESPONSE) {
        ngx_campaign_dispatch_outcome(m, NGX_CAMPAIGN_SEND_ACCEPTED);

    } else if (status >= NGX_HTTP_INTERNAL_SERVER_ERROR) {
        ngx_campaign_dispatch_outcome(m, NGX_CAMPAIGN_SEND_TRANSIENT);

    } else {
        ngx_campaign_dispatch_outcome(m, NGX_CAMPAIGN_SEND_PERMANENT);
    }
}


/*
 * What an attempt's answer does to its message: m->status holds the
 * gateway's status (a connector's: its protocol's code), m->reason what a
 * connector says of it.
 */

void
ngx_campaign_dispatch_outcome(ngx_campaign_message_t *m, ngx_uint_t kind)
{
    ngx_uint_t                 i;
    ngx_msec_t                 delay;
    ngx_campaign_execution_t  *e;

    e = m->execution;

    ngx_campaign_metrics_gateway(m);

    if (kind == NGX_CAMPAIGN_SEND_ACCEPTED) {
        ngx_campaign_execution_settle(m, NGX_CAMPAIGN_OUTCOME_ACCEPTED);
        return;
    }

    if (kind == NGX_CAMPAIGN_SEND_INVALID) {
        ngx_log_error(NGX_LOG_INFO, e->log, 0,
                      "campaign: message %V not delivered, invalid "
                      "address: %ui %V", &m->idempotency_key, m->status,
                      &m->reason);

        ngx_campaign_execution_settle(m, NGX_CAMPAIGN_OUTCOME_INVALID);
        return;
    }

    if (kind == NGX_CAMPAIGN_SEND_TRANSIENT
        && m->attempts <= e->conf->retries)
    {
        delay = e->conf->retry_delay;

        for (i = 1; i < m->attempts; i++) {
            if (delay >= NGX_CAMPAIGN_MAX_RETRY_DELAY / 2) {
                break;
            }

            delay *= 2;
        }

        delay = ngx_min(delay, NGX_CAMPAIGN_MAX_RETRY_DELAY);

        if (m->reason.len) {
            ngx_log_error(NGX_LOG_INFO, e->log, 0,
                          "campaign: gateway answered %ui for message %V "
                          "(%V), retrying in %Mms", m->status,
                          &m->idempotency_key, &m->reason, delay);

        } else {
            ngx_log_error(NGX_LOG_INFO, e->log, 0,
                          "campaign: gateway answered %ui for message %V, "
                          "retrying in %Mms", m->status, &m->idempotency_key,
                          delay);
        }

        ngx_campaign_metrics_count(e->campaign, NGX_CAMPAIGN_METRIC_RETRIED,
                                   1);
        ngx_campaign_execution_retry(m, delay);
        return;
    }

    if (m->reason.len) {
        ngx_log_error(NGX_LOG_WARN, e->log, 0,
                      "campaign: message %V failed, gateway answered %ui "
                      "(%V) after %ui attempt(s)", &m->idempotency_key,
                      m->status, &m->reason, m->attempts);

    } else {
        ngx_log_error(NGX_LOG_WARN, e->log, 0,
                      "campaign: message %V failed, gateway answered %ui "
                      "after %ui attempt(s)", &m->idempotency_key, m->status,
                      m->attempts);
    }

    ngx_campaign_execution_settle(m, NGX_CAMPAIGN_OUTCOME_GATEWAY);
}
