
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


#define NGX_CAMPAIGN_EXECUTION_ID_LEN  36     /* a UUID's text */


typedef struct {
    ngx_campaign_t             **campaigns;   /* sorted by id */
    ngx_uint_t                   ncampaigns;
    ngx_str_t                    dir;
} ngx_campaign_main_conf_t;


typedef struct {
    ngx_str_t                    uri;
    ngx_str_t                    args;
} ngx_campaign_gateway_t;


typedef struct ngx_campaign_outbox_s  ngx_campaign_outbox_t;


typedef struct {
    ngx_campaign_gateway_t      *gateways;    /* per channel, NULL: none */
    ngx_uint_t                   retries;
    ngx_msec_t                   retry_delay;

    ngx_flag_t                   api;
    off_t                        max_body_size;

    ngx_http_complex_value_t    *profile_uri;
    ngx_http_complex_value_t    *profile_args;
    size_t                       profile_max_size;
    ngx_campaign_outbox_t       *outbox;
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


/* one message: a recipient's rendered payload and its delivery */

typedef struct {
    ngx_campaign_execution_t    *execution;
    ngx_campaign_recipient_t    *recipient;

    ngx_str_t                    payload;
    ngx_str_t                    idempotency_key;

    ngx_uint_t                   attempts;
    ngx_uint_t                   status;      /* the gateway's last answer */
    ngx_msec_t                   elapsed;

    ngx_event_t                  retry;
    ngx_http_request_t          *subrequest;  /* the attempt in flight */

    /* the recipient's profile, when it is looked up */
    ngx_http_request_t          *lookup;
    ngx_uint_t                   profile_status;
    u_char                      *profile_start;
    u_char                      *profile_pos;
    u_char                      *profile_end;

    unsigned                     done:1;
    unsigned                     accepted:1;
    unsigned                     profile_failed:1;
    unsigned                     profile_too_large:1;
} ngx_campaign_message_t;


struct ngx_campaign_execution_s {
    ngx_http_request_t          *request;
    ngx_campaign_t              *campaign;
    ngx_campaign_trigger_t       trigger;
    ngx_campaign_gateway_t      *gateway;

    u_char                       id[NGX_CAMPAIGN_EXECUTION_ID_LEN];
    ngx_str_t                    created_at;

    ngx_campaign_message_t      *messages;
    ngx_uint_t                   nmessages;
    ngx_uint_t                   pending;

    /* whose $campaign_user_id a profile URI is being built for */
    ngx_campaign_message_t      *current;

    ngx_uint_t                   retries;
    ngx_msec_t                   retry_delay;
};


extern ngx_module_t  ngx_http_campaign_module;


void ngx_campaign_pool_alloc(ngx_campaign_alloc_t *a, ngx_pool_t *pool);
ngx_campaign_t *ngx_campaign_find(ngx_campaign_main_conf_t *cmcf,
    u_char *id, size_t len);

ngx_int_t ngx_campaign_api_handler(ngx_http_request_t *r);
ngx_int_t ngx_campaign_outbox_handler(ngx_http_request_t *r);
char *ngx_campaign_outbox_conf(ngx_conf_t *cf, ngx_campaign_outbox_t **outbox);

ngx_int_t ngx_campaign_dispatch_init(ngx_conf_t *cf);
ngx_int_t ngx_campaign_dispatch_start(ngx_campaign_execution_t *e);
void ngx_campaign_dispatch_cleanup(void *data);
ngx_int_t ngx_campaign_dispatch_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc);
ngx_int_t ngx_campaign_subrequest_answer(ngx_http_request_t *sr,
    ngx_int_t rc, ngx_uint_t *status);
ngx_int_t ngx_campaign_subrequest_survive(ngx_int_t rc);
ngx_http_request_t *ngx_campaign_subrequest(ngx_http_request_t *r,
    ngx_str_t *uri, ngx_str_t *args, ngx_http_post_subrequest_pt handler,
    void *data, ngx_uint_t method, ngx_str_t *method_name,
    ngx_http_headers_in_t *hi, ngx_http_request_body_t *rb);
ngx_http_headers_in_t *ngx_campaign_subrequest_headers(ngx_http_request_t *r,
    ngx_uint_t n);
void ngx_campaign_execution_finish(ngx_http_request_t *r);
ngx_int_t ngx_campaign_execution_dispatch(ngx_http_request_t *r,
    ngx_campaign_execution_t *e);

ngx_int_t ngx_campaign_profile_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_campaign_profile_start(ngx_campaign_execution_t *e,
    ngx_campaign_loc_conf_t *cplcf);
ngx_int_t ngx_campaign_profile_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc);
void ngx_campaign_profile_capture(ngx_campaign_message_t *m,
    ngx_chain_t *in);
const char *ngx_campaign_profile_reason(ngx_campaign_message_t *m);

ngx_int_t ngx_campaign_read_body(ngx_http_request_t *r, ngx_str_t *body);

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
ngx_int_t ngx_campaign_send_problem(ngx_http_request_t *r, ngx_uint_t status,
    const char *detail, ngx_campaign_problems_t *problems);
ngx_int_t ngx_campaign_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *detail, const char *pointer, const char *message);
ngx_int_t ngx_campaign_refuse(ngx_http_request_t *r, ngx_uint_t status,
    const char *detail, const char *pointer, const char *message);
ngx_int_t ngx_campaign_not_allowed(ngx_http_request_t *r, const char *allow);
ngx_int_t ngx_campaign_json_content_type(ngx_http_request_t *r);


#endif /* _NGX_CAMPAIGN_MODULE_H_INCLUDED_ */
