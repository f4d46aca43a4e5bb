
/*
 * Copyright (C) ngx_campaign developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_campaign_module.h"
#include "ngx_campaign_audience.h"


/*
 * Audience executions: "POST executions/audience" names a campaign and an
 * audience, a JSON Lines file in campaign_audiences; the answer is 202 at
 * once, and the worker that took the call fans the audience out in the
 * background, with no client:
 *
 *   - a timer tick reads at most one chunk of the file (a plain read of
 *     a local file) and feeds it to the audience reader, which hands over
 *     valid recipients and counts skipped lines;
 *   - the recipients are gathered in batches, each an execution of its
 *     own started with no client (ngx_campaign_execution_start(e, NULL)),
 *     so that every message goes through the unitary path: caps, consent,
 *     suppression lists, profile lookup, rendering, gateway, retries;
 *   - a batch waits for the campaign's throttle (the tokens its messages
 *     need, taken from the zone's bucket) and for room: at most
 *     NGX_CAMPAIGN_FANOUT_RUNNING batches at once;
 *   - a stopped campaign stops it between batches: what is not started is
 *     not sent, and the status says Stopped.
 *
 * Each message's Idempotency-Key is the executionId and the recipient's
 * position among the audience's valid recipients (0-based).
 *
 * The status is kept in the worker's memory and copied to campaign_zone
 * at every batch boundary, where any worker finds it.
 */


#define NGX_CAMPAIGN_FANOUT_CHUNK      16384
#define NGX_CAMPAIGN_FANOUT_BATCH      NGX_CAMPAIGN_MAX_RECIPIENTS
#define NGX_CAMPAIGN_FANOUT_RUNNING    4
#define NGX_CAMPAIGN_FANOUT_KEEP       64     /* finished, per worker */
#define NGX_CAMPAIGN_FANOUT_ID_LEN     64     /* campaign and audience ids */


typedef enum {
    NGX_CAMPAIGN_FANOUT_IN_PROGRESS = 0,
    NGX_CAMPAIGN_FANOUT_SUCCEEDED,
    NGX_CAMPAIGN_FANOUT_FAILED,
    NGX_CAMPAIGN_FANOUT_STOPPED
} ngx_campaign_fanout_state_e;


typedef enum {
    NGX_CAMPAIGN_FANOUT_TARGETED = 0,     /* valid recipients read */
    NGX_CAMPAIGN_FANOUT_SENT,
    NGX_CAMPAIGN_FANOUT_FAILED_SEND,
    NGX_CAMPAIGN_FANOUT_NO_CONSENT,
    NGX_CAMPAIGN_FANOUT_SUPPRESSED,
    NGX_CAMPAIGN_FANOUT_CAPPED,
    NGX_CAMPAIGN_FANOUT_INVALID,          /* JSON, not a valid recipient */
    NGX_CAMPAIGN_FANOUT_NO_PROFILE,
    NGX_CAMPAIGN_FANOUT_DUPLICATE,        /* userId of an earlier line */
    NGX_CAMPAIGN_FANOUT_STOPPED_SKIP,     /* read, not sent: stopped */
    NGX_CAMPAIGN_FANOUT_MALFORMED,        /* not JSON, or too long */
    NGX_CAMPAIGN_FANOUT_NCOUNTS
} ngx_campaign_fanout_count_e;


/* the status, as the worker keeps it and as the zone holds a copy */

typedef struct {
    u_char                       id[NGX_CAMPAIGN_EXECUTION_ID_LEN];
    u_char                       campaign_id[NGX_CAMPAIGN_FANOUT_ID_LEN];
    u_char                       audience_id[NGX_CAMPAIGN_FANOUT_ID_LEN];
    size_t                       campaign_id_len;
    size_t                       audience_id_len;

    uint64_t                     created;     /* ms since the epoch */
    uint64_t                     started;
    uint64_t                     ended;       /* 0: not yet */

    ngx_uint_t                   state;
    ngx_uint_t                   counts[NGX_CAMPAIGN_FANOUT_NCOUNTS];
} ngx_campaign_fanout_status_t;


typedef struct ngx_campaign_fanout_s  ngx_campaign_fanout_t;

/* a status in the worker's list: running ones and the last finished */

typedef struct {
    ngx_queue_t                  queue;
    ngx_campaign_fanout_status_t status;
    ngx_campaign_fanout_t       *run;         /* NULL once finished */
} ngx_campaign_fanout_record_t;


struct ngx_campaign_fanout_s {
    ngx_pool_t                  *pool;
    ngx_log_t                   *log;

    ngx_campaign_t              *campaign;
    ngx_campaign_loc_conf_t     *conf;        /* the API location's */
    ngx_campaign_main_conf_t    *cmcf;
    ngx_http_conf_ctx_t         *ctx;

    char                        *request_id;  /* NUL-terminated */
    cJSON                       *context;     /* in pool */

    /* the call's idempotency claim, answered when the call is */
    ngx_str_t                    claim_key;
    void                        *claim;

    ngx_fd_t                     fd;
    ngx_str_t                    path;
    off_t                        offset;
    u_char                      *buf;
    u_char                      *pos;
    u_char                      *last;

    ngx_campaign_audience_t      reader;

    ngx_campaign_execution_t    *batch;       /* being filled */
    ngx_uint_t                   batch_size;
    ngx_uint_t                   position;    /* the next recipient's */
    ngx_uint_t                   running;     /* batches started */

    ngx_str_t                    throttle_key;
    ngx_str_t                    zone_key;
    ngx_campaign_fanout_status_t  *zone;      /* NULL: no campaign_zone */
    ngx_campaign_fanout_record_t  *record;

    ngx_event_t                  tick;

    unsigned                     ready:1;     /* the batch is full */
    unsigned                     read:1;      /* the whole file is read */
    unsigned                     stopped:1;
    unsigned                     failed:1;
};


static ngx_int_t ngx_campaign_fanout_check(ngx_http_request_t *r,
    ngx_campaign_fanout_t *run, ngx_str_t *body, ngx_int_t *answer);
static ngx_int_t ngx_campaign_fanout_member(cJSON *obj, const char *name,
    int type, cJSON **item);
static ngx_int_t ngx_campaign_fanout_audience_id(cJSON *id);
static ngx_int_t ngx_campaign_fanout_open(ngx_http_request_t *r,
    ngx_campaign_fanout_t *run, cJSON *id, ngx_int_t *answer);
static ngx_int_t ngx_campaign_fanout_claim(ngx_http_request_t *r,
    ngx_campaign_fanout_t *run, ngx_str_t *body, ngx_int_t *answer);
static ngx_int_t ngx_campaign_fanout_setup(ngx_campaign_fanout_t *run,
    cJSON *audience_id);
static ngx_int_t ngx_campaign_fanout_accepted(ngx_http_request_t *r,
    ngx_campaign_fanout_t *run);
static void ngx_campaign_fanout_tick(ngx_event_t *ev);
static void ngx_campaign_fanout_next(ngx_campaign_fanout_t *run);
static ngx_int_t ngx_campaign_fanout_read(ngx_campaign_fanout_t *run);
static int ngx_campaign_fanout_recipient(void *data,
    const ngx_campaign_audience_line_t *line, ngx_campaign_recipient_t *r,
    cJSON *value);
static void ngx_campaign_fanout_skipped(void *data,
    const ngx_campaign_audience_line_t *line,
    ngx_campaign_audience_reason_e reason,
    const ngx_campaign_problem_t *problem);
static ngx_campaign_execution_t *ngx_campaign_fanout_batch(
    ngx_campaign_fanout_t *run);
static ngx_int_t ngx_campaign_fanout_launch(ngx_campaign_fanout_t *run);
static ngx_int_t ngx_campaign_fanout_prepare(ngx_campaign_fanout_t *run,
    ngx_campaign_execution_t *e);
static void ngx_campaign_fanout_settled(ngx_campaign_execution_t *e,
    void *data);
static void ngx_campaign_fanout_finish(ngx_campaign_fanout_t *run,
    ngx_campaign_fanout_state_e state);
static void ngx_campaign_fanout_mirror(ngx_campaign_fanout_t *run);
static uint64_t ngx_campaign_fanout_now(void);
static void ngx_campaign_fanout_out_time(ngx_campaign_out_t *o, uint64_t ms);


static ngx_queue_t  ngx_campaign_fanouts;
static ngx_uint_t   ngx_campaign_fanouts_init;
static ngx_uint_t   ngx_campaign_fanouts_finished;

static const char  *ngx_campaign_fanout_states[] = {
    "InProgress", "Succeeded", "Failed", "Stopped"
};


/* the names of the skipped counts in the status, by count */

static const char  *ngx_campaign_fanout_skips[] = {
    NULL, NULL, NULL,
    "no_consent", "suppressed", "capped", "invalid", "no_profile",
    "duplicate", "stopped"
};


/* campaign_audiences DIR: DIR/<id>.jsonl */

char *
ngx_campaign_audiences_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_campaign_main_conf_t *cmcf = conf;

    ngx_str_t  *value;

    if (cmcf->audiences.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    cmcf->audiences = value[1];

    if (cmcf->audiences.len == 0) {
        return "takes a directory";
    }

    /* relative to the configuration's directory, as campaign files are */

    if (ngx_conf_full_name(cf->cycle, &cmcf->audiences, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * POST executions/audience, its body read: checked, then 202 and the
 * fan-out goes on in the background.
 */

void
ngx_campaign_fanout_body(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_str_t               body;
    ngx_pool_t             *pool;
    ngx_campaign_fanout_t  *run;

    if (r->connection->error) {
        ngx_http_finalize_request(r, NGX_HTTP_CLIENT_CLOSED_REQUEST);
        return;
    }

    if (ngx_campaign_read_body(r, &body) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (body.len == 0) {
        rc = ngx_campaign_send_error(r, NGX_HTTP_BAD_REQUEST,
                                     "the request body is empty", "",
                                     "a JSON object is required");
        ngx_http_finalize_request(r, rc);
        return;
    }

    /* what the execution keeps (its context) is parsed into its pool */

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, ngx_cycle->log);
    if (pool == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    run = ngx_pcalloc(pool, sizeof(ngx_campaign_fanout_t));
    if (run == NULL) {
        ngx_destroy_pool(pool);
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    run->pool = pool;
    run->log = ngx_cycle->log;
    run->fd = NGX_INVALID_FILE;

    if (ngx_campaign_fanout_check(r, run, &body, &rc) != NGX_OK) {
        if (run->fd != NGX_INVALID_FILE) {
            (void) ngx_close_file(run->fd);
        }

        ngx_destroy_pool(pool);
        ngx_http_finalize_request(r, rc);
        return;
    }

    rc = ngx_campaign_fanout_accepted(r, run);

    ngx_http_finalize_request(r, rc);
}


/*
 * NGX_OK when the call is good and run is set up and started; else the
 * refusal's answer is in *answer.
 */

static ngx_int_t
ngx_campaign_fanout_check(ngx_http_request_t *r, ngx_campaign_fanout_t *run,
    ngx_str_t *body, ngx_int_t *answer)
{
    int                         rc;
    cJSON                      *root, *cid, *rid, *audience, *aid, *item;
    ngx_str_t                   id;
    ngx_campaign_t             *c;
    ngx_campaign_alloc_t        a;
    ngx_campaign_loc_conf_t    *cplcf;
    ngx_campaign_problems_t     problems;
    ngx_campaign_main_conf_t   *cmcf;

    ngx_campaign_pool_alloc(&a, run->pool);
    ngx_memzero(&problems, sizeof(ngx_campaign_problems_t));

    rc = ngx_campaign_trigger_parse_value(&a, body->data, body->len, 0,
                                          &root, &problems);
    if (rc == -2) {
        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    if (rc != 0) {
        *answer = ngx_campaign_send_problem(r, NGX_HTTP_BAD_REQUEST,
                                            "the request is invalid",
                                            &problems);
        return NGX_DECLINED;
    }

    if (!cJSON_IsObject(root)) {
        *answer = ngx_campaign_send_error(r, NGX_HTTP_BAD_REQUEST,
                                          "the request is invalid", "",
                                          "must be an object");
        return NGX_DECLINED;
    }

    /* a later slice: scheduled executions */

    item = cJSON_GetObjectItemCaseSensitive(root, "schedule");

    if (item && !cJSON_IsNull(item)) {
        *answer = ngx_campaign_send_error(r, NGX_HTTP_BAD_REQUEST,
                                          "schedules are not supported yet",
                                          "/schedule",
                                          "audience executions start now; "
                                          "leave schedule out");
        return NGX_DECLINED;
    }

    if (ngx_campaign_fanout_member(root, "campaignId", cJSON_String, &cid)
        != NGX_OK
        || cid == NULL || cid->valuestring[0] == '\0')
    {
        *answer = ngx_campaign_send_error(r, NGX_HTTP_BAD_REQUEST,
                                          "the request is invalid",
                                          "/campaignId",
                                          "a non-empty string is required");
        return NGX_DECLINED;
    }

    if (ngx_campaign_fanout_member(root, "requestId", cJSON_String, &rid)
        != NGX_OK
        || (rid && (rid->valuestring[0] == '\0'
                    || ngx_strlen(rid->valuestring) > 255)))
    {
        *answer = ngx_campaign_send_error(r, NGX_HTTP_BAD_REQUEST,
                                          "the request is invalid",
                                          "/requestId",
                                          "must be a string of 1 to 255 "
                                          "characters");
        return NGX_DECLINED;
    }

    if (ngx_campaign_fanout_member(root, "audience", cJSON_Object, &audience)
        != NGX_OK
        || audience == NULL)
    {
        *answer = ngx_campaign_send_error(r, NGX_HTTP_BAD_REQUEST,
                                          "the request is invalid",
                                          "/audience",
                                          "an object is required");
        return NGX_DECLINED;
    }

    /* checked before any path is built from it */

    if (ngx_campaign_fanout_member(audience, "id", cJSON_String, &aid)
        != NGX_OK
        || aid == NULL
        || ngx_campaign_fanout_audience_id(aid) != NGX_OK)
    {
        *answer = ngx_campaign_send_error(r, NGX_HTTP_BAD_REQUEST,
                                          "the request is invalid",
                                          "/audience/id",
                                          "must match [A-Za-z0-9._-]{1,64}, "
                                          "not start with \".\" nor hold "
                                          "\"..\"");
        return NGX_DECLINED;
    }

    if (ngx_campaign_fanout_member(root, "context", cJSON_Object,
                                   &run->context)
        != NGX_OK)
    {
        *answer = ngx_campaign_send_error(r, NGX_HTTP_BAD_REQUEST,
                                          "the request is invalid",
                                          "/context",
                                          "must be an object");
        return NGX_DECLINED;
    }

    id.data = (u_char *) cid->valuestring;
    id.len = ngx_strlen(cid->valuestring);

    c = ngx_campaign_trigger_campaign(r, &id, answer);
    if (c == NULL) {
        return NGX_DECLINED;
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_campaign_module);
    cplcf = ngx_http_get_module_loc_conf(r, ngx_http_campaign_module);

    if (c->status != NGX_CAMPAIGN_LIVE
        || (c->start && ngx_time() < c->start)
        || (c->end && ngx_time() >= c->end))
    {
        *answer = ngx_campaign_send_error(r, NGX_HTTP_CONFLICT,
                                          "the campaign cannot be triggered "
                                          "now", "/campaignId",
                                          "campaign is not live, or outside "
                                          "its start and end");
        return NGX_DECLINED;
    }

    if (c->type != NGX_CAMPAIGN_MARKETING) {
        *answer = ngx_campaign_send_error(r, NGX_HTTP_CONFLICT,
                                          "only marketing campaigns take "
                                          "audience executions",
                                          "/campaignId",
                                          "campaign is transactional");
        return NGX_DECLINED;
    }

    if (ngx_campaign_stopped(r, c, answer) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (cplcf->gateways == NULL || cplcf->gateways[c->channel].uri.len == 0)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "campaign \"%s\": no campaign_gateway for channel "
                      "\"%s\"", c->id, ngx_campaign_channel_name(c->channel));

        *answer = ngx_campaign_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "no gateway is configured for "
                                          "the campaign's channel", "", "");
        return NGX_DECLINED;
    }

    rc = ngx_campaign_trigger_validate_context(&a, run->context, c,
                                               &problems);
    if (rc == -2) {
        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    if (rc != 0) {
        *answer = ngx_campaign_send_problem(r, NGX_HTTP_BAD_REQUEST,
                                            "the request is invalid",
                                            &problems);
        return NGX_DECLINED;
    }

    run->campaign = c;
    run->conf = cplcf;
    run->cmcf = cmcf;
    run->ctx = cplcf->ctx;

    run->request_id = rid ? rid->valuestring : NULL;

    if (ngx_campaign_fanout_open(r, run, aid, answer) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (ngx_campaign_fanout_claim(r, run, body, answer) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (ngx_campaign_fanout_setup(run, aid) != NGX_OK) {
        if (run->claim) {
            ngx_campaign_store_release(cmcf->store, &run->claim_key);
        }

        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * An audience call is idempotent as a unitary one is, by its requestId
 * or its Idempotency-Key: a repeat with the same body is answered as the
 * first was (the same executionId), and starts nothing; another body is
 * 422.  A call without either runs each time.
 */

static ngx_int_t
ngx_campaign_fanout_claim(ngx_http_request_t *r, ngx_campaign_fanout_t *run,
    ngx_str_t *body, ngx_int_t *answer)
{
    u_char                        fp[NGX_CAMPAIGN_STORE_FP_LEN];
    ngx_int_t                     rc;
    ngx_str_t                     rid;
    const char                   *pointer;
    ngx_campaign_store_answer_t   a;

    if (run->cmcf->store == NULL || !run->conf->idempotency) {
        return NGX_OK;
    }

    rid.data = (u_char *) run->request_id;
    rid.len = rid.data ? ngx_strlen(rid.data) : 0;

    rc = ngx_campaign_idempotency_key(r, run->pool, 1, run->campaign->id,
                                      &rid, &run->claim_key);

    if (rc == NGX_DONE) {
        return NGX_OK;
    }

    if (rc == NGX_DECLINED) {
        *answer = ngx_campaign_send_error(r, NGX_HTTP_BAD_REQUEST,
                                          "the Idempotency-Key header is "
                                          "invalid", "",
                                          "Idempotency-Key must be 1 to 255 "
                                          "characters of A-Z a-z 0-9 "
                                          "- _ . : ~ + / =, once");
        return NGX_DECLINED;
    }

    if (rc != NGX_OK) {
        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    pointer = (run->claim_key.data[1] == 'h') ? "" : "/requestId";

    ngx_campaign_unitary_fingerprint(body, fp);

    rc = ngx_campaign_store_claim(run->cmcf->store, &run->claim_key, fp,
                                  run->conf->execution_timeout / 1000 + 10,
                                  NGX_CAMPAIGN_ANSWER_ROOM(1), r->pool, &a,
                                  &run->claim, r->connection->log);

    switch (rc) {

    case NGX_OK:
        return NGX_OK;

    case NGX_DONE:
        *answer = ngx_campaign_send_answer(r, &a, 1);
        break;

    case NGX_BUSY:
        *answer = ngx_campaign_send_in_progress(r, a.retry_after, pointer);
        break;

    case NGX_DECLINED:
        *answer = ngx_campaign_send_error(r, 422, "the key was used before "
                                          "with another body", pointer,
                                          "an earlier request with this key "
                                          "had a different body");
        break;

    default:
        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    run->claim = NULL;

    return NGX_DECLINED;
}


/* NGX_OK with *item the member, or NULL when absent or null */

static ngx_int_t
ngx_campaign_fanout_member(cJSON *obj, const char *name, int type,
    cJSON **item)
{
    cJSON  *v;

    v = cJSON_GetObjectItemCaseSensitive(obj, name);

    if (v == NULL || cJSON_IsNull(v)) {
        *item = NULL;
        return NGX_OK;
    }

    if ((v->type & 0xff) != type) {
        return NGX_ERROR;
    }

    *item = v;

    return NGX_OK;
}


/* [A-Za-z0-9._-]{1,64}, not starting with ".", no ".." */

static ngx_int_t
ngx_campaign_fanout_audience_id(cJSON *id)
{
    u_char  *p, c;
    size_t   len, i;

    p = (u_char *) id->valuestring;
    len = ngx_strlen(p);

    if (len == 0 || len > NGX_CAMPAIGN_FANOUT_ID_LEN || p[0] == '.') {
        return NGX_ERROR;
    }

    for (i = 0; i < len; i++) {
        c = p[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '_' || c == '-')
        {
            continue;
        }

        if (c == '.' && p[i + 1] != '.') {
            continue;
        }

        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_campaign_fanout_open(ngx_http_request_t *r, ngx_campaign_fanout_t *run,
    cJSON *id, ngx_int_t *answer)
{
    u_char           *p;
    size_t            len;
    ngx_fd_t          fd;
    ngx_err_t         err;
    ngx_str_t        *dir;
    ngx_file_info_t   fi;

    dir = &run->cmcf->audiences;

    if (dir->len == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "campaign: an audience execution, and no "
                      "\"campaign_audiences\" is set");

        *answer = ngx_campaign_send_error(r, NGX_HTTP_NOT_FOUND,
                                          "unknown audience", "/audience/id",
                                          "no audience has this id");
        return NGX_DECLINED;
    }

    len = dir->len + 1 + ngx_strlen(id->valuestring) + sizeof(".jsonl");

    p = ngx_pnalloc(run->pool, len);
    if (p == NULL) {
        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    run->path.data = p;
    run->path.len = ngx_sprintf(p, "%V/%s.jsonl%Z", dir, id->valuestring)
                    - p - 1;

    fd = ngx_open_file(p, NGX_FILE_RDONLY|NGX_FILE_NONBLOCK, NGX_FILE_OPEN,
                       0);

    if (fd == NGX_INVALID_FILE) {
        err = ngx_errno;

        if (err == NGX_ENOENT || err == NGX_ENOTDIR
            || err == NGX_ENAMETOOLONG)
        {
            *answer = ngx_campaign_send_error(r, NGX_HTTP_NOT_FOUND,
                                              "unknown audience",
                                              "/audience/id",
                                              "no audience has this id");
            return NGX_DECLINED;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, err,
                      ngx_open_file_n " \"%V\" failed", &run->path);

        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    run->fd = fd;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                      ngx_fd_info_n " \"%V\" failed", &run->path);

        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    if (!ngx_is_file(&fi)) {
        *answer = ngx_campaign_send_error(r, NGX_HTTP_NOT_FOUND,
                                          "unknown audience", "/audience/id",
                                          "no audience has this id");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static void
ngx_campaign_fanout_reader_cleanup(void *data)
{
    ngx_campaign_audience_t *reader = data;

    ngx_campaign_audience_free(reader);
}


static ngx_int_t
ngx_campaign_fanout_setup(ngx_campaign_fanout_t *run, cJSON *audience_id)
{
    u_char                        *p;
    size_t                         len;
    ngx_campaign_t                *c;
    ngx_pool_cleanup_t            *cln;
    ngx_campaign_fanout_status_t  *st;
    ngx_campaign_audience_conf_t   conf;
    ngx_campaign_fanout_record_t  *rec;

    c = run->campaign;

    rec = ngx_calloc(sizeof(ngx_campaign_fanout_record_t), run->log);
    if (rec == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(run->pool, 0);
    if (cln == NULL) {
        ngx_free(rec);
        return NGX_ERROR;
    }

    /* until it runs, the record goes with the pool */

    cln->handler = ngx_free;
    cln->data = rec;

    st = &rec->status;

    ngx_campaign_execution_id(st->id);

    len = ngx_min(ngx_strlen(c->id), NGX_CAMPAIGN_FANOUT_ID_LEN);
    ngx_memcpy(st->campaign_id, c->id, len);
    st->campaign_id_len = len;

    len = ngx_strlen(audience_id->valuestring);
    ngx_memcpy(st->audience_id, audience_id->valuestring, len);
    st->audience_id_len = len;

    st->created = ngx_campaign_fanout_now();
    st->started = st->created;
    st->state = NGX_CAMPAIGN_FANOUT_IN_PROGRESS;

    if (run->request_id == NULL) {
        p = ngx_pnalloc(run->pool, NGX_CAMPAIGN_EXECUTION_ID_LEN + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(p, st->id, NGX_CAMPAIGN_EXECUTION_ID_LEN);
        p[NGX_CAMPAIGN_EXECUTION_ID_LEN] = '\0';
        run->request_id = (char *) p;
    }

    run->buf = ngx_palloc(run->pool, NGX_CAMPAIGN_FANOUT_CHUNK);
    if (run->buf == NULL) {
        return NGX_ERROR;
    }

    run->pos = run->buf;
    run->last = run->buf;

    /* a batch takes its tokens at once: never more than the burst */

    run->batch_size = NGX_CAMPAIGN_FANOUT_BATCH;

    if (c->has_throttle && run->cmcf->store) {
        if (c->burst && c->burst < run->batch_size) {
            run->batch_size = c->burst;
        }

        len = sizeof("t:") - 1 + ngx_strlen(c->id);

        p = ngx_pnalloc(run->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(ngx_cpymem(p, "t:", 2), c->id, len - 2);

        run->throttle_key.data = p;
        run->throttle_key.len = len;
    }

    ngx_memzero(&conf, sizeof(ngx_campaign_audience_conf_t));

    conf.rules.campaign = c;
    conf.rules.context = run->context;
    conf.rules.context_size = ngx_campaign_trigger_context_size(run->context);
    conf.unique = 1;
    conf.first_line = 1;
    conf.recipient = ngx_campaign_fanout_recipient;
    conf.skipped = ngx_campaign_fanout_skipped;
    conf.data = run;

    cln = ngx_pool_cleanup_add(run->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    if (ngx_campaign_audience_init(&run->reader, &conf) != 0) {
        return NGX_ERROR;
    }

    cln->handler = ngx_campaign_fanout_reader_cleanup;
    cln->data = &run->reader;

    /* any worker answers for it: a copy in the zone */

    if (run->cmcf->store) {
        len = sizeof("a:") - 1 + NGX_CAMPAIGN_EXECUTION_ID_LEN;

        p = ngx_pnalloc(run->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(ngx_cpymem(p, "a:", 2), st->id,
                   NGX_CAMPAIGN_EXECUTION_ID_LEN);

        run->zone_key.data = p;
        run->zone_key.len = len;

        run->zone = ngx_campaign_store_counters(run->cmcf->store,
                                                &run->zone_key,
                                                sizeof(*st), run->log);
        if (run->zone == NULL) {
            ngx_log_error(NGX_LOG_WARN, run->log, 0,
                          "campaign: no room in campaign_zone for audience "
                          "execution %*s: only this worker knows its status",
                          (size_t) NGX_CAMPAIGN_EXECUTION_ID_LEN, st->id);
        }
    }

    /* from now on the record is the worker's */

    cln = run->pool->cleanup;

    for ( /* void */ ; cln; cln = cln->next) {
        if (cln->data == rec) {
            cln->handler = NULL;
        }
    }

    if (!ngx_campaign_fanouts_init) {
        ngx_queue_init(&ngx_campaign_fanouts);
        ngx_campaign_fanouts_init = 1;
    }

    rec->run = run;
    run->record = rec;
    ngx_queue_insert_tail(&ngx_campaign_fanouts, &rec->queue);

    run->tick.handler = ngx_campaign_fanout_tick;
    run->tick.data = run;
    run->tick.log = run->log;
    run->tick.cancelable = 1;

    ngx_campaign_fanout_mirror(run);
    ngx_campaign_fanout_next(run);

    return NGX_OK;
}


static ngx_int_t
ngx_campaign_fanout_accepted(ngx_http_request_t *r,
    ngx_campaign_fanout_t *run)
{
    ngx_campaign_out_t             o;
    ngx_campaign_store_answer_t    a;
    ngx_campaign_fanout_status_t  *st;

    st = &run->record->status;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "campaign: audience execution %*s of \"%s\" from \"%V\"",
                  (size_t) NGX_CAMPAIGN_EXECUTION_ID_LEN, st->id,
                  run->campaign->id, &run->path);

    ngx_campaign_out_init(&o, r->pool, 256);
    ngx_campaign_out_literal(&o, "{\"executionId\":");
    ngx_campaign_out_string(&o, st->id, NGX_CAMPAIGN_EXECUTION_ID_LEN);
    ngx_campaign_out_literal(&o, ",\"requestId\":");
    ngx_campaign_out_string(&o, (u_char *) run->request_id,
                            ngx_strlen(run->request_id));
    ngx_campaign_out_literal(&o, ",\"campaignId\":");
    ngx_campaign_out_string(&o, st->campaign_id, st->campaign_id_len);
    ngx_campaign_out_literal(&o, ",\"createdAt\":");
    ngx_campaign_fanout_out_time(&o, st->created);
    ngx_campaign_out_literal(&o, "}");

    /* a repeat of the call gets this answer, and starts nothing */

    if (run->claim && !o.failed) {
        a.status = NGX_HTTP_ACCEPTED;
        a.problem = 0;
        a.body.data = o.start;
        a.body.len = o.pos - o.start;

        ngx_campaign_store_answer(run->cmcf->store, run->claim,
                                  &run->claim_key,
                                  run->conf->idempotency_window, &a,
                                  r->connection->log);
    }

    return ngx_campaign_send_json(r, NGX_HTTP_ACCEPTED, NULL, &o);
}


/*
 * One step of the fan-out, a bounded amount of work: a batch started, or
 * one chunk of the file read and fed to the reader.
 */

static void
ngx_campaign_fanout_tick(ngx_event_t *ev)
{
    ngx_int_t               rc;
    ngx_uint_t             *counts;
    ngx_campaign_fanout_t  *run;

    run = ev->data;

    /* stopped, or past its end: no other batch, as no trigger would run */

    if (!run->stopped && !run->failed
        && (ngx_campaign_state_stopped(run->cmcf, run->campaign)
            || (run->campaign->end && ngx_time() >= run->campaign->end)))
    {
        run->stopped = 1;

        ngx_log_error(NGX_LOG_INFO, run->log, 0,
                      "campaign: audience execution %*s stops: campaign "
                      "\"%s\" is stopped or has ended",
                      (size_t) NGX_CAMPAIGN_EXECUTION_ID_LEN,
                      run->record->status.id, run->campaign->id);
    }

    /* a worker that quits starts no other batch (no journal yet) */

    if ((ngx_exiting || ngx_quit || ngx_terminate) && !run->failed) {
        run->failed = 1;

        ngx_log_error(NGX_LOG_WARN, run->log, 0,
                      "campaign: worker exits, audience execution %*s "
                      "starts no other batch: the rest of the audience "
                      "is not sent", (size_t) NGX_CAMPAIGN_EXECUTION_ID_LEN,
                      run->record->status.id);
    }

    if (run->stopped || run->failed) {
        if (run->batch) {
            counts = run->record->status.counts;
            counts[NGX_CAMPAIGN_FANOUT_STOPPED_SKIP] +=
                                               run->batch->trigger.nrecipients;
            ngx_campaign_execution_destroy(run->batch);
            run->batch = NULL;
            run->ready = 0;
        }

        if (run->running == 0) {
            ngx_campaign_fanout_finish(run, run->failed
                                            ? NGX_CAMPAIGN_FANOUT_FAILED
                                            : NGX_CAMPAIGN_FANOUT_STOPPED);
        }

        return;
    }

    if (run->ready) {
        if (run->running >= NGX_CAMPAIGN_FANOUT_RUNNING) {
            return;                 /* a batch that settles comes back */
        }

        rc = ngx_campaign_fanout_launch(run);

        if (rc == NGX_AGAIN) {
            return;                 /* the throttle's timer */
        }

        if (rc != NGX_OK) {
            run->failed = 1;
        }

        ngx_campaign_fanout_next(run);
        return;
    }

    if (run->read) {
        if (run->running == 0) {
            ngx_campaign_fanout_finish(run, NGX_CAMPAIGN_FANOUT_SUCCEEDED);
        }

        return;
    }

    if (ngx_campaign_fanout_read(run) != NGX_OK) {
        run->failed = 1;
    }

    ngx_campaign_fanout_next(run);
}


/* the next step, in the next cycle of the event loop */

static void
ngx_campaign_fanout_next(ngx_campaign_fanout_t *run)
{
    if (!run->tick.posted) {
        ngx_post_event(&run->tick, &ngx_posted_next_events);
    }
}


static ngx_int_t
ngx_campaign_fanout_read(ngx_campaign_fanout_t *run)
{
    int      rc;
    size_t   used;
    ssize_t  n;

    if (run->pos == run->last) {
        n = pread(run->fd, run->buf, NGX_CAMPAIGN_FANOUT_CHUNK, run->offset);

        if (n == -1) {
            ngx_log_error(NGX_LOG_ERR, run->log, ngx_errno,
                          "pread() \"%V\" failed", &run->path);
            return NGX_ERROR;
        }

        if (n == 0) {
            rc = ngx_campaign_audience_finish(&run->reader);
            if (rc != 0) {
                return NGX_ERROR;
            }

            run->read = 1;

            if (run->batch) {
                run->ready = 1;
            }

            return NGX_OK;
        }

        run->offset += n;
        run->pos = run->buf;
        run->last = run->buf + n;
    }

    used = 0;

    rc = ngx_campaign_audience_feed(&run->reader, run->pos,
                                    run->last - run->pos, &used);

    if (rc == 0) {
        run->pos = run->last;
        return NGX_OK;
    }

    if (rc == NGX_CAMPAIGN_AUDIENCE_PAUSED) {
        run->pos += used;
        run->ready = 1;
        return NGX_OK;
    }

    return NGX_ERROR;
}


static void
ngx_campaign_fanout_arena_cleanup(void *data)
{
    ngx_campaign_arena_destroy(data);
}


/*
 * A valid recipient: the arena the reader parsed and checked it in goes
 * with the batch's trigger pool, where it lives until its message is
 * rendered (no second parse).
 */

static int
ngx_campaign_fanout_recipient(void *data,
    const ngx_campaign_audience_line_t *line, ngx_campaign_recipient_t *r,
    cJSON *value)
{
    ngx_campaign_fanout_t *run = data;

    size_t                     n;
    ngx_pool_cleanup_t        *cln;
    ngx_campaign_trigger_t    *t;
    ngx_campaign_execution_t  *e;

    e = run->batch;

    if (e == NULL) {
        e = ngx_campaign_fanout_batch(run);
        if (e == NULL) {
            return -1;
        }

        run->batch = e;
    }

    t = &e->trigger;
    n = t->nrecipients;

    cln = ngx_pool_cleanup_add(e->trigger_pool,
                               sizeof(ngx_campaign_arena_t));
    if (cln == NULL) {
        ngx_log_error(NGX_LOG_ERR, run->log, 0,
                      "campaign: audience line %uz could not be kept",
                      line->number);
        return -1;
    }

    ngx_campaign_audience_keep(&run->reader, cln->data);

    cln->handler = ngx_campaign_fanout_arena_cleanup;

    t->recipients[n] = *r;
    t->nrecipients++;
    run->record->status.counts[NGX_CAMPAIGN_FANOUT_TARGETED]++;

    return (t->nrecipients == run->batch_size) ? NGX_CAMPAIGN_AUDIENCE_PAUSED
                                               : 0;
}


static void
ngx_campaign_fanout_skipped(void *data,
    const ngx_campaign_audience_line_t *line,
    ngx_campaign_audience_reason_e reason,
    const ngx_campaign_problem_t *problem)
{
    ngx_campaign_fanout_t *run = data;

    ngx_str_t   *pointer, *message;
    ngx_uint_t  *counts;
    ngx_pool_t  *pool;

    counts = run->record->status.counts;

    switch (reason) {

    case NGX_CAMPAIGN_AUDIENCE_INVALID:
        counts[NGX_CAMPAIGN_FANOUT_INVALID]++;
        break;

    case NGX_CAMPAIGN_AUDIENCE_DUPLICATE:
        counts[NGX_CAMPAIGN_FANOUT_DUPLICATE]++;
        break;

    default:
        counts[NGX_CAMPAIGN_FANOUT_MALFORMED]++;
    }

    /*
     * The audience's mistake, not the server's.  A pointer and a message
     * may quote the line (a member's name): escaped for the log, in a pool
     * of their own, so that many bad lines do not grow the run's.
     */

    if (run->log->log_level < NGX_LOG_INFO) {
        return;
    }

    pool = ngx_create_pool(1024, run->log);
    if (pool == NULL) {
        return;
    }

    pointer = ngx_campaign_log_escape(pool, (u_char *) (problem
                                                        ? problem->pointer
                                                        : ""),
                                      problem ? ngx_strlen(problem->pointer)
                                              : 0);
    message = ngx_campaign_log_escape(pool, (u_char *) (problem
                                                        ? problem->message
                                                        : ""),
                                      problem ? ngx_strlen(problem->message)
                                              : 0);

    ngx_log_error(NGX_LOG_INFO, run->log, 0,
                  "campaign: audience execution %*s, \"%V\" line %uz "
                  "skipped (%s): \"%V\" %V",
                  (size_t) NGX_CAMPAIGN_EXECUTION_ID_LEN,
                  run->record->status.id, &run->path, line->number,
                  ngx_campaign_audience_reason_name(reason),
                  pointer, message);

    ngx_destroy_pool(pool);
}


static ngx_campaign_execution_t *
ngx_campaign_fanout_batch(ngx_campaign_fanout_t *run)
{
    ngx_campaign_t            *c;
    ngx_campaign_execution_t  *e;

    c = run->campaign;

    e = ngx_campaign_execution_create(run->log);
    if (e == NULL) {
        return NULL;
    }

    /* its messages say which audience execution they belong to */

    ngx_memcpy(e->id, run->record->status.id, NGX_CAMPAIGN_EXECUTION_ID_LEN);

    e->campaign = c;
    e->conf = run->conf;
    e->gateway = &run->conf->gateways[c->channel];

    e->trigger.recipients = ngx_pcalloc(e->trigger_pool,
                                        run->batch_size
                                        * sizeof(ngx_campaign_recipient_t));
    if (e->trigger.recipients == NULL) {
        ngx_campaign_execution_destroy(e);
        return NULL;
    }

    e->trigger.request_id = run->request_id;
    e->trigger.campaign_id = c->id;
    e->trigger.context = run->context;

    return e;
}


/*
 * A full batch: its messages, the frequency caps, the throttle's tokens,
 * then it runs as a unitary execution does.  NGX_AGAIN: the tokens are
 * not there yet, the tick comes back when they are.
 */

static ngx_int_t
ngx_campaign_fanout_launch(ngx_campaign_fanout_t *run)
{
    ngx_int_t                  rc;
    ngx_uint_t                 i, n;
    ngx_msec_t                 wait;
    ngx_campaign_t            *c;
    ngx_campaign_execution_t  *e;

    e = run->batch;
    c = run->campaign;

    if (e->messages == NULL && ngx_campaign_fanout_prepare(run, e) != NGX_OK)
    {
        return NGX_ERROR;
    }

    n = 0;

    for (i = 0; i < e->nmessages; i++) {
        n += (e->messages[i].state != NGX_CAMPAIGN_MESSAGE_DONE);
    }

    if (n && run->throttle_key.len) {
        wait = 0;

        rc = ngx_campaign_store_take(run->cmcf->store, &run->throttle_key,
                                     c->rate, c->burst, n, &wait, run->log);

        if (rc == NGX_AGAIN) {
            ngx_add_timer(&run->tick, wait ? wait : 1);
            return NGX_AGAIN;
        }

        if (rc != NGX_OK) {
            ngx_log_error(NGX_LOG_ERR, run->log, 0,
                          "campaign: audience execution %*s could not take "
                          "%ui token(s) from the throttle of \"%s\"",
                          (size_t) NGX_CAMPAIGN_EXECUTION_ID_LEN,
                          run->record->status.id, n, c->id);
            return NGX_ERROR;
        }
    }

    run->batch = NULL;
    run->ready = 0;

    e->settled = ngx_campaign_fanout_settled;
    e->data = run;

    run->running++;

    if (ngx_campaign_execution_start(e, NULL) != NGX_OK) {
        run->running--;
        run->record->status.counts[NGX_CAMPAIGN_FANOUT_FAILED_SEND] +=
                                                                e->nmessages;
        e->settled = NULL;
        ngx_campaign_execution_destroy(e);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The batch's messages, each keyed by its position in the audience, and
 * their frequency caps (which look at the configuration only: a request
 * that carries the API location's stands in for the client's).
 */

static ngx_int_t
ngx_campaign_fanout_prepare(ngx_campaign_fanout_t *run,
    ngx_campaign_execution_t *e)
{
    u_char                  *p;
    ngx_uint_t               i;
    ngx_http_request_t       r;
    ngx_campaign_message_t  *m;

    if (ngx_campaign_execution_messages(e) != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < e->nmessages; i++) {
        m = &e->messages[i];
        p = m->idempotency_key.data;

        m->idempotency_key.len = ngx_sprintf(p, "%*s-%ui",
                                             (size_t)
                                             NGX_CAMPAIGN_EXECUTION_ID_LEN,
                                             e->id, run->position + i)
                                 - p;
    }

    run->position += e->nmessages;

    ngx_memzero(&r, sizeof(ngx_http_request_t));
    r.main_conf = run->ctx->main_conf;
    r.srv_conf = run->ctx->srv_conf;
    r.loc_conf = run->ctx->loc_conf;

    return ngx_campaign_caps_reserve(&r, e);
}


static void
ngx_campaign_fanout_settled(ngx_campaign_execution_t *e, void *data)
{
    ngx_campaign_fanout_t *run = data;

    ngx_uint_t  i, *counts;

    counts = run->record->status.counts;

    for (i = 0; i < e->nmessages; i++) {

        switch (e->messages[i].outcome) {

        case NGX_CAMPAIGN_OUTCOME_ACCEPTED:
            counts[NGX_CAMPAIGN_FANOUT_SENT]++;
            break;

        case NGX_CAMPAIGN_OUTCOME_NO_CONSENT:
            counts[NGX_CAMPAIGN_FANOUT_NO_CONSENT]++;
            break;

        case NGX_CAMPAIGN_OUTCOME_SUPPRESSED:
            counts[NGX_CAMPAIGN_FANOUT_SUPPRESSED]++;
            break;

        case NGX_CAMPAIGN_OUTCOME_CAPPED:
            counts[NGX_CAMPAIGN_FANOUT_CAPPED]++;
            break;

        case NGX_CAMPAIGN_OUTCOME_NO_PROFILE:
            counts[NGX_CAMPAIGN_FANOUT_NO_PROFILE]++;
            break;

        default:
            counts[NGX_CAMPAIGN_FANOUT_FAILED_SEND]++;
        }
    }

    run->running--;

    ngx_campaign_fanout_mirror(run);
    ngx_campaign_fanout_next(run);
}


static void
ngx_campaign_fanout_finish(ngx_campaign_fanout_t *run,
    ngx_campaign_fanout_state_e state)
{
    ngx_uint_t                     level;
    ngx_queue_t                   *q;
    ngx_campaign_fanout_status_t  *st;
    ngx_campaign_fanout_record_t  *rec;

    st = &run->record->status;
    level = (state == NGX_CAMPAIGN_FANOUT_FAILED) ? NGX_LOG_ERR
                                                  : NGX_LOG_INFO;

    st->state = state;
    st->ended = ngx_campaign_fanout_now();

    ngx_campaign_fanout_mirror(run);

    ngx_log_error(level, run->log, 0,
                  "campaign: audience execution %*s of \"%s\" %s: "
                  "%ui recipient(s), %ui sent, %ui failed, "
                  "%ui malformed line(s)",
                  (size_t) NGX_CAMPAIGN_EXECUTION_ID_LEN, st->id,
                  run->campaign->id, ngx_campaign_fanout_states[state],
                  st->counts[NGX_CAMPAIGN_FANOUT_TARGETED],
                  st->counts[NGX_CAMPAIGN_FANOUT_SENT],
                  st->counts[NGX_CAMPAIGN_FANOUT_FAILED_SEND],
                  st->counts[NGX_CAMPAIGN_FANOUT_MALFORMED]);

    if (run->tick.timer_set) {
        ngx_del_timer(&run->tick);
    }

    if (run->tick.posted) {
        ngx_delete_posted_event(&run->tick);
    }

    if (run->batch) {
        ngx_campaign_execution_destroy(run->batch);
        run->batch = NULL;
    }

    if (run->fd != NGX_INVALID_FILE) {
        (void) ngx_close_file(run->fd);
        run->fd = NGX_INVALID_FILE;
    }

    run->record->run = NULL;

    /* the reader goes with the pool */

    ngx_destroy_pool(run->pool);

    /* the worker remembers the last finished ones */

    ngx_campaign_fanouts_finished++;

    q = ngx_queue_head(&ngx_campaign_fanouts);

    while (ngx_campaign_fanouts_finished > NGX_CAMPAIGN_FANOUT_KEEP
           && q != ngx_queue_sentinel(&ngx_campaign_fanouts))
    {
        rec = ngx_queue_data(q, ngx_campaign_fanout_record_t, queue);
        q = ngx_queue_next(q);

        if (rec->run == NULL) {
            ngx_queue_remove(&rec->queue);
            ngx_free(rec);
            ngx_campaign_fanouts_finished--;
        }
    }
}


/* at a batch boundary, the zone's copy for the other workers */

static void
ngx_campaign_fanout_mirror(ngx_campaign_fanout_t *run)
{
    if (run->zone) {
        ngx_memcpy(run->zone, &run->record->status,
                   sizeof(ngx_campaign_fanout_status_t));
    }
}


static uint64_t
ngx_campaign_fanout_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}


/* "2026-11-30T11:03:46.123Z", or null for 0 */

static void
ngx_campaign_fanout_out_time(ngx_campaign_out_t *o, uint64_t ms)
{
    u_char    buf[sizeof("\"1970-01-01T00:00:00.000Z\"")], *p;
    ngx_tm_t  tm;

    if (ms == 0) {
        ngx_campaign_out_literal(o, "null");
        return;
    }

    ngx_gmtime((time_t) (ms / 1000), &tm);

    p = ngx_sprintf(buf, "\"%4d-%02d-%02dT%02d:%02d:%02d.%03uDZ\"",
                    tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                    tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec,
                    (uint32_t) (ms % 1000));

    ngx_campaign_out_raw(o, buf, p - buf);
}


/* GET executions/audience/{executionId} */

ngx_int_t
ngx_campaign_fanout_status(ngx_http_request_t *r, ngx_str_t *id)
{
    u_char                         buf[sizeof("a:") - 1
                                       + NGX_CAMPAIGN_EXECUTION_ID_LEN];
    void                          *p;
    ngx_int_t                      rc;
    ngx_str_t                      key, cid;
    ngx_uint_t                     i, found, *n;
    ngx_queue_t                   *q;
    ngx_campaign_out_t             o;
    ngx_campaign_fanout_status_t   st;
    ngx_campaign_fanout_record_t  *rec;
    ngx_campaign_main_conf_t      *cmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_campaign_not_allowed(r, "GET, HEAD");
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    found = 0;

    if (id->len == NGX_CAMPAIGN_EXECUTION_ID_LEN) {
        found = 1;

        for (i = 0; i < id->len; i++) {
            if (!((id->data[i] >= '0' && id->data[i] <= '9')
                  || (id->data[i] >= 'a' && id->data[i] <= 'f')
                  || id->data[i] == '-'))
            {
                found = 0;
                break;
            }
        }
    }

    if (found) {
        found = 0;

        /* this worker's first: its own are the freshest */

        if (ngx_campaign_fanouts_init) {
            for (q = ngx_queue_head(&ngx_campaign_fanouts);
                 q != ngx_queue_sentinel(&ngx_campaign_fanouts);
                 q = ngx_queue_next(q))
            {
                rec = ngx_queue_data(q, ngx_campaign_fanout_record_t, queue);

                if (ngx_memcmp(rec->status.id, id->data, id->len) == 0) {
                    st = rec->status;
                    found = 1;
                    break;
                }
            }
        }

        cmcf = ngx_http_get_module_main_conf(r, ngx_http_campaign_module);

        if (!found && cmcf->store) {
            key.data = buf;
            key.len = ngx_cpymem(ngx_cpymem(buf, "a:", 2), id->data, id->len)
                      - buf;

            p = ngx_campaign_store_counters_find(cmcf->store, &key,
                                                 sizeof(st));

            if (p) {
                ngx_memcpy(&st, p, sizeof(st));

                /* a copy being made has no id yet */

                found = (ngx_memcmp(st.id, id->data, id->len) == 0);
            }
        }
    }

    if (!found) {
        return ngx_campaign_send_error(r, NGX_HTTP_NOT_FOUND,
                                       "unknown audience execution", "",
                                       "no audience execution has this id");
    }

    /* a copy out of shared memory: its lengths and state are checked */

    if (st.state > NGX_CAMPAIGN_FANOUT_STOPPED
        || st.campaign_id_len > NGX_CAMPAIGN_FANOUT_ID_LEN
        || st.audience_id_len > NGX_CAMPAIGN_FANOUT_ID_LEN)
    {
        return ngx_campaign_send_error(r, NGX_HTTP_NOT_FOUND,
                                       "unknown audience execution", "",
                                       "no audience execution has this id");
    }

    cid.data = st.campaign_id;
    cid.len = st.campaign_id_len;

    if (ngx_campaign_keys_check(r, NGX_CAMPAIGN_SCOPE_READ, &cid, &rc)
        != NGX_OK)
    {
        return rc;
    }

    n = st.counts;

    ngx_campaign_out_init(&o, r->pool, 1024);
    ngx_campaign_out_literal(&o, "{\"executionId\":");
    ngx_campaign_out_string(&o, st.id, NGX_CAMPAIGN_EXECUTION_ID_LEN);
    ngx_campaign_out_literal(&o, ",\"campaignId\":");
    ngx_campaign_out_string(&o, st.campaign_id, st.campaign_id_len);
    ngx_campaign_out_literal(&o, ",\"audienceId\":");
    ngx_campaign_out_string(&o, st.audience_id, st.audience_id_len);
    ngx_campaign_out_literal(&o, ",\"status\":\"");
    ngx_campaign_out_raw(&o,
                         (u_char *) ngx_campaign_fanout_states[st.state],
                         ngx_strlen(ngx_campaign_fanout_states[st.state]));
    ngx_campaign_out_literal(&o, "\",\"targetedProfileCount\":");
    ngx_campaign_out_uint(&o, n[NGX_CAMPAIGN_FANOUT_TARGETED]);
    ngx_campaign_out_literal(&o, ",\"createdAt\":");
    ngx_campaign_fanout_out_time(&o, st.created);
    ngx_campaign_out_literal(&o, ",\"startedAt\":");
    ngx_campaign_fanout_out_time(&o, st.started);
    ngx_campaign_out_literal(&o, ",\"endedAt\":");
    ngx_campaign_fanout_out_time(&o, st.ended);
    ngx_campaign_out_literal(&o, ",\"counters\":{\"sent\":");
    ngx_campaign_out_uint(&o, n[NGX_CAMPAIGN_FANOUT_SENT]);
    ngx_campaign_out_literal(&o, ",\"failed\":");
    ngx_campaign_out_uint(&o, n[NGX_CAMPAIGN_FANOUT_FAILED_SEND]);
    ngx_campaign_out_literal(&o, ",\"skipped\":{");

    for (i = NGX_CAMPAIGN_FANOUT_NO_CONSENT;
         i <= NGX_CAMPAIGN_FANOUT_STOPPED_SKIP;
         i++)
    {
        if (i != NGX_CAMPAIGN_FANOUT_NO_CONSENT) {
            ngx_campaign_out_literal(&o, ",");
        }

        ngx_campaign_out_string(&o, (u_char *) ngx_campaign_fanout_skips[i],
                                ngx_strlen(ngx_campaign_fanout_skips[i]));
        ngx_campaign_out_literal(&o, ":");
        ngx_campaign_out_uint(&o, n[i]);
    }

    ngx_campaign_out_literal(&o, "},\"malformedLines\":");
    ngx_campaign_out_uint(&o, n[NGX_CAMPAIGN_FANOUT_MALFORMED]);
    ngx_campaign_out_literal(&o, "}}");

    return ngx_campaign_send_json(r, NGX_HTTP_OK, NULL, &o);
}


/*
 * A worker that exits with audience executions unfinished (a reload, a
 * quit, whatever is running when it goes): they are Failed, and say so,
 * for the zone outlives the worker.
 */

void
ngx_campaign_fanout_exit(ngx_cycle_t *cycle)
{
    ngx_queue_t                   *q;
    ngx_campaign_fanout_t         *run;
    ngx_campaign_fanout_record_t  *rec;

    if (!ngx_campaign_fanouts_init) {
        return;
    }

    for (q = ngx_queue_head(&ngx_campaign_fanouts);
         q != ngx_queue_sentinel(&ngx_campaign_fanouts);
         q = ngx_queue_next(q))
    {
        rec = ngx_queue_data(q, ngx_campaign_fanout_record_t, queue);
        run = rec->run;

        if (run == NULL) {
            continue;
        }

        rec->status.state = NGX_CAMPAIGN_FANOUT_FAILED;
        rec->status.ended = ngx_campaign_fanout_now();

        ngx_campaign_fanout_mirror(run);

        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "campaign: worker exits, audience execution %*s "
                      "unfinished: %ui recipient(s) read, %ui sent",
                      (size_t) NGX_CAMPAIGN_EXECUTION_ID_LEN,
                      rec->status.id,
                      rec->status.counts[NGX_CAMPAIGN_FANOUT_TARGETED],
                      rec->status.counts[NGX_CAMPAIGN_FANOUT_SENT]);
    }
}
