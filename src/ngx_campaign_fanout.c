
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
 *     campaign_audience_batches batches at once;
 *   - a stopped campaign stops it between batches: what is not started is
 *     not sent, and the status says Stopped.
 *
 * With campaign_audience_source, an audience that has no file is the
 * answer of a location, streamed into the journal's snapshot before the
 * first tick reads it (see ngx_campaign_fanout_located()).
 *
 * Each message's Idempotency-Key is the executionId and the recipient's
 * position among the audience's valid recipients (0-based).
 *
 * The status is kept in the worker's memory and copied to campaign_zone
 * at every batch boundary, where any worker finds it.
 */


#define NGX_CAMPAIGN_FANOUT_CHUNK      16384
#define NGX_CAMPAIGN_FANOUT_JOURNAL    250    /* ms between two writes */
#define NGX_CAMPAIGN_FANOUT_BATCH      NGX_CAMPAIGN_MAX_RECIPIENTS
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
    NGX_CAMPAIGN_FANOUT_TIMED_OUT,        /* not sent: out of time */
    NGX_CAMPAIGN_FANOUT_INVALID_ADDRESS,  /* a connector refused it */
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


/*
 * A batch as the journal sees it: the lines it holds (up to line), what
 * they counted, and whether its messages are settled.  The journal's
 * cursor moves over the batches in their order, as each first one is
 * settled: everything before the cursor is done and counted.
 */

typedef struct {
    ngx_campaign_execution_t    *batch;
    ngx_uint_t                   line;        /* its last line */
    ngx_uint_t                   position;    /* the recipients before it,
                                                 and its own */
    ngx_uint_t                   counts[NGX_CAMPAIGN_FANOUT_NCOUNTS];
    unsigned                     done:1;
} ngx_campaign_fanout_slot_t;



/* who runs an execution of the journal, in the zone: "aw:<id>" */

typedef struct {
    ngx_atomic_t                 pid;         /* 0: nobody */
    ngx_atomic_t                 beat;        /* its last heartbeat, s */
    ngx_atomic_t                 done;        /* over, as its journal says */
    ngx_atomic_t                 counted;     /* in the running metrics */
} ngx_campaign_fanout_owner_t;

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

    /* campaign_journal: the snapshot, the cursor, the owner */
    unsigned                     journal:1;
    unsigned                     copying:1;   /* the snapshot is made */
    unsigned                     handoff:1;   /* the worker quits */

    ngx_str_t                    audience_id;
    ngx_str_t                    api;         /* the API location's name */
    ngx_str_t                    context_text;
    ngx_fd_t                     source;      /* the audience, copied */
    off_t                        source_offset;
    ngx_campaign_fanout_owner_t *owner;
    ngx_msec_t                   journaled;   /* when, last */

    ngx_campaign_fanout_slot_t  *slots;       /* 2 * batches + 1 */
    ngx_uint_t                   nslots_max;
    ngx_uint_t                   batches;     /* at once, at most */
    ngx_uint_t                   first;
    ngx_uint_t                   nslots;
    ngx_campaign_fanout_slot_t  *fill;        /* the batch being filled */

    u_char                      *id;          /* given by its schedule */
    uint64_t                     execute_at;  /* its schedule's, ms */

    /* campaign_audience_source: the location the audience comes from */
    ngx_str_t                    source_uri;
    unsigned                     fetching:1;  /* its answer streams in */

    ngx_uint_t                   committed[NGX_CAMPAIGN_FANOUT_NCOUNTS];
    ngx_uint_t                   cursor_line;
    ngx_uint_t                   cursor_position;
    ngx_uint_t                   replay_line; /* resumed: done up to it */

    /* campaign_audience_max_duration ran out: the rest is counted only */
    unsigned                     timed_out:1;

    /* it is counted as running, in the metrics, until it ends */
    unsigned                     counted:1;

    /* campaign_audience_max_running let it in: its place is taken */
    unsigned                     reserved:1;
};


/* an execution as its journal holds it */

typedef struct {
    ngx_campaign_fanout_status_t  status;
    ngx_str_t                    request_id;
    ngx_str_t                    api;
    ngx_str_t                    context;     /* JSON text, or empty */
    ngx_uint_t                   line;        /* the cursor */
    ngx_uint_t                   position;
    ngx_uint_t                   snapshot;    /* it is whole */
} ngx_campaign_fanout_journal_t;


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
    ngx_campaign_fanout_journal_t *from);
static ngx_int_t ngx_campaign_fanout_snapshot(ngx_campaign_fanout_t *run,
    ngx_campaign_fanout_journal_t *from);
static ngx_int_t ngx_campaign_fanout_copy(ngx_campaign_fanout_t *run);
static ngx_int_t ngx_campaign_fanout_whole(ngx_campaign_fanout_t *run);
static ngx_int_t ngx_campaign_fanout_located(ngx_campaign_fanout_t *run);
static ngx_int_t ngx_campaign_fanout_fetch(ngx_campaign_fanout_t *run);
static ngx_int_t ngx_campaign_fanout_sink(void *data, u_char *p, size_t len);
static void ngx_campaign_fanout_fetched(ngx_campaign_sr_t *s);
static void ngx_campaign_fanout_journal(ngx_campaign_fanout_t *run,
    ngx_uint_t *counts, ngx_uint_t snapshot);
static ngx_int_t ngx_campaign_fanout_parse(ngx_pool_t *pool,
    ngx_str_t *text, ngx_campaign_fanout_journal_t *j);
static ngx_campaign_fanout_slot_t *ngx_campaign_fanout_slot(
    ngx_campaign_fanout_t *run);
static void ngx_campaign_fanout_count(ngx_campaign_fanout_t *run,
    ngx_uint_t what, ngx_uint_t n);
static void ngx_campaign_fanout_commit(ngx_campaign_fanout_t *run);
static void ngx_campaign_fanout_release(ngx_campaign_fanout_t *run);
static void ngx_campaign_fanout_close(ngx_campaign_fanout_t *run);
static ngx_int_t ngx_campaign_fanout_journaled(ngx_http_request_t *r,
    ngx_str_t *id, ngx_campaign_fanout_status_t *st);
static ngx_int_t ngx_campaign_fanout_accepted(ngx_http_request_t *r,
    ngx_campaign_fanout_t *run);
static ngx_int_t ngx_campaign_fanout_scheduled(ngx_http_request_t *r,
    ngx_campaign_fanout_t *run);
static ngx_int_t ngx_campaign_fanout_answer(ngx_http_request_t *r,
    ngx_campaign_fanout_t *run, ngx_campaign_out_t *o);
static ngx_campaign_loc_conf_t *ngx_campaign_fanout_api(
    ngx_campaign_main_conf_t *cmcf, ngx_str_t *name, ngx_str_t *found);
static ngx_fd_t ngx_campaign_fanout_audience(ngx_campaign_fanout_t *run,
    ngx_str_t *reason);
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
static ngx_msec_t ngx_campaign_fanout_time_left(ngx_campaign_fanout_t *run);
static ngx_int_t ngx_campaign_fanout_time_out(ngx_campaign_fanout_t *run);
static void ngx_campaign_fanout_out_rate(ngx_campaign_out_t *o,
    ngx_campaign_fanout_status_t *st);
static void ngx_campaign_fanout_hold(ngx_campaign_fanout_t *run);
static ngx_int_t ngx_campaign_fanout_admit(ngx_http_request_t *r,
    ngx_campaign_fanout_t *run, ngx_int_t *answer);
static void ngx_campaign_fanout_unreserve(void *data);
static ngx_atomic_t *ngx_campaign_fanout_places(
    ngx_campaign_main_conf_t *cmcf, ngx_log_t *log);
static void ngx_campaign_fanout_ended(ngx_campaign_fanout_t *run,
    ngx_campaign_fanout_state_e state);


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
    "duplicate", "stopped", NULL, "timed_out", "invalid_address"
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
 * campaign_audience_source URI: an audience that has no file is fetched
 * from the location URI<id>; it needs campaign_journal (journal.c checks),
 * where its answer is streamed into the execution's snapshot.
 */

char *
ngx_campaign_audience_source_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_campaign_main_conf_t *cmcf = conf;

    ngx_str_t  *value;

    if (cmcf->audience_source.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].data[0] != '/') {
        return "takes a URI that starts with \"/\"";
    }

    cmcf->audience_source = value[1];

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
    run->source = NGX_INVALID_FILE;

    if (ngx_campaign_fanout_check(r, run, &body, &rc) != NGX_OK) {
        ngx_campaign_fanout_close(run);
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
    cJSON                      *root, *cid, *rid, *audience, *aid, *item,
                               *at;
    ngx_str_t                   id;
    ngx_uint_t                  i;
    ngx_campaign_t             *c;
    ngx_campaign_alloc_t        a;
    ngx_campaign_api_loc_t     *api;
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

    /* schedule.executeAt: a time in the future, at most a year ahead */

    if (ngx_campaign_fanout_member(root, "schedule", cJSON_Object, &item)
        != NGX_OK)
    {
        *answer = ngx_campaign_send_error(r, NGX_HTTP_BAD_REQUEST,
                                          "the request is invalid",
                                          "/schedule", "must be an object");
        return NGX_DECLINED;
    }

    if (item) {
        if (ngx_campaign_fanout_member(item, "executeAt", cJSON_String, &at)
            != NGX_OK
            || at == NULL
            || ngx_campaign_schedule_time((u_char *) at->valuestring,
                                          ngx_strlen(at->valuestring),
                                          &run->execute_at)
               != NGX_OK)
        {
            *answer = ngx_campaign_send_error(r, NGX_HTTP_BAD_REQUEST,
                                              "the request is invalid",
                                              "/schedule/executeAt",
                                              "must be a date and time "
                                              "(RFC 3339), such as "
                                              "\"2026-12-01T09:00:00Z\"");
            return NGX_DECLINED;
        }

        if (run->execute_at <= ngx_campaign_fanout_now()
            || run->execute_at > ngx_campaign_fanout_now()
                                 + 366ULL * 86400 * 1000)
        {
            *answer = ngx_campaign_send_error(r, NGX_HTTP_BAD_REQUEST,
                                              "the request is invalid",
                                              "/schedule/executeAt",
                                              "must be in the future, at "
                                              "most a year ahead");
            return NGX_DECLINED;
        }
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

    run->audience_id.data = (u_char *) aid->valuestring;
    run->audience_id.len = ngx_strlen(aid->valuestring);

    run->journal = (cmcf->journal.len != 0);

    if (run->journal) {
        api = cmcf->apis.elts;

        for (i = 0; i < cmcf->apis.nelts; i++) {
            if (api[i].conf == cplcf) {
                run->api = api[i].name;
                break;
            }
        }
    }

    if (ngx_campaign_fanout_open(r, run, aid, answer) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (run->execute_at && cmcf->journal.len == 0) {
        *answer = ngx_campaign_send_error(r, NGX_HTTP_NOT_IMPLEMENTED,
                                          "schedules need campaign_journal",
                                          "/schedule",
                                          "this server keeps no schedule");
        return NGX_DECLINED;
    }

    if (ngx_campaign_fanout_claim(r, run, body, answer) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (run->execute_at) {
        *answer = ngx_campaign_fanout_scheduled(r, run);
        return NGX_DECLINED;
    }

    if (ngx_campaign_fanout_setup(run, NULL) != NGX_OK) {
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
        return ngx_campaign_fanout_admit(r, run, answer);
    }

    rid.data = (u_char *) run->request_id;
    rid.len = rid.data ? ngx_strlen(rid.data) : 0;

    rc = ngx_campaign_idempotency_key(r, run->pool, 1, run->campaign->id,
                                      &rid, &run->claim_key);

    if (rc == NGX_DONE) {
        return ngx_campaign_fanout_admit(r, run, answer);
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
        return ngx_campaign_fanout_admit(r, run, answer);

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

    if (dir->len == 0 && run->cmcf->audience_source.len) {
        goto located;
    }

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

        if (err == NGX_ENOENT && run->cmcf->audience_source.len) {
            goto located;
        }

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

located:

    /* no file: its location's answer is fetched once the call is taken */

    if (ngx_campaign_fanout_located(run) != NGX_OK) {
        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
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
ngx_campaign_fanout_setup(ngx_campaign_fanout_t *run,
    ngx_campaign_fanout_journal_t *from)
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

    run->record = rec;
    st = &rec->status;

    if (from) {

        /* resumed: it goes on from its cursor, with the counts up to it */

        *st = from->status;
        st->state = NGX_CAMPAIGN_FANOUT_IN_PROGRESS;
        st->ended = 0;

        ngx_memcpy(run->committed, st->counts, sizeof(run->committed));

        run->cursor_line = from->line;
        run->cursor_position = from->position;
        run->replay_line = from->line;
        run->position = from->position;

    } else {
        if (run->id) {
            ngx_memcpy(st->id, run->id, NGX_CAMPAIGN_EXECUTION_ID_LEN);

        } else {
            ngx_campaign_execution_id(st->id);
        }

        len = ngx_min(ngx_strlen(c->id), NGX_CAMPAIGN_FANOUT_ID_LEN);
        ngx_memcpy(st->campaign_id, c->id, len);
        st->campaign_id_len = len;

        len = ngx_min(run->audience_id.len, NGX_CAMPAIGN_FANOUT_ID_LEN);
        ngx_memcpy(st->audience_id, run->audience_id.data, len);
        st->audience_id_len = len;

        st->created = ngx_campaign_fanout_now();
        st->started = st->created;
        st->state = NGX_CAMPAIGN_FANOUT_IN_PROGRESS;

        if (run->journal && run->context
            && ngx_campaign_fanout_print(run->pool, run->context,
                                         &run->context_text)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

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

    /*
     * The batches the journal's cursor has not passed: those running,
     * those settled behind a slower one, and the one being filled.
     */

    run->batches = run->cmcf->audience_batches;
    run->nslots_max = 2 * run->batches + 1;

    run->slots = ngx_pcalloc(run->pool, run->nslots_max
                                        * sizeof(ngx_campaign_fanout_slot_t));
    if (run->slots == NULL) {
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

    if (run->journal && ngx_campaign_fanout_snapshot(run, from) != NGX_OK) {
        return NGX_ERROR;
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
    ngx_campaign_fanout_status_t  *st;

    st = &run->record->status;

    ngx_campaign_fanout_hold(run);

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

    return ngx_campaign_fanout_answer(r, run, &o);
}


/* 202: a repeat of the call gets this answer, and starts nothing */

static ngx_int_t
ngx_campaign_fanout_answer(ngx_http_request_t *r, ngx_campaign_fanout_t *run,
    ngx_campaign_out_t *o)
{
    ngx_campaign_store_answer_t  a;

    if (run->claim && !o->failed) {
        a.status = NGX_HTTP_ACCEPTED;
        a.problem = 0;
        a.body.data = o->start;
        a.body.len = o->pos - o->start;

        ngx_campaign_store_answer(run->cmcf->store, run->claim,
                                  &run->claim_key,
                                  run->conf->idempotency_window, &a,
                                  r->connection->log);
    }

    return ngx_campaign_send_json(r, NGX_HTTP_ACCEPTED, NULL, o);
}


/* the call has a schedule: kept, and answered with it */

static ngx_int_t
ngx_campaign_fanout_scheduled(ngx_http_request_t *r,
    ngx_campaign_fanout_t *run)
{
    ngx_int_t                     rc;
    ngx_campaign_out_t            o;
    ngx_campaign_fanout_call_t    call;

    ngx_memzero(&call, sizeof(ngx_campaign_fanout_call_t));

    call.campaign_id.data = (u_char *) run->campaign->id;
    call.campaign_id.len = ngx_strlen(run->campaign->id);
    call.audience_id = run->audience_id;
    call.api = run->api;
    call.execute_at = run->execute_at;

    if (run->request_id) {
        call.request_id.data = (u_char *) run->request_id;
        call.request_id.len = ngx_strlen(run->request_id);
    }

    if (run->context
        && ngx_campaign_fanout_print(run->pool, run->context, &call.context)
           != NGX_OK)
    {
        rc = NGX_ERROR;

    } else {
        rc = ngx_campaign_schedule_create(r, &call, &o);
    }

    if (rc != NGX_OK) {
        if (run->claim) {
            ngx_campaign_store_release(run->cmcf->store, &run->claim_key);
        }

        if (rc == NGX_DECLINED) {
            return ngx_campaign_send_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                           "too many schedules", "/schedule",
                                           "cancel or wait for some first");
        }

        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_campaign_fanout_answer(r, run, &o);
}


/*
 * A schedule fires: its call starts an execution, with no client, under
 * the executionId it was given.  NGX_ERROR with reason when it cannot.
 */

ngx_int_t
ngx_campaign_fanout_start(ngx_campaign_main_conf_t *cmcf,
    ngx_campaign_fanout_call_t *call, u_char *id, ngx_str_t *reason)
{
    ngx_pool_t                *pool;
    ngx_campaign_t            *c;
    ngx_campaign_alloc_t       a;
    ngx_campaign_fanout_t     *run;
    ngx_campaign_problems_t    problems;
    ngx_campaign_loc_conf_t   *cplcf;

    ngx_str_set(reason, "the server is out of memory");

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, ngx_cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    run = ngx_pcalloc(pool, sizeof(ngx_campaign_fanout_t));
    if (run == NULL) {
        goto failed;
    }

    run->pool = pool;
    run->log = ngx_cycle->log;
    run->fd = NGX_INVALID_FILE;
    run->source = NGX_INVALID_FILE;
    run->cmcf = cmcf;
    run->journal = 1;
    run->id = id;

    cplcf = ngx_campaign_fanout_api(cmcf, &call->api, &run->api);

    c = ngx_campaign_find(cmcf, call->campaign_id.data, call->campaign_id.len);

    if (c == NULL) {
        ngx_str_set(reason, "the campaign is not in the configuration");
        goto failed;
    }

    if (c->status != NGX_CAMPAIGN_LIVE
        || (c->start && ngx_time() < c->start)
        || (c->end && ngx_time() >= c->end)
        || c->type != NGX_CAMPAIGN_MARKETING)
    {
        ngx_str_set(reason, "the campaign is not a live marketing campaign "
                            "now");
        goto failed;
    }

    if (ngx_campaign_state_stopped(cmcf, c)) {
        ngx_str_set(reason, "the campaign is stopped");
        goto failed;
    }

    if (cplcf == NULL || cplcf->gateways == NULL
        || cplcf->gateways[c->channel].uri.len == 0)
    {
        ngx_str_set(reason, "no API location with a gateway for the "
                            "campaign's channel");
        goto failed;
    }

    run->campaign = c;
    run->conf = cplcf;
    run->ctx = cplcf->ctx;
    run->audience_id = call->audience_id;

    run->request_id = ngx_pnalloc(pool, call->request_id.len + 1);
    if (run->request_id == NULL) {
        goto failed;
    }

    (void) ngx_cpystrn((u_char *) run->request_id, call->request_id.data,
                       call->request_id.len + 1);

    if (call->context.len) {
        ngx_campaign_pool_alloc(&a, pool);
        ngx_memzero(&problems, sizeof(ngx_campaign_problems_t));

        if (ngx_campaign_trigger_parse_value(&a, call->context.data,
                                             call->context.len, 0,
                                             &run->context, &problems)
            != 0)
        {
            ngx_str_set(reason, "its context cannot be read");
            goto failed;
        }

        run->context_text = call->context;
    }

    run->fd = ngx_campaign_fanout_audience(run, reason);
    if (run->fd == NGX_INVALID_FILE && run->source_uri.len == 0) {
        goto failed;
    }

    if (ngx_campaign_fanout_setup(run, NULL) != NGX_OK) {
        ngx_str_set(reason, "it could not be set up: see the error log");
        goto failed;
    }

    return NGX_OK;

failed:

    if (run) {
        ngx_campaign_fanout_close(run);
    }

    ngx_destroy_pool(pool);

    return NGX_ERROR;
}


/* the API location of this name, or the first there is, or NULL */

static ngx_campaign_loc_conf_t *
ngx_campaign_fanout_api(ngx_campaign_main_conf_t *cmcf, ngx_str_t *name,
    ngx_str_t *found)
{
    ngx_uint_t               i;
    ngx_campaign_api_loc_t  *api;

    api = cmcf->apis.elts;

    for (i = 0; i < cmcf->apis.nelts; i++) {
        if (api[i].name.len == name->len
            && ngx_strncmp(api[i].name.data, name->data, name->len) == 0)
        {
            *found = api[i].name;
            return api[i].conf;
        }
    }

    if (cmcf->apis.nelts == 0) {
        return NULL;
    }

    *found = api[0].name;

    return api[0].conf;
}


/* the audience's file, opened with no client to answer */

static ngx_fd_t
ngx_campaign_fanout_audience(ngx_campaign_fanout_t *run, ngx_str_t *reason)
{
    u_char           *p;
    size_t            len;
    ngx_fd_t          fd;
    ngx_file_info_t   fi;

    if (run->cmcf->audiences.len == 0) {
        if (run->cmcf->audience_source.len) {
            (void) ngx_campaign_fanout_located(run);
            return NGX_INVALID_FILE;
        }

        ngx_str_set(reason, "no campaign_audiences is set");
        return NGX_INVALID_FILE;
    }

    len = run->cmcf->audiences.len + sizeof("/.jsonl") + run->audience_id.len;

    p = ngx_pnalloc(run->pool, len);
    if (p == NULL) {
        return NGX_INVALID_FILE;
    }

    run->path.data = p;
    run->path.len = ngx_sprintf(p, "%V/%V.jsonl%Z", &run->cmcf->audiences,
                                &run->audience_id)
                    - p - 1;

    fd = ngx_open_file(p, NGX_FILE_RDONLY|NGX_FILE_NONBLOCK, NGX_FILE_OPEN,
                       0);

    if (fd == NGX_INVALID_FILE) {
        if (ngx_errno == NGX_ENOENT && run->cmcf->audience_source.len) {
            (void) ngx_campaign_fanout_located(run);
            return NGX_INVALID_FILE;
        }

        ngx_log_error(NGX_LOG_ERR, run->log, ngx_errno,
                      ngx_open_file_n " \"%V\" failed", &run->path);
        ngx_str_set(reason, "its audience cannot be opened");
        return NGX_INVALID_FILE;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR || !ngx_is_file(&fi)) {
        (void) ngx_close_file(fd);
        ngx_str_set(reason, "its audience is not a file");
        return NGX_INVALID_FILE;
    }

    return fd;
}


/*
 * One step of the fan-out, a bounded amount of work: a batch started, or
 * one chunk of the file read and fed to the reader.
 */

static void
ngx_campaign_fanout_tick(ngx_event_t *ev)
{
    ngx_int_t               rc;
    ngx_campaign_fanout_t  *run;

    run = ev->data;

    if (!run->counted) {
        ngx_campaign_fanout_hold(run);         /* resumed from the journal */
    }

    /* the fetch's end comes back here; until then the run must stay */

    if (run->fetching) {
        return;
    }

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

    /*
     * A worker that quits starts no other batch.  With a journal, what it
     * started settles and the execution is left at its cursor for a
     * worker of the next generation; without, it ends here.
     */

    if ((ngx_exiting || ngx_quit || ngx_terminate) && run->journal
        && !run->failed && !run->stopped)
    {
        run->handoff = 1;

        if (run->batch) {
            ngx_campaign_execution_destroy(run->batch);
            run->batch = NULL;
            run->ready = 0;
        }

        if (run->running == 0) {
            ngx_campaign_fanout_release(run);
        }

        return;
    }

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
            ngx_campaign_fanout_count(run, NGX_CAMPAIGN_FANOUT_STOPPED_SKIP,
                                      run->batch->trigger.nrecipients);
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

    if (run->copying) {
        if (ngx_campaign_fanout_copy(run) != NGX_OK) {
            run->failed = 1;
        }

        ngx_campaign_fanout_next(run);
        return;
    }

    if (run->timed_out || ngx_campaign_fanout_time_left(run) == 0) {
        if (ngx_campaign_fanout_time_out(run) == NGX_OK) {
            return;
        }
    }

    if (run->ready) {
        if (run->running >= run->batches
            || run->nslots >= run->nslots_max)
        {
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

            } else if (run->fill) {

                /* the last lines, all skipped: nothing to send */

                run->fill->done = 1;
                run->fill->position = run->position;
                run->fill = NULL;

                ngx_campaign_fanout_commit(run);
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

    /* resumed: the lines up to the cursor were done */

    if (line->number <= run->replay_line) {
        return 0;
    }

    if (run->timed_out) {
        ngx_campaign_fanout_count(run, NGX_CAMPAIGN_FANOUT_TARGETED, 1);
        ngx_campaign_fanout_count(run, NGX_CAMPAIGN_FANOUT_TIMED_OUT, 1);
        run->fill->line = line->number;
        return 0;
    }

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

    ngx_campaign_fanout_count(run, NGX_CAMPAIGN_FANOUT_TARGETED, 1);
    run->fill->line = line->number;

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
    ngx_pool_t  *pool;

    if (line->number <= run->replay_line) {
        return;
    }

    switch (reason) {

    case NGX_CAMPAIGN_AUDIENCE_INVALID:
        ngx_campaign_fanout_count(run, NGX_CAMPAIGN_FANOUT_INVALID, 1);
        break;

    case NGX_CAMPAIGN_AUDIENCE_DUPLICATE:
        ngx_campaign_fanout_count(run, NGX_CAMPAIGN_FANOUT_DUPLICATE, 1);
        break;

    default:
        ngx_campaign_fanout_count(run, NGX_CAMPAIGN_FANOUT_MALFORMED, 1);
    }

    run->fill->line = line->number;

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
    ngx_int_t                    rc;
    ngx_uint_t                   i, n;
    ngx_msec_t                   wait;
    ngx_campaign_t              *c;
    ngx_campaign_execution_t    *e;
    ngx_campaign_fanout_slot_t  *slot;

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

            /* the maximum duration may run out before the tokens come */

            wait = ngx_min(wait, ngx_campaign_fanout_time_left(run));

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

    slot = ngx_campaign_fanout_slot(run);
    slot->batch = e;
    slot->position = run->position;
    run->fill = NULL;

    e->settled = ngx_campaign_fanout_settled;
    e->data = run;

    run->running++;

    if (ngx_campaign_execution_start(e, NULL) != NGX_OK) {
        run->running--;
        run->record->status.counts[NGX_CAMPAIGN_FANOUT_FAILED_SEND] +=
                                                                e->nmessages;
        slot->counts[NGX_CAMPAIGN_FANOUT_FAILED_SEND] += e->nmessages;
        slot->batch = NULL;
        slot->done = 1;

        e->settled = NULL;
        ngx_campaign_execution_destroy(e);

        ngx_campaign_fanout_commit(run);
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
    u_char                  *p, buf[NGX_CAMPAIGN_CONSENT_ADDRESS_MAX];
    ngx_str_t                address;
    ngx_uint_t               i;
    ngx_http_request_t       r;
    ngx_campaign_outcome_e   outcome;
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

    /*
     * Consent and the suppression lists first: whom they hold back takes
     * neither a place in the frequency caps nor a throttle token.  The
     * execution asks again, once a looked-up profile is known.
     */

    for (i = 0; i < e->nmessages; i++) {
        m = &e->messages[i];

        address.data = buf;
        address.len = 0;

        outcome = ngx_campaign_consent_held(run->cmcf, run->campaign,
                                            m->recipient, &address);

        if (outcome == NGX_CAMPAIGN_OUTCOME_NO_CONSENT
            || outcome == NGX_CAMPAIGN_OUTCOME_SUPPRESSED)
        {
            ngx_campaign_execution_settle(m, outcome);
        }
    }

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

    ngx_uint_t                   i, k, what, *counts;
    ngx_campaign_fanout_slot_t  *slot, *s;

    counts = run->record->status.counts;

    slot = NULL;

    for (i = 0; i < run->nslots; i++) {
        s = &run->slots[(run->first + i) % run->nslots_max];

        if (s->batch == e) {
            slot = s;
            break;
        }
    }

    for (k = 0; k < e->nmessages; k++) {

        switch (e->messages[k].outcome) {

        case NGX_CAMPAIGN_OUTCOME_ACCEPTED:
            what = NGX_CAMPAIGN_FANOUT_SENT;
            break;

        case NGX_CAMPAIGN_OUTCOME_NO_CONSENT:
            what = NGX_CAMPAIGN_FANOUT_NO_CONSENT;
            break;

        case NGX_CAMPAIGN_OUTCOME_SUPPRESSED:
            what = NGX_CAMPAIGN_FANOUT_SUPPRESSED;
            break;

        case NGX_CAMPAIGN_OUTCOME_CAPPED:
            what = NGX_CAMPAIGN_FANOUT_CAPPED;
            break;

        case NGX_CAMPAIGN_OUTCOME_NO_PROFILE:
            what = NGX_CAMPAIGN_FANOUT_NO_PROFILE;
            break;

        case NGX_CAMPAIGN_OUTCOME_INVALID:
            what = NGX_CAMPAIGN_FANOUT_INVALID_ADDRESS;
            break;

        default:
            what = NGX_CAMPAIGN_FANOUT_FAILED_SEND;
        }

        counts[what]++;

        if (slot) {
            slot->counts[what]++;
        }
    }

    if (slot) {
        slot->batch = NULL;
        slot->done = 1;
    }

    run->running--;

    ngx_campaign_fanout_commit(run);
    ngx_campaign_fanout_mirror(run);
    ngx_campaign_fanout_next(run);
}


static void
ngx_campaign_fanout_finish(ngx_campaign_fanout_t *run,
    ngx_campaign_fanout_state_e state)
{
    u_char                         name[NGX_CAMPAIGN_EXECUTION_ID_LEN + 16];
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
    ngx_campaign_fanout_ended(run, state);

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

    ngx_campaign_fanout_close(run);

    /* the journal says it is over; the snapshot is not needed any more */

    if (run->journal) {
        ngx_campaign_fanout_journal(run, st->counts, !run->copying);

        if (run->owner) {
            run->owner->done = 1;
            run->owner->pid = 0;
        }

        ngx_memcpy(name, st->id, NGX_CAMPAIGN_EXECUTION_ID_LEN);
        (void) ngx_cpystrn(name + NGX_CAMPAIGN_EXECUTION_ID_LEN,
                           (u_char *) ".jsonl", sizeof(".jsonl"));

        ngx_campaign_journal_remove(&run->cmcf->journal, name, run->log);

        (void) ngx_cpystrn(name + NGX_CAMPAIGN_EXECUTION_ID_LEN,
                           (u_char *) ".jsonl.part", sizeof(".jsonl.part"));

        ngx_campaign_journal_remove(&run->cmcf->journal, name, run->log);
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


/*
 * campaign_journal: the audience is copied into DIR/<id>.jsonl.part, the
 * snapshot, which is synced and renamed to DIR/<id>.jsonl when whole; the
 * execution reads the snapshot, never the audience, which may change.
 */

static ngx_int_t
ngx_campaign_fanout_snapshot(ngx_campaign_fanout_t *run,
    ngx_campaign_fanout_journal_t *from)
{
    u_char                       *p, *id;
    size_t                        len;
    ngx_str_t                    *dir, key;
    ngx_campaign_fanout_owner_t  *owner;

    dir = &run->cmcf->journal;
    id = run->record->status.id;

    len = dir->len + sizeof("/.jsonl.part") + NGX_CAMPAIGN_EXECUTION_ID_LEN;

    p = ngx_pnalloc(run->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    run->path.data = p;
    run->path.len = ngx_sprintf(p, "%V/%*s.jsonl%Z", dir,
                                (size_t) NGX_CAMPAIGN_EXECUTION_ID_LEN, id)
                    - p - 1;

    if (from && from->snapshot) {
        run->fd = ngx_open_file(run->path.data, NGX_FILE_RDONLY,
                                NGX_FILE_OPEN, 0);

        if (run->fd == NGX_INVALID_FILE) {
            ngx_log_error(NGX_LOG_ERR, run->log, ngx_errno,
                          ngx_open_file_n " \"%V\" failed", &run->path);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (from) {

        /*
         * its snapshot was not whole: made again, nothing was sent; from
         * the audience's file, or else fetched again from its location
         */

        if (run->cmcf->audiences.len) {
            len = run->cmcf->audiences.len + sizeof("/.jsonl")
                  + run->audience_id.len;

            p = ngx_pnalloc(run->pool, len);
            if (p == NULL) {
                return NGX_ERROR;
            }

            (void) ngx_sprintf(p, "%V/%V.jsonl%Z", &run->cmcf->audiences,
                               &run->audience_id);

            run->source = ngx_open_file(p, NGX_FILE_RDONLY|NGX_FILE_NONBLOCK,
                                        NGX_FILE_OPEN, 0);

            if (run->source == NGX_INVALID_FILE
                && (ngx_errno != NGX_ENOENT
                    || run->cmcf->audience_source.len == 0))
            {
                ngx_log_error(NGX_LOG_ERR, run->log, ngx_errno,
                              ngx_open_file_n " \"%s\" failed", p);
                return NGX_ERROR;
            }
        }

        if (run->source == NGX_INVALID_FILE) {
            if (run->cmcf->audience_source.len == 0) {
                ngx_log_error(NGX_LOG_ERR, run->log, 0,
                              "campaign: audience \"%V\": neither "
                              "\"campaign_audiences\" nor "
                              "\"campaign_audience_source\" is set",
                              &run->audience_id);
                return NGX_ERROR;
            }

            if (ngx_campaign_fanout_located(run) != NGX_OK) {
                return NGX_ERROR;
            }
        }

    } else {
        run->source = run->fd;
        run->fd = NGX_INVALID_FILE;

        /* its owner is known before its journal is there */

        len = sizeof("aw:") - 1 + NGX_CAMPAIGN_EXECUTION_ID_LEN;

        p = ngx_pnalloc(run->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        key.data = p;
        key.len = ngx_cpymem(ngx_cpymem(p, "aw:", 3), id,
                             NGX_CAMPAIGN_EXECUTION_ID_LEN) - p;

        owner = ngx_campaign_store_counters(run->cmcf->store, &key,
                                            sizeof(*owner), run->log);
        if (owner == NULL) {
            ngx_log_error(NGX_LOG_ERR, run->log, 0,
                          "campaign: no room in campaign_zone for the "
                          "journal of audience execution %*s",
                          (size_t) NGX_CAMPAIGN_EXECUTION_ID_LEN, id);
            return NGX_ERROR;
        }

        owner->beat = ngx_time();
        owner->done = 0;
        owner->pid = ngx_pid;

        run->owner = owner;
    }

    /* DIR/<id>.jsonl.part */

    (void) ngx_cpystrn(run->path.data + run->path.len, (u_char *) ".part",
                       sizeof(".part"));

    run->fd = ngx_open_file(run->path.data, NGX_FILE_RDWR, NGX_FILE_TRUNCATE,
                            NGX_FILE_DEFAULT_ACCESS);

    run->path.data[run->path.len] = '\0';

    if (run->fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_CRIT, run->log, ngx_errno,
                      ngx_open_file_n " \"%V.part\" failed", &run->path);
        return NGX_ERROR;
    }

    run->copying = 1;
    run->source_offset = 0;

    ngx_campaign_fanout_journal(run, run->committed, 0);

    if (run->source == NGX_INVALID_FILE) {
        return ngx_campaign_fanout_fetch(run);
    }

    return NGX_OK;
}


/* one chunk of the audience into the snapshot; at its end, the rename */

static ngx_int_t
ngx_campaign_fanout_copy(ngx_campaign_fanout_t *run)
{
    ssize_t  n;

    n = pread(run->source, run->buf, NGX_CAMPAIGN_FANOUT_CHUNK,
              run->source_offset);

    if (n == -1) {
        ngx_log_error(NGX_LOG_ERR, run->log, ngx_errno,
                      "pread() of the audience \"%V\" failed",
                      &run->audience_id);
        return NGX_ERROR;
    }

    if (n > 0) {
        return ngx_campaign_fanout_sink(run, run->buf, n);
    }

    (void) ngx_close_file(run->source);
    run->source = NGX_INVALID_FILE;

    return ngx_campaign_fanout_whole(run);
}


/* the snapshot is whole: synced, then it has its name */

static ngx_int_t
ngx_campaign_fanout_whole(ngx_campaign_fanout_t *run)
{
    u_char  part[NGX_MAX_PATH];

    if (fsync(run->fd) == -1) {
        ngx_log_error(NGX_LOG_CRIT, run->log, ngx_errno,
                      "fsync() \"%V.part\" failed", &run->path);
        return NGX_ERROR;
    }

    (void) ngx_sprintf(part, "%V.part%Z", &run->path);

    if (ngx_rename_file(part, run->path.data) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_CRIT, run->log, ngx_errno,
                      ngx_rename_file_n " \"%s\" to \"%V\" failed",
                      part, &run->path);
        return NGX_ERROR;
    }

    run->copying = 0;
    run->offset = 0;

    ngx_log_error(NGX_LOG_INFO, run->log, 0,
                  "campaign: audience execution %*s: snapshot \"%V\" of "
                  "%O bytes", (size_t) NGX_CAMPAIGN_EXECUTION_ID_LEN,
                  run->record->status.id, &run->path, run->source_offset);

    ngx_campaign_fanout_journal(run, run->committed, 1);

    return NGX_OK;
}


/*
 * campaign_audience_source: the audience <id> is the answer of the
 * location URI<id>, streamed into the snapshot as it comes (a segment
 * export may be large): a GET subrequest of an execution of its own, whose
 * every buffer is written at once, and whose end does what the copy's end
 * does.  Until then the run waits, its tick does nothing.
 */

static ngx_int_t
ngx_campaign_fanout_located(ngx_campaign_fanout_t *run)
{
    u_char     *p;
    ngx_str_t  *uri;

    uri = &run->cmcf->audience_source;

    p = ngx_pnalloc(run->pool, uri->len + run->audience_id.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    run->source_uri.data = p;
    run->source_uri.len = ngx_sprintf(p, "%V%V", uri, &run->audience_id) - p;

    return NGX_OK;
}


static ngx_int_t
ngx_campaign_fanout_fetch(ngx_campaign_fanout_t *run)
{
    ngx_campaign_sr_t         *s;
    ngx_campaign_execution_t  *e;

    e = ngx_campaign_execution_create(run->log);
    if (e == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(e->id, run->record->status.id, NGX_CAMPAIGN_EXECUTION_ID_LEN);

    e->campaign = run->campaign;
    e->conf = run->conf;

    s = ngx_campaign_execution_fetch(e, &run->source_uri,
                                     ngx_campaign_fanout_fetched,
                                     ngx_campaign_fanout_sink, run);
    if (s == NULL) {
        ngx_campaign_execution_destroy(e);
        return NGX_ERROR;
    }

    run->fetching = 1;

    ngx_log_error(NGX_LOG_INFO, run->log, 0,
                  "campaign: audience execution %*s fetches its audience "
                  "from \"%V\"", (size_t) NGX_CAMPAIGN_EXECUTION_ID_LEN,
                  run->record->status.id, &run->source_uri);

    return NGX_OK;
}


/* a buffer of the audience (a file's, or an answer's) into the snapshot */

static ngx_int_t
ngx_campaign_fanout_sink(void *data, u_char *p, size_t len)
{
    ngx_campaign_fanout_t *run = data;

    ssize_t  w;

    while (len) {
        w = pwrite(run->fd, p, len, run->source_offset);

        if (w == -1) {
            if (ngx_errno == NGX_EINTR) {
                continue;
            }

            ngx_log_error(NGX_LOG_CRIT, run->log, ngx_errno,
                          "pwrite() \"%V.part\" failed", &run->path);
            return NGX_ERROR;
        }

        p += w;
        len -= w;
        run->source_offset += w;
    }

    return NGX_OK;
}


static void
ngx_campaign_fanout_fetched(ngx_campaign_sr_t *s)
{
    ngx_campaign_fanout_t *run = s->sink_data;

    run->fetching = 0;

    if (s->status != NGX_HTTP_OK) {
        ngx_log_error(NGX_LOG_ERR, run->log, 0,
                      "campaign: audience execution %*s: its audience "
                      "source \"%V\" answered %ui",
                      (size_t) NGX_CAMPAIGN_EXECUTION_ID_LEN,
                      run->record->status.id, &run->source_uri, s->status);
        run->failed = 1;

    } else if (s->unreadable) {
        ngx_log_error(NGX_LOG_ERR, run->log, 0,
                      "campaign: audience execution %*s: the answer of its "
                      "audience source \"%V\" is cut short or could not be "
                      "written, after %O bytes",
                      (size_t) NGX_CAMPAIGN_EXECUTION_ID_LEN,
                      run->record->status.id, &run->source_uri, s->received);
        run->failed = 1;

    } else if (ngx_campaign_fanout_whole(run) != NGX_OK) {
        run->failed = 1;
    }

    ngx_campaign_fanout_next(run);
}


/*
 * DIR/<id>.json: the execution, its counts and its cursor.  A journal
 * that cannot be written is logged; the execution goes on (it is only
 * resumed from an older point after a crash).
 */

static void
ngx_campaign_fanout_journal(ngx_campaign_fanout_t *run, ngx_uint_t *counts,
    ngx_uint_t snapshot)
{
    u_char                        name[NGX_CAMPAIGN_EXECUTION_ID_LEN + 8];
    ngx_uint_t                    i;
    ngx_pool_t                   *pool;
    ngx_campaign_out_t            o;
    ngx_campaign_fanout_status_t *st;

    st = &run->record->status;

    pool = ngx_create_pool(2048, run->log);
    if (pool == NULL) {
        return;
    }

    ngx_campaign_out_init(&o, pool, 1024 + run->context_text.len);
    ngx_campaign_out_literal(&o, "{\"executionId\":");
    ngx_campaign_out_string(&o, st->id, NGX_CAMPAIGN_EXECUTION_ID_LEN);
    ngx_campaign_out_literal(&o, ",\"campaignId\":");
    ngx_campaign_out_string(&o, st->campaign_id, st->campaign_id_len);
    ngx_campaign_out_literal(&o, ",\"audienceId\":");
    ngx_campaign_out_string(&o, st->audience_id, st->audience_id_len);
    ngx_campaign_out_literal(&o, ",\"requestId\":");
    ngx_campaign_out_string(&o, (u_char *) run->request_id,
                            ngx_strlen(run->request_id));
    ngx_campaign_out_literal(&o, ",\"api\":");
    ngx_campaign_out_string(&o, run->api.data, run->api.len);
    ngx_campaign_out_literal(&o, ",\"status\":\"");
    ngx_campaign_out_raw(&o,
                         (u_char *) ngx_campaign_fanout_states[st->state],
                         ngx_strlen(ngx_campaign_fanout_states[st->state]));
    ngx_campaign_out_literal(&o, "\",\"createdAt\":");
    ngx_campaign_out_uint(&o, st->created);
    ngx_campaign_out_literal(&o, ",\"startedAt\":");
    ngx_campaign_out_uint(&o, st->started);
    ngx_campaign_out_literal(&o, ",\"endedAt\":");
    ngx_campaign_out_uint(&o, st->ended);
    ngx_campaign_out_literal(&o, ",\"snapshot\":");

    if (snapshot) {
        ngx_campaign_out_literal(&o, "true");

    } else {
        ngx_campaign_out_literal(&o, "false");
    }

    ngx_campaign_out_literal(&o, ",\"line\":");
    ngx_campaign_out_uint(&o, run->cursor_line);
    ngx_campaign_out_literal(&o, ",\"position\":");
    ngx_campaign_out_uint(&o, run->cursor_position);
    ngx_campaign_out_literal(&o, ",\"counts\":[");

    for (i = 0; i < NGX_CAMPAIGN_FANOUT_NCOUNTS; i++) {
        if (i) {
            ngx_campaign_out_literal(&o, ",");
        }

        ngx_campaign_out_uint(&o, counts[i]);
    }

    ngx_campaign_out_literal(&o, "],\"context\":");

    if (run->context_text.len) {
        ngx_campaign_out_raw(&o, run->context_text.data,
                             run->context_text.len);

    } else {
        ngx_campaign_out_literal(&o, "null");
    }

    ngx_campaign_out_literal(&o, "}\n");

    if (!o.failed) {
        (void) ngx_sprintf(name, "%*s.json%Z",
                           (size_t) NGX_CAMPAIGN_EXECUTION_ID_LEN, st->id);

        (void) ngx_campaign_journal_write(&run->cmcf->journal, name, o.start,
                                          o.pos - o.start, run->log);
    }

    run->journaled = ngx_current_msec;

    ngx_destroy_pool(pool);
}


/* a journal, parsed; NGX_DECLINED when it is not one of ours */

static ngx_int_t
ngx_campaign_fanout_parse(ngx_pool_t *pool, ngx_str_t *text,
    ngx_campaign_fanout_journal_t *j)
{
    cJSON                         *root, *v, *n;
    size_t                         len;
    ngx_uint_t                     i;
    ngx_campaign_alloc_t           a;
    ngx_campaign_problems_t        problems;
    ngx_campaign_fanout_status_t  *st;

    ngx_memzero(j, sizeof(ngx_campaign_fanout_journal_t));
    st = &j->status;

    ngx_campaign_pool_alloc(&a, pool);
    ngx_memzero(&problems, sizeof(ngx_campaign_problems_t));

    if (ngx_campaign_trigger_parse_value(&a, text->data, text->len, 0, &root,
                                         &problems)
        != 0
        || !cJSON_IsObject(root))
    {
        return NGX_DECLINED;
    }

#define ngx_campaign_fanout_text(name, dst, max)                              \
    v = cJSON_GetObjectItemCaseSensitive(root, name);                         \
    if (!cJSON_IsString(v)) {                                                 \
        return NGX_DECLINED;                                                  \
    }                                                                         \
    len = ngx_strlen(v->valuestring);                                         \
    if (len > max) {                                                          \
        return NGX_DECLINED;                                                  \
    }                                                                         \
    dst = (u_char *) v->valuestring;

#define ngx_campaign_fanout_number(name, dst)                                 \
    v = cJSON_GetObjectItemCaseSensitive(root, name);                         \
    if (!cJSON_IsNumber(v) || v->valuedouble < 0) {                           \
        return NGX_DECLINED;                                                  \
    }                                                                         \
    dst = (uint64_t) v->valuedouble;

    {
        u_char  *s;

        ngx_campaign_fanout_text("executionId", s,
                                 NGX_CAMPAIGN_EXECUTION_ID_LEN);
        if (len != NGX_CAMPAIGN_EXECUTION_ID_LEN) {
            return NGX_DECLINED;
        }

        ngx_memcpy(st->id, s, len);

        ngx_campaign_fanout_text("campaignId", s, NGX_CAMPAIGN_FANOUT_ID_LEN);
        ngx_memcpy(st->campaign_id, s, len);
        st->campaign_id_len = len;

        ngx_campaign_fanout_text("audienceId", s, NGX_CAMPAIGN_FANOUT_ID_LEN);
        ngx_memcpy(st->audience_id, s, len);
        st->audience_id_len = len;

        ngx_campaign_fanout_text("requestId", s, 255);
        j->request_id.data = s;
        j->request_id.len = len;

        ngx_campaign_fanout_text("api", s, 4096);
        j->api.data = s;
        j->api.len = len;

        ngx_campaign_fanout_text("status", s, 16);

        for (i = 0; i <= NGX_CAMPAIGN_FANOUT_STOPPED; i++) {
            if (ngx_strcmp(s, ngx_campaign_fanout_states[i]) == 0) {
                break;
            }
        }

        if (i > NGX_CAMPAIGN_FANOUT_STOPPED) {
            return NGX_DECLINED;
        }

        st->state = i;
    }

    ngx_campaign_fanout_number("createdAt", st->created);
    ngx_campaign_fanout_number("startedAt", st->started);
    ngx_campaign_fanout_number("endedAt", st->ended);
    ngx_campaign_fanout_number("line", j->line);
    ngx_campaign_fanout_number("position", j->position);

    v = cJSON_GetObjectItemCaseSensitive(root, "snapshot");
    if (!cJSON_IsBool(v)) {
        return NGX_DECLINED;
    }

    j->snapshot = cJSON_IsTrue(v);

    /*
     * a journal written before "timed_out" was counted has two less, one
     * written before "invalid_address" one less
     */

    v = cJSON_GetObjectItemCaseSensitive(root, "counts");
    if (!cJSON_IsArray(v)
        || (cJSON_GetArraySize(v) != NGX_CAMPAIGN_FANOUT_NCOUNTS
            && cJSON_GetArraySize(v) != NGX_CAMPAIGN_FANOUT_INVALID_ADDRESS
            && cJSON_GetArraySize(v) != NGX_CAMPAIGN_FANOUT_TIMED_OUT))
    {
        return NGX_DECLINED;
    }

    i = 0;

    cJSON_ArrayForEach(n, v) {
        if (!cJSON_IsNumber(n) || n->valuedouble < 0) {
            return NGX_DECLINED;
        }

        st->counts[i++] = (ngx_uint_t) n->valuedouble;
    }

    v = cJSON_GetObjectItemCaseSensitive(root, "context");

    if (cJSON_IsObject(v)) {
        if (ngx_campaign_fanout_print(pool, v, &j->context) != NGX_OK) {
            return NGX_ERROR;
        }

    } else if (v && !cJSON_IsNull(v)) {
        return NGX_DECLINED;
    }

#undef ngx_campaign_fanout_text
#undef ngx_campaign_fanout_number

    return NGX_OK;
}


/* a context as compact JSON text, in pool */

ngx_int_t
ngx_campaign_fanout_print(ngx_pool_t *pool, cJSON *v, ngx_str_t *text)
{
    char                       *p;
    ngx_campaign_alloc_t        a;
    ngx_campaign_json_scope_t   scope;

    ngx_campaign_pool_alloc(&a, pool);
    ngx_campaign_json_enter(&scope, &a);

    p = cJSON_PrintUnformatted(v);

    if (ngx_campaign_json_leave(&scope) != 0 || p == NULL) {
        return NGX_ERROR;
    }

    text->data = (u_char *) p;
    text->len = ngx_strlen(p);

    return NGX_OK;
}


/* the batch being filled, as the journal sees it */

static ngx_campaign_fanout_slot_t *
ngx_campaign_fanout_slot(ngx_campaign_fanout_t *run)
{
    ngx_campaign_fanout_slot_t  *slot;

    if (run->fill) {
        return run->fill;
    }

    /* never full: a batch starts only when there is room for the next */

    slot = &run->slots[(run->first + run->nslots) % run->nslots_max];
    run->nslots++;

    ngx_memzero(slot, sizeof(ngx_campaign_fanout_slot_t));
    slot->line = run->cursor_line;
    slot->position = run->position;

    run->fill = slot;

    return slot;
}


static void
ngx_campaign_fanout_count(ngx_campaign_fanout_t *run, ngx_uint_t what,
    ngx_uint_t n)
{
    run->record->status.counts[what] += n;
    ngx_campaign_fanout_slot(run)->counts[what] += n;
}


/* the first batches that are done move the cursor over them */

static void
ngx_campaign_fanout_commit(ngx_campaign_fanout_t *run)
{
    ngx_uint_t                   i, moved;
    ngx_campaign_fanout_slot_t  *slot;

    moved = 0;

    while (run->nslots) {
        slot = &run->slots[run->first];

        if (!slot->done) {
            break;
        }

        for (i = 0; i < NGX_CAMPAIGN_FANOUT_NCOUNTS; i++) {
            run->committed[i] += slot->counts[i];
        }

        ngx_campaign_metrics_audience_recipients(run->campaign,
                                   &slot->counts[NGX_CAMPAIGN_FANOUT_SENT]);

        run->cursor_line = slot->line;
        run->cursor_position = slot->position;

        if (run->fill == slot) {
            run->fill = NULL;
        }

        run->first = (run->first + 1) % run->nslots_max;
        run->nslots--;
        moved = 1;
    }

    if (moved && run->journal && !run->copying
        && ngx_current_msec - run->journaled >= NGX_CAMPAIGN_FANOUT_JOURNAL)
    {
        ngx_campaign_fanout_journal(run, run->committed, 1);
    }
}


/*
 * The worker quits: the execution is left at its cursor, in the journal,
 * for a worker of the new generation, which takes it once it is released.
 */

static void
ngx_campaign_fanout_release(ngx_campaign_fanout_t *run)
{
    ngx_campaign_fanout_record_t  *rec;

    rec = run->record;

    ngx_campaign_fanout_commit(run);
    ngx_campaign_fanout_journal(run, run->committed, !run->copying);

    /* the others see the journal's counts until it goes on */

    ngx_memcpy(rec->status.counts, run->committed, sizeof(run->committed));
    ngx_campaign_fanout_mirror(run);

    ngx_log_error(NGX_LOG_NOTICE, run->log, 0,
                  "campaign: worker exits, audience execution %*s is left "
                  "in the journal at recipient %ui (line %ui)",
                  (size_t) NGX_CAMPAIGN_EXECUTION_ID_LEN, rec->status.id,
                  run->cursor_position, run->cursor_line);

    if (run->owner) {
        (void) ngx_atomic_cmp_set(&run->owner->pid, ngx_pid, 0);
    }

    ngx_campaign_fanout_close(run);

    ngx_queue_remove(&rec->queue);
    ngx_free(rec);

    ngx_destroy_pool(run->pool);
}


static void
ngx_campaign_fanout_close(ngx_campaign_fanout_t *run)
{
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

    if (run->source != NGX_INVALID_FILE) {
        (void) ngx_close_file(run->source);
        run->source = NGX_INVALID_FILE;
    }
}


/*
 * An execution of the journal that no live worker runs: taken, in the
 * zone, and run from its cursor.  NGX_OK when this worker took it.
 */

ngx_int_t
ngx_campaign_fanout_resume(ngx_campaign_main_conf_t *cmcf, u_char *id)
{
    u_char                         buf[sizeof("aw:") - 1
                                       + NGX_CAMPAIGN_EXECUTION_ID_LEN];
    u_char                         name[NGX_CAMPAIGN_EXECUTION_ID_LEN + 8];
    ngx_str_t                      key, text;
    ngx_pool_t                    *pool;
    ngx_atomic_uint_t              pid;
    ngx_campaign_t                *c;
    ngx_campaign_alloc_t           a;
    ngx_campaign_fanout_t         *run;
    ngx_campaign_problems_t        problems;
    ngx_campaign_loc_conf_t       *cplcf;
    ngx_campaign_fanout_owner_t   *owner;
    ngx_campaign_fanout_record_t   failed;
    ngx_campaign_fanout_journal_t  j;

    run = NULL;

    key.data = buf;
    key.len = ngx_cpymem(ngx_cpymem(buf, "aw:", 3), id,
                         NGX_CAMPAIGN_EXECUTION_ID_LEN) - buf;

    owner = ngx_campaign_store_counters_find(cmcf->store, &key,
                                             sizeof(*owner));

    if (owner) {
        pid = owner->pid;

        if (owner->done
            || (pid && (ngx_pid_t) pid != ngx_pid
                && ngx_campaign_journal_alive((ngx_pid_t) pid)))
        {
            return NGX_DECLINED;
        }
    }

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, ngx_cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_sprintf(name, "%s.json%Z", id);

    if (ngx_campaign_journal_read(&cmcf->journal, name, pool, &text,
                                  ngx_cycle->log)
        != NGX_OK
        || ngx_campaign_fanout_parse(pool, &text, &j) != NGX_OK
        || ngx_memcmp(j.status.id, id, NGX_CAMPAIGN_EXECUTION_ID_LEN) != 0)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "campaign_journal: \"%V/%s\" cannot be read as the "
                      "journal of an audience execution: it is left alone",
                      &cmcf->journal, name);
        j.status.state = NGX_CAMPAIGN_FANOUT_FAILED;
    }

    owner = ngx_campaign_store_counters(cmcf->store, &key, sizeof(*owner),
                                        ngx_cycle->log);

    if (owner == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    if (j.status.state != NGX_CAMPAIGN_FANOUT_IN_PROGRESS) {
        owner->done = 1;            /* not read again */
        ngx_destroy_pool(pool);
        return NGX_DECLINED;
    }

    pid = owner->pid;

    if ((pid && (ngx_pid_t) pid != ngx_pid
         && ngx_campaign_journal_alive((ngx_pid_t) pid))
        || !ngx_atomic_cmp_set(&owner->pid, pid, ngx_pid))
    {
        ngx_destroy_pool(pool);
        return NGX_DECLINED;
    }

    owner->beat = ngx_time();

    run = ngx_pcalloc(pool, sizeof(ngx_campaign_fanout_t));
    if (run == NULL) {
        goto failed;
    }

    run->pool = pool;
    run->log = ngx_cycle->log;
    run->fd = NGX_INVALID_FILE;
    run->source = NGX_INVALID_FILE;
    run->cmcf = cmcf;
    run->owner = owner;
    run->journal = 1;

    /* the API location of the same name, or the first there is */

    cplcf = ngx_campaign_fanout_api(cmcf, &j.api, &run->api);

    c = ngx_campaign_find(cmcf, j.status.campaign_id,
                          j.status.campaign_id_len);

    if (c == NULL || cplcf == NULL || cplcf->gateways == NULL
        || cplcf->gateways[c->channel].uri.len == 0)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "campaign_journal: audience execution %s cannot go "
                      "on: campaign \"%*s\" or its API location and "
                      "gateway are not in the configuration", id,
                      j.status.campaign_id_len, j.status.campaign_id);
        goto failed;
    }

    run->campaign = c;
    run->conf = cplcf;
    run->ctx = cplcf->ctx;

    run->request_id = (char *) j.request_id.data;
    run->audience_id.data = j.status.audience_id;
    run->audience_id.len = j.status.audience_id_len;

    if (j.context.len) {
        ngx_campaign_pool_alloc(&a, pool);
        ngx_memzero(&problems, sizeof(ngx_campaign_problems_t));

        if (ngx_campaign_trigger_parse_value(&a, j.context.data,
                                             j.context.len, 0, &run->context,
                                             &problems)
            != 0)
        {
            goto failed;
        }

        run->context_text = j.context;
    }

    if (ngx_campaign_fanout_setup(run, &j) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "campaign_journal: audience execution %s cannot go "
                      "on", id);
        goto failed;
    }

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "campaign: audience execution %s of \"%s\" goes on from "
                  "the journal at recipient %ui (line %ui)%s",
                  id, c->id, j.position, j.line,
                  j.snapshot ? "" : ", its snapshot made again");

    return NGX_OK;

failed:

    /* Failed in the journal: no worker tries it again */

    if (run) {
        ngx_campaign_fanout_close(run);

        if (run->request_id == NULL) {
            run->request_id = (char *) j.request_id.data;
        }

        /* the record of a run that did not start goes with the pool */

        ngx_memzero(&failed, sizeof(ngx_campaign_fanout_record_t));
        failed.status = j.status;
        failed.status.state = NGX_CAMPAIGN_FANOUT_FAILED;
        failed.status.ended = ngx_campaign_fanout_now();

        run->record = &failed;
        run->cursor_line = j.line;
        run->cursor_position = j.position;

        ngx_campaign_fanout_journal(run, failed.status.counts, j.snapshot);
        ngx_campaign_fanout_mirror(run);
    }

    owner->done = 1;
    owner->pid = 0;

    ngx_destroy_pool(pool);

    return NGX_DECLINED;
}


/* the heartbeat of this worker's executions */

void
ngx_campaign_fanout_beat(void)
{
    ngx_queue_t                   *q;
    ngx_campaign_fanout_record_t  *rec;

    if (!ngx_campaign_fanouts_init) {
        return;
    }

    for (q = ngx_queue_head(&ngx_campaign_fanouts);
         q != ngx_queue_sentinel(&ngx_campaign_fanouts);
         q = ngx_queue_next(q))
    {
        rec = ngx_queue_data(q, ngx_campaign_fanout_record_t, queue);

        if (rec->run && rec->run->owner) {
            rec->run->owner->beat = ngx_time();
        }
    }
}


ngx_uint_t
ngx_campaign_fanout_running(u_char *id)
{
    ngx_queue_t                   *q;
    ngx_campaign_fanout_record_t  *rec;

    if (!ngx_campaign_fanouts_init) {
        return 0;
    }

    for (q = ngx_queue_head(&ngx_campaign_fanouts);
         q != ngx_queue_sentinel(&ngx_campaign_fanouts);
         q = ngx_queue_next(q))
    {
        rec = ngx_queue_data(q, ngx_campaign_fanout_record_t, queue);

        if (rec->run
            && ngx_memcmp(rec->status.id, id, NGX_CAMPAIGN_EXECUTION_ID_LEN)
               == 0)
        {
            return 1;
        }
    }

    return 0;
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

        /* after a restart, the journal of one that ended before */

        if (!found && cmcf->journal.len) {
            found = (ngx_campaign_fanout_journaled(r, id, &st) == NGX_OK);
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
         i < NGX_CAMPAIGN_FANOUT_NCOUNTS;
         i++)
    {
        if (ngx_campaign_fanout_skips[i] == NULL) {
            continue;
        }

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
    ngx_campaign_out_literal(&o, "},\"rate\":");
    ngx_campaign_fanout_out_rate(&o, &st);
    ngx_campaign_out_literal(&o, "}");

    return ngx_campaign_send_json(r, NGX_HTTP_OK, NULL, &o);
}


/* the status as the journal DIR/<id>.json has it */

static ngx_int_t
ngx_campaign_fanout_journaled(ngx_http_request_t *r, ngx_str_t *id,
    ngx_campaign_fanout_status_t *st)
{
    u_char                         name[NGX_CAMPAIGN_EXECUTION_ID_LEN + 8];
    ngx_str_t                      text;
    ngx_campaign_main_conf_t      *cmcf;
    ngx_campaign_fanout_journal_t  j;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_campaign_module);

    (void) ngx_sprintf(name, "%V.json%Z", id);

    if (ngx_campaign_journal_read(&cmcf->journal, name, r->pool, &text,
                                  r->connection->log)
        != NGX_OK
        || ngx_campaign_fanout_parse(r->pool, &text, &j) != NGX_OK
        || ngx_memcmp(j.status.id, id->data, id->len) != 0)
    {
        return NGX_DECLINED;
    }

    *st = j.status;

    return NGX_OK;
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

        /* journaled: left at its cursor for the next worker to take */

        if (run->journal && !run->stopped && !run->failed) {
            ngx_campaign_fanout_commit(run);
            ngx_campaign_fanout_journal(run, run->committed, !run->copying);

            if (run->owner) {
                (void) ngx_atomic_cmp_set(&run->owner->pid, ngx_pid, 0);
            }

            ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                          "campaign: worker exits, audience execution %*s "
                          "is left in the journal at recipient %ui "
                          "(line %ui)", (size_t) NGX_CAMPAIGN_EXECUTION_ID_LEN,
                          rec->status.id, run->cursor_position,
                          run->cursor_line);
            continue;
        }

        rec->status.state = NGX_CAMPAIGN_FANOUT_FAILED;
        rec->status.ended = ngx_campaign_fanout_now();

        ngx_campaign_fanout_mirror(run);
        ngx_campaign_fanout_ended(run, NGX_CAMPAIGN_FANOUT_FAILED);

        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "campaign: worker exits, audience execution %*s "
                      "unfinished: %ui recipient(s) read, %ui sent",
                      (size_t) NGX_CAMPAIGN_EXECUTION_ID_LEN,
                      rec->status.id,
                      rec->status.counts[NGX_CAMPAIGN_FANOUT_TARGETED],
                      rec->status.counts[NGX_CAMPAIGN_FANOUT_SENT]);
    }
}


/* "2026-11-30T11:03:46.123Z", or null for 0: for the schedules too */

void
ngx_campaign_out_ms_time(ngx_campaign_out_t *o, uint64_t ms)
{
    ngx_campaign_fanout_out_time(o, ms);
}


/*
 * campaign_audience_max_duration: the time an execution has left, from
 * its startedAt (which a resumed execution keeps); NGX_MAX_INT32_VALUE
 * when it has no limit.
 */

static ngx_msec_t
ngx_campaign_fanout_time_left(ngx_campaign_fanout_t *run)
{
    uint64_t  now, deadline;

    if (run->cmcf->audience_max_duration == 0) {
        return NGX_MAX_INT32_VALUE;
    }

    now = ngx_campaign_fanout_now();
    deadline = run->record->status.started
               + run->cmcf->audience_max_duration;

    if (now >= deadline) {
        return 0;
    }

    return (ngx_msec_t) ngx_min(deadline - now, NGX_MAX_INT32_VALUE);
}


/*
 * Out of time: no other batch starts, the batches out settle, and the
 * rest of the audience is read without sending, so that the status
 * counts the recipients it did not reach as skipped "timed_out" (and the
 * lines it could not use as they are).  It ends Stopped, or Succeeded
 * when nobody was left.  NGX_DECLINED: nothing is left, the tick goes on.
 */

static ngx_int_t
ngx_campaign_fanout_time_out(ngx_campaign_fanout_t *run)
{
    ngx_campaign_fanout_status_t  *st;

    st = &run->record->status;

    if (!run->timed_out) {
        if (run->read && run->batch == NULL) {
            return NGX_DECLINED;
        }

        run->timed_out = 1;

        if (run->tick.timer_set) {
            ngx_del_timer(&run->tick);
        }

        ngx_log_error(NGX_LOG_INFO, run->log, 0,
                      "campaign: audience execution %*s of \"%s\" ran for "
                      "its campaign_audience_max_duration of %M ms: it "
                      "starts no other batch",
                      (size_t) NGX_CAMPAIGN_EXECUTION_ID_LEN, st->id,
                      run->campaign->id, run->cmcf->audience_max_duration);
    }

    if (run->batch) {
        ngx_campaign_fanout_count(run, NGX_CAMPAIGN_FANOUT_TIMED_OUT,
                                  run->batch->trigger.nrecipients);
        ngx_campaign_execution_destroy(run->batch);
        run->batch = NULL;
        run->ready = 0;
    }

    if (!run->read) {
        if (ngx_campaign_fanout_read(run) != NGX_OK) {
            run->failed = 1;
        }

        ngx_campaign_fanout_next(run);
        return NGX_OK;
    }

    if (run->running == 0) {
        ngx_campaign_fanout_finish(run,
                                   st->counts[NGX_CAMPAIGN_FANOUT_TIMED_OUT]
                                   ? NGX_CAMPAIGN_FANOUT_STOPPED
                                   : NGX_CAMPAIGN_FANOUT_SUCCEEDED);
    }

    return NGX_OK;
}


/*
 * "rate": the messages sent a second, from startedAt to endedAt, or to
 * now while it runs; one decimal, rounded.
 */

static void
ngx_campaign_fanout_out_rate(ngx_campaign_out_t *o,
    ngx_campaign_fanout_status_t *st)
{
    u_char    buf[NGX_INT64_LEN + 3], *p;
    uint64_t  end, ms, tenths;

    end = st->ended ? st->ended : ngx_campaign_fanout_now();
    ms = (end > st->started) ? end - st->started : 0;

    tenths = ms ? (st->counts[NGX_CAMPAIGN_FANOUT_SENT] * 20000 / ms + 1) / 2
                : 0;

    p = ngx_sprintf(buf, "%uL.%uL", tenths / 10, tenths % 10);

    ngx_campaign_out_raw(o, buf, p - buf);
}


/*
 * The metrics of executions in progress count each once, whichever
 * worker runs it: a new one, and one that a journal resumes after a
 * restart (the zone is new); not one resumed after a reload or a killed
 * worker, which its owner's record in the zone says is counted already.
 */

static void
ngx_campaign_fanout_hold(ngx_campaign_fanout_t *run)
{
    ngx_atomic_t  *places;

    run->counted = 1;

    if (run->owner && !ngx_atomic_cmp_set(&run->owner->counted, 0, 1)) {
        return;
    }

    /* its place among the running: taken when it was admitted, or now */

    if (run->reserved) {
        run->reserved = 0;

    } else {
        places = ngx_campaign_fanout_places(run->cmcf, run->log);
        (void) ngx_atomic_fetch_add(places, 1);
    }

    ngx_campaign_metrics_audience(run->campaign,
                                  NGX_CAMPAIGN_AUDIENCE_STARTED);
}


/* it ends: the counts not yet committed, and what became of it */

static void
ngx_campaign_fanout_ended(ngx_campaign_fanout_t *run,
    ngx_campaign_fanout_state_e state)
{
    ngx_uint_t     i, *counts, rest[NGX_CAMPAIGN_FANOUT_NCOUNTS];
    ngx_atomic_t  *places;

    counts = run->record->status.counts;

    for (i = 0; i < NGX_CAMPAIGN_FANOUT_NCOUNTS; i++) {
        rest[i] = counts[i] - run->committed[i];
        run->committed[i] = counts[i];
    }

    ngx_campaign_metrics_audience_recipients(run->campaign,
                                             &rest[NGX_CAMPAIGN_FANOUT_SENT]);

    if (!run->counted) {
        return;
    }

    run->counted = 0;

    if (run->owner) {
        run->owner->counted = 0;
    }

    places = ngx_campaign_fanout_places(run->cmcf, run->log);
    (void) ngx_atomic_fetch_add(places, (ngx_atomic_int_t) -1);

    ngx_campaign_metrics_audience(run->campaign,
                                  state == NGX_CAMPAIGN_FANOUT_SUCCEEDED
                                  ? NGX_CAMPAIGN_AUDIENCE_SUCCEEDED
                                  : state == NGX_CAMPAIGN_FANOUT_STOPPED
                                  ? NGX_CAMPAIGN_AUDIENCE_STOPPED
                                  : NGX_CAMPAIGN_AUDIENCE_FAILED);
}


/*
 * campaign_audience_max_running: the executions in progress, of every
 * worker, are counted in the zone ("ar"), or in this worker without one;
 * a new execution takes a place if there is one, or is refused with 429.
 * A resumed execution takes its place whatever the count: it was let in.
 */

static ngx_int_t
ngx_campaign_fanout_admit(ngx_http_request_t *r, ngx_campaign_fanout_t *run,
    ngx_int_t *answer)
{
    u_char              *p;
    ngx_atomic_t        *places;
    ngx_table_elt_t     *h;
    ngx_atomic_uint_t    n;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(run->pool, 0);
    if (cln == NULL) {
        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto refused;
    }

    places = ngx_campaign_fanout_places(run->cmcf, run->log);

    for ( ;; ) {
        n = *places;

        if ((ngx_atomic_int_t) n >= (ngx_atomic_int_t)
                                    run->cmcf->audience_max_running)
        {
            break;
        }

        if (ngx_atomic_cmp_set(places, n, n + 1)) {
            run->reserved = 1;
            cln->handler = ngx_campaign_fanout_unreserve;
            cln->data = run;
            return NGX_OK;
        }
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "campaign: an audience execution of \"%s\" is refused: "
                  "%ui are running, campaign_audience_max_running",
                  run->campaign->id, run->cmcf->audience_max_running);

    h = ngx_list_push(&r->headers_out.headers);
    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);

    if (h == NULL || p == NULL) {
        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto refused;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Retry-After");
    h->value.data = p;
    h->value.len = ngx_sprintf(p, "%d", 60) - p;

    *answer = ngx_campaign_send_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                      "too many audience executions are "
                                      "running", "",
                                      "campaign_audience_max_running are "
                                      "running; retry after the time in "
                                      "Retry-After");

refused:

    /* nothing started: a repeat of the call may start it later */

    if (run->claim) {
        ngx_campaign_store_release(run->cmcf->store, &run->claim_key);
        run->claim = NULL;
    }

    return NGX_DECLINED;
}


/* an execution admitted that does not start gives its place back */

static void
ngx_campaign_fanout_unreserve(void *data)
{
    ngx_campaign_fanout_t *run = data;

    ngx_atomic_t  *places;

    if (run->reserved) {
        run->reserved = 0;
        places = ngx_campaign_fanout_places(run->cmcf, run->log);
        (void) ngx_atomic_fetch_add(places, (ngx_atomic_int_t) -1);
    }
}


static ngx_atomic_t *
ngx_campaign_fanout_places(ngx_campaign_main_conf_t *cmcf, ngx_log_t *log)
{
    ngx_str_t      key;
    ngx_atomic_t  *places;

    static ngx_atomic_t   local;
    static ngx_atomic_t  *zone;

    if (cmcf->store == NULL) {
        return &local;
    }

    if (zone == NULL) {
        ngx_str_set(&key, "ar");

        places = ngx_campaign_store_counters(cmcf->store, &key,
                                             sizeof(ngx_atomic_t), log);
        if (places == NULL) {
            return &local;
        }

        zone = places;
    }

    return zone;
}


/*
 * The journal's scan takes up an execution here.  One that its journal
 * cannot take on (its campaign or API location gone in a reload) is
 * Failed there, still counted as running by the worker that left it:
 * its place and its gauge are given back, and the copy of its status in
 * the zone, which the worker that left it wrote last, says Failed too.
 */

ngx_int_t
ngx_campaign_fanout_take(ngx_campaign_main_conf_t *cmcf, u_char *id)
{
    u_char                         buf[sizeof("aw:") - 1
                                       + NGX_CAMPAIGN_EXECUTION_ID_LEN];
    ngx_int_t                      rc;
    ngx_str_t                      key;
    ngx_campaign_t                *c;
    ngx_campaign_fanout_owner_t   *owner;
    ngx_campaign_fanout_status_t  *st;

    rc = ngx_campaign_fanout_resume(cmcf, id);

    if (rc == NGX_OK || cmcf->store == NULL) {
        return rc;
    }

    key.data = buf;
    key.len = ngx_cpymem(ngx_cpymem(buf, "aw:", 3), id,
                         NGX_CAMPAIGN_EXECUTION_ID_LEN) - buf;

    owner = ngx_campaign_store_counters_find(cmcf->store, &key,
                                             sizeof(*owner));

    if (owner == NULL || !owner->done
        || !ngx_atomic_cmp_set(&owner->counted, 1, 0))
    {
        return rc;
    }

    (void) ngx_atomic_fetch_add(ngx_campaign_fanout_places(cmcf,
                                                           ngx_cycle->log),
                                (ngx_atomic_int_t) -1);

    key.len = ngx_cpymem(ngx_cpymem(buf, "a:", 2), id,
                         NGX_CAMPAIGN_EXECUTION_ID_LEN) - buf;

    st = ngx_campaign_store_counters_find(cmcf->store, &key, sizeof(*st));

    if (st && st->state == NGX_CAMPAIGN_FANOUT_IN_PROGRESS) {
        st->ended = ngx_campaign_fanout_now();
        st->state = NGX_CAMPAIGN_FANOUT_FAILED;
    }

    /* its campaign, as its status names it, if it is still there */

    if (st && st->campaign_id_len <= NGX_CAMPAIGN_FANOUT_ID_LEN) {
        c = ngx_campaign_find(cmcf, st->campaign_id, st->campaign_id_len);

        if (c) {
            ngx_campaign_metrics_audience(c, NGX_CAMPAIGN_AUDIENCE_FAILED);
        }
    }

    return rc;
}
