
/*
 * Copyright (C) ngx_campaign developers
 */


#ifndef _NGX_CAMPAIGN_LIMITS_H_INCLUDED_
#define _NGX_CAMPAIGN_LIMITS_H_INCLUDED_


#include <stdint.h>

#include <cjson/cJSON.h>

#include "ngx_campaign_definition.h"


/*
 * The arithmetic of sending limits, apart from where their state lives:
 * a campaign's throttle (a token bucket) and the calendar windows of
 * frequency caps.  Pure integer functions: the caller owns the state (in
 * shared memory, under its lock) and gives the time.
 */


#define NGX_CAMPAIGN_THROTTLE_MAX        2000     /* messages per second */
#define NGX_CAMPAIGN_BURST_MAX           100000
#define NGX_CAMPAIGN_CAP_MAX             1000000  /* messages per window */
#define NGX_CAMPAIGN_EVERY_MAX           1000     /* units per window */

/* a token is this many milli-tokens: rate tokens/s is rate milli/ms */
#define NGX_CAMPAIGN_BUCKET_SCALE        1000


/*
 * A token bucket.  Fixed-size integers only, so that it can sit in shared
 * memory as is.  A zeroed bucket is full as soon as the clock has run
 * burst / rate seconds past 0; ngx_campaign_bucket_init() fills it now.
 */

typedef struct {
    uint64_t                     tokens;     /* milli-tokens */
    uint64_t                     last;       /* ms of the last refill */
} ngx_campaign_bucket_t;


typedef enum {
    NGX_CAMPAIGN_BUCKET_OK = 0,      /* n tokens taken */
    NGX_CAMPAIGN_BUCKET_WAIT,        /* none taken: *wait_ms until n are */
    NGX_CAMPAIGN_BUCKET_NEVER        /* none taken: n is more than burst */
} ngx_campaign_bucket_rc_e;


void ngx_campaign_bucket_init(ngx_campaign_bucket_t *b, uint64_t burst,
    uint64_t now_ms);

/*
 * Takes n tokens from a bucket that gains rate tokens per second up to
 * burst, or none.  A clock that goes back counts as no time passing, and
 * the time it went back is waited for again before tokens accrue (no time
 * is credited twice).  *wait_ms (with NGX_CAMPAIGN_BUCKET_WAIT) is the
 * shortest wait after which the same take succeeds if nothing else takes.
 */

ngx_campaign_bucket_rc_e ngx_campaign_bucket_take(ngx_campaign_bucket_t *b,
    uint64_t rate, uint64_t burst, uint64_t n, uint64_t now_ms,
    uint64_t *wait_ms);


/* the calendar windows of frequency caps, all in UTC */

typedef enum {
    NGX_CAMPAIGN_WINDOW_HOUR = 0,
    NGX_CAMPAIGN_WINDOW_DAY,
    NGX_CAMPAIGN_WINDOW_WEEK,
    NGX_CAMPAIGN_WINDOW_MONTH
} ngx_campaign_window_e;


/*
 * The window of "every" units that holds the instant now (seconds since
 * the Unix epoch): [start, end).  Windows are blocks of every units
 * counted from a fixed origin, so every instant belongs to exactly one
 * and all workers and restarts agree on it:
 *
 *   hour   blocks of every hours from 1970-01-01T00:00:00Z;
 *   day    blocks of every days from 1970-01-01;
 *   week   ISO weeks (Monday 00:00 to Monday 00:00), blocks of every weeks
 *          from Monday 1970-01-05;
 *   month  calendar months, blocks of every months from January 1970.
 *
 * every is at least 1.
 */

int64_t ngx_campaign_window_start(int64_t now, ngx_campaign_window_e unit,
    uint64_t every);
int64_t ngx_campaign_window_end(int64_t now, ngx_campaign_window_e unit,
    uint64_t every);

const char *ngx_campaign_window_name(ngx_campaign_window_e unit);


/*
 * A frequency rule: at most max messages per recipient on the channels
 * within each window, as written
 * {"channel": "email", "max": 3, "window": "day", "every": 2}.
 */

#define NGX_CAMPAIGN_CHANNELS_ALL  ((1u << NGX_CAMPAIGN_CHANNEL_COUNT) - 1)

typedef struct {
    unsigned                     channels;   /* 1 << ngx_campaign_channel_e */
    unsigned                     max;
    ngx_campaign_window_e        window;
    unsigned                     every;
} ngx_campaign_limits_rule_t;


/*
 * Parses a rule object.  Mistakes are reported as campaign files report
 * theirs (file, the field as path.key, line and column 0: the caller can
 * locate the field); returns their number, 0 when the rule is valid.
 */

size_t ngx_campaign_limits_rule_parse(const cJSON *obj, const char *file,
    const char *path, ngx_campaign_limits_rule_t *rule,
    ngx_campaign_definition_error_pt error, void *data);


#endif /* _NGX_CAMPAIGN_LIMITS_H_INCLUDED_ */
