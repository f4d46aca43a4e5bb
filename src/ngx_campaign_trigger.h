
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
#define NGX_CAMPAIGN_MAX_NAMESPACE     64
#define NGX_CAMPAIGN_MAX_USER_ID       255

/* duplicate member names reported per document, the rest are not */
#define NGX_CAMPAIGN_MAX_DUPLICATES    10


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

    /* the recipient's own members, for step two; NULL when absent */
    cJSON                     *channel_data;
    cJSON                     *context;
} ngx_campaign_recipient_t;


typedef struct {
    cJSON                     *root;        /* freed with the allocator */
    const char                *request_id;
    const char                *campaign_id;

    ngx_campaign_recipient_t  *recipients;
    size_t                     nrecipients;

    cJSON                     *context;     /* top-level, or NULL */
} ngx_campaign_trigger_t;


typedef struct {
    size_t                     max_depth;          /* 0: default */
    size_t                     max_context_size;   /* 0: default */
} ngx_campaign_trigger_limits_t;


/*
 * Once per process, before any parsing and before any other cJSON
 * allocation that is freed later: installs the engine's cJSON hooks (see
 * ngx_campaign_json.h), so that the trees of a request are allocated from
 * its pool, and compiles (with PCRE2 JIT) the e-mail address and E.164
 * patterns.  0 on success.
 */

int ngx_campaign_trigger_init(void);


/*
 * Identifiers.  They end up in profile lookup locations (paths and
 * arguments), log lines, idempotency keys and gateway headers, so they
 * are kept to alphabets that need no escaping anywhere:
 *
 *   namespace  1..64 characters of A-Z a-z 0-9 _ -
 *              (AJO identity namespaces: email, phone, ecid, crmId,
 *              email_lc_sha256)
 *   userId     1..255 characters of A-Z a-z 0-9 @ . _ - + : = ~
 *              (e-mail addresses, E.164 numbers, UUIDs, ECIDs, base64url
 *              ids), neither starting with "." nor containing ".."
 *
 * So never "/", "%", "?", "#", ";", spaces, quotes, backslashes, control
 * or non-ASCII characters.  The _valid() functions return 1 or 0; the
 * _check() ones NULL, or why not, as a problem message naming the rule.
 */

int ngx_campaign_namespace_valid(const char *s);
int ngx_campaign_user_id_valid(const char *s);
const char *ngx_campaign_namespace_check(const char *s);
const char *ngx_campaign_user_id_check(const char *s);


/*
 * Step one: UTF-8 and depth scan, JSON parse, no duplicate member names
 * (I-JSON, RFC 7493: each reported at its second occurrence), AJO shape
 * (requestId, campaignId, recipients 1..20 with unique userIds and
 * namespaces and userIds of the identifier alphabets, types of every
 * known field, top-level and recipients' context are objects, context
 * size).
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
 * is: UTF-8, depth, JSON, no duplicate member names, nothing after it.
 * The tree is freed with the allocator.  0, -1 with problems, -2 on
 * memory exhaustion.
 */

int ngx_campaign_trigger_parse_object(ngx_campaign_alloc_t *a,
    const u_char *body, size_t len, cJSON **object,
    ngx_campaign_problems_t *problems);


/*
 * The body of a preview, {"profile": {...}, "context": {...}}, both
 * optional: checked like a trigger's body (UTF-8, depth, JSON, no
 * duplicate member names) and turned
 * into the object templates render against.  0, -1 with problems (400),
 * -2 on memory exhaustion.
 */

int ngx_campaign_trigger_parse_preview(ngx_campaign_alloc_t *a,
    const u_char *body, size_t len, cJSON **data,
    ngx_campaign_problems_t *problems);


/*
 * Recipients one at a time, each a document of its own: the lines of an
 * audience (see ngx_campaign_audience.h).  The same rules and messages
 * as the recipients of a unitary body, with pointers relative to the
 * recipient: "/userId", "/channelData/emailAddress", "" for the whole.
 *
 * What the recipients of one execution share: the campaign and the
 * execution's top-level context.  That context is checked against the
 * campaign's schema by the caller, once; a recipient's own context is
 * checked here, and a required field is satisfied by either.
 */

typedef struct {
    const ngx_campaign_t      *campaign;
    cJSON                     *context;           /* top-level, or NULL */
    size_t                     context_size;      /* of context, see below */
    size_t                     max_context_size;  /* 0: default */
} ngx_campaign_recipient_rules_t;


/*
 * Any JSON value, checked as a body is (UTF-8, depth, JSON, no duplicate
 * member names, nothing after it); the tree is freed with the allocator.
 * max_depth 0 is the default.  0, -1 with problems (400), -2 on memory
 * exhaustion.
 */

int ngx_campaign_trigger_parse_value(ngx_campaign_alloc_t *a,
    const u_char *body, size_t len, size_t max_depth, cJSON **value,
    ngx_campaign_problems_t *problems);

/* the size of a context as the compact JSON of a gateway payload */

size_t ngx_campaign_trigger_context_size(const cJSON *context);

/*
 * A parsed value as one recipient: the shape (step one) and, when it
 * holds, the campaign (step two), then r->data with the merged context.
 * The context size limit counts the shared context (context_size) and
 * the recipient's own.  0 with r filled, -1 with problems (400, 413 when
 * the context data is too large), -2 on memory exhaustion.
 */

int ngx_campaign_trigger_validate_recipient(ngx_campaign_alloc_t *a,
    cJSON *item, const ngx_campaign_recipient_rules_t *rules,
    ngx_campaign_recipient_t *r, ngx_campaign_problems_t *problems);


/*
 * An audience execution's shared context against the campaign's schema:
 * the types of the fields present (a required one may come from each
 * recipient), pointers "/context/...".  0, -1 with problems (400), -2 on
 * memory exhaustion.
 */

int ngx_campaign_trigger_validate_context(ngx_campaign_alloc_t *a,
    cJSON *context, const ngx_campaign_t *campaign,
    ngx_campaign_problems_t *problems);


#endif /* _NGX_CAMPAIGN_TRIGGER_H_INCLUDED_ */
