
/*
 * Copyright (C) ngx_campaign developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_campaign_module.h"


/*
 * Scheduled audience executions: "POST executions/audience" with
 * schedule.executeAt in the future keeps the call, and an execution
 * starts at that time.
 *
 * A schedule is a file of the journal, DIR/<scheduleId>.schedule, written
 * whole and renamed as the journal's files are: it survives reloads and
 * restarts.  Its state is also in the zone ("as:<scheduleId>"), where one
 * compare-and-swap decides between firing it and cancelling it, and
 * between two workers that would fire it: it fires once.
 *
 * Each worker keeps the list of schedules in memory and reads the files
 * again only when the zone's count of schedule changes has moved; the
 * journal's scan asks once a second for the ones that are due.
 *
 * A schedule whose time passed while nginx was down fires when it starts,
 * unless it is older than campaign_schedule_grace: then it is Missed.
 *
 * The schedule's file says Triggered, with the executionId, before the
 * execution starts; a worker that dies in between leaves a schedule
 * Triggered whose execution has no journal: another worker (or the next
 * start) starts it under the same executionId, so that its messages keep
 * their Idempotency-Keys.
 */


#define NGX_CAMPAIGN_SCHEDULED   0
#define NGX_CAMPAIGN_TRIGGERED   1
#define NGX_CAMPAIGN_CANCELLED   2
#define NGX_CAMPAIGN_MISSED      3
#define NGX_CAMPAIGN_UNFIRED     4            /* it could not start */

/*
 * In the zone only: being fired by the worker of pid (state - FIRING).
 * A worker that dies while it fires leaves it so; another one sees the
 * pid gone and fires it again.
 */
#define NGX_CAMPAIGN_FIRING      16

#define NGX_CAMPAIGN_SCHEDULES_MAX  1000
#define NGX_CAMPAIGN_SCHEDULE_SUFFIX  ".schedule"


typedef struct {
    ngx_atomic_t                 state;
} ngx_campaign_schedule_shared_t;


typedef struct {
    u_char                       id[NGX_CAMPAIGN_EXECUTION_ID_LEN];
    uint64_t                     execute_at;  /* ms */
    ngx_uint_t                   state;
} ngx_campaign_schedule_entry_t;


/* a schedule, as its file has it */

typedef struct {
    ngx_str_t                    id;
    ngx_str_t                    campaign_id;
    ngx_str_t                    audience_id;
    ngx_str_t                    request_id;
    ngx_str_t                    api;
    ngx_str_t                    context;     /* JSON text, or empty */
    ngx_str_t                    execution_id;
    ngx_str_t                    reason;
    uint64_t                     execute_at;
    uint64_t                     created;
    ngx_uint_t                   state;
} ngx_campaign_schedule_t;


static ngx_int_t ngx_campaign_schedule_write(ngx_campaign_main_conf_t *cmcf,
    ngx_campaign_schedule_t *s, ngx_pool_t *pool, ngx_log_t *log);
static ngx_int_t ngx_campaign_schedule_read(ngx_campaign_main_conf_t *cmcf,
    u_char *id, ngx_pool_t *pool, ngx_campaign_schedule_t *s,
    ngx_log_t *log);
static void ngx_campaign_schedule_out(ngx_campaign_out_t *o,
    ngx_campaign_schedule_t *s);
static ngx_campaign_schedule_shared_t *ngx_campaign_schedule_shared(
    ngx_campaign_main_conf_t *cmcf, u_char *id, ngx_log_t *log);
static ngx_atomic_t *ngx_campaign_schedule_generation(
    ngx_campaign_main_conf_t *cmcf, ngx_log_t *log);
static void ngx_campaign_schedule_changed(ngx_campaign_main_conf_t *cmcf,
    ngx_log_t *log);
static ngx_int_t ngx_campaign_schedule_load(ngx_campaign_main_conf_t *cmcf,
    ngx_log_t *log);
static void ngx_campaign_schedule_fire(ngx_campaign_main_conf_t *cmcf,
    ngx_campaign_schedule_entry_t *entry, ngx_log_t *log);
static ngx_int_t ngx_campaign_schedule_id(ngx_str_t *id);
static ngx_int_t ngx_campaign_schedule_next(ngx_dir_t *dir, u_char *name);
static ngx_uint_t ngx_campaign_schedule_lost(ngx_campaign_main_conf_t *cmcf,
    ngx_campaign_schedule_t *s);
static uint64_t ngx_campaign_schedule_now(void);
static int ngx_libc_cdecl ngx_campaign_schedule_cmp(const void *one,
    const void *two);


static const char  *ngx_campaign_schedule_states[] = {
    "Scheduled", "Triggered", "Cancelled", "Missed", "Failed"
};


static ngx_array_t        *ngx_campaign_schedules;   /* entries */
static ngx_pool_t         *ngx_campaign_schedules_pool;
static ngx_atomic_uint_t   ngx_campaign_schedules_generation;
static ngx_uint_t          ngx_campaign_schedules_loaded;


/*
 * "2026-12-01T09:00:00Z", "2026-12-01T09:00:00.250+01:00": RFC 3339, as
 * ms since the epoch; NGX_ERROR when it is not one.
 */

ngx_int_t
ngx_campaign_schedule_time(u_char *p, size_t len, uint64_t *ms)
{
    u_char      *last;
    int64_t      days, secs, y, m, d, hh, mm, ss, frac, off, era, yoe, doy;
    ngx_uint_t   digits;

    last = p + len;

#define ngx_campaign_digits(n, v)                                            \
    v = 0;                                                                    \
    for (digits = 0; digits < n; digits++) {                                  \
        if (p == last || *p < '0' || *p > '9') {                              \
            return NGX_ERROR;                                                 \
        }                                                                     \
        v = v * 10 + (*p++ - '0');                                            \
    }

#define ngx_campaign_char(c)                                                 \
    if (p == last || (*p | 0x20) != (c | 0x20)) {                             \
        return NGX_ERROR;                                                     \
    }                                                                         \
    p++;

    ngx_campaign_digits(4, y);
    ngx_campaign_char('-');
    ngx_campaign_digits(2, m);
    ngx_campaign_char('-');
    ngx_campaign_digits(2, d);
    ngx_campaign_char('t');
    ngx_campaign_digits(2, hh);
    ngx_campaign_char(':');
    ngx_campaign_digits(2, mm);
    ngx_campaign_char(':');
    ngx_campaign_digits(2, ss);

    frac = 0;

    if (p < last && *p == '.') {
        p++;

        for (digits = 0; p < last && *p >= '0' && *p <= '9'; digits++, p++) {
            if (digits < 3) {
                frac = frac * 10 + (*p - '0');
            }
        }

        if (digits == 0) {
            return NGX_ERROR;
        }

        for ( /* void */ ; digits < 3; digits++) {
            frac *= 10;
        }
    }

    if (p == last) {
        return NGX_ERROR;
    }

    if ((*p | 0x20) == 'z') {
        p++;
        off = 0;

    } else if (*p == '+' || *p == '-') {
        int64_t  oh, om, sign;

        sign = (*p++ == '-') ? -1 : 1;

        ngx_campaign_digits(2, oh);
        ngx_campaign_char(':');
        ngx_campaign_digits(2, om);

        if (oh > 23 || om > 59) {
            return NGX_ERROR;
        }

        off = sign * (oh * 3600 + om * 60);

    } else {
        return NGX_ERROR;
    }

#undef ngx_campaign_digits
#undef ngx_campaign_char

    if (p != last || y < 1970 || m < 1 || m > 12 || d < 1 || d > 31
        || hh > 23 || mm > 59 || ss > 60)
    {
        return NGX_ERROR;
    }

    /* the day of the month exists */

    if (d > 30 && (m == 4 || m == 6 || m == 9 || m == 11)) {
        return NGX_ERROR;
    }

    if (m == 2 && d > 28 + ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) {
        return NGX_ERROR;
    }

    /* days since 1970-01-01 of a proleptic Gregorian date */

    y -= (m <= 2);
    era = y / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    days = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;

    secs = days * 86400 + hh * 3600 + mm * 60 + ss - off;

    if (secs < 0) {
        return NGX_ERROR;
    }

    *ms = (uint64_t) secs * 1000 + frac;

    return NGX_OK;
}


/*
 * The audience call of fanout.c, its schedule in the future: kept, and
 * answered 202 with the schedule.  The answer is in o.
 */

ngx_int_t
ngx_campaign_schedule_create(ngx_http_request_t *r,
    ngx_campaign_fanout_call_t *call, ngx_campaign_out_t *o)
{
    u_char                           id[NGX_CAMPAIGN_EXECUTION_ID_LEN + 1];
    ngx_dir_t                        dir;
    ngx_uint_t                       n;
    ngx_campaign_schedule_t          s;
    ngx_campaign_main_conf_t        *cmcf;
    ngx_campaign_schedule_shared_t  *shared;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_campaign_module);

    /* a bound on the files a listing reads */

    n = 0;

    if (ngx_open_dir(&cmcf->journal, &dir) == NGX_OK) {
        while (ngx_campaign_schedule_next(&dir, id) == NGX_OK) {
            n++;
        }

        (void) ngx_close_dir(&dir);
    }

    if (n >= NGX_CAMPAIGN_SCHEDULES_MAX) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "campaign: %ui schedules in campaign_journal, a new "
                      "one is refused", n);
        return NGX_DECLINED;
    }

    ngx_campaign_execution_id(id);

    ngx_memzero(&s, sizeof(ngx_campaign_schedule_t));

    s.id.data = id;
    s.id.len = NGX_CAMPAIGN_EXECUTION_ID_LEN;
    s.campaign_id = call->campaign_id;
    s.audience_id = call->audience_id;
    s.request_id = call->request_id;
    s.api = call->api;
    s.context = call->context;
    s.execute_at = call->execute_at;
    s.created = ngx_campaign_schedule_now();
    s.state = NGX_CAMPAIGN_SCHEDULED;

    shared = ngx_campaign_schedule_shared(cmcf, id, r->connection->log);
    if (shared == NULL) {
        return NGX_ERROR;
    }

    shared->state = NGX_CAMPAIGN_SCHEDULED;

    if (ngx_campaign_schedule_write(cmcf, &s, r->pool, r->connection->log)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_campaign_schedule_changed(cmcf, r->connection->log);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "campaign: audience execution of \"%V\" scheduled: %V",
                  &s.campaign_id, &s.id);

    ngx_campaign_out_init(o, r->pool, 512);
    ngx_campaign_schedule_out(o, &s);

    return o->failed ? NGX_ERROR : NGX_OK;
}


/* GET executions/schedules[?campaignId=], GET and DELETE .../{id} */

ngx_int_t
ngx_campaign_schedule_handler(ngx_http_request_t *r, ngx_str_t *id)
{
    u_char                           name[NGX_CAMPAIGN_EXECUTION_ID_LEN + 1];
    ngx_int_t                        rc;
    ngx_str_t                        cid;
    ngx_uint_t                       i, j, scope;
    ngx_dir_t                        dir;
    ngx_array_t                      list, *patterns;
    ngx_campaign_out_t               o;
    ngx_campaign_schedule_t          s, *item;
    ngx_campaign_main_conf_t        *cmcf;
    ngx_campaign_schedule_shared_t  *shared;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_campaign_module);

    if (id == NULL) {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return ngx_campaign_not_allowed(r, "GET, HEAD");
        }

    } else if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_DELETE))) {
        return ngx_campaign_not_allowed(r, "GET, HEAD, DELETE");
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (cmcf->journal.len == 0) {
        if (id) {
            return ngx_campaign_send_error(r, NGX_HTTP_NOT_FOUND,
                                           "unknown schedule", "",
                                           "no schedule has this id");
        }

        ngx_campaign_out_init(&o, r->pool, 32);
        ngx_campaign_out_literal(&o, "{\"schedules\":[]}");

        return ngx_campaign_send_json(r, NGX_HTTP_OK, NULL, &o);
    }

    if (id == NULL) {
        goto list;
    }

    if (ngx_campaign_schedule_id(id) != NGX_OK) {
        return ngx_campaign_send_error(r, NGX_HTTP_NOT_FOUND,
                                       "unknown schedule", "",
                                       "no schedule has this id");
    }

    ngx_memcpy(name, id->data, id->len);
    name[id->len] = '\0';

    rc = ngx_campaign_schedule_read(cmcf, name, r->pool, &s,
                                    r->connection->log);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_campaign_send_error(r, NGX_HTTP_NOT_FOUND,
                                       "unknown schedule", "",
                                       "no schedule has this id");
    }

    /* a key sees and cancels the schedules of its campaigns only */

    scope = (r->method == NGX_HTTP_DELETE) ? NGX_CAMPAIGN_SCOPE_TRIGGER
                                           : NGX_CAMPAIGN_SCOPE_READ;

    if (ngx_campaign_keys_check(r, scope, &s.campaign_id, &rc) != NGX_OK) {
        return rc;
    }

    if (r->method != NGX_HTTP_DELETE) {
        ngx_campaign_out_init(&o, r->pool, 512);
        ngx_campaign_schedule_out(&o, &s);

        return ngx_campaign_send_json(r, NGX_HTTP_OK, NULL, &o);
    }

    /* cancelled only before it fires: the zone decides */

    shared = ngx_campaign_schedule_shared(cmcf, name, r->connection->log);
    if (shared == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (s.state != NGX_CAMPAIGN_SCHEDULED
        || !ngx_atomic_cmp_set(&shared->state, NGX_CAMPAIGN_SCHEDULED,
                               NGX_CAMPAIGN_CANCELLED))
    {
        return ngx_campaign_send_error(r, NGX_HTTP_CONFLICT,
                                       "the schedule cannot be cancelled", "",
                                       "it has fired, or was cancelled, or "
                                       "was missed");
    }

    s.state = NGX_CAMPAIGN_CANCELLED;

    if (ngx_campaign_schedule_write(cmcf, &s, r->pool, r->connection->log)
        != NGX_OK)
    {
        /* the zone says cancelled: it does not fire while nginx runs */
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_campaign_schedule_changed(cmcf, r->connection->log);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "campaign: schedule %V of \"%V\" cancelled",
                  &s.id, &s.campaign_id);

    ngx_campaign_out_init(&o, r->pool, 8);
    ngx_campaign_out_literal(&o, "{}");

    return ngx_campaign_send_json(r, NGX_HTTP_OK, NULL, &o);

list:

    cid.len = 0;

    if (r->args.len
        && ngx_http_arg(r, (u_char *) "campaignId", sizeof("campaignId") - 1,
                        &cid)
           == NGX_OK)
    {
        for (i = 0; i < cid.len; i++) {
            if (!((cid.data[i] >= 'a' && cid.data[i] <= 'z')
                  || (cid.data[i] >= 'A' && cid.data[i] <= 'Z')
                  || (cid.data[i] >= '0' && cid.data[i] <= '9')
                  || cid.data[i] == '-' || cid.data[i] == '_'
                  || cid.data[i] == '.'))
            {
                return ngx_campaign_send_error(r, NGX_HTTP_BAD_REQUEST,
                                               "the request is invalid",
                                               "campaignId",
                                               "must be a campaign id");
            }
        }
    }

    patterns = ngx_campaign_keys_patterns(r, NGX_CAMPAIGN_SCOPE_READ);

    if (ngx_array_init(&list, r->pool, 16, sizeof(ngx_campaign_schedule_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_open_dir(&cmcf->journal, &dir) == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                      ngx_open_dir_n " \"%V\" failed", &cmcf->journal);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (j = 0;
         j < NGX_CAMPAIGN_SCHEDULES_MAX
         && ngx_campaign_schedule_next(&dir, name) == NGX_OK;
         j++)
    {
        if (ngx_campaign_schedule_read(cmcf, name, r->pool, &s,
                                       r->connection->log)
            != NGX_OK)
        {
            continue;
        }

        if ((cid.len && (cid.len != s.campaign_id.len
                         || ngx_strncmp(cid.data, s.campaign_id.data,
                                        cid.len) != 0))
            || !ngx_campaign_keys_match(patterns, &s.campaign_id))
        {
            continue;
        }

        item = ngx_array_push(&list);
        if (item == NULL) {
            (void) ngx_close_dir(&dir);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *item = s;
    }

    (void) ngx_close_dir(&dir);

    ngx_qsort(list.elts, list.nelts, sizeof(ngx_campaign_schedule_t),
              ngx_campaign_schedule_cmp);

    ngx_campaign_out_init(&o, r->pool, 256 + 384 * list.nelts);
    ngx_campaign_out_literal(&o, "{\"schedules\":[");

    item = list.elts;

    for (i = 0; i < list.nelts; i++) {
        if (i) {
            ngx_campaign_out_literal(&o, ",");
        }

        ngx_campaign_schedule_out(&o, &item[i]);
    }

    ngx_campaign_out_literal(&o, "]}");

    return ngx_campaign_send_json(r, NGX_HTTP_OK, NULL, &o);
}


static int ngx_libc_cdecl
ngx_campaign_schedule_cmp(const void *one, const void *two)
{
    const ngx_campaign_schedule_t  *a = one;
    const ngx_campaign_schedule_t  *b = two;

    if (a->execute_at != b->execute_at) {
        return (a->execute_at < b->execute_at) ? -1 : 1;
    }

    return ngx_memcmp(a->id.data, b->id.data, NGX_CAMPAIGN_EXECUTION_ID_LEN);
}


/*
 * From the journal's scan, once a second: the schedules that are due
 * fire, each in one worker.
 */

void
ngx_campaign_schedule_due(ngx_campaign_main_conf_t *cmcf, ngx_log_t *log)
{
    uint64_t                        now;
    ngx_uint_t                      i;
    ngx_atomic_t                   *gen;
    ngx_campaign_schedule_entry_t  *entry;

    gen = ngx_campaign_schedule_generation(cmcf, log);
    if (gen == NULL) {
        return;
    }

    if (!ngx_campaign_schedules_loaded
        || *gen != ngx_campaign_schedules_generation)
    {
        ngx_campaign_schedules_generation = *gen;

        if (ngx_campaign_schedule_load(cmcf, log) != NGX_OK) {
            return;
        }

        ngx_campaign_schedules_loaded = 1;
    }

    now = ngx_campaign_schedule_now();
    entry = ngx_campaign_schedules->elts;

    for (i = 0; i < ngx_campaign_schedules->nelts; i++) {
        if (entry[i].state == NGX_CAMPAIGN_SCHEDULED
            && entry[i].execute_at <= now)
        {
            ngx_campaign_schedule_fire(cmcf, &entry[i], log);
        }
    }
}


/* the worker's list, from the files */

static ngx_int_t
ngx_campaign_schedule_load(ngx_campaign_main_conf_t *cmcf, ngx_log_t *log)
{
    u_char                           name[NGX_CAMPAIGN_EXECUTION_ID_LEN + 1];
    ngx_dir_t                        dir;
    ngx_uint_t                       n;
    ngx_pool_t                      *pool, *scratch;
    ngx_array_t                     *list;
    ngx_campaign_schedule_t          s;
    ngx_campaign_schedule_entry_t   *entry;
    ngx_campaign_schedule_shared_t  *shared;

    pool = ngx_create_pool(4096, log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    scratch = NULL;

    list = ngx_array_create(pool, 16, sizeof(ngx_campaign_schedule_entry_t));
    if (list == NULL) {
        goto failed;
    }

    if (ngx_open_dir(&cmcf->journal, &dir) == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_open_dir_n " \"%V\" failed", &cmcf->journal);
        goto failed;
    }

    for (n = 0;
         n < NGX_CAMPAIGN_SCHEDULES_MAX
         && ngx_campaign_schedule_next(&dir, name) == NGX_OK;
         n++)
    {
        /* a pool per file: cJSON's trees leave cleanups in it */

        if (scratch) {
            ngx_destroy_pool(scratch);
        }

        scratch = ngx_create_pool(4096, log);
        if (scratch == NULL) {
            (void) ngx_close_dir(&dir);
            goto failed;
        }

        if (ngx_campaign_schedule_read(cmcf, name, scratch, &s, log)
            != NGX_OK)
        {
            continue;
        }

        /* after a restart, the zone learns what the files say */

        if (s.state != NGX_CAMPAIGN_SCHEDULED
            && !ngx_campaign_schedule_lost(cmcf, &s))
        {
            shared = ngx_campaign_schedule_shared(cmcf, name, log);

            if (shared) {
                (void) ngx_atomic_cmp_set(&shared->state,
                                          NGX_CAMPAIGN_SCHEDULED, s.state);
            }

            continue;
        }

        entry = ngx_array_push(list);
        if (entry == NULL) {
            (void) ngx_close_dir(&dir);
            goto failed;
        }

        ngx_memcpy(entry->id, name, NGX_CAMPAIGN_EXECUTION_ID_LEN);
        entry->execute_at = s.execute_at;
        entry->state = NGX_CAMPAIGN_SCHEDULED;  /* or lost: fire() knows */
    }

    (void) ngx_close_dir(&dir);

    if (scratch) {
        ngx_destroy_pool(scratch);
    }

    if (ngx_campaign_schedules_pool) {
        ngx_destroy_pool(ngx_campaign_schedules_pool);
    }

    ngx_campaign_schedules_pool = pool;
    ngx_campaign_schedules = list;

    return NGX_OK;

failed:

    if (scratch) {
        ngx_destroy_pool(scratch);
    }

    ngx_destroy_pool(pool);

    return NGX_ERROR;
}


static void
ngx_campaign_schedule_fire(ngx_campaign_main_conf_t *cmcf,
    ngx_campaign_schedule_entry_t *entry, ngx_log_t *log)
{
    u_char                           name[NGX_CAMPAIGN_EXECUTION_ID_LEN + 1];
    u_char                           eid[NGX_CAMPAIGN_EXECUTION_ID_LEN];
    ngx_str_t                        reason;
    ngx_pid_t                        pid;
    ngx_pool_t                      *pool;
    ngx_atomic_uint_t                state;
    ngx_campaign_schedule_t          s;
    ngx_campaign_fanout_call_t       call;
    ngx_campaign_schedule_shared_t  *shared;

    ngx_memcpy(name, entry->id, NGX_CAMPAIGN_EXECUTION_ID_LEN);
    name[NGX_CAMPAIGN_EXECUTION_ID_LEN] = '\0';

    shared = ngx_campaign_schedule_shared(cmcf, name, log);
    if (shared == NULL) {
        return;
    }

    /*
     * One worker fires it, and only if nobody cancelled it; a worker that
     * died while it fired it leaves it to the others.
     */

    state = shared->state;

    if (state >= NGX_CAMPAIGN_FIRING) {
        pid = (ngx_pid_t) (state - NGX_CAMPAIGN_FIRING);

        if (pid == ngx_pid || ngx_campaign_journal_alive(pid)) {
            return;
        }

    } else if (state != NGX_CAMPAIGN_SCHEDULED) {
        entry->state = state;
        return;
    }

    if (!ngx_atomic_cmp_set(&shared->state, state,
                            NGX_CAMPAIGN_FIRING + (ngx_atomic_uint_t) ngx_pid))
    {
        return;
    }

    entry->state = NGX_CAMPAIGN_TRIGGERED;

    pool = ngx_create_pool(4096, log);
    if (pool == NULL) {
        shared->state = state;
        return;
    }

    if (ngx_campaign_schedule_read(cmcf, name, pool, &s, log) != NGX_OK) {
        shared->state = NGX_CAMPAIGN_UNFIRED;
        ngx_destroy_pool(pool);
        return;
    }

    if (s.state != NGX_CAMPAIGN_SCHEDULED) {

        /* fired, and its execution lost with the worker that fired it */

        if (ngx_campaign_schedule_lost(cmcf, &s)) {
            ngx_memcpy(eid, s.execution_id.data,
                       NGX_CAMPAIGN_EXECUTION_ID_LEN);

            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "campaign: schedule %V of \"%V\": its audience "
                          "execution %*s has no journal, it starts again",
                          &s.id, &s.campaign_id,
                          (size_t) NGX_CAMPAIGN_EXECUTION_ID_LEN, eid);
            goto start;
        }

        shared->state = s.state;
        ngx_destroy_pool(pool);
        return;
    }

    if (ngx_campaign_schedule_now() - s.execute_at
        > (uint64_t) cmcf->schedule_grace * 1000)
    {
        shared->state = NGX_CAMPAIGN_MISSED;
        s.state = NGX_CAMPAIGN_MISSED;

        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "campaign: schedule %V of \"%V\" is missed: its time "
                      "passed more than campaign_schedule_grace ago",
                      &s.id, &s.campaign_id);
        goto done;
    }

    /* the schedule says Triggered, with the executionId, first */

    ngx_campaign_execution_id(eid);

    s.execution_id.data = eid;
    s.execution_id.len = NGX_CAMPAIGN_EXECUTION_ID_LEN;
    s.state = NGX_CAMPAIGN_TRIGGERED;

    if (ngx_campaign_schedule_write(cmcf, &s, pool, log) != NGX_OK) {
        shared->state = NGX_CAMPAIGN_UNFIRED;
        goto changed;
    }

start:

    ngx_memzero(&call, sizeof(ngx_campaign_fanout_call_t));

    call.campaign_id = s.campaign_id;
    call.audience_id = s.audience_id;
    call.request_id = s.request_id.len ? s.request_id : s.id;
    call.api = s.api;
    call.context = s.context;

    reason.len = 0;

    if (ngx_campaign_fanout_start(cmcf, &call, eid, &reason) == NGX_OK) {
        shared->state = NGX_CAMPAIGN_TRIGGERED;

        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "campaign: schedule %V of \"%V\" fired: audience "
                      "execution %*s", &s.id, &s.campaign_id,
                      (size_t) NGX_CAMPAIGN_EXECUTION_ID_LEN, eid);
        goto changed;
    }

    shared->state = NGX_CAMPAIGN_UNFIRED;
    s.state = NGX_CAMPAIGN_UNFIRED;
    s.execution_id.len = 0;
    s.reason = reason;

    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "campaign: schedule %V of \"%V\" could not start: %V",
                  &s.id, &s.campaign_id, &reason);

done:

    (void) ngx_campaign_schedule_write(cmcf, &s, pool, log);

changed:

    ngx_campaign_schedule_changed(cmcf, log);

    ngx_destroy_pool(pool);
}


static ngx_int_t
ngx_campaign_schedule_write(ngx_campaign_main_conf_t *cmcf,
    ngx_campaign_schedule_t *s, ngx_pool_t *pool, ngx_log_t *log)
{
    u_char              name[NGX_CAMPAIGN_EXECUTION_ID_LEN
                             + sizeof(NGX_CAMPAIGN_SCHEDULE_SUFFIX)];
    ngx_campaign_out_t  o;

    ngx_campaign_out_init(&o, pool, 1024 + s->context.len);
    ngx_campaign_out_literal(&o, "{\"scheduleId\":");
    ngx_campaign_out_string(&o, s->id.data, s->id.len);
    ngx_campaign_out_literal(&o, ",\"campaignId\":");
    ngx_campaign_out_string(&o, s->campaign_id.data, s->campaign_id.len);
    ngx_campaign_out_literal(&o, ",\"audienceId\":");
    ngx_campaign_out_string(&o, s->audience_id.data, s->audience_id.len);
    ngx_campaign_out_literal(&o, ",\"requestId\":");
    ngx_campaign_out_string(&o, s->request_id.data, s->request_id.len);
    ngx_campaign_out_literal(&o, ",\"api\":");
    ngx_campaign_out_string(&o, s->api.data, s->api.len);
    ngx_campaign_out_literal(&o, ",\"executeAt\":");
    ngx_campaign_out_uint(&o, s->execute_at);
    ngx_campaign_out_literal(&o, ",\"createdAt\":");
    ngx_campaign_out_uint(&o, s->created);
    ngx_campaign_out_literal(&o, ",\"scheduleStatus\":\"");
    ngx_campaign_out_raw(&o, (u_char *) ngx_campaign_schedule_states[s->state],
                         ngx_strlen(ngx_campaign_schedule_states[s->state]));
    ngx_campaign_out_literal(&o, "\",\"executionId\":");
    ngx_campaign_out_string(&o, s->execution_id.data, s->execution_id.len);
    ngx_campaign_out_literal(&o, ",\"reason\":");
    ngx_campaign_out_string(&o, s->reason.data, s->reason.len);
    ngx_campaign_out_literal(&o, ",\"context\":");

    if (s->context.len) {
        ngx_campaign_out_raw(&o, s->context.data, s->context.len);

    } else {
        ngx_campaign_out_literal(&o, "null");
    }

    ngx_campaign_out_literal(&o, "}\n");

    if (o.failed) {
        return NGX_ERROR;
    }

    (void) ngx_sprintf(name, "%V" NGX_CAMPAIGN_SCHEDULE_SUFFIX "%Z", &s->id);

    return ngx_campaign_journal_write(&cmcf->journal, name, o.start,
                                      o.pos - o.start, log);
}


/* NGX_DECLINED: there is no such schedule, or it is not one */

static ngx_int_t
ngx_campaign_schedule_read(ngx_campaign_main_conf_t *cmcf, u_char *id,
    ngx_pool_t *pool, ngx_campaign_schedule_t *s, ngx_log_t *log)
{
    u_char                   name[NGX_CAMPAIGN_EXECUTION_ID_LEN
                                  + sizeof(NGX_CAMPAIGN_SCHEDULE_SUFFIX)];
    cJSON                   *root, *v;
    ngx_int_t                rc;
    ngx_str_t                text, *field;
    ngx_uint_t               i;
    ngx_campaign_alloc_t     a;
    ngx_campaign_problems_t  problems;

    static const char  *names[] = {
        "scheduleId", "campaignId", "audienceId", "requestId", "api",
        "executionId", "reason"
    };

    (void) ngx_sprintf(name, "%s" NGX_CAMPAIGN_SCHEDULE_SUFFIX "%Z", id);

    rc = ngx_campaign_journal_read(&cmcf->journal, name, pool, &text, log);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_memzero(s, sizeof(ngx_campaign_schedule_t));

    ngx_campaign_pool_alloc(&a, pool);
    ngx_memzero(&problems, sizeof(ngx_campaign_problems_t));

    if (ngx_campaign_trigger_parse_value(&a, text.data, text.len, 0, &root,
                                         &problems)
        != 0
        || !cJSON_IsObject(root))
    {
        goto invalid;
    }

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        field = (i == 0) ? &s->id
              : (i == 1) ? &s->campaign_id
              : (i == 2) ? &s->audience_id
              : (i == 3) ? &s->request_id
              : (i == 4) ? &s->api
              : (i == 5) ? &s->execution_id
              : &s->reason;

        v = cJSON_GetObjectItemCaseSensitive(root, names[i]);

        if (!cJSON_IsString(v)) {
            goto invalid;
        }

        field->data = (u_char *) v->valuestring;
        field->len = ngx_strlen(v->valuestring);
    }

    if (s->id.len != NGX_CAMPAIGN_EXECUTION_ID_LEN
        || ngx_memcmp(s->id.data, id, NGX_CAMPAIGN_EXECUTION_ID_LEN) != 0
        || s->campaign_id.len == 0 || s->audience_id.len == 0)
    {
        goto invalid;
    }

    v = cJSON_GetObjectItemCaseSensitive(root, "executeAt");
    if (!cJSON_IsNumber(v) || v->valuedouble < 0) {
        goto invalid;
    }

    s->execute_at = (uint64_t) v->valuedouble;

    v = cJSON_GetObjectItemCaseSensitive(root, "createdAt");
    if (!cJSON_IsNumber(v) || v->valuedouble < 0) {
        goto invalid;
    }

    s->created = (uint64_t) v->valuedouble;

    v = cJSON_GetObjectItemCaseSensitive(root, "scheduleStatus");
    if (!cJSON_IsString(v)) {
        goto invalid;
    }

    for (i = 0; i <= NGX_CAMPAIGN_UNFIRED; i++) {
        if (ngx_strcmp(v->valuestring, ngx_campaign_schedule_states[i]) == 0)
        {
            break;
        }
    }

    if (i > NGX_CAMPAIGN_UNFIRED) {
        goto invalid;
    }

    s->state = i;

    v = cJSON_GetObjectItemCaseSensitive(root, "context");

    if (cJSON_IsObject(v)) {
        if (ngx_campaign_fanout_print(pool, v, &s->context) != NGX_OK) {
            return NGX_ERROR;
        }

    } else if (v && !cJSON_IsNull(v)) {
        goto invalid;
    }

    return NGX_OK;

invalid:

    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "campaign_journal: \"%V/%s\" is not a schedule: it is "
                  "left alone", &cmcf->journal, name);

    return NGX_DECLINED;
}


static void
ngx_campaign_schedule_out(ngx_campaign_out_t *o, ngx_campaign_schedule_t *s)
{
    ngx_campaign_out_literal(o, "{\"scheduleId\":");
    ngx_campaign_out_string(o, s->id.data, s->id.len);
    ngx_campaign_out_literal(o, ",\"campaignId\":");
    ngx_campaign_out_string(o, s->campaign_id.data, s->campaign_id.len);
    ngx_campaign_out_literal(o, ",\"audience\":{\"id\":");
    ngx_campaign_out_string(o, s->audience_id.data, s->audience_id.len);
    ngx_campaign_out_literal(o, "},\"executeAt\":");
    ngx_campaign_out_ms_time(o, s->execute_at);
    ngx_campaign_out_literal(o, ",\"scheduleStatus\":\"");
    ngx_campaign_out_raw(o, (u_char *) ngx_campaign_schedule_states[s->state],
                         ngx_strlen(ngx_campaign_schedule_states[s->state]));
    ngx_campaign_out_literal(o, "\"");

    if (s->execution_id.len) {
        ngx_campaign_out_literal(o, ",\"executionId\":");
        ngx_campaign_out_string(o, s->execution_id.data,
                                s->execution_id.len);
    }

    if (s->reason.len) {
        ngx_campaign_out_literal(o, ",\"reason\":");
        ngx_campaign_out_string(o, s->reason.data, s->reason.len);
    }

    ngx_campaign_out_literal(o, ",\"createdAt\":");
    ngx_campaign_out_ms_time(o, s->created);
    ngx_campaign_out_literal(o, "}");
}


static ngx_campaign_schedule_shared_t *
ngx_campaign_schedule_shared(ngx_campaign_main_conf_t *cmcf, u_char *id,
    ngx_log_t *log)
{
    u_char     buf[sizeof("as:") - 1 + NGX_CAMPAIGN_EXECUTION_ID_LEN];
    ngx_str_t  key;

    key.data = buf;
    key.len = ngx_cpymem(ngx_cpymem(buf, "as:", 3), id,
                         NGX_CAMPAIGN_EXECUTION_ID_LEN) - buf;

    return ngx_campaign_store_counters(cmcf->store, &key,
                                       sizeof(ngx_campaign_schedule_shared_t),
                                       log);
}


static ngx_atomic_t *
ngx_campaign_schedule_generation(ngx_campaign_main_conf_t *cmcf,
    ngx_log_t *log)
{
    static ngx_str_t  key = ngx_string("sg");

    return ngx_campaign_store_counters(cmcf->store, &key,
                                       sizeof(ngx_atomic_t), log);
}


/* every worker reads the schedules again */

static void
ngx_campaign_schedule_changed(ngx_campaign_main_conf_t *cmcf, ngx_log_t *log)
{
    ngx_atomic_t  *gen;

    gen = ngx_campaign_schedule_generation(cmcf, log);

    if (gen) {
        (void) ngx_atomic_fetch_add(gen, 1);
    }
}


/*
 * Triggered, within campaign_schedule_grace of its time, and its
 * execution has no journal: the worker that fired it died first.
 */

static ngx_uint_t
ngx_campaign_schedule_lost(ngx_campaign_main_conf_t *cmcf,
    ngx_campaign_schedule_t *s)
{
    u_char           path[NGX_MAX_PATH];
    ngx_file_info_t  fi;

    if (s->state != NGX_CAMPAIGN_TRIGGERED
        || s->execution_id.len != NGX_CAMPAIGN_EXECUTION_ID_LEN
        || ngx_campaign_schedule_now() - s->execute_at
           > (uint64_t) cmcf->schedule_grace * 1000
        || cmcf->journal.len + NGX_CAMPAIGN_EXECUTION_ID_LEN + 8
           > NGX_MAX_PATH)
    {
        return 0;
    }

    (void) ngx_sprintf(path, "%V/%V.json%Z", &cmcf->journal,
                       &s->execution_id);

    return ngx_file_info(path, &fi) == NGX_FILE_ERROR
           && ngx_errno == NGX_ENOENT;
}


/* the next schedule of the journal: NGX_OK with its id in name */

static ngx_int_t
ngx_campaign_schedule_next(ngx_dir_t *dir, u_char *name)
{
    for ( ;; ) {
        if (ngx_read_dir(dir) == NGX_ERROR) {
            return NGX_DONE;
        }

        if (ngx_de_namelen(dir) == NGX_CAMPAIGN_EXECUTION_ID_LEN
                                   + sizeof(NGX_CAMPAIGN_SCHEDULE_SUFFIX) - 1
            && ngx_strcmp(ngx_de_name(dir) + NGX_CAMPAIGN_EXECUTION_ID_LEN,
                          NGX_CAMPAIGN_SCHEDULE_SUFFIX) == 0)
        {
            ngx_memcpy(name, ngx_de_name(dir), NGX_CAMPAIGN_EXECUTION_ID_LEN);
            name[NGX_CAMPAIGN_EXECUTION_ID_LEN] = '\0';

            return NGX_OK;
        }
    }
}


/* a UUID's text: hex digits and dashes */

static ngx_int_t
ngx_campaign_schedule_id(ngx_str_t *id)
{
    ngx_uint_t  i;

    if (id->len != NGX_CAMPAIGN_EXECUTION_ID_LEN) {
        return NGX_ERROR;
    }

    for (i = 0; i < id->len; i++) {
        if (!((id->data[i] >= '0' && id->data[i] <= '9')
              || (id->data[i] >= 'a' && id->data[i] <= 'f')
              || id->data[i] == '-'))
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static uint64_t
ngx_campaign_schedule_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}
