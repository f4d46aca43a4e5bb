
/*
 * Copyright (C) ngx_campaign developers
 */


#ifndef _NGX_CAMPAIGN_EXPR_H_INCLUDED_
#define _NGX_CAMPAIGN_EXPR_H_INCLUDED_


#include <sys/types.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#include "ngx_campaign_alloc.h"
#include "ngx_campaign_template.h"


/*
 * AJO's expression language, inside {%= expr %} and {%#if expr %} tags:
 * paths into the data (profile.person.name.firstName), string and number
 * literals, true/false/null, comparison (= == != < <= > >=), boolean
 * (and or not, && || !), the fallback operator ?:, parentheses, and the
 * functions lowerCase, upperCase, capitalize, trim, concat, contains,
 * startsWith, endsWith, length, isEmpty, replace, mask, join, formatNumber,
 * encode64.  Compiled once, with unknown functions, wrong argument counts
 * and type errors visible from literals reported with line and column.
 */


/*
 * The limits keep hostile data from exploding memory: an evaluation that
 * would build a longer string, or more strings in all, fails instead.  The
 * depth bounds the expression tree (parentheses, operands, arguments), so
 * that neither compiling nor evaluating recurses without end.
 */

#ifndef NGX_CAMPAIGN_EXPR_MAX_DEPTH
#define NGX_CAMPAIGN_EXPR_MAX_DEPTH     64
#endif

#ifndef NGX_CAMPAIGN_EXPR_MAX_STRING
#define NGX_CAMPAIGN_EXPR_MAX_STRING    (1024 * 1024)       /* one value */
#endif

#ifndef NGX_CAMPAIGN_EXPR_MAX_EVAL
#define NGX_CAMPAIGN_EXPR_MAX_EVAL      (8 * 1024 * 1024)   /* one eval */
#endif


typedef struct ngx_campaign_expr_s  ngx_campaign_expr_t;


typedef enum {
    NGX_CAMPAIGN_VALUE_NULL = 0,
    NGX_CAMPAIGN_VALUE_BOOLEAN,
    NGX_CAMPAIGN_VALUE_NUMBER,
    NGX_CAMPAIGN_VALUE_STRING,
    NGX_CAMPAIGN_VALUE_JSON          /* an object or array from the data */
} ngx_campaign_value_type_e;


typedef struct {
    ngx_campaign_value_type_e    type;
    union {
        int                      boolean;
        double                   number;
        struct {
            const u_char        *data;
            size_t               len;
        }                        string;
        const cJSON             *json;
    } u;
} ngx_campaign_value_t;


/* one segment of a path: "profile", "person", ... */

typedef struct {
    const u_char                *data;
    size_t                       len;
} ngx_campaign_segment_t;


/*
 * The template engine resolves paths (its context stack, "this", "../",
 * "@index" ...): the expression engine calls back with the segments,
 * split at compile time.  NULL: not found.
 */

typedef const cJSON *(*ngx_campaign_expr_lookup_pt)(void *ctx,
    const ngx_campaign_segment_t *segments, size_t n);


/*
 * src is the text between the tag's delimiters; line and column are its
 * position in the template, so that errors point into the template.
 * NULL with err filled on error.
 */

ngx_campaign_expr_t *ngx_campaign_expr_compile(ngx_campaign_alloc_t *a,
    const u_char *src, size_t len, size_t line, size_t column,
    ngx_campaign_template_error_t *err);

/* 0, or -1 on memory exhaustion or a runtime limit */

int ngx_campaign_expr_eval(const ngx_campaign_expr_t *e,
    ngx_campaign_expr_lookup_pt lookup, void *ctx, ngx_campaign_alloc_t *a,
    ngx_campaign_value_t *result);

/*
 * As {%#if %} and "not" see a value: false for null, false, 0, "" and
 * empty arrays; true for anything else, objects included.
 */

int ngx_campaign_value_truthy(const ngx_campaign_value_t *v);

/*
 * The text of a value as {%= %} prints it: null prints nothing, booleans
 * "true" and "false", integers without decimals ("3"), other numbers as
 * the shortest text that reads back the same ("1.21"), strings as they
 * are.  An array prints its scalars joined with "," (a nested array or
 * object, or a null, prints as nothing between its commas); an object
 * prints nothing.  Strings are not copied; 0, or -1 when out of memory or
 * when the text would exceed NGX_CAMPAIGN_EXPR_MAX_STRING.
 */

int ngx_campaign_value_text(const ngx_campaign_value_t *v,
    ngx_campaign_alloc_t *a, const u_char **text, size_t *len);

/* a value from the data: NULL (missing) and JSON null are null */

void ngx_campaign_value_from_json(const cJSON *json,
    ngx_campaign_value_t *v);


#endif /* _NGX_CAMPAIGN_EXPR_H_INCLUDED_ */
