
/*
 * Copyright (C) ngx_campaign developers
 */


#ifndef _NGX_CAMPAIGN_CONNECTOR_H_INCLUDED_
#define _NGX_CAMPAIGN_CONNECTOR_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <curl/curl.h>

#include "ngx_campaign_module.h"


/*
 * Connectors: a channel's gateway that is not a location but a protocol
 * spoken by libcurl (SMTP, APNs over HTTP/2, FCM HTTP v1, HTTP with a body
 * template).  Each worker has one libcurl multi handle, driven by nginx's
 * events and timers (ngx_campaign_curl.c); a connector turns a message
 * into one transfer per attempt and its answer into an outcome
 * (ngx_campaign_connector.c does what is common, each type the rest).
 *
 *     campaign_connector  relay  smtp {
 *         url        smtp://127.0.0.1:2525;
 *         ...
 *     }
 *
 *     location = /campaigns/trigger {
 *         campaign_api;
 *         campaign_gateway  email  connector=relay;
 *     }
 */


typedef struct ngx_campaign_connector_s       ngx_campaign_connector_t;
typedef struct ngx_campaign_connector_type_s  ngx_campaign_connector_type_t;
typedef struct ngx_campaign_transfer_s        ngx_campaign_transfer_t;

typedef void (*ngx_campaign_transfer_done_pt)(ngx_campaign_transfer_t *t);


/* what a connector makes of an attempt's answer */

typedef enum {
    NGX_CAMPAIGN_SEND_ACCEPTED = 0,
    NGX_CAMPAIGN_SEND_TRANSIENT,          /* retried, with backoff */
    NGX_CAMPAIGN_SEND_PERMANENT,          /* failed, not retried */
    NGX_CAMPAIGN_SEND_INVALID             /* the address or token is bad */
} ngx_campaign_send_e;


/*
 * One libcurl transfer: a message's attempt, or a connector's own (an
 * OAuth2 token).  It has its own pool, so that it may outlive the
 * execution that started it: everything the easy handle points to is
 * copied into it.
 */

struct ngx_campaign_transfer_s {
    CURL                        *easy;
    ngx_pool_t                  *pool;
    ngx_log_t                   *log;
    ngx_campaign_connector_t    *connector;

    /* called once, when it ends (not when it is cancelled) */
    ngx_campaign_transfer_done_pt  done;
    void                        *data;

    struct curl_slist           *headers;     /* freed with it */
    struct curl_slist           *recipients;  /* SMTP RCPT TO, freed too */

    /* an upload (SMTP): read from here by libcurl */
    u_char                      *upload;
    size_t                       upload_len;
    size_t                       upload_sent;

    /* the answer: at most answer_max bytes are kept, the rest dropped */
    u_char                      *answer;
    size_t                       answer_len;
    size_t                       answer_max;

    /* the result, once done() is called */
    CURLcode                     result;
    long                         code;        /* HTTP status, SMTP reply */
    char                         error[CURL_ERROR_SIZE];

    ngx_msec_t                   started;
    ngx_queue_t                  queue;       /* waiting, or running */

    /* the message's, while it waits for the attempt's outcome */
    ngx_campaign_sr_t           *sr;

    unsigned                     running:1;   /* added to the multi */
    unsigned                     waiting:1;   /* in the connector's queue */

    /*
     * nginx could not watch one of its sockets: it is ended as failed,
     * and its easy handle, stopped midway, is not reused
     */
    unsigned                     refused:1;
};


/*
 * A connector type.  Its hooks, in order:
 *
 *   create_conf  at "campaign_connector name type {": its own conf;
 *   directive    each line of the block the common code does not know
 *                (cf->args); NGX_CONF_OK, NGX_CONF_ERROR (after logging),
 *                or NGX_CAMPAIGN_CONNECTOR_UNKNOWN for "unknown directive";
 *   init_conf    at "}": defaults, required lines, credentials read from
 *                their files (never logged);
 *   render       at render time, with the recipient and its data still
 *                there: m->payload (and m->connector_data if it wants)
 *                from e->pool; NGX_OK, or NGX_ERROR (a render failure);
 *   ready        before an attempt starts: NGX_OK to start it now,
 *                NGX_AGAIN while a credential is being fetched (the type
 *                then calls ngx_campaign_connector_wake() or _fail()),
 *                NGX_ERROR when it cannot be had;
 *   prepare      the easy handle's options for one attempt of m, once
 *                ready and about to start (m->attempts counts it): the
 *                URL, headers, the credential, the body through
 *                ngx_campaign_transfer_body();
 *                everything must be copied into t->pool or given to
 *                libcurl to copy: m may go before the transfer ends;
 *   result       the transfer's answer as an outcome; *reason (from
 *                t->pool, printable ASCII, at most 200 bytes) says why,
 *                for the execution's answer and the log.
 *
 * ready may be NULL (always ready).
 */

#define NGX_CAMPAIGN_CONNECTOR_UNKNOWN  ((char *) -2)

#define ngx_campaign_isalnum(c)                                              \
    (((c) >= '0' && (c) <= '9') || ((c) >= 'a' && (c) <= 'z')               \
     || ((c) >= 'A' && (c) <= 'Z'))

struct ngx_campaign_connector_type_s {
    ngx_str_t                    name;        /* "smtp", "apns", ... */
    ngx_uint_t                   channels;    /* 1 << channel, or'ed */

    void *(*create_conf)(ngx_conf_t *cf, ngx_campaign_connector_t *cn);
    char *(*directive)(ngx_conf_t *cf, ngx_campaign_connector_t *cn);
    char *(*init_conf)(ngx_conf_t *cf, ngx_campaign_connector_t *cn);

    ngx_int_t (*render)(ngx_campaign_message_t *m, const cJSON *data,
        ngx_campaign_rendered_t *r, size_t n, const char *language);

    ngx_int_t (*ready)(ngx_campaign_connector_t *cn, ngx_log_t *log);
    ngx_int_t (*prepare)(ngx_campaign_transfer_t *t,
        ngx_campaign_message_t *m);
    ngx_campaign_send_e (*result)(ngx_campaign_transfer_t *t,
        ngx_str_t *reason);

    /* worker start and exit, may be NULL */
    ngx_int_t (*init_process)(ngx_campaign_connector_t *cn,
        ngx_cycle_t *cycle);
    void (*exit_process)(ngx_campaign_connector_t *cn);
};


/* a "campaign_connector" block */

struct ngx_campaign_connector_s {
    ngx_str_t                    name;
    ngx_campaign_connector_type_t  *type;
    void                        *conf;        /* the type's */

    /* the lines every type has */
    ngx_str_t                    url;
    ngx_msec_t                   connect_timeout;  /* 5s */
    ngx_msec_t                   timeout;          /* 30s, a transfer */
    ngx_uint_t                   max_connections;  /* 16, per worker */
    ngx_flag_t                   tls_verify;       /* on */
    ngx_str_t                    ca_file;          /* "": the system's */

    /* where it is defined, or first used when it is not */
    u_char                      *file;
    ngx_uint_t                   line;
    unsigned                     defined:1;

    /* the channels whose gateway it is (1 << channel), and one such place */
    ngx_uint_t                   used;
    u_char                      *used_file;
    ngx_uint_t                   used_line;

    /* the worker's */
    CURLSH                      *share;       /* its connections, sessions */
    ngx_uint_t                   running;     /* transfers of messages */
    ngx_queue_t                  waiting;     /* for a place or a token */
    ngx_array_t                  free;        /* CURL *, to reuse */
};


/* ngx_campaign_curl.c: the worker's multi handle */

ngx_int_t ngx_campaign_curl_init_process(ngx_cycle_t *cycle,
    ngx_uint_t max_connections);
void ngx_campaign_curl_exit_process(ngx_cycle_t *cycle);

/*
 * A transfer for cn with the connector's common options set (timeouts,
 * TLS verification and CA file, no signals, the answer kept, libcurl's
 * errors into t->error); NULL when out of memory.
 */
ngx_campaign_transfer_t *ngx_campaign_transfer_create(
    ngx_campaign_connector_t *cn, ngx_log_t *log);

/* the request body (POST) or the upload (SMTP), copied into t->pool */
ngx_int_t ngx_campaign_transfer_body(ngx_campaign_transfer_t *t,
    u_char *data, size_t len, ngx_uint_t upload);

/*
 * A header line "Name: value", copied; NGX_ERROR when out of memory.  A
 * line is at most NGX_CAMPAIGN_HEADER_MAX bytes: a configured one is
 * checked against it when nginx reads its configuration.
 */

#define NGX_CAMPAIGN_HEADER_MAX  4095

ngx_int_t ngx_campaign_transfer_header(ngx_campaign_transfer_t *t,
    const char *fmt, ...);

ngx_int_t ngx_campaign_transfer_start(ngx_campaign_transfer_t *t);

/* stops it if it runs; done() is not called; then frees it */
void ngx_campaign_transfer_cancel(ngx_campaign_transfer_t *t);

/* after done(): frees it, and keeps its easy handle for reuse */
void ngx_campaign_transfer_free(ngx_campaign_transfer_t *t);


/* ngx_campaign_connector.c */

char *ngx_campaign_connector_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_campaign_connector_t *ngx_campaign_connector_add(ngx_conf_t *cf,
    ngx_str_t *name);
char *ngx_campaign_connector_check(ngx_conf_t *cf);

ngx_int_t ngx_campaign_connector_init_process(ngx_cycle_t *cycle);
void ngx_campaign_connector_exit_process(ngx_cycle_t *cycle);

ngx_int_t ngx_campaign_connector_render(ngx_campaign_message_t *m,
    const cJSON *data, ngx_campaign_rendered_t *r, size_t n,
    const char *language);
ngx_int_t ngx_campaign_connector_send(ngx_campaign_message_t *m);

/* a type's credential is here (or failed): waiting attempts go on */
void ngx_campaign_connector_wake(ngx_campaign_connector_t *cn);
void ngx_campaign_connector_fail(ngx_campaign_connector_t *cn,
    ngx_campaign_send_e kind, const char *reason);

/*
 * Reads a credential file whole into cf->pool (at most 64 KB), without
 * ever putting its content into a message: errors name the file only.
 * Trailing CR/LF are dropped.
 */
char *ngx_campaign_connector_read_secret(ngx_conf_t *cf, ngx_str_t *file,
    ngx_str_t *secret);

/* a reason from a peer's text: printable ASCII, at most 200 bytes */
void ngx_campaign_connector_reason(ngx_pool_t *pool, ngx_str_t *reason,
    const char *prefix, u_char *text, size_t len);

/* t got no answer (t->result is not CURLE_OK): its reason and kind */
ngx_campaign_send_e ngx_campaign_connector_no_answer(
    ngx_campaign_transfer_t *t, ngx_str_t *reason, const char *prefix);

/* the types */

extern ngx_campaign_connector_type_t  ngx_campaign_connector_smtp;
extern ngx_campaign_connector_type_t  ngx_campaign_connector_apns;
extern ngx_campaign_connector_type_t  ngx_campaign_connector_fcm;
extern ngx_campaign_connector_type_t  ngx_campaign_connector_http;


#endif /* _NGX_CAMPAIGN_CONNECTOR_H_INCLUDED_ */
