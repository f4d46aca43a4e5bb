
/*
 * Copyright (C) ngx_campaign developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_campaign_connector.h"


/*
 * What connectors have in common: the "campaign_connector" block, the
 * gateways that name one, and each attempt of a message as a transfer.
 *
 * An attempt looks like a subrequest to the execution (ngx_campaign_sr_t,
 * counted in in_flight and in its request's count), so that timeouts,
 * retries and lingering work as they do for a location.  The transfer
 * has its own pool and may outlive the execution: the execution's pool
 * cleanup cuts the link, and the transfer's answer is then dropped.
 */


typedef struct {
    ngx_campaign_sr_t            sr;          /* first: t->sr points here */
    ngx_campaign_transfer_t     *transfer;
} ngx_campaign_attempt_t;


static char *ngx_campaign_connector_line(ngx_conf_t *cf, ngx_command_t *dummy,
    void *conf);
static char *ngx_campaign_connector_init(ngx_conf_t *cf,
    ngx_campaign_connector_t *cn);
static void ngx_campaign_connector_detach(void *data);
static void ngx_campaign_connector_next(ngx_campaign_connector_t *cn);
static ngx_int_t ngx_campaign_connector_run(ngx_campaign_transfer_t *t);
static void ngx_campaign_connector_done(ngx_campaign_transfer_t *t);
static void ngx_campaign_connector_outcome(ngx_campaign_transfer_t *t,
    ngx_campaign_send_e kind, ngx_str_t *reason);


static ngx_campaign_connector_type_t  *ngx_campaign_connector_types[] = {
    &ngx_campaign_connector_http,
    &ngx_campaign_connector_smtp,
    &ngx_campaign_connector_apns,
    &ngx_campaign_connector_fcm,
    NULL
};


#define NGX_CAMPAIGN_SECRET_MAX  65536


/*
 *     campaign_connector name type { ... }
 */

char *
ngx_campaign_connector_block(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char                            *rv;
    ngx_str_t                       *value;
    ngx_uint_t                       i;
    ngx_conf_t                       save;
    ngx_campaign_connector_t        *cn;
    ngx_campaign_connector_type_t   *type;

    value = cf->args->elts;

    type = NULL;

    for (i = 0; ngx_campaign_connector_types[i]; i++) {
        if (value[2].len == ngx_campaign_connector_types[i]->name.len
            && ngx_strncmp(value[2].data,
                           ngx_campaign_connector_types[i]->name.data,
                           value[2].len)
               == 0)
        {
            type = ngx_campaign_connector_types[i];
            break;
        }
    }

    if (type == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown connector type \"%V\", it must be "
                           "\"smtp\", \"apns\", \"fcm\" or \"http\"",
                           &value[2]);
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < value[1].len; i++) {
        if (!(ngx_campaign_isalnum(value[1].data[i]) || value[1].data[i] == '_'
              || value[1].data[i] == '-' || value[1].data[i] == '.'))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid connector name \"%V\": "
                               "letters, digits, \"_\", \"-\" and \".\" "
                               "only", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    cn = ngx_campaign_connector_add(cf, &value[1]);
    if (cn == NULL) {
        return NGX_CONF_ERROR;
    }

    if (cn->defined) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate connector \"%V\", first defined "
                           "in %s:%ui", &value[1], cn->file, cn->line);
        return NGX_CONF_ERROR;
    }

    cn->defined = 1;
    cn->type = type;
    cn->file = cf->conf_file->file.name.data;
    cn->line = cf->conf_file->line;

    cn->connect_timeout = NGX_CONF_UNSET_MSEC;
    cn->timeout = NGX_CONF_UNSET_MSEC;
    cn->max_connections = NGX_CONF_UNSET_UINT;
    cn->tls_verify = NGX_CONF_UNSET;

    cn->conf = type->create_conf(cf, cn);
    if (cn->conf == NULL) {
        return NGX_CONF_ERROR;
    }

    save = *cf;
    cf->handler = ngx_campaign_connector_line;
    cf->handler_conf = (char *) cn;

    rv = ngx_conf_parse(cf, NULL);

    *cf = save;

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    return ngx_campaign_connector_init(cf, cn);
}


/* one line of the block */

static char *
ngx_campaign_connector_line(ngx_conf_t *cf, ngx_command_t *dummy, void *conf)
{
    ngx_campaign_connector_t *cn = (ngx_campaign_connector_t *) conf;

    char        *rv;
    ngx_str_t        *value, *name;
    ngx_int_t         n;
    ngx_msec_t        ms, *msp;
    ngx_file_info_t   fi;

    value = cf->args->elts;
    name = &value[0];

    if (cf->args->nelts == 2) {

        if (ngx_strcmp(name->data, "url") == 0) {
            if (cn->url.data) {
                return "is duplicate";
            }

            cn->url = value[1];
            return NGX_CONF_OK;
        }

        msp = NULL;

        if (ngx_strcmp(name->data, "timeout") == 0) {
            msp = &cn->timeout;

        } else if (ngx_strcmp(name->data, "connect_timeout") == 0) {
            msp = &cn->connect_timeout;
        }

        if (msp) {
            if (*msp != NGX_CONF_UNSET_MSEC) {
                return "is duplicate";
            }

            ms = ngx_parse_time(&value[1], 0);

            if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid %V \"%V\"", name, &value[1]);
                return NGX_CONF_ERROR;
            }

            *msp = ms;
            return NGX_CONF_OK;
        }

        if (ngx_strcmp(name->data, "max_connections") == 0) {
            if (cn->max_connections != NGX_CONF_UNSET_UINT) {
                return "is duplicate";
            }

            n = ngx_atoi(value[1].data, value[1].len);

            if (n == NGX_ERROR || n < 1 || n > 10000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid max_connections \"%V\", "
                                   "it must be 1 to 10000", &value[1]);
                return NGX_CONF_ERROR;
            }

            cn->max_connections = n;
            return NGX_CONF_OK;
        }

        if (ngx_strcmp(name->data, "tls_verify") == 0) {
            if (cn->tls_verify != NGX_CONF_UNSET) {
                return "is duplicate";
            }

            if (ngx_strcmp(value[1].data, "on") == 0) {
                cn->tls_verify = 1;

            } else if (ngx_strcmp(value[1].data, "off") == 0) {
                cn->tls_verify = 0;

            } else {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid tls_verify \"%V\", "
                                   "it must be \"on\" or \"off\"",
                                   &value[1]);
                return NGX_CONF_ERROR;
            }

            return NGX_CONF_OK;
        }

        if (ngx_strcmp(name->data, "ca_file") == 0) {
            if (cn->ca_file.data) {
                return "is duplicate";
            }

            cn->ca_file = value[1];

            if (ngx_conf_full_name(cf->cycle, &cn->ca_file, 1) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            if (ngx_file_info(cn->ca_file.data, &fi)
                == NGX_FILE_ERROR)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                                   ngx_file_info_n " \"%V\" failed",
                                   &cn->ca_file);
                return NGX_CONF_ERROR;
            }

            return NGX_CONF_OK;
        }
    }

    rv = cn->type->directive(cf, cn);

    if (rv == NGX_CAMPAIGN_CONNECTOR_UNKNOWN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown directive \"%V\" or wrong number of "
                           "arguments in %V connector \"%V\"", name,
                           &cn->type->name, &cn->name);
        return NGX_CONF_ERROR;
    }

    if (rv != NGX_CONF_OK && rv != NGX_CONF_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" %s", name, rv);
        return NGX_CONF_ERROR;
    }

    return rv;
}


static char *
ngx_campaign_connector_init(ngx_conf_t *cf, ngx_campaign_connector_t *cn)
{
    char  *rv;

    ngx_conf_init_msec_value(cn->connect_timeout, 5000);
    ngx_conf_init_msec_value(cn->timeout, 30000);
    ngx_conf_init_uint_value(cn->max_connections, 16);
    ngx_conf_init_value(cn->tls_verify, 1);

    if (cn->connect_timeout > cn->timeout) {
        cn->connect_timeout = cn->timeout;
    }

    rv = cn->type->init_conf(cf, cn);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (cn->url.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V connector \"%V\" has no \"url\"",
                           &cn->type->name, &cn->name);
        return NGX_CONF_ERROR;
    }

    if (cn->type != &ngx_campaign_connector_smtp
        && ngx_strncasecmp(cn->url.data, (u_char *) "http://", 7) != 0
        && ngx_strncasecmp(cn->url.data, (u_char *) "https://", 8) != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V connector \"%V\": the url must start with "
                           "\"http://\" or \"https://\"",
                           &cn->type->name, &cn->name);
        return NGX_CONF_ERROR;
    }

    /* the URL goes to libcurl as a C string */

    if (ngx_strlchr(cn->url.data, cn->url.data + cn->url.len, '\0')) {
        return "has a URL with a NUL";
    }

    return NGX_CONF_OK;
}


/*
 * The connector of this name, added if there is none yet: a gateway may
 * name one that is defined further down (init_main_conf checks).
 */

ngx_campaign_connector_t *
ngx_campaign_connector_add(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_uint_t                  i;
    ngx_campaign_connector_t  **cnp, *cn;
    ngx_campaign_main_conf_t   *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_campaign_module);

    if (cmcf->connectors.nalloc == 0) {
        if (ngx_array_init(&cmcf->connectors, cf->pool, 4,
                           sizeof(ngx_campaign_connector_t *))
            != NGX_OK)
        {
            return NULL;
        }
    }

    cnp = cmcf->connectors.elts;

    for (i = 0; i < cmcf->connectors.nelts; i++) {
        if (cnp[i]->name.len == name->len
            && ngx_strncmp(cnp[i]->name.data, name->data, name->len) == 0)
        {
            return cnp[i];
        }
    }

    cn = ngx_pcalloc(cf->pool, sizeof(ngx_campaign_connector_t));
    if (cn == NULL) {
        return NULL;
    }

    cn->name = *name;
    cn->file = cf->conf_file->file.name.data;
    cn->line = cf->conf_file->line;

    cnp = ngx_array_push(&cmcf->connectors);
    if (cnp == NULL) {
        return NULL;
    }

    *cnp = cn;

    return cn;
}


/* at the end of the http block: every connector named is defined */

char *
ngx_campaign_connector_check(ngx_conf_t *cf)
{
    ngx_uint_t                  i;
    ngx_campaign_connector_t  **cnp, *cn;
    ngx_campaign_main_conf_t   *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_campaign_module);

    cnp = cmcf->connectors.elts;

    for (i = 0; i < cmcf->connectors.nelts; i++) {
        cn = cnp[i];

        if (!cn->defined) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "unknown connector \"%V\" in %s:%ui",
                          &cn->name, cn->file, cn->line);
            return NGX_CONF_ERROR;
        }

        if (cn->used & ~cn->type->channels) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "%V connector \"%V\" cannot be the gateway of "
                          "the channel it is used for (%s:%ui)",
                          &cn->type->name, &cn->name, cn->used_file,
                          cn->used_line);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_campaign_connector_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                  i, n;
    ngx_campaign_connector_t  **cnp, *cn;
    ngx_campaign_main_conf_t   *cmcf;

    cmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_campaign_module);

    if (cmcf == NULL || cmcf->connectors.nelts == 0) {
        return NGX_OK;
    }

    cnp = cmcf->connectors.elts;
    n = 0;

    for (i = 0; i < cmcf->connectors.nelts; i++) {
        n += cnp[i]->max_connections;
    }

    if (ngx_campaign_curl_init_process(cycle, n) != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < cmcf->connectors.nelts; i++) {
        cn = cnp[i];

        ngx_queue_init(&cn->waiting);
        cn->running = 0;

        cn->share = curl_share_init();
        if (cn->share == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "campaign: curl_share_init() failed");
            return NGX_ERROR;
        }

        if (curl_share_setopt(cn->share, CURLSHOPT_SHARE,
                              CURL_LOCK_DATA_CONNECT)
            != CURLSHE_OK
            || curl_share_setopt(cn->share, CURLSHOPT_SHARE,
                                 CURL_LOCK_DATA_SSL_SESSION)
               != CURLSHE_OK)
        {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "campaign: curl_share_setopt() failed");
            return NGX_ERROR;
        }

        if (ngx_array_init(&cn->free, cycle->pool, cn->max_connections,
                           sizeof(CURL *))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (cn->type->init_process
            && cn->type->init_process(cn, cycle) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


void
ngx_campaign_connector_exit_process(ngx_cycle_t *cycle)
{
    CURL                      **free;
    ngx_uint_t                  i, k;
    ngx_queue_t                *q;
    ngx_campaign_transfer_t    *t;
    ngx_campaign_connector_t  **cnp, *cn;
    ngx_campaign_main_conf_t   *cmcf;

    cmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_campaign_module);

    if (cmcf == NULL || cmcf->connectors.nelts == 0) {
        return;
    }

    cnp = cmcf->connectors.elts;

    for (i = 0; i < cmcf->connectors.nelts; i++) {
        cn = cnp[i];

        if (cn->waiting.next == NULL) {
            continue;
        }

        while (!ngx_queue_empty(&cn->waiting)) {
            q = ngx_queue_head(&cn->waiting);
            ngx_queue_remove(q);
            t = ngx_queue_data(q, ngx_campaign_transfer_t, queue);
            t->waiting = 0;
            ngx_campaign_transfer_cancel(t);
        }

        if (cn->type->exit_process) {
            cn->type->exit_process(cn);
        }
    }

    ngx_campaign_curl_exit_process(cycle);

    for (i = 0; i < cmcf->connectors.nelts; i++) {
        cn = cnp[i];
        free = cn->free.elts;

        for (k = 0; k < cn->free.nelts; k++) {
            curl_easy_cleanup(free[k]);
        }

        cn->free.nelts = 0;

        /* its cached connections are closed here */

        if (cn->share) {
            curl_share_cleanup(cn->share);
            cn->share = NULL;
        }
    }

    curl_global_cleanup();
}


/*
 * Renders a message for its connector: the content first, as a location
 * gateway's payload has it, then the type's own.  NGX_DECLINED: the
 * recipient's address cannot be sent to.
 */

ngx_int_t
ngx_campaign_connector_render(ngx_campaign_message_t *m, const cJSON *data,
    ngx_campaign_rendered_t *r, size_t n, const char *language)
{
    ngx_campaign_connector_t  *cn;

    cn = m->execution->gateway->connector;

    return cn->type->render(m, data, r, n, language);
}


/* one attempt of m */

ngx_int_t
ngx_campaign_connector_send(ngx_campaign_message_t *m)
{
    ngx_int_t                  rc;
    ngx_pool_cleanup_t        *cln;
    ngx_campaign_attempt_t    *a;
    ngx_campaign_transfer_t   *t;
    ngx_campaign_execution_t  *e;
    ngx_campaign_connector_t  *cn;

    e = m->execution;
    cn = e->gateway->connector;

    a = ngx_pcalloc(e->pool, sizeof(ngx_campaign_attempt_t));
    if (a == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(e->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    t = ngx_campaign_transfer_create(cn, ngx_cycle->log);
    if (t == NULL) {
        return NGX_ERROR;
    }

    t->done = ngx_campaign_connector_done;
    t->sr = &a->sr;

    a->sr.execution = e;
    a->sr.message = m;
    a->transfer = t;

    cln->handler = ngx_campaign_connector_detach;
    cln->data = a;

    m->attempts++;
    m->sr = &a->sr;
    m->status = 0;
    m->sent = ngx_current_msec;

    e->in_flight++;
    e->request->count++;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, e->log, 0,
                   "campaign: message %V attempt %ui to connector \"%V\"",
                   &m->idempotency_key, m->attempts, &cn->name);

    rc = NGX_AGAIN;

    if (cn->running < cn->max_connections && ngx_queue_empty(&cn->waiting)) {
        rc = cn->type->ready ? cn->type->ready(cn, t->log) : NGX_OK;
    }

    if (rc == NGX_AGAIN) {
        t->waiting = 1;
        ngx_queue_insert_tail(&cn->waiting, &t->queue);
        return NGX_OK;
    }

    if (rc == NGX_OK && ngx_campaign_connector_run(t) == NGX_OK) {
        return NGX_OK;
    }

    /* not started: the execution settles it as any failed dispatch */

    a->transfer = NULL;
    m->sr = NULL;
    e->in_flight--;
    e->request->count--;

    ngx_campaign_transfer_cancel(t);

    return NGX_ERROR;
}


/*
 * The request is prepared when the attempt starts, not when it began to
 * wait for a place or a credential: its credential is the one the type
 * has now (an access token that has come, or been renewed, meanwhile).
 */

static ngx_int_t
ngx_campaign_connector_run(ngx_campaign_transfer_t *t)
{
    ngx_campaign_connector_t  *cn;

    cn = t->connector;

    if (cn->type->prepare(t, t->sr->message) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_campaign_transfer_start(t) != NGX_OK) {
        return NGX_ERROR;
    }

    cn->running++;

    return NGX_OK;
}


/* the execution's pool goes: the transfer runs on, its answer unheard */

static void
ngx_campaign_connector_detach(void *data)
{
    ngx_campaign_attempt_t *a = data;

    if (a->transfer) {
        a->transfer->sr = NULL;
        a->transfer = NULL;
    }
}


/*
 * Starts what waits while there is a place and the type is ready; an
 * attempt whose execution gave up on it is dropped unsent.
 */

static void
ngx_campaign_connector_next(ngx_campaign_connector_t *cn)
{
    ngx_int_t                 rc;
    ngx_queue_t              *q;
    ngx_campaign_transfer_t  *t;

    while (!ngx_queue_empty(&cn->waiting)
           && cn->running < cn->max_connections)
    {
        q = ngx_queue_head(&cn->waiting);
        t = ngx_queue_data(q, ngx_campaign_transfer_t, queue);

        if (t->sr && !t->sr->abandoned) {
            rc = cn->type->ready ? cn->type->ready(cn, t->log) : NGX_OK;

            if (rc == NGX_AGAIN) {
                return;
            }

        } else {
            rc = NGX_DECLINED;
        }

        ngx_queue_remove(q);
        t->waiting = 0;

        if (rc == NGX_OK && ngx_campaign_connector_run(t) == NGX_OK) {
            continue;
        }

        /* an abandoned attempt only lets go of its execution */

        ngx_campaign_connector_outcome(t, NGX_CAMPAIGN_SEND_TRANSIENT, NULL);
        ngx_campaign_transfer_free(t);
    }
}


void
ngx_campaign_connector_wake(ngx_campaign_connector_t *cn)
{
    ngx_campaign_connector_next(cn);
}


/* the type cannot get its credential: what waits for it settles */

void
ngx_campaign_connector_fail(ngx_campaign_connector_t *cn,
    ngx_campaign_send_e kind, const char *reason)
{
    ngx_str_t                 r;
    ngx_queue_t              *q;
    ngx_campaign_transfer_t  *t;

    r.data = (u_char *) reason;
    r.len = ngx_strlen(reason);

    while (!ngx_queue_empty(&cn->waiting)) {
        q = ngx_queue_head(&cn->waiting);
        ngx_queue_remove(q);

        t = ngx_queue_data(q, ngx_campaign_transfer_t, queue);
        t->waiting = 0;

        ngx_campaign_connector_outcome(t, kind, &r);
        ngx_campaign_transfer_free(t);
    }
}


static void
ngx_campaign_connector_done(ngx_campaign_transfer_t *t)
{
    ngx_str_t                  reason;
    ngx_campaign_send_e        kind;
    ngx_campaign_connector_t  *cn;

    cn = t->connector;
    cn->running--;

    ngx_str_null(&reason);

    kind = cn->type->result(t, &reason);

    ngx_campaign_connector_outcome(t, kind, &reason);

    ngx_campaign_transfer_free(t);

    ngx_campaign_connector_next(cn);
}


/*
 * The attempt's outcome to its message, unless the execution has given
 * up on it: a status for the answer and the metrics (the protocol's own
 * code, or 502 and 504 as proxy_pass has them), then what dispatch does
 * with it.
 */

static void
ngx_campaign_connector_outcome(ngx_campaign_transfer_t *t,
    ngx_campaign_send_e kind, ngx_str_t *reason)
{
    ngx_uint_t                 status;
    const char                *text;
    ngx_campaign_sr_t         *s;
    ngx_campaign_attempt_t    *a;
    ngx_campaign_message_t    *m;
    ngx_campaign_execution_t  *e;

    if (t->sr == NULL) {
        return;
    }

    s = t->sr;
    a = (ngx_campaign_attempt_t *) s;
    t->sr = NULL;
    a->transfer = NULL;

    e = s->execution;
    m = s->message;

    e->request->count--;

    if (s->abandoned) {
        ngx_campaign_execution_post(e);
        return;
    }

    e->in_flight--;
    m->sr = NULL;

    if (t->code > 0) {
        status = t->code;

    } else if (t->result == CURLE_OPERATION_TIMEDOUT) {
        status = NGX_HTTP_GATEWAY_TIME_OUT;

    } else {
        status = NGX_HTTP_BAD_GATEWAY;
    }

    m->status = status;

    ngx_str_null(&m->reason);

    if (reason && reason->len) {
        ngx_campaign_connector_reason(e->pool, &m->reason, NULL,
                                      reason->data, reason->len);

    } else if (t->result != CURLE_OK) {
        text = t->error[0] ? t->error : curl_easy_strerror(t->result);
        ngx_campaign_connector_reason(e->pool, &m->reason, NULL,
                                      (u_char *) text, ngx_strlen(text));
    }

    ngx_campaign_dispatch_outcome(m, kind);

    ngx_campaign_execution_post(e);
}


char *
ngx_campaign_connector_read_secret(ngx_conf_t *cf, ngx_str_t *file,
    ngx_str_t *secret)
{
    u_char           *p;
    size_t            len;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_file_info_t   fi;

    if (ngx_conf_full_name(cf->cycle, file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(file->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", file);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", file);
        ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    len = (size_t) ngx_file_size(&fi);

    if (!ngx_is_file(&fi) || len == 0 || len > NGX_CAMPAIGN_SECRET_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "credentials file \"%V\" must be a regular file "
                           "of 1 to %d bytes", file,
                           NGX_CAMPAIGN_SECRET_MAX);
        ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    p = ngx_pnalloc(cf->pool, len + 1);
    if (p == NULL) {
        ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_fd(fd, p, len);

    ngx_close_file(fd);

    if (n != (ssize_t) len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, n == -1 ? ngx_errno : 0,
                           ngx_read_fd_n " \"%V\" failed", file);
        return NGX_CONF_ERROR;
    }

    while (len && (p[len - 1] == CR || p[len - 1] == LF)) {
        len--;
    }

    p[len] = '\0';

    if (len == 0 || ngx_strlen(p) != len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "credentials file \"%V\" is empty or holds a "
                           "NUL byte", file);
        return NGX_CONF_ERROR;
    }

    secret->data = p;
    secret->len = len;

    return NGX_CONF_OK;
}


void
ngx_campaign_connector_reason(ngx_pool_t *pool, ngx_str_t *reason,
    const char *prefix, u_char *text, size_t len)
{
    u_char  *p, *last, c;
    size_t   plen;

    plen = prefix ? ngx_strlen(prefix) : 0;
    len = ngx_min(len, 200);

    /* NUL-terminated too: ngx_campaign_outcome_reason() gives it out */

    p = ngx_pnalloc(pool, plen + len + 1);
    if (p == NULL) {
        ngx_str_null(reason);
        return;
    }

    reason->data = p;

    /* memcpy() is not given NULL, even for no bytes */

    if (plen) {
        p = ngx_cpymem(p, prefix, plen);
    }

    for (last = text + len; text < last; text++) {
        c = *text;
        *p++ = (c >= 0x20 && c < 0x7f) ? c : ' ';
    }

    /* no trailing space from a CRLF */

    while (p > reason->data && p[-1] == ' ') {
        p--;
    }

    reason->len = p - reason->data;
    *p = '\0';
}


/*
 * A transfer that got no answer (t->result is not CURLE_OK): libcurl's
 * error as the reason, after prefix; a certificate that does not verify,
 * or a URL libcurl cannot use, will not do better on a retry: permanent;
 * anything else (refused, reset, a timeout): transient.  A status line
 * read before the answer was cut short is no status: the outcome's is
 * 502 or 504, as for a location gateway.
 */

ngx_campaign_send_e
ngx_campaign_connector_no_answer(ngx_campaign_transfer_t *t,
    ngx_str_t *reason, const char *prefix)
{
    const char  *text;

    text = t->error[0] ? t->error : curl_easy_strerror(t->result);

    ngx_campaign_connector_reason(t->pool, reason, prefix, (u_char *) text,
                                  ngx_strlen(text));

    t->code = 0;

    switch (t->result) {

    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return NGX_CAMPAIGN_SEND_PERMANENT;

    default:
        return NGX_CAMPAIGN_SEND_TRANSIENT;
    }
}
