
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
 * recipient, all in parallel, before anything is rendered.  Its answer is
 * kept by the module's body filter, up to campaign_profile_max_size.
 */


static ngx_int_t ngx_campaign_profile_send(ngx_campaign_execution_t *e,
    ngx_campaign_message_t *m, ngx_campaign_loc_conf_t *cplcf);
static ngx_int_t ngx_campaign_profile_user_id_safe(const char *id);
static void ngx_campaign_profile_parse(ngx_campaign_message_t *m,
    ngx_log_t *log);
static void ngx_campaign_profile_settle(ngx_campaign_message_t *m);
static void ngx_campaign_profile_finish(ngx_http_request_t *r);
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


ngx_int_t
ngx_campaign_profile_start(ngx_campaign_execution_t *e,
    ngx_campaign_loc_conf_t *cplcf)
{
    ngx_uint_t               i;
    ngx_campaign_message_t  *m;

    if (cplcf->profile_uri == NULL) {
        return NGX_OK;
    }

    for (i = 0; i < e->nmessages; i++) {
        m = &e->messages[i];

        if (m->recipient->profile) {
            continue;
        }

        if (!ngx_campaign_profile_user_id_safe(m->recipient->user_id)) {
            m->profile_failed = 1;
            m->profile_status = NGX_HTTP_NOT_FOUND;
            m->done = 1;
            continue;
        }

        e->pending++;

        if (ngx_campaign_profile_send(e, m, cplcf) != NGX_OK) {
            e->pending--;
            m->profile_failed = 1;
            m->profile_status = NGX_HTTP_INTERNAL_SERVER_ERROR;
            m->done = 1;
        }
    }

    if (e->pending == 0) {
        return NGX_OK;
    }

    /*
     * Nothing is sent yet: a client that goes away while the profiles are
     * fetched gets its messages cancelled, as an upstream request would be
     */

    e->request->read_event_handler = ngx_http_test_reading;
    e->request->write_event_handler = ngx_http_request_empty_handler;

    return NGX_DONE;
}


/*
 * The URI is built in the main request, with $campaign_user_id and
 * $campaign_namespace naming the recipient at hand.
 */

static ngx_int_t
ngx_campaign_profile_send(ngx_campaign_execution_t *e,
    ngx_campaign_message_t *m, ngx_campaign_loc_conf_t *cplcf)
{
    ngx_str_t               uri, args;
    ngx_http_request_t     *r, *sr;
    ngx_http_headers_in_t  *hi;

    r = e->request;

    ngx_str_null(&args);

    e->current = m;

    if (ngx_http_complex_value(r, cplcf->profile_uri, &uri) != NGX_OK
        || (cplcf->profile_args
            && ngx_http_complex_value(r, cplcf->profile_args, &args)
               != NGX_OK))
    {
        e->current = NULL;
        return NGX_ERROR;
    }

    e->current = NULL;

    hi = ngx_campaign_subrequest_headers(r, 0);
    if (hi == NULL) {
        return NGX_ERROR;
    }

    sr = ngx_campaign_subrequest(r, &uri, &args, ngx_campaign_profile_done,
                                 m, NGX_HTTP_GET, &ngx_campaign_get, hi,
                                 NULL);
    if (sr == NULL) {
        return NGX_ERROR;
    }

    m->lookup = sr;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "campaign: profile of \"%s\" from \"%V\"",
                   m->recipient->user_id, &uri);

    return NGX_OK;
}


/*
 * A userId becomes part of a path: one that could step out of it (a
 * slash, a backslash, "." or "..") or carries control characters does
 * not name a profile.
 */

static ngx_int_t
ngx_campaign_profile_user_id_safe(const char *id)
{
    const u_char  *p;

    if (ngx_strcmp(id, ".") == 0 || ngx_strcmp(id, "..") == 0) {
        return 0;
    }

    for (p = (const u_char *) id; *p; p++) {
        if (*p == '/' || *p == '\\' || *p < 0x20 || *p == 0x7f) {
            return 0;
        }
    }

    return 1;
}


ngx_int_t
ngx_campaign_profile_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_campaign_message_t *m = data;

    if (m->lookup != sr) {
        return ngx_campaign_subrequest_survive(rc);
    }

    if (ngx_campaign_subrequest_answer(sr, rc, &m->profile_status)
        == NGX_AGAIN)
    {
        return rc;
    }

    m->lookup = NULL;

    if (m->profile_status == NGX_HTTP_OK) {
        ngx_campaign_profile_parse(m, sr->connection->log);

    } else {
        m->profile_failed = 1;

        if (m->profile_status != NGX_HTTP_NOT_FOUND) {
            ngx_log_error(NGX_LOG_WARN, sr->connection->log, 0,
                          "campaign: profile lookup of \"%s\" answered %ui",
                          m->recipient->user_id, m->profile_status);
        }
    }

    if (m->profile_failed) {
        m->done = 1;
    }

    ngx_campaign_profile_settle(m);

    return ngx_campaign_subrequest_survive(rc);
}


static void
ngx_campaign_profile_parse(ngx_campaign_message_t *m, ngx_log_t *log)
{
    int                        rc;
    cJSON                     *profile, *copy;
    ngx_campaign_alloc_t       a;
    ngx_campaign_problems_t    problems;
    ngx_campaign_recipient_t  *rcp;

    rcp = m->recipient;

    if (m->profile_too_large) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "campaign: profile of \"%s\" is larger than "
                      "campaign_profile_max_size", rcp->user_id);
        goto failed;
    }

    /* a profile service is checked as strictly as a client */

    ngx_campaign_pool_alloc(&a, m->execution->request->pool);
    ngx_memzero(&problems, sizeof(ngx_campaign_problems_t));

    rc = ngx_campaign_trigger_parse_object(&a, m->profile_start,
                                           m->profile_pos - m->profile_start,
                                           &profile, &problems);
    if (rc != 0) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "campaign: profile of \"%s\" is not a JSON object: %s",
                      rcp->user_id,
                      problems.nitems ? problems.items[0].message
                                      : "out of memory");
        goto failed;
    }

    /*
     * The parsed tree goes with the pool; the recipient's data takes a
     * reference to it.
     */

    copy = cJSON_CreateObjectReference(profile->child);

    if (copy == NULL
        || !cJSON_ReplaceItemInObjectCaseSensitive(rcp->data, "profile",
                                                   copy))
    {
        cJSON_Delete(copy);
        goto failed;
    }

    rcp->profile = profile;

    return;

failed:

    m->profile_failed = 1;
    m->profile_status = NGX_HTTP_BAD_GATEWAY;
}


void
ngx_campaign_profile_capture(ngx_campaign_message_t *m, ngx_chain_t *in)
{
    size_t                     len, size, used;
    u_char                    *p;
    ssize_t                    n;
    ngx_buf_t                 *b;
    ngx_uint_t                 in_file;
    ngx_chain_t               *cl;
    ngx_http_request_t        *r;
    ngx_campaign_loc_conf_t   *cplcf;

    r = m->execution->request;

    for (cl = in; cl; cl = cl->next) {

        if (m->profile_too_large || ngx_buf_special(cl->buf)) {
            continue;
        }

        b = cl->buf;
        in_file = (b->in_file && !ngx_buf_in_memory(b));

        /* sendfile and proxy temporary files give buffers in files */

        len = in_file ? (size_t) (b->file_last - b->file_pos)
                      : (size_t) (b->last - b->pos);

        if ((size_t) (m->profile_end - m->profile_pos) < len) {
            cplcf = ngx_http_get_module_loc_conf(r,
                                                 ngx_http_campaign_module);
            size = (size_t) (m->profile_pos - m->profile_start) + len;

            if (size > cplcf->profile_max_size) {
                m->profile_too_large = 1;
                continue;
            }

            size = ngx_max(size * 2, 1024);
            size = ngx_min(size, cplcf->profile_max_size);

            p = ngx_pnalloc(r->pool, size);
            if (p == NULL) {
                m->profile_too_large = 1;
                continue;
            }

            used = m->profile_pos - m->profile_start;

            if (used) {
                ngx_memcpy(p, m->profile_start, used);
            }

            m->profile_start = p;
            m->profile_pos = p + used;
            m->profile_end = p + size;
        }

        if (in_file) {
            n = ngx_read_file(b->file, m->profile_pos, len, b->file_pos);

            if (n != (ssize_t) len) {
                m->profile_too_large = 1;
                continue;
            }

            m->profile_pos += len;
            continue;
        }

        m->profile_pos = ngx_cpymem(m->profile_pos, b->pos, len);
    }
}


static void
ngx_campaign_profile_settle(ngx_campaign_message_t *m)
{
    ngx_http_request_t        *r;
    ngx_campaign_execution_t  *e;

    e = m->execution;
    r = e->request;

    if (--e->pending) {
        return;
    }

    /* every profile is in: the main request goes on with the dispatch */

    r->write_event_handler = ngx_campaign_profile_finish;

    if (ngx_http_post_request(r, NULL) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_ERROR);
    }
}


static void
ngx_campaign_profile_finish(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_campaign_execution_t  *e;

    e = ngx_http_get_module_ctx(r, ngx_http_campaign_module);

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    if (r->connection->error) {
        ngx_http_finalize_request(r, NGX_HTTP_CLIENT_CLOSED_REQUEST);
        return;
    }

    rc = ngx_campaign_execution_dispatch(r, e);

    if (rc == NGX_DONE) {
        return;
    }

    ngx_http_finalize_request(r, rc);
}


const char *
ngx_campaign_profile_reason(ngx_campaign_message_t *m)
{
    return (m->profile_status == NGX_HTTP_NOT_FOUND)
           ? "no profile for this userId in its namespace"
           : "the profile lookup failed";
}


/*
 * In a lookup or gateway subrequest: its recipient; in the main request:
 * the recipient whose profile URI is being built.
 */

static ngx_int_t
ngx_campaign_profile_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    const char                  *value;
    ngx_campaign_message_t      *m;
    ngx_campaign_execution_t    *e;
    ngx_http_post_subrequest_t  *ps;

    m = NULL;
    ps = r->post_subrequest;

    if (r != r->main && ps
        && (ps->handler == ngx_campaign_profile_done
            || ps->handler == ngx_campaign_dispatch_done))
    {
        m = ps->data;

    } else {
        e = ngx_http_get_module_ctx(r->main, ngx_http_campaign_module);

        if (e) {
            m = e->current;
        }
    }

    if (m == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    value = data ? m->recipient->user_id : m->recipient->namespace;

    v->data = (u_char *) value;
    v->len = ngx_strlen(value);
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}
