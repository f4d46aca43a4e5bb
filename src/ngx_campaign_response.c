
/*
 * Copyright (C) ngx_campaign developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_campaign_module.h"


/*
 * What the API answers is JSON: built in one growing buffer, sent in one
 * piece.  Problems follow RFC 9457.  The errors nginx answers itself in
 * an API location (a body over client_max_body_size, a body that cannot
 * be read or stored, "deny") become problems too, in a header and a body
 * filter.
 */


#define NGX_CAMPAIGN_LOG_VALUE_MAX  256


typedef struct {
    ngx_uint_t   status;
    ngx_str_t    type;
    ngx_str_t    title;
} ngx_campaign_problem_type_t;


/* an error nginx answers: the module's type of problem, or "about:blank" */

typedef struct {
    ngx_uint_t   status;
    ngx_str_t    title;                 /* about:blank's; empty: ours */
    const char  *detail;
} ngx_campaign_nginx_problem_t;


static ngx_int_t ngx_campaign_out_grow(ngx_campaign_out_t *o, size_t size);
static void ngx_campaign_out_uri(ngx_campaign_out_t *o, u_char *s,
    size_t len);
static ngx_uint_t ngx_campaign_hex_digit(u_char c);
static ngx_campaign_problem_type_t *ngx_campaign_problem_type(
    ngx_uint_t status);
static void ngx_campaign_problem_build(ngx_http_request_t *r,
    ngx_campaign_out_t *o, ngx_uint_t status,
    ngx_campaign_problem_type_t *t, const char *detail,
    ngx_campaign_problems_t *problems);
static ngx_int_t ngx_campaign_nginx_problem(ngx_http_request_t *r,
    ngx_campaign_out_t *o);
static ngx_int_t ngx_campaign_problem_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_campaign_problem_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_campaign_utf8_charset(u_char *p, u_char *last);


static ngx_campaign_problem_type_t  ngx_campaign_problem_types[] = {

    { NGX_HTTP_BAD_REQUEST,
      ngx_string("urn:ngx-campaign:problem:invalid-request"),
      ngx_string("Invalid request") },

    { NGX_HTTP_UNAUTHORIZED,
      ngx_string("urn:ngx-campaign:problem:unauthorized"),
      ngx_string("Unauthorized") },

    { NGX_HTTP_FORBIDDEN,
      ngx_string("urn:ngx-campaign:problem:forbidden"),
      ngx_string("Forbidden") },

    { NGX_HTTP_NOT_FOUND,
      ngx_string("urn:ngx-campaign:problem:not-found"),
      ngx_string("Not found") },

    { NGX_HTTP_NOT_ALLOWED,
      ngx_string("urn:ngx-campaign:problem:method-not-allowed"),
      ngx_string("Method not allowed") },

    { NGX_HTTP_CONFLICT,
      ngx_string("urn:ngx-campaign:problem:campaign-not-active"),
      ngx_string("Campaign not active") },

    { NGX_HTTP_LENGTH_REQUIRED,
      ngx_string("urn:ngx-campaign:problem:length-required"),
      ngx_string("Length required") },

    { NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
      ngx_string("urn:ngx-campaign:problem:too-large"),
      ngx_string("Request too large") },

    { NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
      ngx_string("urn:ngx-campaign:problem:unsupported-media-type"),
      ngx_string("Unsupported media type") },

    { NGX_HTTP_BAD_GATEWAY,
      ngx_string("urn:ngx-campaign:problem:gateway-failed"),
      ngx_string("Gateway failed") },

    { NGX_HTTP_GATEWAY_TIME_OUT,
      ngx_string("urn:ngx-campaign:problem:gateway-timeout"),
      ngx_string("Gateway timeout") },

    { NGX_HTTP_SERVICE_UNAVAILABLE,
      ngx_string("urn:ngx-campaign:problem:no-gateway"),
      ngx_string("No gateway") },

    { NGX_HTTP_INTERNAL_SERVER_ERROR,
      ngx_string("urn:ngx-campaign:problem:internal-error"),
      ngx_string("Internal error") },

    { 422,
      ngx_string("urn:ngx-campaign:problem:idempotency-key-reused"),
      ngx_string("Idempotency key reused") },

    { NGX_HTTP_TOO_MANY_REQUESTS,
      ngx_string("urn:ngx-campaign:problem:throttled"),
      ngx_string("Throttled") },

    { NGX_HTTP_NOT_IMPLEMENTED,
      ngx_string("urn:ngx-campaign:problem:not-implemented"),
      ngx_string("Not implemented") },

    { 0, ngx_null_string, ngx_null_string }
};


/* a 409 of its own: the same request is still running */

static ngx_campaign_problem_type_t  ngx_campaign_problem_in_progress = {
    NGX_HTTP_CONFLICT,
    ngx_string("urn:ngx-campaign:problem:request-in-progress"),
    ngx_string("Request in progress")
};


/* a 409 of its own: the campaign was stopped (campaigns/{id}/stop) */

static ngx_campaign_problem_type_t  ngx_campaign_problem_stopped = {
    NGX_HTTP_CONFLICT,
    ngx_string("urn:ngx-campaign:problem:campaign-stopped"),
    ngx_string("Campaign stopped")
};


static ngx_campaign_problem_type_t  ngx_campaign_about_blank = {
    0, ngx_string("about:blank"), ngx_string("Error")
};


/*
 * The errors nginx answers for a request in an API location.  Those that
 * mean what the module's own do have the module's type; the others are
 * "about:blank", titled with the status's reason phrase (RFC 9457 4.2.1):
 * a 503 of limit_req is not the API's "no gateway".
 */

static ngx_campaign_nginx_problem_t  ngx_campaign_nginx_problems[] = {

    { NGX_HTTP_BAD_REQUEST, ngx_null_string,
      "the request could not be read" },

    { NGX_HTTP_UNAUTHORIZED, ngx_string("Unauthorized"),
      "authentication is required" },

    { NGX_HTTP_FORBIDDEN, ngx_string("Forbidden"),
      "access is denied" },

    { NGX_HTTP_NOT_FOUND, ngx_null_string,
      "not found" },

    { NGX_HTTP_NOT_ALLOWED, ngx_null_string,
      "method not allowed here" },

    { NGX_HTTP_REQUEST_TIME_OUT, ngx_string("Request Timeout"),
      "the request was not received in time" },

    { NGX_HTTP_CONFLICT, ngx_string("Conflict"),
      "the request conflicts with the resource" },

    { NGX_HTTP_LENGTH_REQUIRED, ngx_null_string,
      "a Content-Length is required" },

    { NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, ngx_null_string,
      "the body exceeds client_max_body_size" },

    { NGX_HTTP_REQUEST_URI_TOO_LARGE, ngx_string("URI Too Long"),
      "the URI is too long" },

    { NGX_HTTP_UNSUPPORTED_MEDIA_TYPE, ngx_null_string,
      "unsupported media type" },

    { NGX_HTTP_TOO_MANY_REQUESTS, ngx_string("Too Many Requests"),
      "too many requests" },

    { NGX_HTTP_INTERNAL_SERVER_ERROR, ngx_null_string,
      "the request could not be processed" },

    { NGX_HTTP_NOT_IMPLEMENTED, ngx_string("Not Implemented"),
      "the request is not implemented" },

    { NGX_HTTP_BAD_GATEWAY, ngx_string("Bad Gateway"),
      "bad gateway" },

    { NGX_HTTP_SERVICE_UNAVAILABLE, ngx_string("Service Unavailable"),
      "the service is unavailable" },

    { NGX_HTTP_GATEWAY_TIME_OUT, ngx_string("Gateway Timeout"),
      "gateway timeout" },

    { NGX_HTTP_VERSION_NOT_SUPPORTED,
      ngx_string("HTTP Version Not Supported"),
      "the HTTP version is not supported" },

    { NGX_HTTP_INSUFFICIENT_STORAGE, ngx_string("Insufficient Storage"),
      "insufficient storage" },

    { 0, ngx_null_string, NULL }
};


static ngx_str_t  ngx_campaign_json_type = ngx_string("application/json");
static ngx_str_t  ngx_campaign_problem_json_type =
    ngx_string("application/problem+json");

/*
 * The Content-Type of a problem that replaces one of nginx's answers: an
 * array, not a literal that the compiler could share with the one above,
 * so that the body filter knows the answer by its address.
 */

static u_char  ngx_campaign_nginx_problem_type[] = "application/problem+json";

/*
 * The characters a URI reference holds as they are (RFC 3986: unreserved
 * and reserved), one bit each; "%" is kept when two hex digits follow it.
 */

static uint32_t  ngx_campaign_uri_chars[] = {
    0x00000000, /* 0000 0000 0000 0000  0000 0000 0000 0000 */

                /* ?>=< ;:98 7654 3210  /.-, +*)( '&%$ #"!  */
    0xafffffda, /* 1010 1111 1111 1111  1111 1111 1101 1010 */

                /* _^]\ [ZYX WVUT SRQP  ONML KJIH GFED CBA@ */
    0xafffffff, /* 1010 1111 1111 1111  1111 1111 1111 1111 */

                /*  ~}| {zyx wvut srqp  onml kjih gfed cba` */
    0x47fffffe, /* 0100 0111 1111 1111  1111 1111 1111 1110 */

    0x00000000, /* 1000 0000 0000 0000  0000 0000 0000 0000 */
    0x00000000, /* 1010 0000 0000 0000  0000 0000 0000 0000 */
    0x00000000, /* 1100 0000 0000 0000  0000 0000 0000 0000 */
    0x00000000  /* 1110 0000 0000 0000  0000 0000 0000 0000 */
};


static ngx_http_output_header_filter_pt  ngx_campaign_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_campaign_next_body_filter;


ngx_int_t
ngx_campaign_response_init(ngx_conf_t *cf)
{
    ngx_campaign_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_campaign_problem_header_filter;

    ngx_campaign_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_campaign_problem_body_filter;

    return NGX_OK;
}


void
ngx_campaign_out_init(ngx_campaign_out_t *o, ngx_pool_t *pool, size_t size)
{
    o->pool = pool;
    o->failed = 0;

    o->start = ngx_pnalloc(pool, size);
    if (o->start == NULL) {
        o->failed = 1;
        o->pos = NULL;
        o->end = NULL;
        return;
    }

    o->pos = o->start;
    o->end = o->start + size;
}


static ngx_int_t
ngx_campaign_out_grow(ngx_campaign_out_t *o, size_t size)
{
    size_t   used, n;
    u_char  *p;

    if (o->failed) {
        return NGX_ERROR;
    }

    used = o->pos - o->start;
    n = (o->end - o->start) * 2;

    while (n < used + size) {
        n *= 2;
    }

    p = ngx_pnalloc(o->pool, n);
    if (p == NULL) {
        o->failed = 1;
        return NGX_ERROR;
    }

    ngx_memcpy(p, o->start, used);

    o->start = p;
    o->pos = p + used;
    o->end = p + n;

    return NGX_OK;
}


void
ngx_campaign_out_raw(ngx_campaign_out_t *o, const u_char *s, size_t len)
{
    if ((size_t) (o->end - o->pos) < len
        && ngx_campaign_out_grow(o, len) != NGX_OK)
    {
        return;
    }

    o->pos = ngx_cpymem(o->pos, s, len);
}


void
ngx_campaign_out_string(ngx_campaign_out_t *o, const u_char *s, size_t len)
{
    size_t  n;

    n = ngx_campaign_json_escaped_len(s, len) + 2;

    if ((size_t) (o->end - o->pos) < n
        && ngx_campaign_out_grow(o, n) != NGX_OK)
    {
        return;
    }

    *o->pos++ = '"';
    o->pos = ngx_campaign_json_escape(o->pos, s, len);
    *o->pos++ = '"';
}


void
ngx_campaign_out_uint(ngx_campaign_out_t *o, ngx_uint_t n)
{
    u_char  *p, buf[NGX_INT_T_LEN];

    p = ngx_sprintf(buf, "%ui", n);
    ngx_campaign_out_raw(o, buf, p - buf);
}


ngx_int_t
ngx_campaign_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_campaign_out_t *o)
{
    ngx_campaign_out_literal(o, "\n");

    if (type == NULL) {
        type = &ngx_campaign_json_type;
    }

    return ngx_campaign_send_out(r, status, type, o);
}


/* sends what o holds, as it is, with status and the content type */

ngx_int_t
ngx_campaign_send_out(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_campaign_out_t *o)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    if (o->failed) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = status;

    /* nginx has no status line of its own for it */

    if (status == 422) {
        ngx_str_set(&r->headers_out.status_line, "422 Unprocessable Content");
    }
    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = o->pos - o->start;

    if (r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = o->start;
    b->last = o->pos;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * A URI reference as a JSON string: every byte outside the URI alphabet,
 * invalid UTF-8 and control bytes among them, is percent-encoded, so that
 * the answer stays valid UTF-8 JSON whatever the request line holds.
 */

static void
ngx_campaign_out_uri(ngx_campaign_out_t *o, u_char *s, size_t len)
{
    u_char     *p, c;
    size_t      i;
    ngx_uint_t  keep;

    static u_char  hex[] = "0123456789ABCDEF";

    if ((size_t) (o->end - o->pos) < 3 * len + 2
        && ngx_campaign_out_grow(o, 3 * len + 2) != NGX_OK)
    {
        return;
    }

    p = o->pos;
    *p++ = '"';

    for (i = 0; i < len; i++) {
        c = s[i];

        if (c == '%') {
            keep = (len - i > 2
                    && ngx_campaign_hex_digit(s[i + 1])
                    && ngx_campaign_hex_digit(s[i + 2]));

        } else {
            keep = ngx_campaign_uri_chars[c >> 5] & (1U << (c & 0x1f));
        }

        if (keep) {
            *p++ = c;
            continue;
        }

        *p++ = '%';
        *p++ = hex[c >> 4];
        *p++ = hex[c & 0xf];
    }

    *p++ = '"';
    o->pos = p;
}


static ngx_uint_t
ngx_campaign_hex_digit(u_char c)
{
    if (c >= '0' && c <= '9') {
        return 1;
    }

    c |= 0x20;

    return (c >= 'a' && c <= 'f');
}


static ngx_campaign_problem_type_t *
ngx_campaign_problem_type(ngx_uint_t status)
{
    ngx_campaign_problem_type_t  *t;

    for (t = ngx_campaign_problem_types; t->status; t++) {
        if (t->status == status) {
            return t;
        }
    }

    return &ngx_campaign_about_blank;
}


static void
ngx_campaign_problem_build(ngx_http_request_t *r, ngx_campaign_out_t *o,
    ngx_uint_t status, ngx_campaign_problem_type_t *t, const char *detail,
    ngx_campaign_problems_t *problems)
{
    size_t                   i, n;
    u_char                  *q;
    ngx_campaign_problem_t  *p;

    ngx_campaign_out_literal(o, "{\"type\":");
    ngx_campaign_out_string(o, t->type.data, t->type.len);
    ngx_campaign_out_literal(o, ",\"title\":");
    ngx_campaign_out_string(o, t->title.data, t->title.len);
    ngx_campaign_out_literal(o, ",\"status\":");
    ngx_campaign_out_uint(o, status);
    ngx_campaign_out_literal(o, ",\"detail\":");
    ngx_campaign_out_string(o, (u_char *) detail, ngx_strlen(detail));

    /* the path as the client sent it: a URI reference, still encoded */

    n = r->unparsed_uri.len;
    q = ngx_strlchr(r->unparsed_uri.data, r->unparsed_uri.data + n, '?');

    if (q) {
        n = q - r->unparsed_uri.data;
    }

    ngx_campaign_out_literal(o, ",\"instance\":");
    ngx_campaign_out_uri(o, r->unparsed_uri.data, n);
    ngx_campaign_out_literal(o, ",\"errors\":[");

    for (i = 0; problems && i < problems->nitems; i++) {
        p = &problems->items[i];

        if (i) {
            ngx_campaign_out_literal(o, ",");
        }

        ngx_campaign_out_literal(o, "{\"pointer\":");
        ngx_campaign_out_string(o, (u_char *) p->pointer,
                                ngx_strlen(p->pointer));
        ngx_campaign_out_literal(o, ",\"message\":");
        ngx_campaign_out_string(o, (u_char *) p->message,
                                ngx_strlen(p->message));
        ngx_campaign_out_literal(o, "}");
    }

    ngx_campaign_out_literal(o, "]}");
}


ngx_int_t
ngx_campaign_send_problem(ngx_http_request_t *r, ngx_uint_t status,
    const char *detail, ngx_campaign_problems_t *problems)
{
    ngx_str_t                 *id;
    ngx_campaign_out_t         o;
    ngx_campaign_execution_t  *e;

    ngx_campaign_out_init(&o, r->pool, 512);

    ngx_campaign_problem_build(r, &o, status,
                               ngx_campaign_problem_type(status), detail,
                               problems);

    /* the caller's requestId, once known, ties the line to its trigger */

    e = ngx_http_get_module_ctx(r, ngx_http_campaign_module);

    if (e && (e->request_id.len || e->trigger.request_id)) {

        /* the trigger itself goes once its messages are rendered */

        id = e->request_id.len
             ? ngx_campaign_log_escape(r->pool, e->request_id.data,
                                       e->request_id.len)
             : ngx_campaign_log_escape(r->pool,
                                       (u_char *) e->trigger.request_id,
                                       ngx_strlen(e->trigger.request_id));

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "campaign: %ui problem: %s, requestId \"%V\"",
                      status, detail, id);

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "campaign: %ui problem: %s", status, detail);
    }

    return ngx_campaign_send_json(r, status, &ngx_campaign_problem_json_type,
                                  &o);
}


ngx_int_t
ngx_campaign_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *detail, const char *pointer, const char *message)
{
    ngx_campaign_problem_t   item;
    ngx_campaign_problems_t  problems;

    item.pointer = pointer;
    item.message = message;

    problems.items = &item;
    problems.nitems = (message[0] != '\0');
    problems.nalloc = 1;
    problems.status = status;

    return ngx_campaign_send_problem(r, status, detail, &problems);
}


/*
 * A request refused before its body is read: the body is discarded
 * without "100 Continue", so that a client waiting for it does not upload
 * what will be thrown away (as nginx does for client_max_body_size).
 */

ngx_int_t
ngx_campaign_refuse(ngx_http_request_t *r, ngx_uint_t status,
    const char *detail, const char *pointer, const char *message)
{
    r->expect_tested = 1;

    if (status == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE
        || status == NGX_HTTP_LENGTH_REQUIRED)
    {
        /* the body is not worth waiting for: close after the answer */
        r->keepalive = 0;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    return ngx_campaign_send_error(r, status, detail, pointer, message);
}


/*
 * The campaign that a path's {id} names, or NULL when none has it: then
 * the request is refused with 404 and *rc is what to return.  Only a
 * known id goes further; the id of the URI itself is never used.
 */

ngx_campaign_t *
ngx_campaign_by_id(ngx_http_request_t *r, ngx_str_t *id, ngx_int_t *rc)
{
    ngx_campaign_t            *c;
    ngx_campaign_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_campaign_module);

    c = ngx_campaign_find(cmcf, id->data, id->len);
    if (c == NULL) {
        *rc = ngx_campaign_refuse(r, NGX_HTTP_NOT_FOUND, "unknown campaign",
                                  "", "no campaign has this id");
    }

    return c;
}


/*
 * The campaign a trigger's body names (its campaignId, at /campaignId),
 * or NULL when the API key may not trigger it (checked first, so that
 * the campaign's existence is not told) or none has this id: then the
 * request is answered and *answer is what to return.
 */

ngx_campaign_t *
ngx_campaign_trigger_campaign(ngx_http_request_t *r, ngx_str_t *id,
    ngx_int_t *answer)
{
    ngx_campaign_t            *c;
    ngx_campaign_main_conf_t  *cmcf;

    if (ngx_campaign_keys_check(r, NGX_CAMPAIGN_SCOPE_TRIGGER, id, answer)
        != NGX_OK)
    {
        return NULL;
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_campaign_module);

    c = ngx_campaign_find(cmcf, id->data, id->len);
    if (c == NULL) {
        *answer = ngx_campaign_send_error(r, NGX_HTTP_NOT_FOUND,
                                          "unknown campaign", "/campaignId",
                                          "no campaign has this id");
    }

    return c;
}


ngx_int_t
ngx_campaign_not_allowed(ngx_http_request_t *r, const char *allow)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Allow");
    h->value.data = (u_char *) allow;
    h->value.len = ngx_strlen(allow);

    return ngx_campaign_refuse(r, NGX_HTTP_NOT_ALLOWED,
                               "method not allowed here", "",
                               "allowed methods are listed in Allow");
}


/*
 * nginx's own answer to the main request in an API location -- a body
 * over client_max_body_size, a body it could not read or store, "deny",
 * an error status a handler returned -- is a problem too, of the same
 * status, unless error_page is set for that status.  nginx has chosen
 * the status and whether the connection is kept; only the page changes.
 */

static ngx_int_t
ngx_campaign_problem_header_filter(ngx_http_request_t *r)
{
    ngx_str_t                 *type;
    ngx_uint_t                 i;
    ngx_campaign_out_t         o;
    ngx_http_err_page_t       *err_page;
    ngx_campaign_loc_conf_t   *cplcf;
    ngx_http_core_loc_conf_t  *clcf;

    if (r != r->main || r->err_status < NGX_HTTP_BAD_REQUEST) {
        return ngx_campaign_next_header_filter(r);
    }

    cplcf = ngx_http_get_module_loc_conf(r, ngx_http_campaign_module);

    if (cplcf->api != 1) {
        return ngx_campaign_next_header_filter(r);
    }

    /* an answer of the API itself, after an error_page redirect to it */

    type = &r->headers_out.content_type;

    if (type->len
        && (type->data == ngx_campaign_json_type.data
            || type->data == ngx_campaign_problem_json_type.data))
    {
        return ngx_campaign_next_header_filter(r);
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->error_pages) {
        err_page = clcf->error_pages->elts;

        for (i = 0; i < clcf->error_pages->nelts; i++) {
            if ((ngx_uint_t) err_page[i].status == r->err_status) {
                return ngx_campaign_next_header_filter(r);
            }
        }
    }

    /* built here for its length, and again by the body filter */

    ngx_campaign_out_init(&o, r->pool, 512);

    if (ngx_campaign_nginx_problem(r, &o) != NGX_OK) {
        return NGX_ERROR;
    }

    type->len = sizeof(ngx_campaign_nginx_problem_type) - 1;
    type->data = ngx_campaign_nginx_problem_type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_type_lowcase = NULL;

    r->headers_out.content_length_n = o.pos - o.start;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    return ngx_campaign_next_header_filter(r);
}


static ngx_int_t
ngx_campaign_problem_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t           *b;
    ngx_uint_t           last;
    ngx_chain_t         *cl, out;
    ngx_campaign_out_t   o;

    if (r->headers_out.content_type.data != ngx_campaign_nginx_problem_type) {
        return ngx_campaign_next_body_filter(r, in);
    }

    /* nginx's page is dropped; the problem goes in place of its end */

    last = 0;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (b->last_buf) {
            last = 1;
        }

        b->pos = b->last;
        b->file_pos = b->file_last;
    }

    if (!last) {
        return NGX_OK;
    }

    ngx_campaign_out_init(&o, r->pool, 512);

    if (ngx_campaign_nginx_problem(r, &o) != NGX_OK) {
        return NGX_ERROR;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = o.start;
    b->last = o.pos;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_campaign_next_body_filter(r, &out);
}


static ngx_int_t
ngx_campaign_nginx_problem(ngx_http_request_t *r, ngx_campaign_out_t *o)
{
    const char                    *detail;
    ngx_campaign_problem_type_t   *t, blank;
    ngx_campaign_nginx_problem_t  *p;

    for (p = ngx_campaign_nginx_problems; p->status; p++) {
        if (p->status == r->err_status) {
            break;
        }
    }

    if (p->status == 0) {
        t = &ngx_campaign_about_blank;
        detail = (r->err_status >= NGX_HTTP_INTERNAL_SERVER_ERROR)
                 ? "the request could not be processed"
                 : "the request was refused";

    } else if (p->title.len == 0) {
        t = ngx_campaign_problem_type(p->status);
        detail = p->detail;

    } else {
        blank.status = p->status;
        blank.type = ngx_campaign_about_blank.type;
        blank.title = p->title;
        t = &blank;
        detail = p->detail;
    }

    ngx_campaign_problem_build(r, o, r->err_status, t, detail, NULL);
    ngx_campaign_out_literal(o, "\n");

    return o->failed ? NGX_ERROR : NGX_OK;
}


/*
 * "application/json" or any "application/...+json", with no charset or
 * a UTF-8 one: RFC 8259 JSON is UTF-8.
 */

ngx_int_t
ngx_campaign_json_content_type(ngx_http_request_t *r)
{
    u_char  *p, *last, *end;
    size_t   len;

    if (r->headers_in.content_type == NULL) {
        return NGX_DECLINED;
    }

    p = r->headers_in.content_type->value.data;
    last = p + r->headers_in.content_type->value.len;

    end = ngx_strlchr(p, last, ';');
    if (end == NULL) {
        end = last;
    }

    len = end - p;

    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) {
        len--;
    }

    if (!(len == sizeof("application/json") - 1
          && ngx_strncasecmp(p, (u_char *) "application/json", len) == 0)
        && !(len > sizeof("application/+json") - 1
             && ngx_strncasecmp(p, (u_char *) "application/", 12) == 0
             && ngx_strncasecmp(p + len - 5, (u_char *) "+json", 5) == 0))
    {
        return NGX_DECLINED;
    }

    /* parameters: only "charset" matters */

    while (end < last) {
        p = end + 1;

        end = ngx_strlchr(p, last, ';');
        if (end == NULL) {
            end = last;
        }

        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if (end - p > 8 && ngx_strncasecmp(p, (u_char *) "charset=", 8) == 0
            && ngx_campaign_utf8_charset(p + 8, end) != NGX_OK)
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_campaign_utf8_charset(u_char *p, u_char *last)
{
    size_t  len;

    while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
        last--;
    }

    if (last - p >= 2 && *p == '"' && last[-1] == '"') {
        p++;
        last--;
    }

    len = last - p;

    if ((len == 5 && ngx_strncasecmp(p, (u_char *) "utf-8", 5) == 0)
        || (len == 4 && ngx_strncasecmp(p, (u_char *) "utf8", 4) == 0))
    {
        return NGX_OK;
    }

    return NGX_DECLINED;
}


/*
 * The request body as one contiguous string, whether nginx kept it in
 * memory buffers or spilled it into a temporary file.
 */

ngx_int_t
ngx_campaign_read_body(ngx_http_request_t *r, ngx_str_t *body)
{
    off_t         len;
    u_char       *p;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    body->len = 0;
    body->data = NULL;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && !cl->buf->in_file) {
        body->data = cl->buf->pos;
        body->len = cl->buf->last - cl->buf->pos;
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                              b->file_pos);
            if (n != b->file_last - b->file_pos) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "campaign: cannot read the body from \"%V\"",
                              &b->file->name);
                return NGX_ERROR;
            }

            p += n;
            continue;
        }

        if (b->last != b->pos) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
        }
    }

    body->len = p - body->data;

    return NGX_OK;
}


/*
 * A client's string for a log line, where it stands in double quotes:
 * quotes, backslashes, control and non-ASCII bytes become \xHH, as nginx
 * escapes its access log, so that no value can end the quotes, start a
 * line or pass for another field.  A value longer than
 * NGX_CAMPAIGN_LOG_VALUE_MAX bytes once escaped is cut and ends with
 * "\...", which escaping never produces.
 */

ngx_str_t *
ngx_campaign_log_escape(ngx_pool_t *pool, u_char *s, size_t len)
{
    u_char     *p, *last, c;
    size_t      i;
    ngx_str_t  *v;

    static u_char     hex[] = "0123456789ABCDEF";
    static ngx_str_t  nomem = ngx_string("(no memory)");

    v = ngx_palloc(pool, sizeof(ngx_str_t) + NGX_CAMPAIGN_LOG_VALUE_MAX
                         + sizeof("\\...") - 1);
    if (v == NULL) {
        return &nomem;
    }

    p = (u_char *) (v + 1);
    last = p + NGX_CAMPAIGN_LOG_VALUE_MAX;

    v->data = p;

    for (i = 0; i < len; i++) {
        c = s[i];

        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            if (p == last) {
                break;
            }

            *p++ = c;
            continue;
        }

        if (last - p < 4) {
            break;
        }

        *p++ = '\\';
        *p++ = 'x';
        *p++ = hex[c >> 4];
        *p++ = hex[c & 0xf];
    }

    if (i < len) {
        p = ngx_cpymem(p, "\\...", sizeof("\\...") - 1);
    }

    v->len = p - v->data;

    return v;
}


/*
 * A problem built for keeping as well as sending: into pool, for the
 * URI of r (the client's, or an execution's copy of it).
 */

ngx_int_t
ngx_campaign_problem_answer(ngx_http_request_t *r, ngx_pool_t *pool,
    ngx_uint_t status, const char *detail, ngx_campaign_problems_t *problems,
    ngx_campaign_store_answer_t *answer)
{
    ngx_campaign_out_t  o;

    ngx_campaign_out_init(&o, pool, 512);

    ngx_campaign_problem_build(r, &o, status,
                               ngx_campaign_problem_type(status), detail,
                               problems);
    if (o.failed) {
        return NGX_ERROR;
    }

    answer->status = status;
    answer->problem = 1;
    answer->body.data = o.start;
    answer->body.len = o.pos - o.start;

    return NGX_OK;
}


/*
 * An answer built before, or kept: copied into the request's pool, as
 * its builder's pool may go first.  A replay says so in a header.
 */

ngx_int_t
ngx_campaign_send_answer(ngx_http_request_t *r,
    ngx_campaign_store_answer_t *answer, ngx_uint_t replayed)
{
    ngx_table_elt_t     *h;
    ngx_campaign_out_t   o;

    if (replayed) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Idempotent-Replayed");
        ngx_str_set(&h->value, "true");
    }

    ngx_campaign_out_init(&o, r->pool, answer->body.len + 1);
    ngx_campaign_out_raw(&o, answer->body.data, answer->body.len);

    if (answer->problem) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "campaign: %ui problem%s", answer->status,
                      replayed ? ", replayed" : "");

        return ngx_campaign_send_json(r, answer->status,
                                      &ngx_campaign_problem_json_type, &o);
    }

    return ngx_campaign_send_json(r, answer->status, NULL, &o);
}


ngx_int_t
ngx_campaign_send_in_progress(ngx_http_request_t *r, time_t retry_after,
    const char *pointer)
{
    u_char                  *p;
    ngx_table_elt_t         *h;
    ngx_campaign_out_t       o;
    ngx_campaign_problem_t   item;
    ngx_campaign_problems_t  problems;

    h = ngx_list_push(&r->headers_out.headers);
    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);

    if (h == NULL || p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Retry-After");
    h->value.data = p;
    h->value.len = ngx_sprintf(p, "%T", ngx_max(retry_after, 1)) - p;

    item.pointer = pointer;
    item.message = "a request with this key is still running";

    problems.items = &item;
    problems.nitems = 1;
    problems.nalloc = 1;
    problems.status = NGX_HTTP_CONFLICT;

    ngx_campaign_out_init(&o, r->pool, 512);
    ngx_campaign_problem_build(r, &o, NGX_HTTP_CONFLICT,
                               &ngx_campaign_problem_in_progress,
                               "the first request with this key has not "
                               "been answered yet", &problems);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "campaign: 409 problem: request in progress");

    return ngx_campaign_send_json(r, NGX_HTTP_CONFLICT,
                                  &ngx_campaign_problem_json_type, &o);
}


/*
 * The value of a request header that nginx does not keep a pointer to, and
 * how many times it came (a key sent twice is refused, not guessed).
 */

ngx_uint_t
ngx_campaign_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value)
{
    ngx_uint_t        i, n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    n = 0;
    ngx_str_null(value);

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == name->len
            && ngx_strncasecmp(h[i].key.data, name->data, name->len) == 0)
        {
            if (n++ == 0) {
                *value = h[i].value;
            }
        }
    }

    return n;
}


ngx_int_t
ngx_campaign_send_stopped(ngx_http_request_t *r, const char *message)
{
    ngx_str_t                 *id;
    ngx_campaign_out_t         o;
    ngx_campaign_problem_t     item;
    ngx_campaign_problems_t    problems;
    ngx_campaign_execution_t  *e;

    item.pointer = "/campaignId";
    item.message = message;

    problems.items = &item;
    problems.nitems = 1;
    problems.nalloc = 1;
    problems.status = NGX_HTTP_CONFLICT;

    ngx_campaign_out_init(&o, r->pool, 512);
    ngx_campaign_problem_build(r, &o, NGX_HTTP_CONFLICT,
                               &ngx_campaign_problem_stopped,
                               "the campaign is stopped", &problems);

    /* the trigger's requestId, as ngx_campaign_send_problem() logs it */

    e = ngx_http_get_module_ctx(r, ngx_http_campaign_module);

    if (e && (e->request_id.len || e->trigger.request_id)) {
        id = e->request_id.len
             ? ngx_campaign_log_escape(r->pool, e->request_id.data,
                                       e->request_id.len)
             : ngx_campaign_log_escape(r->pool,
                                       (u_char *) e->trigger.request_id,
                                       ngx_strlen(e->trigger.request_id));

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "campaign: 409 problem: the campaign is stopped, "
                      "requestId \"%V\"", id);

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "campaign: 409 problem: the campaign is stopped");
    }

    return ngx_campaign_send_json(r, NGX_HTTP_CONFLICT,
                                  &ngx_campaign_problem_json_type, &o);
}
