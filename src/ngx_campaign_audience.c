
/*
 * Copyright (C) ngx_campaign developers
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_campaign_audience.h"


/* the line buffer's first size, and the userId table's */
#define NGX_CAMPAIGN_AUDIENCE_BUF_SIZE   4096
#define NGX_CAMPAIGN_AUDIENCE_SEEN_SIZE  1024


static int ngx_campaign_audience_append(ngx_campaign_audience_t *au,
    const u_char *p, size_t n);
static void ngx_campaign_audience_too_long(ngx_campaign_audience_t *au);
static int ngx_campaign_audience_line(ngx_campaign_audience_t *au,
    const u_char *text, size_t len, off_t end);
static int ngx_campaign_audience_recipient(ngx_campaign_audience_t *au,
    ngx_campaign_audience_line_t *line);
static void ngx_campaign_audience_skip(ngx_campaign_audience_t *au,
    const ngx_campaign_audience_line_t *line,
    ngx_campaign_audience_reason_e reason, const char *pointer,
    const char *message);
static void ngx_campaign_audience_prefetch(ngx_campaign_audience_t *au,
    cJSON *value);
static int ngx_campaign_audience_remember(ngx_campaign_audience_t *au,
    const char *user_id);
static uint64_t ngx_campaign_audience_hash(const char *s);
static int ngx_campaign_audience_grow(ngx_campaign_audience_t *au);


static const char  *ngx_campaign_audience_reasons[] = {
    "json", "invalid", "too_long", "duplicate"
};


int
ngx_campaign_audience_init(ngx_campaign_audience_t *au,
    const ngx_campaign_audience_conf_t *conf)
{
    memset(au, 0, sizeof(ngx_campaign_audience_t));

    au->conf = *conf;

    if (au->conf.max_line == 0) {
        au->conf.max_line = NGX_CAMPAIGN_AUDIENCE_MAX_LINE;
    }

    if (au->conf.first_line == 0) {
        au->conf.first_line = 1;
    }

    au->conf.rules.context_size =
        ngx_campaign_trigger_context_size(au->conf.rules.context);

    au->offset = au->conf.first_offset;
    au->line_start = au->conf.first_offset;
    au->line = au->conf.first_line;

    ngx_campaign_arena_init(&au->arena, NGX_CAMPAIGN_ARENA_CHUNK_SIZE);

    if (au->conf.unique) {
        au->seen = calloc(NGX_CAMPAIGN_AUDIENCE_SEEN_SIZE, sizeof(uint64_t));
        if (au->seen == NULL) {
            return -2;
        }

        au->seen_size = NGX_CAMPAIGN_AUDIENCE_SEEN_SIZE;
    }

    return 0;
}


void
ngx_campaign_audience_free(ngx_campaign_audience_t *au)
{
    free(au->buf);
    free(au->seen);

    au->buf = NULL;
    au->seen = NULL;
    au->len = 0;
    au->size = 0;
    au->nseen = 0;
    au->seen_size = 0;

    ngx_campaign_arena_destroy(&au->arena);
}


const char *
ngx_campaign_audience_reason_name(ngx_campaign_audience_reason_e reason)
{
    if ((size_t) reason >= NGX_CAMPAIGN_AUDIENCE_NREASONS) {
        return "unknown";
    }

    return ngx_campaign_audience_reasons[reason];
}


int
ngx_campaign_audience_feed(ngx_campaign_audience_t *au, const u_char *p,
    size_t n, size_t *used)
{
    int            rc;
    off_t          end;
    size_t         len;
    const u_char  *start, *last, *lf;

    start = p;
    last = p + n;

    if (used != NULL) {
        *used = 0;
    }

    while (p < last) {
        lf = memchr(p, '\n', last - p);

        if (lf == NULL) {

            /* the chunk ends inside a line */

            len = last - p;
            au->offset += len;

            if (au->skipping) {
                break;
            }

            if (au->len + len > au->conf.max_line) {
                ngx_campaign_audience_too_long(au);
                break;
            }

            if (ngx_campaign_audience_append(au, p, len) != 0) {
                return -2;
            }

            break;
        }

        len = lf - p;
        au->offset += len + 1;
        end = au->offset;
        p = lf + 1;

        if (au->skipping) {
            au->skipping = 0;
            au->counters.lines++;
            au->line++;
            au->line_start = end;
            continue;
        }

        if (au->len + len > au->conf.max_line) {
            ngx_campaign_audience_too_long(au);
            au->skipping = 0;
            au->counters.lines++;
            au->line++;
            au->line_start = end;
            continue;
        }

        /* a line whole in the chunk is read where it is */

        if (au->len == 0) {
            rc = ngx_campaign_audience_line(au, lf - len, len, end);

        } else {
            if (ngx_campaign_audience_append(au, lf - len, len) != 0) {
                return -2;
            }

            rc = ngx_campaign_audience_line(au, au->buf, au->len, end);
        }

        if (rc != 0) {
            if (used != NULL) {
                *used = p - start;
            }

            return rc;
        }
    }

    if (used != NULL) {
        *used = n;
    }

    return 0;
}


int
ngx_campaign_audience_finish(ngx_campaign_audience_t *au)
{
    int  rc;

    if (au->finished) {
        return 0;
    }

    au->finished = 1;

    if (au->skipping) {
        au->skipping = 0;
        au->counters.lines++;
        au->line++;
        return 0;
    }

    if (au->offset == au->line_start) {
        return 0;     /* the input ended with its LF, or is empty */
    }

    rc = ngx_campaign_audience_line(au, au->buf, au->len, au->offset);

    return (rc == NGX_CAMPAIGN_AUDIENCE_PAUSED) ? 0 : rc;
}


void
ngx_campaign_audience_keep(ngx_campaign_audience_t *au,
    ngx_campaign_arena_t *arena)
{
    *arena = au->arena;
    arena->alloc.pool = arena;

    ngx_campaign_arena_init(&au->arena, au->arena.chunk_size);
}


/* the line buffer grows up to max_line, never past it */

static int
ngx_campaign_audience_append(ngx_campaign_audience_t *au, const u_char *p,
    size_t n)
{
    size_t   size;
    u_char  *buf;

    if (au->len + n > au->size) {
        size = au->size ? au->size : NGX_CAMPAIGN_AUDIENCE_BUF_SIZE;

        while (size < au->len + n) {
            size *= 2;
        }

        if (size > au->conf.max_line) {
            size = au->conf.max_line;
        }

        buf = realloc(au->buf, size);
        if (buf == NULL) {
            return -1;
        }

        au->buf = buf;
        au->size = size;
    }

    memcpy(au->buf + au->len, p, n);
    au->len += n;

    if (au->len > au->peak) {
        au->peak = au->len;
    }

    return 0;
}


/* the rest of the line is passed over; what was buffered is dropped */

static void
ngx_campaign_audience_too_long(ngx_campaign_audience_t *au)
{
    char                          message[64];
    ngx_campaign_audience_line_t  line;

    au->len = 0;
    au->skipping = 1;

    line.number = au->line;
    line.start = au->line_start;
    line.end = -1;
    line.text = NULL;
    line.len = 0;

    (void) snprintf(message, sizeof(message),
                    "line is longer than %zu bytes", au->conf.max_line);

    ngx_campaign_audience_skip(au, &line, NGX_CAMPAIGN_AUDIENCE_TOO_LONG, "",
                               message);
}


/* a whole line, its LF and CR off; the line buffer is free afterwards */

static int
ngx_campaign_audience_line(ngx_campaign_audience_t *au, const u_char *text,
    size_t len, off_t end)
{
    int                           rc;
    size_t                        i;
    ngx_campaign_audience_line_t  line;

    line.number = au->line;
    line.start = au->line_start;
    line.end = end;

    au->counters.lines++;
    au->line++;
    au->line_start = end;
    au->len = 0;

    if (len && text[len - 1] == '\r') {
        len--;
    }

    line.text = text;
    line.len = len;

    for (i = 0; i < len; i++) {
        if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r') {
            break;
        }
    }

    if (i == len) {
        au->counters.blank++;
        return 0;
    }

    rc = ngx_campaign_audience_recipient(au, &line);

    ngx_campaign_arena_destroy(&au->arena);

    return rc;
}


static int
ngx_campaign_audience_recipient(ngx_campaign_audience_t *au,
    ngx_campaign_audience_line_t *line)
{
    int                        rc;
    cJSON                     *value;
    ngx_campaign_problems_t    problems;
    ngx_campaign_recipient_t   r;

    rc = ngx_campaign_trigger_parse_value(&au->arena.alloc, line->text,
                                          line->len, au->conf.max_depth,
                                          &value, &problems);
    if (rc == -2) {
        return -2;
    }

    if (rc != 0) {
        ngx_campaign_audience_skip(au, line, NGX_CAMPAIGN_AUDIENCE_JSON,
                                   problems.items[0].pointer,
                                   problems.items[0].message);
        return 0;
    }

    if (au->conf.unique) {
        ngx_campaign_audience_prefetch(au, value);
    }

    rc = ngx_campaign_trigger_validate_recipient(&au->arena.alloc, value,
                                                 &au->conf.rules, &r,
                                                 &problems);
    if (rc == -2) {
        return -2;
    }

    if (rc != 0) {
        ngx_campaign_audience_skip(au, line, NGX_CAMPAIGN_AUDIENCE_INVALID,
                                   problems.items[0].pointer,
                                   problems.items[0].message);
        return 0;
    }

    if (au->conf.unique) {
        rc = ngx_campaign_audience_remember(au, r.user_id);

        if (rc == -1) {
            return -2;
        }

        if (rc == 1) {
            ngx_campaign_audience_skip(au, line,
                                       NGX_CAMPAIGN_AUDIENCE_DUPLICATE,
                                       "/userId", "is a duplicate of the "
                                       "userId of an earlier line");
            return 0;
        }
    }

    au->counters.valid++;

    rc = au->conf.recipient(au->conf.data, line, &r, value);

    if (rc == NGX_CAMPAIGN_AUDIENCE_PAUSED) {
        return NGX_CAMPAIGN_AUDIENCE_PAUSED;
    }

    return (rc == 0) ? 0 : -1;
}


static void
ngx_campaign_audience_skip(ngx_campaign_audience_t *au,
    const ngx_campaign_audience_line_t *line,
    ngx_campaign_audience_reason_e reason, const char *pointer,
    const char *message)
{
    ngx_campaign_problem_t  problem;

    au->counters.skipped[reason]++;

    if (au->conf.skipped == NULL) {
        return;
    }

    problem.pointer = pointer;
    problem.message = message;

    au->conf.skipped(au->conf.data, line, reason, &problem);
}


/*
 * A large table is mostly out of the cache: the slot of the line's userId
 * is asked for while the recipient is checked, not when it is looked up.
 */

static void
ngx_campaign_audience_prefetch(ngx_campaign_audience_t *au, cJSON *value)
{
#if defined(__GNUC__)
    cJSON  *id;

    if (!cJSON_IsObject(value)) {
        return;
    }

    id = cJSON_GetObjectItemCaseSensitive(value, "userId");

    if (cJSON_IsString(id)) {
        __builtin_prefetch(&au->seen[ngx_campaign_audience_hash(
                                         id->valuestring)
                                     & (au->seen_size - 1)]);
    }
#endif
}


/*
 * The userIds seen so far are kept as 64-bit fingerprints in an open
 * addressing table (8 bytes a userId, at most three quarters full: 16 MB
 * for a million).  One probe finds the fingerprint or the free slot where
 * it goes: 1 when it was there (a duplicate), 0 when it is added, -1 when
 * the table could not grow.
 */

static int
ngx_campaign_audience_remember(ngx_campaign_audience_t *au,
    const char *user_id)
{
    size_t    i, mask;
    uint64_t  h;

    h = ngx_campaign_audience_hash(user_id);

    for ( ;; ) {
        mask = au->seen_size - 1;

        for (i = h & mask; au->seen[i] != 0; i = (i + 1) & mask) {
            if (au->seen[i] == h) {
                return 1;
            }
        }

        /* at most three quarters full, so that probes stay short */

        if ((au->nseen + 1) * 4 <= au->seen_size * 3) {
            break;
        }

        if (ngx_campaign_audience_grow(au) != 0) {
            return -1;
        }
    }

    au->seen[i] = h;
    au->nseen++;

    return 0;
}


/* FNV-1a, then a finaliser that spreads its bits; never 0 (free slot) */

static uint64_t
ngx_campaign_audience_hash(const char *s)
{
    uint64_t  h;

    h = 0xcbf29ce484222325ULL;

    while (*s) {
        h ^= (u_char) *s++;
        h *= 0x100000001b3ULL;
    }

    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;

    return h ? h : 1;
}


static int
ngx_campaign_audience_grow(ngx_campaign_audience_t *au)
{
    size_t     i, j, size, mask;
    uint64_t  *seen;

    size = au->seen_size * 2;

    seen = calloc(size, sizeof(uint64_t));
    if (seen == NULL) {
        return -1;
    }

    mask = size - 1;

    for (i = 0; i < au->seen_size; i++) {
        if (au->seen[i] == 0) {
            continue;
        }

        for (j = au->seen[i] & mask; seen[j] != 0; j = (j + 1) & mask) {
            /* void */
        }

        seen[j] = au->seen[i];
    }

    free(au->seen);

    au->seen = seen;
    au->seen_size = size;

    return 0;
}
