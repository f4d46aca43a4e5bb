
/*
 * Copyright (C) ngx_campaign developers
 */


#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ngx_campaign_limits.h"


#define NGX_CAMPAIGN_HOUR            3600
#define NGX_CAMPAIGN_DAY             86400
#define NGX_CAMPAIGN_WEEK            (7 * NGX_CAMPAIGN_DAY)

/* Monday 1970-01-05T00:00:00Z, the first ISO week start after the epoch */
#define NGX_CAMPAIGN_FIRST_MONDAY    (4 * NGX_CAMPAIGN_DAY)

#define NGX_CAMPAIGN_LIMITS_PATH_LEN   256
#define NGX_CAMPAIGN_LIMITS_MSG_LEN    512
#define NGX_CAMPAIGN_LIMITS_QUOTE_LEN  64


typedef struct {
    const char                        *file;
    const char                        *path;
    ngx_campaign_definition_error_pt   error;
    void                              *data;
    size_t                             nerrors;
} ngx_campaign_limits_ctx_t;


static int64_t ngx_campaign_limits_floor_div(int64_t a, int64_t b);
static int64_t ngx_campaign_limits_month_start(int64_t month);
static int64_t ngx_campaign_limits_month_of(int64_t now);
static uint64_t ngx_campaign_limits_every(uint64_t every);
static const cJSON *ngx_campaign_limits_member(ngx_campaign_limits_ctx_t *ctx,
    const cJSON *obj, const char *key, int type, int required);
static int ngx_campaign_limits_integer(ngx_campaign_limits_ctx_t *ctx,
    const cJSON *obj, const char *key, int required, unsigned min,
    unsigned max, unsigned *v);
static int ngx_campaign_limits_enum(ngx_campaign_limits_ctx_t *ctx,
    const cJSON *obj, const char *key, const char *const *names);
static void ngx_campaign_limits_report(ngx_campaign_limits_ctx_t *ctx,
    const char *key, const char *fmt, ...);


static const char  *ngx_campaign_window_names[] = {
    "hour", "day", "week", "month", NULL
};


/* indexed by ngx_campaign_channel_e, then "any" */

static const char  *ngx_campaign_rule_channels[] = {
    "email", "sms", "push", "any", NULL
};


static const char  *ngx_campaign_rule_keys[] = {
    "channel", "max", "window", "every", NULL
};


void
ngx_campaign_bucket_init(ngx_campaign_bucket_t *b, uint64_t burst,
    uint64_t now_ms)
{
    b->tokens = burst * NGX_CAMPAIGN_BUCKET_SCALE;
    b->last = now_ms;
}


ngx_campaign_bucket_rc_e
ngx_campaign_bucket_take(ngx_campaign_bucket_t *b, uint64_t rate,
    uint64_t burst, uint64_t n, uint64_t now_ms, uint64_t *wait_ms)
{
    uint64_t  cap, need, elapsed;

    *wait_ms = 0;

    if (n > burst) {
        return NGX_CAMPAIGN_BUCKET_NEVER;
    }

    cap = burst * NGX_CAMPAIGN_BUCKET_SCALE;
    need = n * NGX_CAMPAIGN_BUCKET_SCALE;

    /* the burst may have shrunk since (a reload) */

    if (b->tokens > cap) {
        b->tokens = cap;
    }

    if (now_ms > b->last) {
        elapsed = now_ms - b->last;

        /*
         * rate tokens per second is exactly rate milli-tokens per ms:
         * no rounding, no drift; a gap long enough to fill the bucket
         * is not multiplied, so no gap overflows
         */

        if (rate == 0) {
            /* void */

        } else if (elapsed > cap / rate) {
            b->tokens = cap;

        } else {
            b->tokens += elapsed * rate;

            if (b->tokens > cap) {
                b->tokens = cap;
            }
        }

        b->last = now_ms;
    }

    if (b->tokens >= need) {
        b->tokens -= need;
        return NGX_CAMPAIGN_BUCKET_OK;
    }

    if (rate == 0) {
        return NGX_CAMPAIGN_BUCKET_NEVER;
    }

    *wait_ms = (need - b->tokens + rate - 1) / rate;

    /* a clock gone back must first catch up with the last refill */

    if (b->last > now_ms) {
        *wait_ms += b->last - now_ms;
    }

    return NGX_CAMPAIGN_BUCKET_WAIT;
}


int64_t
ngx_campaign_window_start(int64_t now, ngx_campaign_window_e unit,
    uint64_t every)
{
    int64_t  len, month;

    every = ngx_campaign_limits_every(every);

    switch (unit) {

    case NGX_CAMPAIGN_WINDOW_HOUR:
        len = NGX_CAMPAIGN_HOUR * (int64_t) every;
        return ngx_campaign_limits_floor_div(now, len) * len;

    case NGX_CAMPAIGN_WINDOW_DAY:
        len = NGX_CAMPAIGN_DAY * (int64_t) every;
        return ngx_campaign_limits_floor_div(now, len) * len;

    case NGX_CAMPAIGN_WINDOW_WEEK:
        len = NGX_CAMPAIGN_WEEK * (int64_t) every;
        return NGX_CAMPAIGN_FIRST_MONDAY
               + ngx_campaign_limits_floor_div(now - NGX_CAMPAIGN_FIRST_MONDAY,
                                               len) * len;

    default: /* NGX_CAMPAIGN_WINDOW_MONTH */
        month = ngx_campaign_limits_month_of(now);
        month = ngx_campaign_limits_floor_div(month, (int64_t) every)
                * (int64_t) every;
        return ngx_campaign_limits_month_start(month);
    }
}


int64_t
ngx_campaign_window_end(int64_t now, ngx_campaign_window_e unit,
    uint64_t every)
{
    int64_t  month;

    every = ngx_campaign_limits_every(every);

    switch (unit) {

    case NGX_CAMPAIGN_WINDOW_HOUR:
        return ngx_campaign_window_start(now, unit, every)
               + NGX_CAMPAIGN_HOUR * (int64_t) every;

    case NGX_CAMPAIGN_WINDOW_DAY:
        return ngx_campaign_window_start(now, unit, every)
               + NGX_CAMPAIGN_DAY * (int64_t) every;

    case NGX_CAMPAIGN_WINDOW_WEEK:
        return ngx_campaign_window_start(now, unit, every)
               + NGX_CAMPAIGN_WEEK * (int64_t) every;

    default: /* NGX_CAMPAIGN_WINDOW_MONTH */
        month = ngx_campaign_limits_month_of(now);
        month = ngx_campaign_limits_floor_div(month, (int64_t) every)
                * (int64_t) every;
        return ngx_campaign_limits_month_start(month + (int64_t) every);
    }
}


const char *
ngx_campaign_window_name(ngx_campaign_window_e unit)
{
    if ((unsigned) unit > NGX_CAMPAIGN_WINDOW_MONTH) {
        return "unknown";
    }

    return ngx_campaign_window_names[unit];
}


/* out of range multipliers are taken as the nearest one allowed */

static uint64_t
ngx_campaign_limits_every(uint64_t every)
{
    if (every < 1) {
        return 1;
    }

    if (every > NGX_CAMPAIGN_EVERY_MAX) {
        return NGX_CAMPAIGN_EVERY_MAX;
    }

    return every;
}


/* division rounding toward minus infinity, b > 0: instants before 1970 */

static int64_t
ngx_campaign_limits_floor_div(int64_t a, int64_t b)
{
    int64_t  q;

    q = a / b;

    if (a % b < 0) {
        q--;
    }

    return q;
}


/*
 * The month of an instant, counted from January 1970 (0).  The civil
 * date of a day number, in 400-year eras of 146097 days whose years start
 * on March 1st, so that February, and its leap day, comes last.
 */

static int64_t
ngx_campaign_limits_month_of(int64_t now)
{
    int64_t  days, era, doe, yoe, doy, mp, year, month;

    days = ngx_campaign_limits_floor_div(now, NGX_CAMPAIGN_DAY) + 719468;

    era = ngx_campaign_limits_floor_div(days, 146097);
    doe = days - era * 146097;                            /* 0..146096 */
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);        /* 0..365 */
    mp = (5 * doy + 2) / 153;                             /* 0: March */

    month = (mp < 10) ? mp + 3 : mp - 9;                  /* 1..12 */
    year = era * 400 + yoe + (month <= 2);

    return (year - 1970) * 12 + month - 1;
}


/* the instant the month (counted from January 1970) starts */

static int64_t
ngx_campaign_limits_month_start(int64_t month)
{
    int64_t  y, m, era, yoe, doy, doe;

    y = 1970 + ngx_campaign_limits_floor_div(month, 12);
    m = month - ngx_campaign_limits_floor_div(month, 12) * 12 + 1;

    /* the year from March: January and February end the year before */

    y -= (m <= 2);

    era = ngx_campaign_limits_floor_div(y, 400);
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return (era * 146097 + doe - 719468) * NGX_CAMPAIGN_DAY;
}


size_t
ngx_campaign_limits_rule_parse(const cJSON *obj, const char *file,
    const char *path, ngx_campaign_limits_rule_t *rule,
    ngx_campaign_definition_error_pt error, void *data)
{
    int                         v;
    unsigned                    n;
    const cJSON                *item, *prev;
    const char *const          *k;
    ngx_campaign_limits_ctx_t   ctx;

    ctx.file = file;
    ctx.path = path;
    ctx.error = error;
    ctx.data = data;
    ctx.nerrors = 0;

    memset(rule, 0, sizeof(ngx_campaign_limits_rule_t));

    if (!cJSON_IsObject(obj)) {
        ngx_campaign_limits_report(&ctx, NULL,
                                   "must be an object (a frequency rule), "
                                   "found %s",
                                   cJSON_IsArray(obj) ? "array"
                                   : cJSON_IsString(obj) ? "string"
                                   : cJSON_IsNumber(obj) ? "number"
                                   : cJSON_IsBool(obj) ? "boolean"
                                   : "null");
        return ctx.nerrors;
    }

    for (item = obj->child; item != NULL; item = item->next) {

        for (prev = obj->child; prev != item; prev = prev->next) {
            if (strcmp(prev->string, item->string) == 0) {
                ngx_campaign_limits_report(&ctx, item->string,
                                           "duplicate key");
                break;
            }
        }

        if (prev != item
            || item->string[0] == '_' || item->string[0] == '$')
        {
            continue;
        }

        for (k = ngx_campaign_rule_keys; *k != NULL; k++) {
            if (strcmp(*k, item->string) == 0) {
                break;
            }
        }

        if (*k == NULL) {
            ngx_campaign_limits_report(&ctx, item->string,
                                       "unknown key (allowed: channel, max, "
                                       "window, every)");
        }
    }

    /* the channel ("any" when left out) */

    rule->channels = NGX_CAMPAIGN_CHANNELS_ALL;

    if (cJSON_GetObjectItemCaseSensitive(obj, "channel") != NULL) {
        v = ngx_campaign_limits_enum(&ctx, obj, "channel",
                                     ngx_campaign_rule_channels);
        if (v >= 0 && v < NGX_CAMPAIGN_CHANNEL_COUNT) {
            rule->channels = 1u << v;
        }
    }

    if (ngx_campaign_limits_integer(&ctx, obj, "max", 1, 1,
                                    NGX_CAMPAIGN_CAP_MAX, &n))
    {
        rule->max = n;
    }

    if (ngx_campaign_limits_member(&ctx, obj, "window", cJSON_String, 1)) {
        v = ngx_campaign_limits_enum(&ctx, obj, "window",
                                     ngx_campaign_window_names);
        if (v >= 0) {
            rule->window = (ngx_campaign_window_e) v;
        }
    }

    rule->every = 1;

    if (ngx_campaign_limits_integer(&ctx, obj, "every", 0, 1,
                                    NGX_CAMPAIGN_EVERY_MAX, &n))
    {
        rule->every = n;
    }

    return ctx.nerrors;
}


/* the member of the type, NULL when absent (reported if required) or not */

static const cJSON *
ngx_campaign_limits_member(ngx_campaign_limits_ctx_t *ctx, const cJSON *obj,
    const char *key, int type, int required)
{
    const cJSON  *item;

    item = cJSON_GetObjectItemCaseSensitive(obj, key);

    if (item == NULL) {
        if (required) {
            ngx_campaign_limits_report(ctx, key, "required field is missing");
        }

        return NULL;
    }

    if ((item->type & 0xff) != type) {
        ngx_campaign_limits_report(ctx, key, "must be a %s, found %s",
                                   (type == cJSON_Number) ? "number"
                                                          : "string",
                                   cJSON_IsArray(item) ? "array"
                                   : cJSON_IsObject(item) ? "object"
                                   : cJSON_IsString(item) ? "string"
                                   : cJSON_IsNumber(item) ? "number"
                                   : cJSON_IsBool(item) ? "boolean"
                                   : "null");
        return NULL;
    }

    return item;
}


/* 1 with *v set when the member is present and an integer in range */

static int
ngx_campaign_limits_integer(ngx_campaign_limits_ctx_t *ctx,
    const cJSON *obj, const char *key, int required, unsigned min,
    unsigned max, unsigned *v)
{
    double        d;
    const cJSON  *item;

    item = ngx_campaign_limits_member(ctx, obj, key, cJSON_Number, required);
    if (item == NULL) {
        return 0;
    }

    d = item->valuedouble;

    /* the range check first: the cast is defined only within it */

    if (!(d >= min && d <= max && (double) (unsigned) d == d)) {
        ngx_campaign_limits_report(ctx, key,
                                   "must be an integer from %u to %u, "
                                   "found %g", min, max, d);
        return 0;
    }

    *v = (unsigned) d;

    return 1;
}


/* the index of the string value in names, -1 when absent or reported */

static int
ngx_campaign_limits_enum(ngx_campaign_limits_ctx_t *ctx, const cJSON *obj,
    const char *key, const char *const *names)
{
    int           i;
    char          allowed[NGX_CAMPAIGN_LIMITS_MSG_LEN / 2];
    char          quoted[NGX_CAMPAIGN_LIMITS_QUOTE_LEN + 1];
    size_t        n;
    const cJSON  *item;

    item = ngx_campaign_limits_member(ctx, obj, key, cJSON_String, 0);
    if (item == NULL) {
        return -1;
    }

    for (i = 0; names[i] != NULL; i++) {
        if (strcmp(item->valuestring, names[i]) == 0) {
            return i;
        }
    }

    n = 0;
    allowed[0] = '\0';

    for (i = 0; names[i] != NULL && n < sizeof(allowed); i++) {
        n += snprintf(allowed + n, sizeof(allowed) - n, "%s\"%s\"",
                      (i == 0) ? "" : ", ", names[i]);
    }

    /* a value from the file stays on one log line */

    for (n = 0; n < NGX_CAMPAIGN_LIMITS_QUOTE_LEN && item->valuestring[n];
         n++)
    {
        quoted[n] = ((u_char) item->valuestring[n] < 0x20
                     || item->valuestring[n] == 0x7f)
                    ? '?' : item->valuestring[n];
    }

    quoted[n] = '\0';

    ngx_campaign_limits_report(ctx, key, "must be one of %s, found \"%s\"",
                               allowed, quoted);

    return -1;
}


/* reported at path.key, or at path for the rule as a whole (key NULL) */

static void
ngx_campaign_limits_report(ngx_campaign_limits_ctx_t *ctx, const char *key,
    const char *fmt, ...)
{
    char     field[NGX_CAMPAIGN_LIMITS_PATH_LEN];
    char     message[NGX_CAMPAIGN_LIMITS_MSG_LEN];
    va_list  args;

    if (key == NULL) {
        snprintf(field, sizeof(field), "%s", ctx->path ? ctx->path : "");

    } else if (ctx->path == NULL || ctx->path[0] == '\0') {
        snprintf(field, sizeof(field), "%s", key);

    } else {
        snprintf(field, sizeof(field), "%s.%s", ctx->path, key);
    }

    va_start(args, fmt);
    vsnprintf(message, sizeof(message), fmt, args);
    va_end(args);

    ctx->nerrors++;

    if (ctx->error != NULL) {
        ctx->error(ctx->data, ctx->file, field[0] ? field : NULL, 0, 0,
                   message);
    }
}
