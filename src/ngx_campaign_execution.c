
/*
 * Copyright (C) ngx_campaign developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_campaign_module.h"


/*
 * Executions.  An execution is owned by the worker, not by a client's
 * request: it has its own pool and its own connection and request (fd -1,
 * never on the network), which are the main request of its profile
 * lookups and gateway attempts.  A client that leaves does not end it, a
 * timer can start one, and a worker that is told to quit on a reload
 * finishes it first: its deadline timer keeps the worker until it has
 * settled, and campaign_execution_timeout bounds that.
 *
 * Its states, advanced by ngx_campaign_execution_advance() only:
 *
 *     parsed    the trigger is checked, every message is known
 *     lookup    profiles are looked up; each message is rendered as soon
 *               as its profile is known, and the profile is let go
 *     rendered  every message has its payload or its failure
 *     sending   gateway attempts and retries
 *     settled   every message has its outcome; whoever waits is told,
 *               and the execution goes once its subrequests are over
 *
 * Profile lookup and dispatch are leaves: they start subrequests and
 * report each outcome back here.
 */


/*
 * The execution's log and its context live in its connection's pool,
 * which outlives the execution's own: nginx may still log through the
 * connection once the execution is gone.
 */

typedef struct {
    ngx_http_log_ctx_t           http;        /* what nginx expects */
    u_char                       id[NGX_CAMPAIGN_EXECUTION_ID_LEN];
    ngx_str_t                    client;
} ngx_campaign_execution_log_ctx_t;


static ngx_int_t ngx_campaign_execution_copy(ngx_campaign_execution_t *e,
    ngx_str_t *to, const char *from);
static void ngx_campaign_execution_cleanup(void *data);
static void ngx_campaign_execution_run(ngx_campaign_execution_t *e);
static ngx_int_t ngx_campaign_execution_request(ngx_campaign_execution_t *e,
    ngx_http_request_t *client);
static ngx_int_t ngx_campaign_execution_client(ngx_campaign_execution_t *e,
    ngx_http_request_t *r, ngx_http_request_t *client);
static ngx_int_t ngx_campaign_execution_address(ngx_campaign_execution_t *e,
    ngx_connection_t *c, ngx_connection_t *client);
static u_char *ngx_campaign_execution_log_error(ngx_log_t *log, u_char *buf,
    size_t len);
static void ngx_campaign_execution_handler(ngx_event_t *ev);
static ngx_int_t ngx_campaign_execution_advance(ngx_campaign_execution_t *e);
static void ngx_campaign_execution_start_messages(
    ngx_campaign_execution_t *e, ngx_campaign_message_state_e from);
static void ngx_campaign_execution_lookup(ngx_campaign_message_t *m);
static void ngx_campaign_execution_send(ngx_campaign_message_t *m);
static void ngx_campaign_execution_render(ngx_campaign_message_t *m,
    ngx_pool_t *pool);
static void ngx_campaign_execution_retry_handler(ngx_event_t *ev);
static void ngx_campaign_execution_deadline_handler(ngx_event_t *ev);
static void ngx_campaign_execution_close(ngx_campaign_execution_t *e);
static void ngx_campaign_execution_release(ngx_campaign_execution_t *e);
static void ngx_campaign_execution_close_connection(ngx_connection_t *c);
static void ngx_campaign_execution_free_connection(void *data);
static ngx_pool_t *ngx_campaign_pool_get(ngx_log_t *log);
static void ngx_campaign_pool_put(ngx_pool_t *pool);


#define NGX_CAMPAIGN_EXECUTION_POOL_SIZE  8192
#define NGX_CAMPAIGN_LINGER               1000
#define NGX_CAMPAIGN_LINGER_WARN          10
#define NGX_CAMPAIGN_POOL_CACHE           64
#define NGX_CAMPAIGN_POOL_CACHE_BLOCKS    4


static ngx_queue_t  ngx_campaign_executions;
static ngx_uint_t   ngx_campaign_executions_init;

static ngx_str_t    ngx_campaign_http_11 = ngx_string("HTTP/1.1");

#if (NGX_HAVE_UNIX_DOMAIN)
static struct sockaddr_un  ngx_campaign_timer_sockaddr = { AF_UNIX, "" };
#else
static struct sockaddr_in  ngx_campaign_timer_sockaddr = { AF_INET, 0 };
#endif

static ngx_pool_t  *ngx_campaign_pools[NGX_CAMPAIGN_POOL_CACHE];
static ngx_uint_t   ngx_campaign_npools;


ngx_campaign_execution_t *
ngx_campaign_execution_create(ngx_log_t *log)
{
    u_char                    *p;
    ngx_tm_t                   tm;
    ngx_pool_t                *pool;
    ngx_time_t                *tp;
    ngx_pool_cleanup_t        *cln;
    ngx_campaign_execution_t  *e;

    pool = ngx_campaign_pool_get(log);
    if (pool == NULL) {
        return NULL;
    }

    e = ngx_pcalloc(pool, sizeof(ngx_campaign_execution_t));
    if (e == NULL) {
        goto failed;
    }

    e->pool = pool;

    /* until it starts, it logs as the client's request does */

    e->log = ngx_palloc(pool, sizeof(ngx_log_t));
    if (e->log == NULL) {
        goto failed;
    }

    *e->log = *log;
    pool->log = e->log;

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        goto failed;
    }

    cln->handler = ngx_campaign_execution_cleanup;
    cln->data = e;

    e->trigger_pool = ngx_campaign_pool_get(e->log);
    if (e->trigger_pool == NULL) {
        goto failed;
    }

    ngx_campaign_execution_id(e->id);

    p = ngx_pnalloc(pool, sizeof("1970-01-01T00:00:00.000Z") - 1);
    if (p == NULL) {
        goto failed;
    }

    tp = ngx_timeofday();
    ngx_gmtime(tp->sec, &tm);

    e->created_at.data = p;
    e->created_at.len = ngx_sprintf(p, "%4d-%02d-%02dT%02d:%02d:%02d.%03MZ",
                                    tm.ngx_tm_year, tm.ngx_tm_mon,
                                    tm.ngx_tm_mday, tm.ngx_tm_hour,
                                    tm.ngx_tm_min, tm.ngx_tm_sec, tp->msec)
                        - p;

    e->started = ngx_current_msec;

    return e;

failed:

    if (e) {
        e->closing = 1;

        if (e->trigger_pool) {
            ngx_campaign_pool_put(e->trigger_pool);
        }
    }

    ngx_campaign_pool_put(pool);

    return NULL;
}


/*
 * A version 4 UUID.  The random bytes are drawn 64 ids at a time: one
 * RAND_bytes() call costs as much as the rest of a trigger's checks.
 * Workers fill their own buffer, never the master, so no two processes
 * share one.  Audience executions take theirs here too.
 */

void
ngx_campaign_execution_id(u_char *out)
{
    u_char      *p, *id;
    uint32_t     rnd[4];
    ngx_uint_t   i;

    static u_char      bytes[16 * 64];
    static ngx_uint_t  used = sizeof(bytes);

    static const char  hex[] = "0123456789abcdef";

    if (used == sizeof(bytes)) {
        used = 0;

#if (NGX_OPENSSL)
        if (RAND_bytes(bytes, sizeof(bytes)) != 1)
#endif
        {
            for (i = 0; i < sizeof(bytes); i++) {
                bytes[i] = (u_char) (ngx_random() >> 7);
            }
        }
    }

    ngx_memcpy(rnd, bytes + used, sizeof(rnd));
    used += sizeof(rnd);

    p = (u_char *) rnd;
    p[6] = (p[6] & 0x0f) | 0x40;
    p[8] = (p[8] & 0x3f) | 0x80;

    id = out;

    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            *id++ = '-';
        }

        *id++ = hex[p[i] >> 4];
        *id++ = hex[p[i] & 0xf];
    }
}


/*
 * One message per recipient of the checked trigger; its messageId, the
 * Idempotency-Key of every attempt, is the executionId and its position.
 */

ngx_int_t
ngx_campaign_execution_messages(ngx_campaign_execution_t *e)
{
    u_char                  *p;
    ngx_uint_t               i;
    ngx_str_t                s;
    ngx_campaign_message_t  *m;

    s.data = (u_char *) e->trigger.request_id;
    s.len = ngx_strlen(s.data);

    e->request_id.data = ngx_pstrdup(e->pool, &s);
    if (e->request_id.data == NULL) {
        return NGX_ERROR;
    }

    e->request_id.len = s.len;

    e->nmessages = e->trigger.nrecipients;
    e->messages = ngx_pcalloc(e->pool,
                              e->nmessages * sizeof(ngx_campaign_message_t));
    if (e->messages == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < e->nmessages; i++) {
        m = &e->messages[i];

        m->execution = e;
        m->recipient = &e->trigger.recipients[i];
        m->index = i;

        if (ngx_campaign_execution_copy(e, &m->user_id,
                                        m->recipient->user_id)
               != NGX_OK
            || ngx_campaign_execution_copy(e, &m->namespace,
                                           m->recipient->namespace)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        p = ngx_pnalloc(e->pool, NGX_CAMPAIGN_EXECUTION_ID_LEN + 1
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

        m->retry.handler = ngx_campaign_execution_retry_handler;
        m->retry.data = m;
        m->retry.log = e->log;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_campaign_execution_copy(ngx_campaign_execution_t *e, ngx_str_t *to,
    const char *from)
{
    to->len = ngx_strlen(from);

    to->data = ngx_pnalloc(e->pool, to->len);
    if (to->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(to->data, from, to->len);

    return NGX_OK;
}


/*
 * An execution that did not start (its trigger was refused) goes.
 */

void
ngx_campaign_execution_destroy(ngx_campaign_execution_t *e)
{
    ngx_campaign_execution_close(e);
}


/*
 * From here on the execution runs by itself.  client is the request
 * that started it, if any: the execution takes its configuration, and
 * copies of its address and Host for the subrequests' variables, never
 * pointers into it.  Without one (a timer), the configuration is that of
 * the API location, e->conf->ctx.  e->conf, e->campaign and e->gateway
 * are set.
 */

ngx_int_t
ngx_campaign_execution_start(ngx_campaign_execution_t *e,
    ngx_http_request_t *client)
{
    ngx_connection_t  *c;

    if (ngx_campaign_execution_request(e, client) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_campaign_execution_run(e);

    /* not cancelable: a worker that quits waits for it, this long */

    e->deadline.handler = ngx_campaign_execution_deadline_handler;
    e->deadline.data = e;
    e->deadline.log = e->log;

    ngx_add_timer(&e->deadline, e->conf->execution_timeout);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, e->log, 0,
                   "campaign: execution of \"%s\", %ui message(s)",
                   e->campaign->id, e->nmessages);

    /*
     * The messages with an inline profile are rendered now, and the
     * trigger let go when it can be.  A gateway location that answers at
     * once (the outbox, a cache) settles the execution before this
     * returns: its client is then answered now, not after every other
     * event of this cycle.
     */

    c = e->connection;

    if (ngx_campaign_execution_advance(e) == NGX_DONE) {
        return NGX_OK;
    }

    ngx_http_run_posted_requests(c);

    if (e->advance.posted) {
        ngx_delete_posted_event(&e->advance);
        ngx_campaign_execution_handler(&e->advance);
    }

    return NGX_OK;
}


/* its place in the worker's list, and the events that move it on */

static void
ngx_campaign_execution_run(ngx_campaign_execution_t *e)
{
    if (!ngx_campaign_executions_init) {
        ngx_queue_init(&ngx_campaign_executions);
        ngx_campaign_executions_init = 1;
    }

    ngx_queue_insert_tail(&ngx_campaign_executions, &e->queue);

    e->advance.handler = ngx_campaign_execution_handler;
    e->advance.data = e;
    e->advance.log = e->log;

    e->linger.handler = ngx_campaign_execution_handler;
    e->linger.data = e;
    e->linger.log = e->log;
    e->linger.cancelable = 1;
}


/*
 * An execution with no message that fetches one URI with GET, in the
 * background (an audience's location source): its request is only the
 * parent of the subrequest, and it closes once that is over.  Each buffer
 * of a 200 answer goes to sink, the end to done, from later events, never
 * from inside this call.  e->conf is set.  No campaign_execution_timeout:
 * an answer streams for as long as its location lets it.
 */

ngx_campaign_sr_t *
ngx_campaign_execution_fetch(ngx_campaign_execution_t *e, ngx_str_t *uri,
    ngx_campaign_sr_done_pt done, ngx_campaign_sr_sink_pt sink, void *data)
{
    ngx_campaign_sr_t       *s;
    ngx_http_headers_in_t   *hi;
    ngx_campaign_message_t  *m;

    static ngx_str_t  get = ngx_string("GET");

    if (ngx_campaign_execution_request(e, NULL) != NGX_OK) {
        return NULL;
    }

    ngx_campaign_execution_run(e);

    /* the subrequest's message, for its variables: no recipient */

    m = ngx_pcalloc(e->pool, sizeof(ngx_campaign_message_t));
    if (m == NULL) {
        return NULL;
    }

    m->execution = e;

    hi = ngx_campaign_subrequest_headers(e, 0);
    if (hi == NULL) {
        return NULL;
    }

    s = ngx_campaign_subrequest(m, uri, NULL, NGX_HTTP_GET, &get, hi, NULL,
                                done);
    if (s == NULL) {
        return NULL;
    }

    s->sink = sink;
    s->sink_data = data;

    /* settled once the subrequest is over; posted, it starts it */

    e->state = NGX_CAMPAIGN_EXECUTION_SENDING;
    ngx_campaign_execution_post(e);

    return s;
}


/*
 * The execution's own connection and request, built as nginx builds a
 * client's, so that subrequests, upstreams and variables find what they
 * expect.  The connection takes one of worker_connections while the
 * execution runs.
 */

static ngx_int_t
ngx_campaign_execution_request(ngx_campaign_execution_t *e,
    ngx_http_request_t *client)
{
    ngx_uint_t                         i;
    ngx_log_t                         *log;
    ngx_time_t                        *tp;
    ngx_connection_t                  *c;
    ngx_pool_cleanup_t                *cln;
    ngx_http_request_t                *r;
    ngx_http_core_main_conf_t         *cmcf;
    ngx_campaign_execution_log_ctx_t  *ctx;

    r = ngx_pcalloc(e->pool, sizeof(ngx_http_request_t));
    if (r == NULL) {
        return NGX_ERROR;
    }

    r->ctx = ngx_pcalloc(e->pool, sizeof(void *) * ngx_http_max_module);
    if (r->ctx == NULL) {
        return NGX_ERROR;
    }

    /* a timer's execution takes the configuration of its API location */

    if (client) {
        r->main_conf = client->main_conf;
        r->srv_conf = client->srv_conf;
        r->loc_conf = client->loc_conf;

    } else {
        r->main_conf = e->conf->ctx->main_conf;
        r->srv_conf = e->conf->ctx->srv_conf;
        r->loc_conf = e->conf->ctx->loc_conf;
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    r->variables = ngx_pcalloc(e->pool, cmcf->variables.nelts
                                        * sizeof(ngx_http_variable_value_t));
    if (r->variables == NULL) {
        return NGX_ERROR;
    }

    if (ngx_list_init(&r->headers_in.headers, e->pool, 1,
                      sizeof(ngx_table_elt_t))
        != NGX_OK
        || ngx_list_init(&r->headers_out.headers, e->pool, 1,
                         sizeof(ngx_table_elt_t))
           != NGX_OK
        || ngx_list_init(&r->headers_out.trailers, e->pool, 1,
                         sizeof(ngx_table_elt_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (client && ngx_campaign_execution_client(e, r, client) != NGX_OK) {
        return NGX_ERROR;
    }

    c = ngx_get_connection(0, e->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->fd = (ngx_socket_t) -1;

    c->pool = ngx_campaign_pool_get(e->log);
    if (c->pool == NULL) {
        ngx_campaign_execution_close_connection(c);
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(c->pool, 0);
    if (cln == NULL) {
        ngx_campaign_pool_put(c->pool);
        c->pool = NULL;
        ngx_campaign_execution_close_connection(c);
        return NGX_ERROR;
    }

    cln->handler = ngx_campaign_execution_free_connection;
    cln->data = c;

    e->connection = c;

    ctx = ngx_pcalloc(c->pool, sizeof(ngx_campaign_execution_log_ctx_t));
    log = ngx_palloc(c->pool, sizeof(ngx_log_t));

    if (ctx == NULL || log == NULL
        || ngx_campaign_execution_address(e, c,
                                          client ? client->connection : NULL)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    *log = *e->log;
    c->pool->log = log;

    c->log = log;
    c->read->log = log;
    c->write->log = log;
    c->log_error = NGX_ERROR_INFO;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);
    c->requests = 1;
    c->data = r;

    /*
     * Its events never fire: an upstream that would watch a client's
     * connection for a close must find them added already, and nothing
     * may set socket options on it.
     */

    c->read->handler = ngx_http_empty_handler;
    c->write->handler = ngx_http_empty_handler;
    c->read->active = 1;
    c->write->active = 1;
    c->tcp_nodelay = NGX_TCP_NODELAY_DISABLED;
    c->tcp_nopush = NGX_TCP_NOPUSH_DISABLED;

    r->signature = NGX_HTTP_MODULE;
    r->connection = c;
    r->pool = e->pool;
    r->main = r;
    r->count = 1;

    tp = ngx_timeofday();
    r->start_sec = tp->sec;
    r->start_msec = tp->msec;

    r->method = NGX_HTTP_UNKNOWN;
    r->http_version = NGX_HTTP_VERSION_11;
    r->http_protocol = ngx_campaign_http_11;

    r->headers_in.content_length_n = -1;
    r->headers_in.keep_alive_n = -1;
    r->headers_out.content_length_n = -1;
    r->headers_out.last_modified_time = -1;

    r->uri_changes = NGX_HTTP_MAX_URI_CHANGES + 1;
    r->subrequests = NGX_HTTP_MAX_SUBREQUESTS + 1;
    r->http_state = NGX_HTTP_PROCESS_REQUEST_STATE;

    r->internal = 1;
    r->logged = 1;                         /* it is no client's request */
    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    /*
     * limit_req and limit_conn count a main request once, and would make
     * a subrequest wait on the events of this connection, which never
     * fire: they are passed.
     */

    r->limit_req_status = 1;               /* NGX_HTTP_LIMIT_REQ_PASSED */
    r->limit_conn_status = 1;              /* NGX_HTTP_LIMIT_CONN_PASSED */

    ngx_http_set_ctx(r, e, ngx_http_campaign_module);

    e->request = r;

    /* its messages say which execution they are about */

    ctx->http.connection = c;
    ctx->http.request = r;
    ctx->http.current_request = r;
    ngx_memcpy(ctx->id, e->id, NGX_CAMPAIGN_EXECUTION_ID_LEN);
    ctx->client = c->addr_text;

    log->connection = c->number;
    log->handler = ngx_campaign_execution_log_error;
    log->data = ctx;
    log->action = NULL;

    /* from now on the execution logs as its connection does */

    e->log = log;
    e->pool->log = log;
    e->trigger_pool->log = log;

    for (i = 0; i < e->nmessages; i++) {
        e->messages[i].retry.log = log;
    }

    return NGX_OK;
}


/*
 * What the execution keeps of the client's request, copied: its Host,
 * for $host in gateway locations, and its URI and request line, which
 * subrequests inherit.
 */

static ngx_int_t
ngx_campaign_execution_client(ngx_campaign_execution_t *e,
    ngx_http_request_t *r, ngx_http_request_t *client)
{
    ngx_table_elt_t  *host;

    if (client->headers_in.host) {
        host = ngx_list_push(&r->headers_in.headers);
        if (host == NULL) {
            return NGX_ERROR;
        }

        *host = *client->headers_in.host;
#if (nginx_version >= 1023000)
        host->next = NULL;
#endif

        host->key.data = ngx_pstrdup(e->pool, &host->key);
        host->value.data = ngx_pstrdup(e->pool, &host->value);
        host->lowcase_key = ngx_pnalloc(e->pool, host->key.len);

        if (host->key.data == NULL || host->value.data == NULL
            || host->lowcase_key == NULL)
        {
            return NGX_ERROR;
        }

        ngx_strlow(host->lowcase_key, host->key.data, host->key.len);

        r->headers_in.host = host;
        r->headers_in.server = host->value;
    }

    r->uri.data = ngx_pstrdup(e->pool, &client->uri);
    r->unparsed_uri.data = ngx_pstrdup(e->pool, &client->unparsed_uri);
    r->request_line.data = ngx_pstrdup(e->pool, &client->request_line);

    if ((client->uri.len && r->uri.data == NULL)
        || (client->unparsed_uri.len && r->unparsed_uri.data == NULL)
        || (client->request_line.len && r->request_line.data == NULL))
    {
        return NGX_ERROR;
    }

    r->uri.len = client->uri.len;
    r->unparsed_uri.len = client->unparsed_uri.len;
    r->request_line.len = client->request_line.len;

    return NGX_OK;
}


/*
 * $remote_addr and friends in a gateway location are the trigger
 * client's, copied: the client may be gone before the execution is.  An
 * execution that a timer started has the address "unix:".
 */

static ngx_int_t
ngx_campaign_execution_address(ngx_campaign_execution_t *e,
    ngx_connection_t *c, ngx_connection_t *client)
{
    if (client == NULL) {
        c->sockaddr = (struct sockaddr *) &ngx_campaign_timer_sockaddr;
        c->socklen = sizeof(ngx_campaign_timer_sockaddr);
        c->local_sockaddr = c->sockaddr;
        c->local_socklen = c->socklen;
        ngx_str_set(&c->addr_text, "unix:");

        return NGX_OK;
    }

    c->sockaddr = ngx_palloc(c->pool, client->socklen);
    if (c->sockaddr == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(c->sockaddr, client->sockaddr, client->socklen);
    c->socklen = client->socklen;

    c->addr_text.data = ngx_pstrdup(c->pool, &client->addr_text);
    if (c->addr_text.data == NULL && client->addr_text.len) {
        return NGX_ERROR;
    }

    c->addr_text.len = client->addr_text.len;

    /* a wildcard listen knows its address once asked: ask before copying */

    (void) ngx_connection_local_sockaddr(client, NULL, 0);

    if (client->local_sockaddr) {
        c->local_sockaddr = ngx_palloc(c->pool, client->local_socklen);
        if (c->local_sockaddr == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(c->local_sockaddr, client->local_sockaddr,
                   client->local_socklen);
        c->local_socklen = client->local_socklen;
    }

    /* the listening sockets live as long as the cycle, as does the worker */
    c->listening = client->listening;

    return NGX_OK;
}


static u_char *
ngx_campaign_execution_log_error(ngx_log_t *log, u_char *buf, size_t len)
{
    u_char                            *p;
    char                              *separator;
    ngx_http_request_t                *sr;
    ngx_http_upstream_t               *u;
    ngx_campaign_execution_log_ctx_t  *ctx;

    p = buf;

    if (log->action) {
        p = ngx_snprintf(buf, len, " while %s", log->action);
        len -= p - buf;
        buf = p;
    }

    ctx = log->data;

    p = ngx_snprintf(buf, len, ", execution: %*s, client: %V",
                     (size_t) NGX_CAMPAIGN_EXECUTION_ID_LEN, ctx->id,
                     &ctx->client);
    len -= p - buf;
    buf = p;

    sr = ctx->http.current_request;

    if (sr == NULL || sr == ctx->http.request) {
        return buf;
    }

    p = ngx_snprintf(buf, len, ", subrequest: \"%V\"", &sr->uri);
    len -= p - buf;
    buf = p;

    u = sr->upstream;

    if (u && u->peer.name) {
        separator = "";

#if (NGX_HAVE_UNIX_DOMAIN)
        if (u->peer.sockaddr && u->peer.sockaddr->sa_family == AF_UNIX) {
            separator = ":";
        }
#endif

        p = ngx_snprintf(buf, len, ", upstream: \"%V%V%s%V\"",
                         &u->schema, u->peer.name, separator, &u->uri);
        buf = p;
    }

    return buf;
}


/*
 * Leaves report here, from inside a subrequest's finalization: the
 * execution goes on from a posted event, never from inside theirs.
 */

void
ngx_campaign_execution_post(ngx_campaign_execution_t *e)
{
    if (!e->closing && !e->advance.posted) {
        ngx_post_event(&e->advance, &ngx_posted_events);
    }
}


static void
ngx_campaign_execution_handler(ngx_event_t *ev)
{
    ngx_connection_t          *c;
    ngx_campaign_execution_t  *e;

    e = ev->data;
    c = e->connection;

    /* what it logs is its own, not the last subrequest's */

    ngx_http_set_log_request(c->log, e->request);
    c->log->action = NULL;

    if (ngx_campaign_execution_advance(e) == NGX_DONE) {
        return;
    }

    ngx_http_run_posted_requests(c);
}


/*
 * The one place an execution moves on.  NGX_DONE when it is over and
 * gone, NGX_AGAIN when it waits for something.
 */

static ngx_int_t
ngx_campaign_execution_advance(ngx_campaign_execution_t *e)
{
    ngx_uint_t               i;
    ngx_campaign_message_t  *m;

    switch (e->state) {

    case NGX_CAMPAIGN_EXECUTION_PARSED:

        /* recipients with an inline profile need no lookup */

        for (i = 0; i < e->nmessages; i++) {
            m = &e->messages[i];

            /* a capped one is settled already */

            if (m->state == NGX_CAMPAIGN_MESSAGE_NEW
                && (m->recipient->profile || e->conf->profile_uri == NULL))
            {
                ngx_campaign_execution_render(m, e->pool);
            }
        }

        e->state = NGX_CAMPAIGN_EXECUTION_LOOKUP;

        /* fall through */

    case NGX_CAMPAIGN_EXECUTION_LOOKUP:

        ngx_campaign_execution_start_messages(e, NGX_CAMPAIGN_MESSAGE_NEW);

        if (e->in_flight) {
            return NGX_AGAIN;
        }

        e->state = NGX_CAMPAIGN_EXECUTION_RENDERED;

        /* fall through */

    case NGX_CAMPAIGN_EXECUTION_RENDERED:

        /* every payload is built: the trigger is no longer needed */

        for (i = 0; i < e->nmessages; i++) {
            e->messages[i].recipient = NULL;
        }

        ngx_campaign_pool_put(e->trigger_pool);
        e->trigger_pool = NULL;
        ngx_memzero(&e->trigger, sizeof(ngx_campaign_trigger_t));

        e->state = NGX_CAMPAIGN_EXECUTION_SENDING;

        /* fall through */

    case NGX_CAMPAIGN_EXECUTION_SENDING:

        ngx_campaign_execution_start_messages(e, NGX_CAMPAIGN_MESSAGE_READY);

        if (e->in_flight || e->waiting) {
            return NGX_AGAIN;
        }

        e->state = NGX_CAMPAIGN_EXECUTION_SETTLED;

        if (e->deadline.timer_set) {
            ngx_del_timer(&e->deadline);
        }

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, e->log, 0,
                       "campaign: execution settled in %Mms, "
                       "%ui subrequest(s) left",
                       ngx_current_msec - e->started, e->request->count - 1);

        /* fall through */

    case NGX_CAMPAIGN_EXECUTION_SETTLED:

        if (!e->notified) {
            e->notified = 1;

            if (e->settled) {
                e->settled(e, e->data);
            }
        }

        /* abandoned subrequests still use the pool */

        if (e->request->count > 1) {
            if (!e->linger.timer_set) {
                ngx_add_timer(&e->linger, NGX_CAMPAIGN_LINGER);

                if (++e->lingered == NGX_CAMPAIGN_LINGER_WARN) {
                    ngx_log_error(NGX_LOG_WARN, e->log, 0,
                                  "campaign: execution settled %Ms ago, "
                                  "%ui subrequest(s) still running",
                                  (ngx_msec_t) NGX_CAMPAIGN_LINGER_WARN
                                  * NGX_CAMPAIGN_LINGER / 1000,
                                  e->request->count - 1);
                }
            }

            return NGX_AGAIN;
        }

        ngx_campaign_execution_close(e);

        return NGX_DONE;
    }

    return NGX_AGAIN;
}


/*
 * Starts what the messages in state "from" wait for, a profile lookup or a
 * gateway attempt, in the recipients' order, while there is room.
 */

static void
ngx_campaign_execution_start_messages(ngx_campaign_execution_t *e,
    ngx_campaign_message_state_e from)
{
    ngx_uint_t               i;
    ngx_campaign_message_t  *m;

    for (i = 0; i < e->nmessages; i++) {

        if (e->in_flight >= e->conf->concurrency) {
            return;
        }

        m = &e->messages[i];

        if (m->state != from) {
            continue;
        }

        if (from == NGX_CAMPAIGN_MESSAGE_NEW) {
            ngx_campaign_execution_lookup(m);

        } else {
            ngx_campaign_execution_send(m);
        }
    }
}


static void
ngx_campaign_execution_lookup(ngx_campaign_message_t *m)
{
    ngx_int_t  rc;

    rc = ngx_campaign_profile_lookup(m);

    if (rc == NGX_OK) {
        m->state = NGX_CAMPAIGN_MESSAGE_LOOKUP;
        return;
    }

    if (rc == NGX_DECLINED) {
        m->profile_status = NGX_HTTP_NOT_FOUND;
        ngx_campaign_execution_settle(m, NGX_CAMPAIGN_OUTCOME_NO_PROFILE);
        return;
    }

    m->profile_status = NGX_HTTP_INTERNAL_SERVER_ERROR;
    ngx_campaign_execution_settle(m, NGX_CAMPAIGN_OUTCOME_LOOKUP);
}


static void
ngx_campaign_execution_send(ngx_campaign_message_t *m)
{
    if (ngx_campaign_dispatch_send(m) == NGX_OK) {
        m->state = NGX_CAMPAIGN_MESSAGE_SENDING;
        return;
    }

    m->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
    ngx_campaign_execution_settle(m, NGX_CAMPAIGN_OUTCOME_GATEWAY);
}


/*
 * A looked-up profile, parsed in its own pool: the message is rendered
 * with it at once, and the pool goes with the caller, so that an
 * execution holds at most "concurrency" profiles at a time.
 */

void
ngx_campaign_execution_profile(ngx_campaign_message_t *m, ngx_pool_t *pool,
    cJSON *profile)
{
    cJSON                     *ref;
    ngx_campaign_recipient_t  *rcp;

    rcp = m->recipient;

    ref = cJSON_CreateObjectReference(profile->child);

    if (ref == NULL
        || !cJSON_ReplaceItemInObjectCaseSensitive(rcp->data, "profile",
                                                   ref))
    {
        cJSON_Delete(ref);
        m->profile_status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        ngx_campaign_execution_settle(m, NGX_CAMPAIGN_OUTCOME_LOOKUP);
        return;
    }

    rcp->profile = profile;

    ngx_campaign_execution_render(m, pool);

    /* nothing may point into the profile's pool once it is gone */

    cJSON_DeleteItemFromObjectCaseSensitive(rcp->data, "profile");
    rcp->profile = NULL;
}


static void
ngx_campaign_execution_render(ngx_campaign_message_t *m, ngx_pool_t *pool)
{
    ngx_int_t               rc;
    ngx_campaign_outcome_e  outcome;

    /* with its profile known: consent and suppression lists (marketing) */

    outcome = ngx_campaign_consent_check(m);

    if (outcome != NGX_CAMPAIGN_OUTCOME_NONE) {
        ngx_campaign_execution_settle(m, outcome);
        return;
    }

    rc = ngx_campaign_dispatch_render(m, pool);

    ngx_campaign_consent_done(m);

    if (rc == NGX_OK) {
        m->state = NGX_CAMPAIGN_MESSAGE_READY;
        return;
    }

    /* a connector's: the address is not one it can send to */

    if (rc == NGX_DECLINED) {
        ngx_campaign_execution_settle(m, NGX_CAMPAIGN_OUTCOME_INVALID);
        return;
    }

    ngx_campaign_execution_settle(m, NGX_CAMPAIGN_OUTCOME_RENDER);
}


void
ngx_campaign_execution_settle(ngx_campaign_message_t *m,
    ngx_campaign_outcome_e outcome)
{
    ngx_campaign_metrics_message(m, outcome);

    m->state = NGX_CAMPAIGN_MESSAGE_DONE;
    m->outcome = outcome;
    m->sr = NULL;

    ngx_campaign_caps_settle(m);
}


void
ngx_campaign_execution_retry(ngx_campaign_message_t *m, ngx_msec_t delay)
{
    m->state = NGX_CAMPAIGN_MESSAGE_WAITING;
    m->execution->waiting++;

    ngx_add_timer(&m->retry, delay);
}


static void
ngx_campaign_execution_retry_handler(ngx_event_t *ev)
{
    ngx_campaign_message_t *m = ev->data;

    ngx_campaign_execution_t  *e;

    e = m->execution;

    e->waiting--;
    m->state = NGX_CAMPAIGN_MESSAGE_READY;

    ngx_campaign_execution_handler(&e->advance);
}


/*
 * campaign_execution_timeout: what has not settled by now fails.  An
 * attempt in flight may still reach its gateway; its answer is ignored,
 * and the gateway has its Idempotency-Key to recognise a retry later.
 */

static void
ngx_campaign_execution_deadline_handler(ngx_event_t *ev)
{
    ngx_campaign_execution_t *e = ev->data;

    ngx_uint_t               i, n;
    ngx_campaign_message_t  *m;

    ngx_http_set_log_request(e->log, e->request);
    e->log->action = NULL;

    n = 0;

    for (i = 0; i < e->nmessages; i++) {
        m = &e->messages[i];

        if (m->state == NGX_CAMPAIGN_MESSAGE_DONE) {
            continue;
        }

        if (m->sr) {
            m->sr->abandoned = 1;
            e->in_flight--;
        }

        if (m->retry.timer_set) {
            ngx_del_timer(&m->retry);
            e->waiting--;
        }

        if (m->state == NGX_CAMPAIGN_MESSAGE_SENDING
            || m->state == NGX_CAMPAIGN_MESSAGE_WAITING)
        {
            m->status = NGX_HTTP_GATEWAY_TIME_OUT;
        }

        ngx_campaign_execution_settle(m, NGX_CAMPAIGN_OUTCOME_TIMEOUT);
        n++;
    }

    ngx_log_error(NGX_LOG_WARN, e->log, 0,
                  "campaign: execution timed out after %Mms "
                  "(campaign_execution_timeout), %ui message(s) unsettled",
                  ngx_current_msec - e->started, n);

    e->timed_out = 1;
    e->state = NGX_CAMPAIGN_EXECUTION_SENDING;

    ngx_campaign_execution_handler(&e->advance);
}


static void
ngx_campaign_execution_close(ngx_campaign_execution_t *e)
{
    ngx_connection_t  *c;

    e->closing = 1;
    c = e->connection;

    ngx_campaign_execution_release(e);

    /* the pool's cleanups (files, upstreams) may log through c */

    ngx_campaign_pool_put(e->pool);

    if (c) {
        ngx_campaign_execution_close_connection(c);
    }
}


/*
 * What the execution holds outside its pools: timers, posted events and
 * its place in the worker's list.
 */

static void
ngx_campaign_execution_release(ngx_campaign_execution_t *e)
{
    ngx_uint_t  i;

    if (e->advance.posted) {
        ngx_delete_posted_event(&e->advance);
    }

    if (e->deadline.timer_set) {
        ngx_del_timer(&e->deadline);
    }

    if (e->linger.timer_set) {
        ngx_del_timer(&e->linger);
    }

    for (i = 0; i < e->nmessages; i++) {
        if (e->messages[i].retry.timer_set) {
            ngx_del_timer(&e->messages[i].retry);
        }
    }

    if (e->queue.next) {
        ngx_queue_remove(&e->queue);
        e->queue.next = NULL;
    }

    if (e->trigger_pool) {
        ngx_campaign_pool_put(e->trigger_pool);
        e->trigger_pool = NULL;
    }

    e->connection = NULL;
}


static void
ngx_campaign_execution_close_connection(ngx_connection_t *c)
{
    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    c->destroyed = 1;
    c->read->closed = 1;
    c->write->closed = 1;

    if (c->pool) {
        /* its cleanup frees the connection */
        ngx_campaign_pool_put(c->pool);
        return;
    }

    ngx_campaign_execution_free_connection(c);
}


/*
 * The connection goes with its pool: when the execution closes it, or
 * when nginx does, having ended the execution's request itself (then
 * ngx_close_connection() has logged "connection already closed" and
 * left the connection to us).
 */

static void
ngx_campaign_execution_free_connection(void *data)
{
    ngx_connection_t *c = data;

    c->pool = NULL;

    /* ngx_free_connection() indexes the files array with the fd */

    c->fd = 0;
    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;
}


/*
 * The pool goes without ngx_campaign_execution_close(): nginx ended the
 * execution's request itself.  Whoever waits is told what is known.
 */

static void
ngx_campaign_execution_cleanup(void *data)
{
    ngx_campaign_execution_t *e = data;

    ngx_uint_t               i;
    ngx_campaign_message_t  *m;

    if (e->closing) {
        return;
    }

    e->closing = 1;

    for (i = 0; i < e->nmessages; i++) {
        m = &e->messages[i];

        if (m->state != NGX_CAMPAIGN_MESSAGE_DONE) {
            ngx_log_error(NGX_LOG_WARN, e->log, 0,
                          "campaign: message %V abandoned after %ui "
                          "attempt(s): the execution ended first",
                          &m->idempotency_key, m->attempts);

            ngx_campaign_execution_settle(m, NGX_CAMPAIGN_OUTCOME_TIMEOUT);
        }
    }

    if (!e->notified && e->settled) {
        e->notified = 1;
        e->settled(e, e->data);
    }

    /* nginx closes the connection next, and its pool frees it */

    ngx_campaign_execution_release(e);
}


/*
 * A worker that exits at once (SIGTERM, or worker_shutdown_timeout with
 * an execution still waiting) says what it leaves unsent.
 */

void
ngx_campaign_execution_exit(ngx_cycle_t *cycle)
{
    ngx_uint_t                 i, n;
    ngx_queue_t               *q;
    ngx_campaign_execution_t  *e;

    if (!ngx_campaign_executions_init) {
        return;
    }

    for (q = ngx_queue_head(&ngx_campaign_executions);
         q != ngx_queue_sentinel(&ngx_campaign_executions);
         q = ngx_queue_next(q))
    {
        e = ngx_queue_data(q, ngx_campaign_execution_t, queue);

        n = 0;

        for (i = 0; i < e->nmessages; i++) {
            n += (e->messages[i].state != NGX_CAMPAIGN_MESSAGE_DONE);
        }

        if (n) {
            ngx_http_set_log_request(e->log, e->request);
            e->log->action = NULL;

            ngx_log_error(NGX_LOG_WARN, e->log, 0,
                          "campaign: worker exits, %ui message(s) of the "
                          "execution unsettled", n);
        }
    }
}


/*
 * The pools of finished executions are kept for the next ones, a few per
 * worker.  An execution's pools outlive the request that made them, so
 * freeing them often leaves the top of the heap free, and malloc() gives
 * it back to the system only to ask for it again with the next trigger:
 * a page fault for each page, measured at five per trigger and a third of
 * the worker's time under load.
 */

static ngx_pool_t *
ngx_campaign_pool_get(ngx_log_t *log)
{
    ngx_pool_t  *pool;

    if (ngx_campaign_npools == 0) {
        return ngx_create_pool(NGX_CAMPAIGN_EXECUTION_POOL_SIZE, log);
    }

    pool = ngx_campaign_pools[--ngx_campaign_npools];
    pool->log = log;

    return pool;
}


static void
ngx_campaign_pool_put(ngx_pool_t *pool)
{
    ngx_uint_t           n;
    ngx_pool_t          *p;
    ngx_pool_cleanup_t  *c;

    /* as ngx_destroy_pool() would, which ngx_reset_pool() does not */

    for (c = pool->cleanup; c; c = c->next) {
        if (c->handler) {
            c->handler(c->data);
        }
    }

    pool->cleanup = NULL;

    n = 0;

    for (p = pool; p; p = p->d.next) {
        n++;
    }

    /* a pool that grew large goes: a cached one keeps its blocks */

    if (ngx_campaign_npools == NGX_CAMPAIGN_POOL_CACHE
        || n > NGX_CAMPAIGN_POOL_CACHE_BLOCKS)
    {
        ngx_destroy_pool(pool);
        return;
    }

    ngx_reset_pool(pool);
    pool->log = ngx_cycle->log;

    ngx_campaign_pools[ngx_campaign_npools++] = pool;
}
