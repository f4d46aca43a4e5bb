
/*
 * Copyright (C) ngx_campaign developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_campaign_module.h"


/*
 * The module's subrequests, profile lookups and gateway attempts alike:
 * background subrequests of an execution's own request, so that nothing
 * of theirs reaches a client.  Each carries an ngx_campaign_sr_t: its
 * completion goes to that one's done(), once, with the final status, and
 * its answer is dropped by the body filter below (it is read, so that
 * upstream keepalive works) or captured, up to a size, when asked for, or
 * handed to a sink buffer by buffer (an audience streamed to a file).
 */


static ngx_int_t ngx_campaign_subrequest_finalized(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static ngx_int_t ngx_campaign_subrequest_status(ngx_http_request_t *sr,
    ngx_int_t rc, ngx_uint_t *status);
static ngx_int_t ngx_campaign_subrequest_survive(ngx_int_t rc);
static ngx_int_t ngx_campaign_subrequest_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static void ngx_campaign_subrequest_capture(ngx_campaign_sr_t *s,
    ngx_http_request_t *r, ngx_chain_t *in);
static ngx_int_t ngx_campaign_subrequest_grow(ngx_campaign_sr_t *s,
    ngx_http_request_t *r, size_t len);
static void ngx_campaign_subrequest_sink(ngx_campaign_sr_t *s,
    ngx_http_request_t *r, ngx_chain_t *in);


#define NGX_CAMPAIGN_SINK_CHUNK  16384


static ngx_http_output_body_filter_pt  ngx_campaign_next_body_filter;


ngx_int_t
ngx_campaign_subrequest_init(ngx_conf_t *cf)
{
    ngx_campaign_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_campaign_subrequest_body_filter;

    return NGX_OK;
}


/*
 * A subrequest for message m.  It gets variables of its own (a subrequest
 * shares the cached ones of its parent: the gateway's
 * $http_idempotency_key would be the first message's for all of them) and
 * the headers given.  Everything is allocated before it is created: once
 * ngx_http_subrequest() has posted it, it runs.
 */

ngx_campaign_sr_t *
ngx_campaign_subrequest(ngx_campaign_message_t *m, ngx_str_t *uri,
    ngx_str_t *args, ngx_uint_t method, ngx_str_t *method_name,
    ngx_http_headers_in_t *hi, ngx_http_request_body_t *rb,
    ngx_campaign_sr_done_pt done)
{
    ngx_campaign_sr_t           *s;
    ngx_http_request_t          *r, *sr;
    ngx_campaign_execution_t    *e;
    ngx_http_variable_value_t   *vv;
    ngx_http_core_main_conf_t   *cmcf;
    ngx_http_post_subrequest_t  *ps;

    e = m->execution;
    r = e->request;

    s = ngx_pcalloc(e->pool, sizeof(ngx_campaign_sr_t));
    if (s == NULL) {
        return NULL;
    }

    s->execution = e;
    s->message = m;
    s->done = done;

    ps = ngx_palloc(e->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NULL;
    }

    ps->handler = ngx_campaign_subrequest_finalized;
    ps->data = s;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    vv = ngx_pcalloc(e->pool, cmcf->variables.nelts
                              * sizeof(ngx_http_variable_value_t));
    if (vv == NULL) {
        return NULL;
    }

    if (ngx_http_subrequest(r, uri, (args && args->len) ? args : NULL, &sr,
                            ps, NGX_HTTP_SUBREQUEST_BACKGROUND)
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

    s->request = sr;
    e->in_flight++;

    return s;
}


/*
 * A subrequest starts with a copy of its parent's headers; ours get only
 * Host (for $host) and what the caller adds: the trigger's credentials
 * are no gateway's or profile service's business.  n is the most headers
 * the caller adds.
 */

ngx_http_headers_in_t *
ngx_campaign_subrequest_headers(ngx_campaign_execution_t *e, ngx_uint_t n)
{
    ngx_http_headers_in_t  *hi;

    hi = ngx_pcalloc(e->pool, sizeof(ngx_http_headers_in_t));
    if (hi == NULL) {
        return NULL;
    }

    hi->host = e->request->headers_in.host;
    hi->server = e->request->headers_in.server;
    hi->content_length_n = -1;
    hi->keep_alive_n = -1;

    if (ngx_list_init(&hi->headers, e->pool, ngx_max(n, 1),
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NULL;
    }

    return hi;
}


ngx_table_elt_t *
ngx_campaign_subrequest_header(ngx_pool_t *pool, ngx_http_headers_in_t *hi,
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

    h->lowcase_key = ngx_pnalloc(pool, n);
    if (h->lowcase_key == NULL) {
        return NULL;
    }

    h->hash = ngx_hash_strlow(h->lowcase_key, h->key.data, n);
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return h;
}


/*
 * The message a subrequest of ours works for; in an execution's own
 * request, the message whose lookup URI is being built.
 */

ngx_campaign_message_t *
ngx_campaign_subrequest_message(ngx_http_request_t *r)
{
    ngx_campaign_sr_t           *s;
    ngx_campaign_execution_t    *e;
    ngx_http_post_subrequest_t  *ps;

    ps = r->post_subrequest;

    if (r != r->main && ps
        && ps->handler == ngx_campaign_subrequest_finalized)
    {
        s = ps->data;
        return s->message;
    }

    e = ngx_http_get_module_ctx(r->main, ngx_http_campaign_module);

    return e ? e->current : NULL;
}


/* a captured answer is no longer needed */

void
ngx_campaign_subrequest_release(ngx_campaign_sr_t *s)
{
    if (s->pool) {
        ngx_destroy_pool(s->pool);
        s->pool = NULL;
    }

    s->start = NULL;
    s->pos = NULL;
    s->end = NULL;
}


static ngx_int_t
ngx_campaign_subrequest_finalized(ngx_http_request_t *sr, void *data,
    ngx_int_t rc)
{
    ngx_campaign_sr_t *s = data;

    ngx_campaign_execution_t  *e;

    if (s->request != sr) {
        return ngx_campaign_subrequest_survive(rc);
    }

    if (ngx_campaign_subrequest_status(sr, rc, &s->status) == NGX_AGAIN) {
        return rc;
    }

    s->request = NULL;
    e = s->execution;

    /* an upstream that closed early still finalizes with its status */

    if (s->capture && s->status == NGX_HTTP_OK && !s->too_large
        && sr->headers_out.content_length_n >= 0
        && sr->headers_out.content_length_n != (off_t) (s->pos - s->start))
    {
        s->unreadable = 1;
    }

    if (s->sink && s->status == NGX_HTTP_OK
        && sr->headers_out.content_length_n >= 0
        && sr->headers_out.content_length_n != s->received)
    {
        s->unreadable = 1;
    }

    if (s->abandoned) {
        /* the execution has settled this message already */
        ngx_campaign_subrequest_release(s);

    } else {
        e->in_flight--;
        s->done(s);
    }

    ngx_campaign_execution_post(e);

    return ngx_campaign_subrequest_survive(rc);
}


/*
 * A subrequest may be finalized more than once: with a status first, when
 * a special response or an error_page follows, then once that is done.
 * NGX_AGAIN until the end, then NGX_OK with *status set.
 */

static ngx_int_t
ngx_campaign_subrequest_status(ngx_http_request_t *sr, ngx_int_t rc,
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
 * the execution's request with it: the failure is the subrequest's,
 * already recorded, not the execution's.
 */

static ngx_int_t
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


/*
 * The answers to our subrequests stop here, before the postpone filter
 * would keep them.  r->ctx is lost on an internal redirect (error_page),
 * post_subrequest is kept.
 */

static ngx_int_t
ngx_campaign_subrequest_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t                 *cl;
    ngx_campaign_sr_t           *s;
    ngx_http_post_subrequest_t  *ps;

    ps = r->post_subrequest;

    if (r == r->main || ps == NULL
        || ps->handler != ngx_campaign_subrequest_finalized)
    {
        return ngx_campaign_next_body_filter(r, in);
    }

    s = ps->data;

    if (s->capture && !s->abandoned && s->request == r) {
        ngx_campaign_subrequest_capture(s, r, in);

    } else if (s->sink && !s->abandoned && s->request == r
               && r->headers_out.status == NGX_HTTP_OK)
    {
        ngx_campaign_subrequest_sink(s, r, in);
    }

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
    }

    return NGX_OK;
}


/*
 * The answer is kept in one buffer of its own pool, sized from its
 * Content-Length when it has one, so that it is copied once; an answer
 * over max_size is not kept at all.  Static files (sendfile) and proxy
 * temporary files give buffers in files: they are read, at most max_size
 * bytes of a file that was just written or is in the page cache.
 */

static void
ngx_campaign_subrequest_capture(ngx_campaign_sr_t *s, ngx_http_request_t *r,
    ngx_chain_t *in)
{
    size_t        len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_uint_t    in_file;
    ngx_chain_t  *cl;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (s->too_large || s->unreadable || ngx_buf_special(b)) {
            continue;
        }

        in_file = (b->in_file && !ngx_buf_in_memory(b));

        len = in_file ? (size_t) (b->file_last - b->file_pos)
                      : (size_t) (b->last - b->pos);

        if (len == 0) {
            continue;
        }

        if ((size_t) (s->end - s->pos) < len
            && ngx_campaign_subrequest_grow(s, r, len) != NGX_OK)
        {
            continue;
        }

        if (in_file) {
            n = ngx_read_file(b->file, s->pos, len, b->file_pos);

            if (n != (ssize_t) len) {
                s->unreadable = 1;
                continue;
            }

            s->pos += len;
            continue;
        }

        s->pos = ngx_cpymem(s->pos, b->pos, len);
    }
}


static ngx_int_t
ngx_campaign_subrequest_grow(ngx_campaign_sr_t *s, ngx_http_request_t *r,
    size_t len)
{
    off_t    length;
    size_t   used, size;
    u_char  *p;

    used = s->pos - s->start;
    size = used + len;

    if (size > s->max_size) {
        s->too_large = 1;
        return NGX_ERROR;
    }

    length = r->headers_out.content_length_n;

    if (s->start == NULL && length >= (off_t) size
        && length <= (off_t) s->max_size)
    {
        size = (size_t) length;

    } else {
        size = ngx_max(size, ngx_min(ngx_max(used * 2, 1024), s->max_size));
    }

    if (s->pool == NULL) {
        s->pool = ngx_create_pool(1024, r->connection->log);
        if (s->pool == NULL) {
            s->unreadable = 1;
            return NGX_ERROR;
        }
    }

    p = ngx_palloc(s->pool, size);
    if (p == NULL) {
        s->unreadable = 1;
        return NGX_ERROR;
    }

    if (used) {
        ngx_memcpy(p, s->start, used);
        (void) ngx_pfree(s->pool, s->start);
    }

    s->start = p;
    s->pos = p + used;
    s->end = p + size;

    return NGX_OK;
}


/*
 * Each buffer of the answer goes to the sink as it comes, so that an
 * answer of any size is never whole in memory.  A buffer in a file (a
 * static file, a proxy's temporary file) is read in chunks of a buffer of
 * the subrequest's own.  A sink that fails, or a file that cannot be
 * read, makes the answer unreadable: the rest is dropped.
 */

static void
ngx_campaign_subrequest_sink(ngx_campaign_sr_t *s, ngx_http_request_t *r,
    ngx_chain_t *in)
{
    off_t         pos;
    size_t        len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (s->unreadable || ngx_buf_special(b)) {
            continue;
        }

        if (ngx_buf_in_memory(b) || !b->in_file) {
            len = b->last - b->pos;

            if (len && s->sink(s->sink_data, b->pos, len) != NGX_OK) {
                s->unreadable = 1;
            }

            s->received += len;
            continue;
        }

        if (s->start == NULL) {
            s->start = ngx_palloc(r->pool, NGX_CAMPAIGN_SINK_CHUNK);
            if (s->start == NULL) {
                s->unreadable = 1;
                continue;
            }
        }

        for (pos = b->file_pos; pos < b->file_last; pos += n) {
            len = ngx_min(b->file_last - pos, NGX_CAMPAIGN_SINK_CHUNK);

            n = ngx_read_file(b->file, s->start, len, pos);

            if (n != (ssize_t) len
                || s->sink(s->sink_data, s->start, len) != NGX_OK)
            {
                s->unreadable = 1;
                break;
            }

            s->received += len;
        }
    }
}
