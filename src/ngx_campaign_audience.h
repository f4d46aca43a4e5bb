
/*
 * Copyright (C) ngx_campaign developers
 */


#ifndef _NGX_CAMPAIGN_AUDIENCE_H_INCLUDED_
#define _NGX_CAMPAIGN_AUDIENCE_H_INCLUDED_


#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ngx_campaign_arena.h"
#include "ngx_campaign_trigger.h"


/*
 * An audience: JSON Lines, one AJO recipient object a line, as a CRM or
 * a CDP exports it:
 *
 *   {"type": "aep", "userId": "jane", "namespace": "email",
 *    "channelData": {"emailAddress": "jane@example.com"},
 *    "profile": {...}, "context": {...}}
 *
 * The reader is fed the bytes as they come (a file read, an upstream's
 * answer), in chunks of any size cut anywhere, and hands over the valid
 * recipients one at a time.  It never holds more than one line:
 *
 *   - a line ends at LF; a CR before the LF is dropped (CRLF); the last
 *     line may lack its LF (ngx_campaign_audience_finish() reads it);
 *   - a line longer than max_line bytes (its bytes before the LF, a CR
 *     included) is skipped as "too_long" as soon as it is known to be,
 *     and the rest of it is passed over up to the next LF, unbuffered;
 *   - a blank line (nothing, or spaces, tabs and CRs only) is counted and
 *     ignored;
 *   - any other line is a JSON document (checked as a unitary body is:
 *     UTF-8, depth, syntax, no duplicate member names, nothing after it)
 *     or is skipped as "json"; then one recipient, checked with the rules
 *     and messages of the unitary recipients (ngx_campaign_trigger.h),
 *     with pointers relative to the line ("/channelData/emailAddress"),
 *     or skipped as "invalid";
 *   - with unique set, a valid recipient whose userId was already handed
 *     over on an earlier line is skipped as "duplicate" (the first one
 *     wins; a skipped line does not count as a first).  The reader keeps
 *     a 64-bit hash per userId handed over, not the userId: 8 to 16
 *     bytes per recipient (plus as much again while the table grows),
 *     and two different userIds may be taken for the same with a
 *     probability of about n * n / 2^65 (3e-8 for a million).  A reader
 *     resumed at first_offset knows nothing of the userIds before it:
 *     read with unique where the whole input is read once (a snapshot).
 *
 * A skipped line is never fatal: it is counted and reported to the
 * skipped handler with its line number and its first problem.  Line
 * numbers are 1-based and count every line, blank and skipped ones
 * included, so that they point into the input as an editor shows it.
 *
 * Each line is parsed into an arena of its own, destroyed once its
 * handler returns: what the handler is given (the recipient, the parsed
 * value, the line's text, the problem) is valid only during the call,
 * unless the recipient handler keeps the line's arena (below).
 */


#define NGX_CAMPAIGN_AUDIENCE_MAX_LINE  (64 * 1024)

/* what a feed returns besides 0 and -2 */
#define NGX_CAMPAIGN_AUDIENCE_PAUSED    1


typedef enum {
    NGX_CAMPAIGN_AUDIENCE_JSON = 0,      /* not one JSON document */
    NGX_CAMPAIGN_AUDIENCE_INVALID,       /* not a valid recipient */
    NGX_CAMPAIGN_AUDIENCE_TOO_LONG,      /* longer than max_line */
    NGX_CAMPAIGN_AUDIENCE_DUPLICATE,     /* userId of an earlier line */
    NGX_CAMPAIGN_AUDIENCE_NREASONS
} ngx_campaign_audience_reason_e;


typedef struct {
    size_t                     number;      /* 1-based */
    off_t                      start;       /* its first byte's offset */
    off_t                      end;         /* just after its LF */

    /* without the LF and the CR before it */
    const u_char              *text;
    size_t                     len;
} ngx_campaign_audience_line_t;


/*
 * A valid recipient: r as ngx_campaign_trigger_validate_recipient() fills
 * it (r->address for the campaign's channel, r->data to render against),
 * value the parsed line.  Returns 0 to go on, NGX_CAMPAIGN_AUDIENCE_PAUSED
 * to have the feed return after this line (a caller pacing its work), -1
 * to give up: the feed returns -1.
 */

typedef int (*ngx_campaign_audience_recipient_pt)(void *data,
    const ngx_campaign_audience_line_t *line, ngx_campaign_recipient_t *r,
    cJSON *value);

/*
 * A skipped line and why, with its first problem (pointer into the line's
 * document, "" for the whole line, and message).  For a too long line
 * only number and start are known, end is -1 and text is NULL.
 */

typedef void (*ngx_campaign_audience_skipped_pt)(void *data,
    const ngx_campaign_audience_line_t *line,
    ngx_campaign_audience_reason_e reason,
    const ngx_campaign_problem_t *problem);


typedef struct {
    /* campaign, shared context (checked by the caller), context limit */
    ngx_campaign_recipient_rules_t       rules;

    size_t                               max_line;    /* 0: 64 KB */
    size_t                               max_depth;   /* 0: default */
    unsigned                             unique:1;

    /* where the input starts when resuming: 0 and 1 for a whole input */
    off_t                                first_offset;
    size_t                               first_line;

    ngx_campaign_audience_recipient_pt   recipient;
    ngx_campaign_audience_skipped_pt     skipped;     /* may be NULL */
    void                                *data;
} ngx_campaign_audience_conf_t;


typedef struct {
    size_t                     lines;       /* ended, blank ones included */
    size_t                     blank;
    size_t                     valid;       /* handed over */
    size_t                     skipped[NGX_CAMPAIGN_AUDIENCE_NREASONS];
} ngx_campaign_audience_counters_t;


typedef struct {
    ngx_campaign_audience_conf_t       conf;
    ngx_campaign_audience_counters_t   counters;

    /* the input read so far: the next byte's offset, its line's number */
    off_t                              offset;
    size_t                             line;
    off_t                              line_start;

    /* the part of a line that a chunk ended in */
    u_char                            *buf;
    size_t                             len;
    size_t                             size;    /* allocated, <= max_line */
    size_t                             peak;    /* the most len has been */

    /* the hashes of the userIds handed over: open addressing, 0 free */
    uint64_t                          *seen;
    size_t                             nseen;
    size_t                             seen_size;   /* a power of 2 */

    ngx_campaign_arena_t               arena;   /* one line's parse */

    unsigned                           skipping:1;  /* a too long line */
    unsigned                           finished:1;
} ngx_campaign_audience_t;


/*
 * conf is copied; its campaign and context must outlive the reader.
 * 0, or -2 on memory exhaustion.
 */

int ngx_campaign_audience_init(ngx_campaign_audience_t *au,
    const ngx_campaign_audience_conf_t *conf);

/*
 * The next n bytes of the input.  Returns 0 when all were read (a line
 * cut by the end of the chunk waits for the next one), PAUSED when the
 * recipient handler asked for it: *used bytes were read (the line handed
 * over was the last one), feed the rest later.  -1 when the handler gave
 * up, -2 on memory exhaustion: the reader is unusable then.  used may be
 * NULL when the handler never pauses.
 */

int ngx_campaign_audience_feed(ngx_campaign_audience_t *au, const u_char *p,
    size_t n, size_t *used);

/* the end of the input: the last line if it had no LF; 0, -1, -2 */

int ngx_campaign_audience_finish(ngx_campaign_audience_t *au);

/* frees what the reader holds, not au itself */

void ngx_campaign_audience_free(ngx_campaign_audience_t *au);

/*
 * In the recipient handler only: the arena that the recipient and its
 * value were parsed into moves to *arena, which the caller destroys
 * (ngx_campaign_arena_destroy()) when it is done with them; the reader
 * parses the next line into a new one.  So a caller that keeps the
 * recipient needs no second parse.  The line's text is not in it.
 */

void ngx_campaign_audience_keep(ngx_campaign_audience_t *au,
    ngx_campaign_arena_t *arena);

/* "json", "invalid", "too_long", "duplicate": for counters and logs */

const char *ngx_campaign_audience_reason_name(
    ngx_campaign_audience_reason_e reason);


#endif /* _NGX_CAMPAIGN_AUDIENCE_H_INCLUDED_ */
