
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
 * mail catcher for staging.
 *
 * The lines of a file and the Idempotency-Keys already written to it are
 * guarded by one lock, the mutex of a shared memory zone that belongs to
 * the file: every worker writes a whole line or nothing, and a key is
 * written once.  A line is one write(2) on an O_APPEND file; a short write
 * is completed under the lock, and a line that cannot be completed is cut
 * off the file before the lock is released, so no other line is ever
 * appended after a partial one.  The body is taken from memory only: a
 * body that nginx would spool to a file is refused.
 *
 * A zone does not outlive nginx, so each key written is also appended to
 * a keys file next to the outbox file ("FILE.keys", a line "time key"),
 * under the same lock; a new zone reads the tail of that file back, in
 * the master, before any worker runs.  The lines of the outbox stay the
 * payloads as they were given.
 */


#define NGX_CAMPAIGN_OUTBOX_KEYS_SIZE     (1024 * 1024)
#define NGX_CAMPAIGN_OUTBOX_KEYS_VALID    (24 * 60 * 60)
#define NGX_CAMPAIGN_OUTBOX_KEY_MAX_LEN   128

/* "time key\n" */
#define NGX_CAMPAIGN_OUTBOX_RECORD_LEN                                      \
    (NGX_TIME_T_LEN + 1 + NGX_CAMPAIGN_OUTBOX_KEY_MAX_LEN + 1)


struct ngx_campaign_outbox_s {
    ngx_open_file_t               *file;
    ngx_shm_zone_t                *zone;
};


/* the shared part: keys by hash, and from the newest to the oldest */

typedef struct {
    ngx_rbtree_t                   rbtree;
    ngx_rbtree_node_t              sentinel;
    ngx_queue_t                    queue;
    time_t                         warned;    /* a key forgotten early */
} ngx_campaign_outbox_sh_t;


typedef struct {
    ngx_campaign_outbox_sh_t      *sh;
    ngx_slab_pool_t               *shpool;
    time_t                         valid;
    ngx_open_file_t               *file;      /* the keys file, or NULL */
} ngx_campaign_outbox_keys_t;


/*
 * A key written.  The tree is one of nginx's own string trees (hash, then
 * the key itself): its insert function is nginx's, whose address does not
 * change when a reload loads this module again.
 */

typedef struct {
    ngx_str_node_t                 sn;
    ngx_queue_t                    queue;
    time_t                         written;
    u_char                         data[1];
} ngx_campaign_outbox_key_t;


static ngx_int_t ngx_campaign_outbox_keys_file(ngx_conf_t *cf,
    ngx_open_file_t *file, ngx_open_file_t **keys_file);
static ngx_int_t ngx_campaign_outbox_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_campaign_outbox_read_keys(ngx_shm_zone_t *shm_zone);
static ngx_int_t ngx_campaign_outbox_read_record(
    ngx_campaign_outbox_keys_t *keys, u_char *p, u_char *last,
    ngx_log_t *log);
static ngx_int_t ngx_campaign_outbox_key(ngx_http_request_t *r,
    ngx_str_t *key, const char **reason);
static ngx_int_t ngx_campaign_outbox_key_valid(u_char *p, size_t len);
static void ngx_campaign_outbox_body(ngx_http_request_t *r);
static ngx_int_t ngx_campaign_outbox_request(ngx_http_request_t *r);
static ngx_int_t ngx_campaign_outbox_body_text(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_campaign_outbox_line(ngx_http_request_t *r,
    ngx_str_t *body, ngx_str_t *line);
static ngx_int_t ngx_campaign_outbox_append(ngx_http_request_t *r,
    ngx_campaign_outbox_t *outbox, ngx_str_t *key, ngx_str_t *line,
    ngx_err_t *err);
static ngx_err_t ngx_campaign_outbox_write(ngx_http_request_t *r,
    ngx_open_file_t *file, ngx_str_t *line);
static ngx_campaign_outbox_key_t *ngx_campaign_outbox_find(
    ngx_campaign_outbox_keys_t *keys, ngx_str_t *key);
static ngx_campaign_outbox_key_t *ngx_campaign_outbox_alloc(ngx_log_t *log,
    ngx_campaign_outbox_keys_t *keys, size_t size);
static void ngx_campaign_outbox_remember(ngx_campaign_outbox_keys_t *keys,
    ngx_campaign_outbox_key_t *k, ngx_str_t *key, time_t written);
static void ngx_campaign_outbox_forget(ngx_campaign_outbox_keys_t *keys,
    ngx_campaign_outbox_key_t *k);


static ngx_str_t  ngx_campaign_outbox_zone_prefix =
    ngx_string("campaign_outbox:");
static ngx_str_t  ngx_campaign_outbox_keys_suffix = ngx_string(".keys");


/*
 * campaign_outbox file [keys=size] [keys_valid=time];
 *
 * Locations that write the same file share its zone, so they must give it
 * the same parameters.
 */

char *
ngx_campaign_outbox_conf(ngx_conf_t *cf, ngx_campaign_outbox_t **outboxp)
{
    u_char                      *p;
    time_t                       valid;
    ssize_t                      size;
    ngx_str_t                   *value, s, name;
    ngx_uint_t                   i;
    ngx_shm_zone_t              *shm_zone;
    ngx_campaign_outbox_t       *outbox;
    ngx_campaign_outbox_keys_t  *keys;

    value = cf->args->elts;

    size = NGX_CAMPAIGN_OUTBOX_KEYS_SIZE;
    valid = NGX_CAMPAIGN_OUTBOX_KEYS_VALID;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "keys=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            size = ngx_parse_size(&s);

            if (size == NGX_ERROR) {
                goto invalid;
            }

            if (size < (ssize_t) (8 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"%V\" is too small: at least %uz",
                                   &value[i], 8 * ngx_pagesize);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "keys_valid=", 11) == 0) {
            s.data = value[i].data + 11;
            s.len = value[i].len - 11;

            valid = ngx_parse_time(&s, 1);

            if (valid == (time_t) NGX_ERROR || valid == 0) {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    outbox = ngx_palloc(cf->pool, sizeof(ngx_campaign_outbox_t));
    if (outbox == NULL) {
        return NGX_CONF_ERROR;
    }

    /* opened by the master like a log: reopened on USR1, kept on reload */

    outbox->file = ngx_conf_open_file(cf->cycle, &value[1]);
    if (outbox->file == NULL) {
        return NGX_CONF_ERROR;
    }

    /* the zone is named after the file's full name: one zone per file */

    name.len = ngx_campaign_outbox_zone_prefix.len + outbox->file->name.len;
    name.data = ngx_pnalloc(cf->pool, name.len);
    if (name.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(name.data, ngx_campaign_outbox_zone_prefix.data,
                   ngx_campaign_outbox_zone_prefix.len);
    ngx_memcpy(p, outbox->file->name.data, outbox->file->name.len);

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_campaign_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        keys = shm_zone->data;

        if (keys->valid != valid) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "another \"campaign_outbox\" of \"%V\" "
                               "sets another keys_valid=", &value[1]);
            return NGX_CONF_ERROR;
        }

    } else {
        keys = ngx_pcalloc(cf->pool, sizeof(ngx_campaign_outbox_keys_t));
        if (keys == NULL) {
            return NGX_CONF_ERROR;
        }

        keys->valid = valid;

        if (ngx_campaign_outbox_keys_file(cf, outbox->file, &keys->file)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        shm_zone->init = ngx_campaign_outbox_init_zone;
        shm_zone->data = keys;
    }

    outbox->zone = shm_zone;
    *outboxp = outbox;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


/*
 * The keys file of an outbox file, opened by the master like the outbox
 * itself.  An outbox that is not a regular file (a pipe, /dev/full) has
 * none: a name next to it may not be a place to create a file.
 */

static ngx_int_t
ngx_campaign_outbox_keys_file(ngx_conf_t *cf, ngx_open_file_t *file,
    ngx_open_file_t **keys_file)
{
    u_char           *p;
    ngx_str_t         name;
    ngx_file_info_t   fi;

    *keys_file = NULL;

    if (ngx_file_info(file->name.data, &fi) != NGX_FILE_ERROR
        && !ngx_is_file(&fi))
    {
        return NGX_OK;
    }

    name.len = file->name.len + ngx_campaign_outbox_keys_suffix.len;
    name.data = ngx_pnalloc(cf->pool, name.len + 1);
    if (name.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(name.data, file->name.data, file->name.len);
    p = ngx_cpymem(p, ngx_campaign_outbox_keys_suffix.data,
                   ngx_campaign_outbox_keys_suffix.len);
    *p = '\0';

    *keys_file = ngx_conf_open_file(cf->cycle, &name);
    if (*keys_file == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_campaign_outbox_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_campaign_outbox_keys_t  *okeys = data;

    size_t                       len;
    ngx_campaign_outbox_keys_t  *keys;

    keys = shm_zone->data;

    if (okeys) {
        /* a reload: the keys written so far are kept */
        keys->sh = okeys->sh;
        keys->shpool = okeys->shpool;
        return NGX_OK;
    }

    keys->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        keys->sh = keys->shpool->data;
        return NGX_OK;
    }

    keys->sh = ngx_slab_alloc(keys->shpool, sizeof(ngx_campaign_outbox_sh_t));
    if (keys->sh == NULL) {
        return NGX_ERROR;
    }

    keys->shpool->data = keys->sh;

    ngx_rbtree_init(&keys->sh->rbtree, &keys->sh->sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_queue_init(&keys->sh->queue);
    keys->sh->warned = 0;

    len = sizeof(" in campaign_outbox zone \"\"") + shm_zone->shm.name.len;

    keys->shpool->log_ctx = ngx_slab_alloc(keys->shpool, len);
    if (keys->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(keys->shpool->log_ctx, " in campaign_outbox zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone forgets its oldest keys: not worth a log line each time */
    keys->shpool->log_nomem = 0;

    if (keys->file) {
        ngx_campaign_outbox_read_keys(shm_zone);
    }

    return NGX_OK;
}


/*
 * A new zone learns the keys of the keys file: at a start, or at a reload
 * that changes keys=.  Only the tail that a zone of this size could hold
 * is read, in a buffer on the stack.  Nothing here fails the start: a
 * file that cannot be read leaves the zone empty, and a record that is
 * not "time key" (a partial last line after a crash) is skipped.
 */

static void
ngx_campaign_outbox_read_keys(ngx_shm_zone_t *shm_zone)
{
    off_t                        offset, size;
    u_char                      *p, *lf, *last;
    ssize_t                      n;
    ngx_fd_t                     fd;
    ngx_int_t                    rc;
    ngx_log_t                   *log;
    ngx_uint_t                   nkeys, nskipped, skip;
    ngx_file_t                   file;
    ngx_file_info_t              fi;
    ngx_campaign_outbox_keys_t  *keys;
    u_char                       buf[4096];

    keys = shm_zone->data;
    log = shm_zone->shm.log;

    fd = ngx_open_file(keys->file->name.data, NGX_FILE_RDONLY,
                       NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      ngx_open_file_n " \"%V\" failed, the Idempotency-Keys "
                      "written before are not known", &keys->file->name);
        return;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      ngx_fd_info_n " \"%V\" failed", &keys->file->name);
        goto done;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = keys->file->name;
    file.log = log;

    size = ngx_file_size(&fi);

    if (size == 0) {
        goto done;
    }

    /*
     * A tail starts at the line feed before it, if any: what comes before
     * the first line feed read is skipped as a part of a record.
     */

    if (size > (off_t) shm_zone->shm.size) {
        offset = size - (off_t) shm_zone->shm.size - 1;
        skip = 1;

    } else {
        offset = 0;
        skip = 0;
    }

    nkeys = 0;
    nskipped = 0;
    last = buf;

    for ( ;; ) {
        n = ngx_read_file(&file, last, buf + sizeof(buf) - last, offset);

        if (n == NGX_ERROR || n == 0) {
            break;
        }

        offset += n;
        last += n;
        p = buf;

        while ((lf = ngx_strlchr(p, last, LF)) != NULL) {

            if (skip) {
                skip = 0;

            } else {
                rc = ngx_campaign_outbox_read_record(keys, p, lf, log);

                if (rc == NGX_ERROR) {
                    goto done;
                }

                if (rc == NGX_OK) {
                    nkeys++;

                } else if (rc == NGX_DECLINED) {
                    nskipped++;
                }
            }

            p = lf + 1;
        }

        if (p == buf && last == buf + sizeof(buf)) {
            /* no line feed in a whole buffer: not a record */
            if (!skip) {
                nskipped++;
                skip = 1;
            }

            last = buf;
            continue;
        }

        last = ngx_movemem(buf, p, last - p);
    }

    if (n == 0 && last > buf) {

        /*
         * A last record without its line feed, cut short by a crash: the
         * next record starts on a line of its own.
         */

        if (!skip) {
            nskipped++;
        }

        if (ngx_write_fd(keys->file->fd, "\n", 1) != 1) {
            ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                          ngx_write_fd_n " to \"%V\" failed",
                          &keys->file->name);
        }
    }

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "campaign_outbox: %ui Idempotency-Key(s) read from \"%V\"",
                  nkeys, &keys->file->name);

    if (nskipped) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "campaign_outbox: %ui line(s) of \"%V\" are not "
                      "\"time key\", skipped", nskipped, &keys->file->name);
    }

done:

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", &keys->file->name);
    }
}


/*
 * One record "time key", without its line feed: NGX_OK when the key is
 * remembered, NGX_DONE when it is older than keys_valid=, NGX_DECLINED
 * when the record is not of its form, NGX_ERROR when the zone has no room.
 */

static ngx_int_t
ngx_campaign_outbox_read_record(ngx_campaign_outbox_keys_t *keys, u_char *p,
    u_char *last, ngx_log_t *log)
{
    u_char                     *sp;
    time_t                      now, written;
    ngx_str_t                   key;
    ngx_campaign_outbox_key_t  *k;

    sp = ngx_strlchr(p, last, ' ');
    if (sp == NULL) {
        return NGX_DECLINED;
    }

    written = ngx_atotm(p, sp - p);
    key.data = sp + 1;
    key.len = last - key.data;

    if (written == (time_t) NGX_ERROR
        || ngx_campaign_outbox_key_valid(key.data, key.len) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    now = ngx_time();

    /* a time from the future is a record run into another one */

    if (written > now + keys->valid) {
        return NGX_DECLINED;
    }

    if (now - written >= keys->valid) {
        return NGX_DONE;
    }

    /* a key written again after it expired: the later record holds */

    k = ngx_campaign_outbox_find(keys, &key);
    if (k) {
        ngx_campaign_outbox_forget(keys, k);
    }

    k = ngx_campaign_outbox_alloc(log, keys,
                                  offsetof(ngx_campaign_outbox_key_t, data)
                                  + key.len);
    if (k == NULL) {
        ngx_log_error(NGX_LOG_CRIT, log, 0,
                      "campaign_outbox: no room for a key%s",
                      keys->shpool->log_ctx);
        return NGX_ERROR;
    }

    ngx_campaign_outbox_remember(keys, k, &key, written);

    return NGX_OK;
}


ngx_int_t
ngx_campaign_outbox_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_str_t                  key;
    const char                *reason;
    ngx_http_core_loc_conf_t  *clcf;

    if (r->method != NGX_HTTP_POST) {
        return ngx_campaign_not_allowed(r, "POST");
    }

    if (ngx_campaign_json_content_type(r) != NGX_OK) {
        return ngx_campaign_refuse(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                   "the outbox takes JSON bodies", "",
                                   "unsupported Content-Type");
    }

    if (ngx_campaign_outbox_key(r, &key, &reason) == NGX_ERROR) {
        return ngx_campaign_refuse(r, NGX_HTTP_BAD_REQUEST,
                                   "the Idempotency-Key is not valid", "",
                                   reason);
    }

    /*
     * The body is kept in memory: a gateway subrequest of the module
     * carries its payload in memory already; a client's body must fit in
     * the client body buffer, where nginx reads it without a temporary
     * file.
     */

    if (r == r->main) {
        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

        if (r->headers_in.content_length_n
            > (off_t) clcf->client_body_buffer_size)
        {
            return ngx_campaign_refuse(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       "the outbox takes bodies of up to "
                                       "client_body_buffer_size", "",
                                       "body too large");
        }

        r->request_body_in_single_buf = 1;
        r->request_body_in_file_only = 0;
        r->request_body_in_persistent_file = 0;
    }

    rc = ngx_http_read_client_request_body(r, ngx_campaign_outbox_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/*
 * The request's Idempotency-Key: NGX_OK with key set, NGX_DECLINED when
 * there is none, NGX_ERROR with a reason when it is not a sane token.
 */

static ngx_int_t
ngx_campaign_outbox_key(ngx_http_request_t *r, ngx_str_t *key,
    const char **reason)
{
    ngx_uint_t  found;

    static ngx_str_t  name = ngx_string("Idempotency-Key");

    found = ngx_campaign_header(r, &name, key);

    if (found > 1) {
        *reason = "more than one Idempotency-Key";
        return NGX_ERROR;
    }

    if (!found) {
        return NGX_DECLINED;
    }

    *reason = "Idempotency-Key must be 1 to 128 letters, digits, "
              "\"-\", \"_\", \".\", \":\" or \"~\"";

    return ngx_campaign_outbox_key_valid(key->data, key->len);
}


/* NGX_OK for 1 to 128 letters, digits, "-", "_", ".", ":" or "~" */

static ngx_int_t
ngx_campaign_outbox_key_valid(u_char *p, size_t len)
{
    u_char  c, *last;

    if (len == 0 || len > NGX_CAMPAIGN_OUTBOX_KEY_MAX_LEN) {
        return NGX_ERROR;
    }

    for (last = p + len; p < last; p++) {
        c = *p;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9')
            || c == '-' || c == '_' || c == '.' || c == ':' || c == '~')
        {
            continue;
        }

        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_campaign_outbox_body(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_campaign_outbox_request(r));
}


static ngx_int_t
ngx_campaign_outbox_request(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_err_t                 err;
    ngx_str_t                 body, line, key, *k;
    const char               *reason;
    ngx_campaign_out_t        o;
    ngx_campaign_loc_conf_t  *cplcf;

    rc = ngx_campaign_outbox_body_text(r, &body);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_campaign_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       "the outbox takes bodies of up to "
                                       "client_body_buffer_size", "",
                                       "body too large");
    }

    rc = ngx_campaign_outbox_line(r, &body, &line);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_campaign_send_error(r, NGX_HTTP_BAD_REQUEST,
                                       "the outbox takes one JSON object "
                                       "per message", "", "malformed JSON");
    }

    /* checked before the body was read */
    k = (ngx_campaign_outbox_key(r, &key, &reason) == NGX_OK) ? &key : NULL;

    cplcf = ngx_http_get_module_loc_conf(r, ngx_http_campaign_module);

    rc = ngx_campaign_outbox_append(r, cplcf->outbox, k, &line, &err);

    if (rc == NGX_ERROR) {
        if (err == NGX_ENOSPC || err == EDQUOT || err == EFBIG) {
            return ngx_campaign_send_problem(r,
                                             NGX_HTTP_INTERNAL_SERVER_ERROR,
                                             "the outbox's disk is full",
                                             NULL);
        }

        return ngx_campaign_send_problem(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                         "the outbox cannot be written",
                                         NULL);
    }

    ngx_campaign_out_init(&o, r->pool, 64);

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "campaign: outbox: Idempotency-Key \"%V\" "
                      "already written, dropped", &key);

        ngx_campaign_out_literal(&o, "{\"status\":\"accepted\","
                                     "\"duplicate\":true}");

    } else {
        ngx_campaign_out_literal(&o, "{\"status\":\"accepted\"}");
    }

    return ngx_campaign_send_json(r, NGX_HTTP_ACCEPTED, NULL, &o);
}


/*
 * The body as one string, from memory only: NGX_DECLINED when nginx has
 * put any of it in a temporary file.
 */

static ngx_int_t
ngx_campaign_outbox_body_text(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char       *p;
    size_t        len;
    ngx_chain_t  *cl;

    body->len = 0;
    body->data = NULL;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        if (cl->buf->in_file || r->request_body->temp_file) {
            return NGX_DECLINED;
        }

        len += cl->buf->last - cl->buf->pos;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL) {
        body->data = cl->buf->pos;
        body->len = len;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;
    body->len = len;

    for ( /* void */ ; cl; cl = cl->next) {

        /* the last buffer of a chunked body may be empty, without memory */

        if (cl->buf->last != cl->buf->pos) {
            p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
        }
    }

    return NGX_OK;
}


/*
 * One line per message: the payload is printed again compact, with a line
 * feed.  NGX_DECLINED when the body is not one JSON object.
 */

static ngx_int_t
ngx_campaign_outbox_line(ngx_http_request_t *r, ngx_str_t *body,
    ngx_str_t *line)
{
    u_char      *p;
    cJSON       *json;
    size_t       n;
    const char  *end, *last;

    last = (char *) body->data + body->len;

    json = cJSON_ParseWithLengthOpts((char *) body->data, body->len, &end, 0);

    if (json) {
        while (end < last
               && (*end == ' ' || *end == '\t' || *end == CR || *end == LF))
        {
            end++;
        }
    }

    if (json == NULL || !cJSON_IsObject(json) || end != last) {
        cJSON_Delete(json);
        return NGX_DECLINED;
    }

    p = (u_char *) cJSON_PrintUnformatted(json);
    cJSON_Delete(json);

    if (p == NULL) {
        return NGX_ERROR;
    }

    n = ngx_strlen(p);

    line->data = ngx_pnalloc(r->pool, n + 1);
    if (line->data == NULL) {
        cJSON_free(p);
        return NGX_ERROR;
    }

    ngx_memcpy(line->data, p, n);
    line->data[n] = LF;
    line->len = n + 1;

    cJSON_free(p);

    return NGX_OK;
}


/*
 * Under the zone's lock: a key already written is dropped (NGX_DECLINED);
 * otherwise the line is written and its key remembered (NGX_OK).  A key
 * is remembered only once its line is in the file, so that a message that
 * could not be written can be written by a retry.  NGX_ERROR with err set
 * when the line could not be written, or its key not remembered.
 *
 * The key is then appended to the keys file.  A line already written
 * stays when that fails (logged): its message is in the outbox, only a
 * restart forgets its key.
 */

static ngx_int_t
ngx_campaign_outbox_append(ngx_http_request_t *r,
    ngx_campaign_outbox_t *outbox, ngx_str_t *key, ngx_str_t *line,
    ngx_err_t *err)
{
    time_t                       now;
    ngx_str_t                    record;
    ngx_campaign_outbox_key_t   *k;
    ngx_campaign_outbox_keys_t  *keys;
    u_char                       buf[NGX_CAMPAIGN_OUTBOX_RECORD_LEN];

    keys = outbox->zone->data;
    k = NULL;

    ngx_shmtx_lock(&keys->shpool->mutex);

    if (key) {
        if (ngx_campaign_outbox_find(keys, key)) {
            ngx_shmtx_unlock(&keys->shpool->mutex);
            return NGX_DECLINED;
        }

        /* room for the key first: a line written is a key remembered */

        k = ngx_campaign_outbox_alloc(r->connection->log, keys,
                                      offsetof(ngx_campaign_outbox_key_t, data)
                                      + key->len);
        if (k == NULL) {
            ngx_shmtx_unlock(&keys->shpool->mutex);

            ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                          "campaign: outbox \"%V\": no room for a key%s",
                          &outbox->file->name, keys->shpool->log_ctx);

            *err = NGX_ENOMEM;
            return NGX_ERROR;
        }
    }

    *err = ngx_campaign_outbox_write(r, outbox->file, line);

    if (*err) {
        if (k) {
            ngx_slab_free_locked(keys->shpool, k);
        }

        ngx_shmtx_unlock(&keys->shpool->mutex);
        return NGX_ERROR;
    }

    if (k) {
        now = ngx_time();

        ngx_campaign_outbox_remember(keys, k, key, now);

        if (keys->file) {
            record.data = buf;
            record.len = ngx_sprintf(buf, "%T %V\n", now, key) - buf;

            (void) ngx_campaign_outbox_write(r, keys->file, &record);
        }
    }

    ngx_shmtx_unlock(&keys->shpool->mutex);

    return NGX_OK;
}


/*
 * Writes the whole line, or nothing: called with the lock held, so no
 * other worker of this file appends in between.  Returns 0, or the error
 * of the write that failed, logged.
 */

static ngx_err_t
ngx_campaign_outbox_write(ngx_http_request_t *r, ngx_open_file_t *file,
    ngx_str_t *line)
{
    off_t      end;
    size_t     written;
    ssize_t    n;
    ngx_err_t  err;

    written = 0;

    while (written < line->len) {
        n = ngx_write_fd(file->fd, line->data + written,
                         line->len - written);

        if (n > 0) {
            written += n;
            continue;
        }

        /* write(2) of a regular file writes nothing when it has no room */
        err = (n == 0) ? NGX_ENOSPC : ngx_errno;

        if (err == NGX_EINTR) {
            continue;
        }

        goto failed;
    }

    return 0;

failed:

    if (written == 0) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                      ngx_write_fd_n " to outbox \"%V\" failed",
                      &file->name);
        return err;
    }

    /* an O_APPEND write leaves the offset at the end of what it wrote */

    end = lseek(file->fd, 0, SEEK_CUR);

    if (end != -1 && ftruncate(file->fd, end - (off_t) written) == 0) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                      ngx_write_fd_n " to outbox \"%V\" failed after %uz "
                      "of %uz bytes, the partial line was removed",
                      &file->name, written, line->len);
        return err;
    }

    /*
     * Not a file that can be cut (a pipe, a device): end the partial line
     * at least, so that the next line starts a line of its own.
     */

    n = ngx_write_fd(file->fd, "\n", 1);

    ngx_log_error(NGX_LOG_ALERT, r->connection->log, err,
                  ngx_write_fd_n " to outbox \"%V\" failed after %uz of %uz "
                  "bytes, and the partial line cannot be cut off; %s",
                  &file->name, written, line->len,
                  (n == 1) ? "it was ended with a line feed"
                           : "it is left unfinished");

    return err;
}


static ngx_campaign_outbox_key_t *
ngx_campaign_outbox_find(ngx_campaign_outbox_keys_t *keys, ngx_str_t *key)
{
    ngx_str_node_t             *sn;
    ngx_campaign_outbox_key_t  *k;

    sn = ngx_str_rbtree_lookup(&keys->sh->rbtree, key,
                               ngx_crc32_short(key->data, key->len));
    if (sn == NULL) {
        return NULL;
    }

    k = (ngx_campaign_outbox_key_t *) sn;

    if (ngx_time() - k->written >= keys->valid) {
        ngx_campaign_outbox_forget(keys, k);
        return NULL;
    }

    return k;
}


/*
 * Room for a key: the expired keys at the end of the queue go first; when
 * the zone is still full, the oldest keys are forgotten before their
 * time, which weakens the guarantee and is logged (once a minute).
 */

static ngx_campaign_outbox_key_t *
ngx_campaign_outbox_alloc(ngx_log_t *log, ngx_campaign_outbox_keys_t *keys,
    size_t size)
{
    time_t                      now;
    ngx_uint_t                  n;
    ngx_queue_t                *q;
    ngx_campaign_outbox_key_t  *k, *oldest;

    now = ngx_time();

    /* a few expired keys per key written keep the zone clean */

    for (n = 0; n < 3 && !ngx_queue_empty(&keys->sh->queue); n++) {
        q = ngx_queue_last(&keys->sh->queue);
        oldest = ngx_queue_data(q, ngx_campaign_outbox_key_t, queue);

        if (now - oldest->written < keys->valid) {
            break;
        }

        ngx_campaign_outbox_forget(keys, oldest);
    }

    for ( ;; ) {
        k = ngx_slab_alloc_locked(keys->shpool, size);

        if (k || ngx_queue_empty(&keys->sh->queue)) {
            return k;
        }

        q = ngx_queue_last(&keys->sh->queue);
        oldest = ngx_queue_data(q, ngx_campaign_outbox_key_t, queue);

        if (now - oldest->written < keys->valid
            && now - keys->sh->warned >= 60)
        {
            keys->sh->warned = now;

            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "campaign: outbox keys zone is full, keys younger "
                          "than keys_valid= are forgotten%s",
                          keys->shpool->log_ctx);
        }

        ngx_campaign_outbox_forget(keys, oldest);
    }
}


static void
ngx_campaign_outbox_remember(ngx_campaign_outbox_keys_t *keys,
    ngx_campaign_outbox_key_t *k, ngx_str_t *key, time_t written)
{
    k->sn.node.key = ngx_crc32_short(key->data, key->len);
    k->sn.str.len = key->len;
    k->sn.str.data = k->data;
    ngx_memcpy(k->data, key->data, key->len);
    k->written = written;

    ngx_rbtree_insert(&keys->sh->rbtree, &k->sn.node);
    ngx_queue_insert_head(&keys->sh->queue, &k->queue);
}


static void
ngx_campaign_outbox_forget(ngx_campaign_outbox_keys_t *keys,
    ngx_campaign_outbox_key_t *k)
{
    ngx_queue_remove(&k->queue);
    ngx_rbtree_delete(&keys->sh->rbtree, &k->sn.node);
    ngx_slab_free_locked(keys->shpool, k);
}
