
/*
 * Copyright (C) ngx_campaign developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_campaign_connector.h"


/*
 * The worker's libcurl multi handle, driven by nginx: libcurl says which
 * sockets it wants watched (CURLMOPT_SOCKETFUNCTION), and each gets an
 * nginx connection whose events call curl_multi_socket_action(); it says
 * when it wants to be called for its timeouts (CURLMOPT_TIMERFUNCTION),
 * and an nginx timer does.  Nothing here blocks, and nothing loops on
 * curl_multi_perform().
 *
 * The descriptors are libcurl's: it opens and closes them.  nginx's
 * connections only wrap them while they are watched, are freed (never
 * closed) when libcurl stops watching one, and are freed before libcurl
 * closes one it still had watched (CURLOPT_CLOSESOCKETFUNCTION).  A
 * socket libcurl keeps in its connection cache is not watched.
 *
 * Events are level-triggered: libcurl may leave data in a socket, which
 * edge-triggered epoll would not report again.
 */


typedef struct {
    CURLM                       *multi;
    ngx_log_t                   *log;
    ngx_event_t                  timer;       /* CURLMOPT_TIMERFUNCTION's */
    ngx_queue_t                  connections; /* ngx_campaign_curl_conn_t */
    ngx_queue_t                  running;     /* transfers */
    ngx_uint_t                   nrunning;
    ngx_uint_t                   nrefused;    /* running, to be ended */
} ngx_campaign_curl_t;


/* what a watched socket's connection points to */

typedef struct {
    ngx_connection_t            *connection;
    ngx_queue_t                  queue;
    int                          what;        /* CURL_POLL_* */
} ngx_campaign_curl_conn_t;


static int ngx_campaign_curl_socket(CURL *easy, curl_socket_t s, int what,
    void *userp, void *socketp);
static int ngx_campaign_curl_timer(CURLM *multi, long timeout_ms,
    void *userp);
static int ngx_campaign_curl_close_socket(void *clientp, curl_socket_t s);
static void ngx_campaign_curl_unwatch(ngx_campaign_curl_conn_t *cc);
static void ngx_campaign_curl_event(ngx_event_t *ev);
static void ngx_campaign_curl_timer_handler(ngx_event_t *ev);
static void ngx_campaign_curl_action(curl_socket_t s, int mask);
static void ngx_campaign_curl_finished(void);
static void ngx_campaign_curl_refuse(ngx_campaign_curl_t *cu, CURL *easy);
static void ngx_campaign_curl_end_refused(ngx_campaign_curl_t *cu);
static size_t ngx_campaign_curl_write(char *ptr, size_t size, size_t nmemb,
    void *userdata);
static size_t ngx_campaign_curl_read(char *ptr, size_t size, size_t nmemb,
    void *userdata);
static void ngx_campaign_transfer_release(ngx_campaign_transfer_t *t,
    ngx_uint_t keep);


#define NGX_CAMPAIGN_CURL_ANSWER_MAX  16384


static ngx_campaign_curl_t  *ngx_campaign_curl;


/*
 * max_connections: the connectors' places, all together; libcurl's cache
 * keeps that many connections open (by default it keeps 4 for each
 * transfer running at the time, so a quiet moment closes connections a
 * busy one reopens)
 */

ngx_int_t
ngx_campaign_curl_init_process(ngx_cycle_t *cycle, ngx_uint_t max_connections)
{
    ngx_campaign_curl_t  *cu;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "campaign: curl_global_init() failed");
        return NGX_ERROR;
    }

    cu = ngx_pcalloc(cycle->pool, sizeof(ngx_campaign_curl_t));
    if (cu == NULL) {
        return NGX_ERROR;
    }

    cu->multi = curl_multi_init();
    if (cu->multi == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "campaign: curl_multi_init() failed");
        return NGX_ERROR;
    }

    cu->log = cycle->log;

    ngx_queue_init(&cu->connections);
    ngx_queue_init(&cu->running);

    cu->timer.handler = ngx_campaign_curl_timer_handler;
    cu->timer.data = cu;
    cu->timer.log = cycle->log;
    cu->timer.cancelable = 1;

    curl_multi_setopt(cu->multi, CURLMOPT_SOCKETFUNCTION,
                      ngx_campaign_curl_socket);
    curl_multi_setopt(cu->multi, CURLMOPT_SOCKETDATA, cu);
    curl_multi_setopt(cu->multi, CURLMOPT_TIMERFUNCTION,
                      ngx_campaign_curl_timer);
    curl_multi_setopt(cu->multi, CURLMOPT_TIMERDATA, cu);

    curl_multi_setopt(cu->multi, CURLMOPT_MAXCONNECTS,
                      (long) max_connections);

    /* HTTP/2 streams share a connection where they can */

    curl_multi_setopt(cu->multi, CURLMOPT_PIPELINING,
                      (long) CURLPIPE_MULTIPLEX);

    ngx_campaign_curl = cu;

    return NGX_OK;
}


/*
 * The worker exits: transfers still running are dropped (their
 * executions are going too).  The connectors' connections are closed with
 * their share handles, after this; then curl_global_cleanup().
 */

void
ngx_campaign_curl_exit_process(ngx_cycle_t *cycle)
{
    ngx_queue_t              *q;
    ngx_campaign_curl_t      *cu;
    ngx_campaign_transfer_t  *t;

    cu = ngx_campaign_curl;

    if (cu == NULL) {
        return;
    }

    while (!ngx_queue_empty(&cu->running)) {
        q = ngx_queue_head(&cu->running);
        t = ngx_queue_data(q, ngx_campaign_transfer_t, queue);

        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "campaign: connector \"%V\" transfer dropped at exit",
                      &t->connector->name);

        ngx_campaign_transfer_cancel(t);
    }

    if (cu->timer.timer_set) {
        ngx_del_timer(&cu->timer);
    }

    curl_multi_cleanup(cu->multi);

    /* what libcurl did not say it stopped watching */

    while (!ngx_queue_empty(&cu->connections)) {
        q = ngx_queue_head(&cu->connections);
        ngx_campaign_curl_unwatch(ngx_queue_data(q, ngx_campaign_curl_conn_t,
                                                 queue));
    }

    ngx_campaign_curl = NULL;
}


/*
 * CURLMOPT_SOCKETFUNCTION: what libcurl wants to know of socket s.  A
 * remove for a socket we never watched is ignored; a socket it keeps
 * open in its cache is no longer watched, and a new connection wraps it
 * if it wants it again.
 *
 * It never returns -1: libcurl 7.88 then marks the whole multi handle
 * dead, fails every transfer, and may crash in the next
 * curl_multi_socket_action().  A socket nginx cannot watch (no free
 * connection: worker_connections are not enough) fails its transfer
 * alone, once libcurl has returned.
 */

static int
ngx_campaign_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp,
    void *socketp)
{
    ngx_campaign_curl_t *cu = userp;

    ngx_event_t               *rev, *wev;
    ngx_connection_t          *c;
    ngx_campaign_curl_conn_t  *cc;

    cc = socketp;

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, cu->log, 0,
                   "campaign curl: socket %d what %d known %d",
                   (int) s, what, cc != NULL);

    if (what == CURL_POLL_REMOVE) {
        if (cc) {
            ngx_campaign_curl_unwatch(cc);
            curl_multi_assign(cu->multi, s, NULL);
        }

        return 0;
    }

    if (cc == NULL) {
        cc = ngx_alloc(sizeof(ngx_campaign_curl_conn_t), cu->log);
        if (cc == NULL) {
            ngx_campaign_curl_refuse(cu, easy);
            return 0;
        }

        c = ngx_get_connection(s, cu->log);
        if (c == NULL) {
            ngx_free(cc);
            ngx_campaign_curl_refuse(cu, easy);
            return 0;
        }

        c->data = cc;
        c->read->handler = ngx_campaign_curl_event;
        c->write->handler = ngx_campaign_curl_event;
        c->read->log = cu->log;
        c->write->log = cu->log;

        /* the socket is libcurl's: nginx shuts down nothing of it */
        c->shared = 1;

        cc->connection = c;
        cc->what = 0;

        ngx_queue_insert_tail(&cu->connections, &cc->queue);

        curl_multi_assign(cu->multi, s, cc);
    }

    c = cc->connection;
    rev = c->read;
    wev = c->write;

    if ((what & CURL_POLL_IN) && !rev->active) {
        if (ngx_add_event(rev, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
            goto failed;
        }

    } else if (!(what & CURL_POLL_IN) && rev->active) {
        if (ngx_del_event(rev, NGX_READ_EVENT, 0) != NGX_OK) {
            goto failed;
        }
    }

    if ((what & CURL_POLL_OUT) && !wev->active) {
        if (ngx_add_event(wev, NGX_WRITE_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
            goto failed;
        }

    } else if (!(what & CURL_POLL_OUT) && wev->active) {
        if (ngx_del_event(wev, NGX_WRITE_EVENT, 0) != NGX_OK) {
            goto failed;
        }
    }

    cc->what = what;

    return 0;

failed:

    ngx_campaign_curl_refuse(cu, easy);

    return 0;
}


/*
 * The transfer of easy is to be ended as failed, after libcurl returns:
 * no curl_multi_*() call may be made from its callback.
 */

static void
ngx_campaign_curl_refuse(ngx_campaign_curl_t *cu, CURL *easy)
{
    ngx_campaign_transfer_t  *t;

    t = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &t);

    if (t == NULL || !t->running || t->refused) {
        return;
    }

    t->refused = 1;
    cu->nrefused++;
}


static void
ngx_campaign_curl_end_refused(ngx_campaign_curl_t *cu)
{
    ngx_queue_t              *q;
    ngx_campaign_transfer_t  *t;

    while (cu->nrefused) {

        for (q = ngx_queue_head(&cu->running);
             q != ngx_queue_sentinel(&cu->running);
             q = ngx_queue_next(q))
        {
            t = ngx_queue_data(q, ngx_campaign_transfer_t, queue);

            if (t->refused) {
                break;
            }
        }

        if (q == ngx_queue_sentinel(&cu->running)) {
            cu->nrefused = 0;
            return;
        }

        cu->nrefused--;

        curl_multi_remove_handle(cu->multi, t->easy);

        /* t->refused stays: an easy handle stopped midway is not reused */

        t->running = 0;
        ngx_queue_remove(&t->queue);
        cu->nrunning--;

        t->result = CURLE_COULDNT_CONNECT;
        t->code = 0;
        ngx_cpystrn((u_char *) t->error,
                    (u_char *) "no connection for the socket: "
                    "worker_connections are not enough",
                    CURL_ERROR_SIZE);

        t->done(t);
    }
}


/* nginx lets go of a socket, and leaves it open */

static void
ngx_campaign_curl_unwatch(ngx_campaign_curl_conn_t *cc)
{
    ngx_connection_t  *c;

    c = cc->connection;

    if (c->read->active) {
        ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }

    if (c->write->active) {
        ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_queue_remove(&cc->queue);

    /* ngx_free_connection() closes nothing */

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;

    ngx_free(cc);
}


/*
 * CURLOPT_CLOSESOCKETFUNCTION: libcurl closes one of its sockets; if nginx
 * still watches it (libcurl said no remove first), it stops, then closes.
 */

static int
ngx_campaign_curl_close_socket(void *clientp, curl_socket_t s)
{
    ngx_queue_t               *q;
    ngx_campaign_curl_t       *cu;
    ngx_campaign_curl_conn_t  *cc;

    cu = ngx_campaign_curl;

    if (cu) {
        for (q = ngx_queue_head(&cu->connections);
             q != ngx_queue_sentinel(&cu->connections);
             q = ngx_queue_next(q))
        {
            cc = ngx_queue_data(q, ngx_campaign_curl_conn_t, queue);

            if (cc->connection->fd == s) {
                ngx_campaign_curl_unwatch(cc);
                break;
            }
        }
    }

    return close(s);
}


/*
 * CURLMOPT_TIMERFUNCTION.  -1: no timer; 0: as soon as possible, which is
 * a posted event, as libcurl may not be called back from its own
 * callback; else a timer.  The timer is deleted before it is set again:
 * ngx_add_timer() keeps a timer that is set when the new time is within
 * NGX_TIMER_LAZY_DELAY of the old one, and libcurl may want it sooner.
 */

static int
ngx_campaign_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    ngx_campaign_curl_t *cu = userp;

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, cu->log, 0,
                   "campaign curl: timer %l", timeout_ms);

    if (cu->timer.timer_set) {
        ngx_del_timer(&cu->timer);
    }

    if (timeout_ms < 0) {
        if (cu->timer.posted) {
            ngx_delete_posted_event(&cu->timer);
        }

        return 0;
    }

    if (timeout_ms == 0) {
        if (!cu->timer.posted) {
            ngx_post_event(&cu->timer, &ngx_posted_events);
        }

        return 0;
    }

    /*
     * While transfers run, this timer keeps a worker that shuts down
     * gracefully (a reload) alive; each transfer is bounded by its
     * connector's timeout.
     */

    cu->timer.cancelable = (cu->nrunning == 0);

    ngx_add_timer(&cu->timer, (ngx_msec_t) timeout_ms);

    return 0;
}


static void
ngx_campaign_curl_timer_handler(ngx_event_t *ev)
{
    ngx_campaign_curl_action(CURL_SOCKET_TIMEOUT, 0);
}


static void
ngx_campaign_curl_event(ngx_event_t *ev)
{
    int                        mask;
    ngx_connection_t          *c;

    c = ev->data;

    /*
     * worker_shutdown_timeout closes what it can by calling each
     * connection's read handler with c->close set: a transfer is not cut
     * (as an upstream's is not), its connector's timeout bounds it.
     */

    if (c->close) {
        c->close = 0;
        c->error = 0;
        return;
    }

    mask = ev->write ? CURL_CSELECT_OUT : CURL_CSELECT_IN;

    if (ev->error) {
        mask |= CURL_CSELECT_ERR;
    }

    ngx_campaign_curl_action(c->fd, mask);
}


static void
ngx_campaign_curl_action(curl_socket_t s, int mask)
{
    int                   running;
    CURLMcode             rc;
    ngx_campaign_curl_t  *cu;

    cu = ngx_campaign_curl;

    if (cu == NULL) {
        return;
    }

    /* the connection of s may be freed in there: nothing of it after */

    rc = curl_multi_socket_action(cu->multi, s, mask, &running);

    if (rc != CURLM_OK) {
        ngx_log_error(NGX_LOG_ALERT, cu->log, 0,
                      "campaign: curl_multi_socket_action() failed: %s",
                      curl_multi_strerror(rc));
    }

    ngx_campaign_curl_finished();
}


/* the transfers libcurl has finished, each to its done() */

static void
ngx_campaign_curl_finished(void)
{
    int                       left;
    CURL                     *easy;
    CURLMsg                  *msg;
    CURLcode                  result;
    ngx_campaign_curl_t      *cu;
    ngx_campaign_transfer_t  *t;

    cu = ngx_campaign_curl;

    while (cu && (msg = curl_multi_info_read(cu->multi, &left))) {

        if (msg->msg != CURLMSG_DONE) {
            continue;
        }

        /* msg is no longer valid once its handle is removed */

        easy = msg->easy_handle;
        result = msg->data.result;

        t = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &t);

        curl_multi_remove_handle(cu->multi, easy);

        if (t == NULL) {
            continue;
        }

        t->running = 0;
        ngx_queue_remove(&t->queue);
        cu->nrunning--;

        if (t->refused) {
            t->refused = 0;
            cu->nrefused--;
        }

        t->result = result;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &t->code);

        ngx_log_debug4(NGX_LOG_DEBUG_EVENT, t->log, 0,
                       "campaign curl: \"%V\" transfer done: %d, %l, %Mms",
                       &t->connector->name, result, t->code,
                       ngx_current_msec - t->started);

        t->done(t);
    }

    if (cu) {
        ngx_campaign_curl_end_refused(cu);
    }

    if (cu && cu->nrunning == 0 && cu->timer.timer_set) {
        cu->timer.cancelable = 1;
    }
}


ngx_campaign_transfer_t *
ngx_campaign_transfer_create(ngx_campaign_connector_t *cn, ngx_log_t *log)
{
    CURL                     *easy, **free;
    ngx_pool_t               *pool;
    ngx_campaign_transfer_t  *t;

    pool = ngx_create_pool(1024, log);
    if (pool == NULL) {
        return NULL;
    }

    t = ngx_pcalloc(pool, sizeof(ngx_campaign_transfer_t));
    if (t == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    if (cn->free.nelts) {
        free = cn->free.elts;
        easy = free[--cn->free.nelts];
        curl_easy_reset(easy);

    } else {
        easy = curl_easy_init();
        if (easy == NULL) {
            ngx_log_error(NGX_LOG_ALERT, log, 0,
                          "campaign: curl_easy_init() failed");
            ngx_destroy_pool(pool);
            return NULL;
        }
    }

    t->easy = easy;
    t->pool = pool;
    t->log = log;
    t->connector = cn;
    t->answer_max = NGX_CAMPAIGN_CURL_ANSWER_MAX;

    curl_easy_setopt(easy, CURLOPT_PRIVATE, t);

    /*
     * the connector's own connections and TLS sessions: libcurl reuses an
     * smtp:// connection that STARTTLS upgraded without comparing TLS
     * settings, so connectors to one relay must not share a cache
     */

    if (cn->share) {
        curl_easy_setopt(easy, CURLOPT_SHARE, cn->share);
    }

    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->error);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, ngx_campaign_curl_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION,
                     ngx_campaign_curl_close_socket);

    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     (long) cn->connect_timeout);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long) cn->timeout);

    /* no redirects, no other protocol than the connector's */

    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR,
                     cn->type == &ngx_campaign_connector_smtp
                     ? "smtp,smtps" : "http,https");

    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, cn->tls_verify ? 1L : 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, cn->tls_verify ? 2L : 0L);

    if (cn->ca_file.len) {
        curl_easy_setopt(easy, CURLOPT_CAINFO, cn->ca_file.data);
    }

    return t;
}


ngx_int_t
ngx_campaign_transfer_body(ngx_campaign_transfer_t *t, u_char *data,
    size_t len, ngx_uint_t upload)
{
    u_char  *p;

    p = ngx_pnalloc(t->pool, len ? len : 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, data, len);

    if (upload) {
        t->upload = p;
        t->upload_len = len;
        t->upload_sent = 0;

        curl_easy_setopt(t->easy, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(t->easy, CURLOPT_READFUNCTION,
                         ngx_campaign_curl_read);
        curl_easy_setopt(t->easy, CURLOPT_READDATA, t);
        curl_easy_setopt(t->easy, CURLOPT_INFILESIZE_LARGE,
                         (curl_off_t) len);

        /*
         * libcurl's default upload buffer (64 KB, and its SMTP escaping
         * buffer twice that) is allocated and freed for each transfer,
         * which moves the heap's break for every message
         */

        curl_easy_setopt(t->easy, CURLOPT_UPLOAD_BUFFERSIZE, 16384L);

        return NGX_OK;
    }

    curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, p);
    curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);

    return NGX_OK;
}


ngx_int_t
ngx_campaign_transfer_header(ngx_campaign_transfer_t *t, const char *fmt,
    ...)
{
    u_char              *p, *last;
    va_list              args;
    struct curl_slist   *h;
    u_char               buf[NGX_CAMPAIGN_HEADER_MAX + 1];

    va_start(args, fmt);
    last = ngx_vslprintf(buf, buf + sizeof(buf) - 1, fmt, args);
    va_end(args);

    /* a header cut short is a wrong one */

    if (last == buf + sizeof(buf) - 1) {
        ngx_log_error(NGX_LOG_ALERT, t->log, 0,
                      "campaign: a header of connector \"%V\" is longer "
                      "than %uz bytes", &t->connector->name,
                      sizeof(buf) - 2);
        return NGX_ERROR;
    }

    *last = '\0';

    /* a header line is one line */

    for (p = buf; p < last; p++) {
        if (*p == CR || *p == LF || *p == '\0') {
            *p = ' ';
        }
    }

    h = curl_slist_append(t->headers, (char *) buf);
    if (h == NULL) {
        return NGX_ERROR;
    }

    t->headers = h;

    curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);

    return NGX_OK;
}


ngx_int_t
ngx_campaign_transfer_start(ngx_campaign_transfer_t *t)
{
    CURLMcode             rc;
    ngx_campaign_curl_t  *cu;

    cu = ngx_campaign_curl;

    if (cu == NULL) {
        return NGX_ERROR;
    }

    t->started = ngx_current_msec;

    rc = curl_multi_add_handle(cu->multi, t->easy);

    if (rc != CURLM_OK) {
        ngx_log_error(NGX_LOG_ALERT, t->log, 0,
                      "campaign: curl_multi_add_handle() failed: %s",
                      curl_multi_strerror(rc));
        return NGX_ERROR;
    }

    t->running = 1;
    ngx_queue_insert_tail(&cu->running, &t->queue);
    cu->nrunning++;

    /* the timer now keeps a shutting down worker until it is done */

    cu->timer.cancelable = 0;

    return NGX_OK;
}


void
ngx_campaign_transfer_cancel(ngx_campaign_transfer_t *t)
{
    ngx_campaign_curl_t  *cu;

    cu = ngx_campaign_curl;

    if (t->running && cu) {
        curl_multi_remove_handle(cu->multi, t->easy);
        ngx_queue_remove(&t->queue);
        cu->nrunning--;
        t->running = 0;

        if (t->refused) {
            t->refused = 0;
            cu->nrefused--;
        }
    }

    /* an easy handle stopped midway is not reused */

    ngx_campaign_transfer_release(t, 0);
}


void
ngx_campaign_transfer_free(ngx_campaign_transfer_t *t)
{
    ngx_campaign_transfer_release(t, 1);
}


static void
ngx_campaign_transfer_release(ngx_campaign_transfer_t *t, ngx_uint_t keep)
{
    CURL                      **free;
    ngx_campaign_connector_t   *cn;

    cn = t->connector;

    if (keep && !t->refused && cn->free.nalloc
        && cn->free.nelts < cn->max_connections)
    {
        free = ngx_array_push(&cn->free);

        if (free) {
            curl_easy_setopt(t->easy, CURLOPT_PRIVATE, NULL);
            *free = t->easy;
            t->easy = NULL;
        }
    }

    if (t->easy) {
        curl_easy_cleanup(t->easy);
    }

    if (t->headers) {
        curl_slist_free_all(t->headers);
    }

    if (t->recipients) {
        curl_slist_free_all(t->recipients);
    }

    ngx_destroy_pool(t->pool);
}


static size_t
ngx_campaign_curl_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    ngx_campaign_transfer_t *t = userdata;

    size_t   len, n;
    u_char  *p;

    len = size * nmemb;

    if (t->answer == NULL) {
        t->answer = ngx_pnalloc(t->pool, t->answer_max + 1);
        if (t->answer == NULL) {
            return 0;
        }
    }

    n = ngx_min(len, t->answer_max - t->answer_len);

    p = ngx_cpymem(t->answer + t->answer_len, ptr, n);
    t->answer_len += n;
    *p = '\0';

    /* the rest of a long answer is dropped, not an error */

    return len;
}


static size_t
ngx_campaign_curl_read(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    ngx_campaign_transfer_t *t = userdata;

    size_t  n;

    n = ngx_min(size * nmemb, t->upload_len - t->upload_sent);

    ngx_memcpy(ptr, t->upload + t->upload_sent, n);
    t->upload_sent += n;

    return n;
}
