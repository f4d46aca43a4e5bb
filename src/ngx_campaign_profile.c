
/*
 * Copyright (C) ngx_campaign developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_campaign_module.h"


/*
 * Profile lookup: a recipient that comes without an inline "profile" gets
 * one from the location that campaign_profile_lookup names, built from
 * $campaign_namespace and $campaign_user_id: a GET subrequest per
 * recipient, at most campaign_execution_concurrency at a time.  Its
 * answer is captured, up to campaign_profile_max_size, checked as
 * strictly as a request body and handed to the execution, which renders
 * the message with it and lets it go.
 */


static void ngx_campaign_profile_done(ngx_campaign_sr_t *s);
static ngx_int_t ngx_campaign_profile_parse(ngx_campaign_sr_t *s,
    cJSON **profile);
static ngx_int_t ngx_campaign_profile_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_campaign_profile_variables[] = {

    { ngx_string("campaign_namespace"), NULL,
      ngx_campaign_profile_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("campaign_user_id"), NULL,
      ngx_campaign_profile_variable, 1,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_str_t  ngx_campaign_get = ngx_string("GET");


ngx_int_t
ngx_campaign_profile_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_campaign_profile_variables; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/*
 * The URI is built in the execution's request, with $campaign_user_id and
 * $campaign_namespace naming the message's recipient, escaped; it is then
 * decoded and checked as nginx checks a URI that comes from a variable
 * (no "..", no NUL), so that a lookup stays in the location it is meant
 * for.  NGX_DECLINED when the URI is unsafe: the recipient has no profile.
 */

ngx_int_t
ngx_campaign_profile_lookup(ngx_campaign_message_t *m)
{
    ngx_str_t                  uri, args, split;
    ngx_uint_t                 flags;
    ngx_campaign_sr_t         *s;
    ngx_http_request_t        *r;
    ngx_http_headers_in_t     *hi;
    ngx_campaign_execution_t  *e;

    e = m->execution;
    r = e->request;

    ngx_str_null(&args);
    ngx_str_null(&split);

    e->current = m;

    if (ngx_http_complex_value(r, e->conf->profile_uri, &uri) != NGX_OK
        || (e->conf->profile_args
            && ngx_http_complex_value(r, e->conf->profile_args, &args)
               != NGX_OK))
    {
        e->current = NULL;
        return NGX_ERROR;
    }

    e->current = NULL;

    flags = NGX_HTTP_LOG_UNSAFE;

    if (ngx_http_parse_unsafe_uri(r, &uri, &split, &flags) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (args.len == 0) {
        args = split;
    }

    hi = ngx_campaign_subrequest_headers(e, 0);
    if (hi == NULL) {
        return NGX_ERROR;
    }

    s = ngx_campaign_subrequest(m, &uri, &args, NGX_HTTP_GET,
                                &ngx_campaign_get, hi, NULL,
                                ngx_campaign_profile_done);
    if (s == NULL) {
        return NGX_ERROR;
    }

    s->capture = 1;
    s->max_size = e->conf->profile_max_size;

    m->sr = s;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, e->log, 0,
                   "campaign: profile of message %ui from \"%V\"",
                   m->index, &uri);

    return NGX_OK;
}


static void
ngx_campaign_profile_done(ngx_campaign_sr_t *s)
{
    cJSON                   *profile;
    ngx_campaign_message_t  *m;

    m = s->message;
    m->sr = NULL;
    m->profile_status = s->status;

    if (s->status == NGX_HTTP_OK
        && ngx_campaign_profile_parse(s, &profile) == NGX_OK)
    {
        ngx_campaign_execution_profile(m, s->pool, profile);
        ngx_campaign_subrequest_release(s);
        return;
    }

    ngx_campaign_subrequest_release(s);

    if (s->status == NGX_HTTP_NOT_FOUND) {
        ngx_campaign_execution_settle(m, NGX_CAMPAIGN_OUTCOME_NO_PROFILE);
        return;
    }

    if (m->profile_status == NGX_HTTP_OK) {
        m->profile_status = NGX_HTTP_BAD_GATEWAY;

    } else {
        ngx_log_error(NGX_LOG_WARN, m->execution->log, 0,
                      "campaign: profile lookup of message %V answered %ui",
                      &m->idempotency_key, s->status);
    }

    ngx_campaign_execution_settle(m, NGX_CAMPAIGN_OUTCOME_LOOKUP);
}


/* a profile service is checked as strictly as a client */

static ngx_int_t
ngx_campaign_profile_parse(ngx_campaign_sr_t *s, cJSON **profile)
{
    int                       rc;
    ngx_log_t                *log;
    ngx_campaign_alloc_t      a;
    ngx_campaign_problems_t   problems;

    log = s->execution->log;

    if (s->too_large) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "campaign: profile of message %V is larger than "
                      "campaign_profile_max_size",
                      &s->message->idempotency_key);
        return NGX_ERROR;
    }

    if (s->unreadable) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "campaign: profile of message %V could not be read",
                      &s->message->idempotency_key);
        return NGX_ERROR;
    }

    if (s->pos == s->start) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "campaign: profile of message %V is empty",
                      &s->message->idempotency_key);
        return NGX_ERROR;
    }

    if (s->pool == NULL) {
        s->pool = ngx_create_pool(1024, log);
        if (s->pool == NULL) {
            return NGX_ERROR;
        }
    }

    ngx_campaign_pool_alloc(&a, s->pool);
    ngx_memzero(&problems, sizeof(ngx_campaign_problems_t));

    rc = ngx_campaign_trigger_parse_object(&a, s->start, s->pos - s->start,
                                           profile, &problems);
    if (rc != 0) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "campaign: profile of message %V is not a JSON "
                      "object: %s", &s->message->idempotency_key,
                      problems.nitems ? problems.items[0].message
                                      : "out of memory");
        return NGX_ERROR;
    }

    return NGX_OK;
}


const char *
ngx_campaign_outcome_reason(ngx_campaign_message_t *m)
{
    switch (m->outcome) {

    case NGX_CAMPAIGN_OUTCOME_NO_PROFILE:
        return "no profile for this userId in its namespace";

    case NGX_CAMPAIGN_OUTCOME_LOOKUP:
        return "the profile lookup failed";

    case NGX_CAMPAIGN_OUTCOME_RENDER:
        return "the content could not be rendered";

    case NGX_CAMPAIGN_OUTCOME_TIMEOUT:
        return "the execution timed out (campaign_execution_timeout)";

    case NGX_CAMPAIGN_OUTCOME_CAPPED:
        return ngx_campaign_caps_reason(m);

    case NGX_CAMPAIGN_OUTCOME_NO_CONSENT:
        return "the profile did not consent to marketing messages";

    case NGX_CAMPAIGN_OUTCOME_SUPPRESSED:
        return "the address is in the channel's suppression list";

    /* a connector's reason is NUL-terminated */

    case NGX_CAMPAIGN_OUTCOME_INVALID:
        return m->reason.len ? (const char *) m->reason.data
                             : "the address is not one its connector "
                               "can send to";

    case NGX_CAMPAIGN_OUTCOME_GATEWAY:
        return m->reason.len ? (const char *) m->reason.data : NULL;

    default:
        return NULL;
    }
}


/*
 * In a lookup or gateway subrequest: its recipient's; in the execution's
 * request: the recipient whose profile URI is being built.  The value is
 * escaped as a URI component (RFC 3986: all but letters, digits and
 * "-._~"), so that it can go in a path or in arguments; the recipient's
 * identifiers are checked against an alphabet before, as well.
 */

static ngx_int_t
ngx_campaign_profile_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                  *p;
    uintptr_t                n;
    ngx_str_t               *value;
    ngx_campaign_message_t  *m;

    m = ngx_campaign_subrequest_message(r);

    if (m == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    value = data ? &m->user_id : &m->namespace;

    n = ngx_escape_uri(NULL, value->data, value->len,
                       NGX_ESCAPE_URI_COMPONENT);

    if (n == 0) {
        v->data = value->data;
        v->len = value->len;

    } else {
        p = ngx_pnalloc(r->pool, value->len + 2 * n);
        if (p == NULL) {
            return NGX_ERROR;
        }

        v->data = p;
        v->len = (u_char *) ngx_escape_uri(p, value->data, value->len,
                                           NGX_ESCAPE_URI_COMPONENT)
                 - p;
    }

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}
