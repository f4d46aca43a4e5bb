
/*
 * Copyright (C) ngx_campaign developers
 */


#ifndef _NGX_CAMPAIGN_TRIGGER_H_INCLUDED_
#define _NGX_CAMPAIGN_TRIGGER_H_INCLUDED_


#include <cjson/cJSON.h>

#include "ngx_campaign_alloc.h"
#include "ngx_campaign_definition.h"


/*
 * The request side of "executions/unitary": the body is checked byte by
 * byte (UTF-8, nesting depth), parsed, and checked against AJO's shape
 * and then against the campaign it names.  Every problem found is
 * collected with a JSON pointer to the offending field, so that a client
 * learns all of them in one answer.
 */


#define NGX_CAMPAIGN_MAX_RECIPIENTS    20
#define NGX_CAMPAIGN_MAX_DEPTH         32
#define NGX_CAMPAIGN_MAX_CONTEXT_SIZE  (200 * 1024)


typedef struct {
    const char                *pointer;   /* RFC 6901, "" for the body */
    const char                *message;
} ngx_campaign_problem_t;


typedef struct {
    ngx_campaign_problem_t    *items;
    size_t                     nitems;
    size_t                     nalloc;

    /* 400 invalid, 413 context data too large */
    int                        status;
} ngx_campaign_problems_t;


typedef struct {
    const char                *user_id;
    const char                *type;        /* "aep" | "external" */
    const char                *namespace;

    /* from channelData, for the campaign's channel */
    const char                *address;     /* e-mail, E.164 number, token */
    const char                *platform;    /* push */
    const char                *app_id;      /* push */

    cJSON                     *profile;     /* inline profile or NULL */

    /*
     * {"profile": ..., "context": ...}: what templates render against.
     * The context is the top-level context with the recipient's own keys
     * laid over it (a shallow merge); profile is {} when absent.
     */
    cJSON                     *data;
} ngx_campaign_recipient_t;


typedef struct {
    cJSON                     *root;        /* freed with the allocator */
    const char                *request_id;
    const char                *campaign_id;

    ngx_campaign_recipient_t  *recipients;
    size_t                     nrecipients;
} ngx_campaign_trigger_t;


typedef struct {
    size_t                     max_depth;          /* 0: default */
    size_t                     max_context_size;   /* 0: default */
} ngx_campaign_trigger_limits_t;


/*
 * Once per process, before any validation: compiles (with PCRE2 JIT) the
 * e-mail address and E.164 patterns.  0 on success.
 */

int ngx_campaign_trigger_init(void);


/*
 * Step one: UTF-8 and depth scan, JSON parse, AJO shape (requestId,
 * campaignId, recipients 1..20 with unique userIds, types of every known
 * field, top-level and recipients' context are objects, context size).
 * Returns 0 when the body is usable (t filled), -1 with problems filled
 * (status 400 or 413), -2 on memory exhaustion.  problems is reset first;
 * limits may be NULL.  Optional members that are null count as absent.
 * The status is 413 when the context data is too large, even if other
 * problems were found too.
 */

int ngx_campaign_trigger_parse(ngx_campaign_alloc_t *a, const u_char *body,
    size_t len, const ngx_campaign_trigger_limits_t *limits,
    ngx_campaign_trigger_t *t, ngx_campaign_problems_t *problems);


/*
 * Step two, once the campaign is known: channelData for the campaign's
 * channel (e-mail address, E.164 phone, push token and platform) and the
 * campaign's context schema, for every recipient, with the merged
 * context.  Returns 0 when valid, -1 with problems filled (status 400),
 * -2 on memory exhaustion.  problems is reset first.  Sets each
 * recipient's address (and platform, app_id) when it is valid.
 */

int ngx_campaign_trigger_validate(ngx_campaign_alloc_t *a,
    ngx_campaign_trigger_t *t, const ngx_campaign_t *campaign,
    ngx_campaign_problems_t *problems);


/*
 * Appends a problem: the pointer is base (a JSON pointer, "" for the
 * body) followed by "/" and key escaped per RFC 6901 unless key is NULL;
 * the message is formatted with fmt.  Everything is allocated from a.
 * 0 on success, -1 on memory exhaustion.  For the module's own problems,
 * e.g. an unknown campaign at "/campaignId".
 */

int ngx_campaign_problems_add(ngx_campaign_alloc_t *a,
    ngx_campaign_problems_t *problems, const char *base, const char *key,
    const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;


/*
 * A JSON object from elsewhere (a looked-up profile), checked as a body
 * is: UTF-8, depth, JSON, nothing after it.  The tree is freed with the
 * allocator.  0, -1 with problems, -2 on memory exhaustion.
 */

int ngx_campaign_trigger_parse_object(ngx_campaign_alloc_t *a,
    const u_char *body, size_t len, cJSON **object,
    ngx_campaign_problems_t *problems);


/*
 * The body of a preview, {"profile": {...}, "context": {...}}, both
 * optional: checked like a trigger's body (UTF-8, depth, JSON) and turned
 * into the object templates render against.  0, -1 with problems (400),
 * -2 on memory exhaustion.
 */

int ngx_campaign_trigger_parse_preview(ngx_campaign_alloc_t *a,
    const u_char *body, size_t len, cJSON **data,
    ngx_campaign_problems_t *problems);


#endif /* _NGX_CAMPAIGN_TRIGGER_H_INCLUDED_ */
