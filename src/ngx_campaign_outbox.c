
/*
 * Copyright (C) ngx_campaign developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_campaign_module.h"


/*
 * The built-in outbox: a gateway that appends every JSON payload it is
 * given as one line to a file and answers 202.  The demo's gateway, and a
 * mail catcher for staging.  One write(2) per line on an O_APPEND file:
 * lines from several workers never interleave.
 */


static void ngx_campaign_outbox_body(ngx_http_request_t *r);
static ngx_int_t ngx_campaign_outbox_write(ngx_http_request_t *r);


ngx_int_t
ngx_campaign_outbox_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (r->method != NGX_HTTP_POST) {
        return ngx_campaign_not_allowed(r, "POST");
    }

    if (ngx_campaign_json_content_type(r) != NGX_OK) {
        return ngx_campaign_refuse(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                   "the outbox takes JSON bodies", "",
                                   "unsupported Content-Type");
    }

    rc = ngx_http_read_client_request_body(r, ngx_campaign_outbox_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_campaign_outbox_body(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_campaign_outbox_write(r));
}


static ngx_int_t
ngx_campaign_outbox_write(ngx_http_request_t *r)
{
    u_char                   *line, *p;
    cJSON                    *json;
    const char               *end;
    ssize_t                   n;
    ngx_str_t                 body;
    ngx_open_file_t          *file;
    ngx_campaign_out_t        o;
    ngx_campaign_loc_conf_t  *cplcf;

    if (ngx_campaign_read_body(r, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* one line per message: the payload is re-printed compact */

    json = cJSON_ParseWithLengthOpts((char *) body.data, body.len, &end, 0);

    if (json) {
        while (end < (char *) body.data + body.len
               && (*end == ' ' || *end == '\t' || *end == CR || *end == LF))
        {
            end++;
        }
    }

    if (json == NULL || !cJSON_IsObject(json)
        || end != (char *) body.data + body.len)
    {
        cJSON_Delete(json);
        return ngx_campaign_send_error(r, NGX_HTTP_BAD_REQUEST,
                                       "the outbox takes one JSON object "
                                       "per message", "", "malformed JSON");
    }

    p = (u_char *) cJSON_PrintUnformatted(json);
    cJSON_Delete(json);

    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = ngx_strlen(p);

    line = ngx_pnalloc(r->pool, n + 1);
    if (line == NULL) {
        cJSON_free(p);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(line, p, n);
    line[n++] = LF;
    cJSON_free(p);

    cplcf = ngx_http_get_module_loc_conf(r, ngx_http_campaign_module);
    file = cplcf->outbox;

    if (ngx_write_fd(file->fd, line, n) != n) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                      ngx_write_fd_n " to outbox \"%V\" failed",
                      &file->name);
        return ngx_campaign_send_problem(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                         "the outbox cannot be written",
                                         NULL);
    }

    ngx_campaign_out_init(&o, r->pool, 128);
    ngx_campaign_out_literal(&o, "{\"status\":\"accepted\"}");

    return ngx_campaign_send_json(r, NGX_HTTP_ACCEPTED, NULL, &o);
}
