
/*
 * Copyright (C) ngx_campaign developers
 */


#ifndef _NGX_CAMPAIGN_TEMPLATE_H_INCLUDED_
#define _NGX_CAMPAIGN_TEMPLATE_H_INCLUDED_


#include <sys/types.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#include "ngx_campaign_alloc.h"


/*
 * glibc declares u_char only for _DEFAULT_SOURCE (nginx builds with
 * _GNU_SOURCE); a strict -std=c99 build of the engine declares it here.
 */

#if defined(__GLIBC__) && !defined(__u_char_defined)                        \
    && !defined(NGX_CAMPAIGN_U_CHAR_DEFINED)
#define NGX_CAMPAIGN_U_CHAR_DEFINED  1
typedef unsigned char  u_char;
#endif


/*
 * Templates: the Mustache core spec v1.4 but lambdas (interpolation,
 * sections, inverted sections, comments, partials, set delimiters,
 * standalone lines), Handlebars block helpers (#if, #unless, #each, #with,
 * {{else}}, this, ../, @index, block parameters) and AJO's expression tags
 * ({%= expr %}, {%#if expr %}), compiled once at configuration time into
 * op arrays and rendered against cJSON data many times.
 *
 * The limits keep hostile data from exploding memory or time: a render
 * that would exceed them fails instead.
 */

#ifndef NGX_CAMPAIGN_TEMPLATE_MAX_DEPTH
#define NGX_CAMPAIGN_TEMPLATE_MAX_DEPTH   64      /* nested blocks, each
                                                     template on its own */
#endif

/* fragments (partials) nested while rendering, recursion included */
#ifndef NGX_CAMPAIGN_TEMPLATE_MAX_CALLS
#define NGX_CAMPAIGN_TEMPLATE_MAX_CALLS   32
#endif

/* the context stack while rendering: the data and the open blocks */
#ifndef NGX_CAMPAIGN_TEMPLATE_MAX_CONTEXTS
#define NGX_CAMPAIGN_TEMPLATE_MAX_CONTEXTS  256
#endif

#ifndef NGX_CAMPAIGN_TEMPLATE_MAX_OUTPUT
#define NGX_CAMPAIGN_TEMPLATE_MAX_OUTPUT  (16 * 1024 * 1024)    /* bytes */
#endif

/* ops run plus object keys compared while rendering */
#ifndef NGX_CAMPAIGN_TEMPLATE_MAX_STEPS
#define NGX_CAMPAIGN_TEMPLATE_MAX_STEPS   (16 * 1024 * 1024)
#endif


typedef enum {
    NGX_CAMPAIGN_ESCAPE_NONE = 0,    /* text, SMS, push */
    NGX_CAMPAIGN_ESCAPE_HTML         /* e-mail HTML and Mustache's default */
} ngx_campaign_escape_e;


typedef struct {
    size_t      line;         /* 1-based, in the template source */
    size_t      column;       /* 1-based, in characters; 0 for ENOMEM */
    char        message[160];
} ngx_campaign_template_error_t;


/* a name the template references, as written in its tag */
typedef struct {
    const u_char  *name;      /* "profile.person.name", "."; no NUL */
    size_t         len;
    size_t         line;
    size_t         column;
    size_t         depth;     /* enclosing blocks: the name may resolve
                                 against their values first */
    unsigned       section;   /* 1: opens a block (section, #if ...) */
} ngx_campaign_template_ref_t;


typedef struct ngx_campaign_template_s  ngx_campaign_template_t;


/*
 * Finds the source of the fragment (partial) name, len bytes, not NUL
 * terminated: 0 and *src, *src_len set when found, -1 when there is none.
 * The source must stay valid until the compile call returns.
 */
typedef int (*ngx_campaign_partial_pt)(void *data, const u_char *name,
    size_t len, const u_char **src, size_t *src_len);


typedef struct {
    ngx_campaign_escape_e      escape;
    ngx_campaign_partial_pt    partial;       /* NULL: no partials */
    void                      *partial_data;
} ngx_campaign_template_opts_t;


/*
 * Compiles once (at nginx configuration time), with every fragment the
 * template includes, each fragment once.  Returns NULL and fills err (if
 * not NULL) on a syntax error, an unknown fragment or when out of memory.
 * An error inside a fragment is placed at the tag of the template that
 * includes it, the message naming the fragment and the place in it:
 * "in fragment "footer": line 2, column 5: ...".  The sources are copied:
 * the caller's buffers may go away.
 */
ngx_campaign_template_t *ngx_campaign_template_compile_opts(
    ngx_campaign_alloc_t *a, const u_char *src, size_t len,
    const ngx_campaign_template_opts_t *opts,
    ngx_campaign_template_error_t *err);

/* without fragments: a {{> name}} tag is an unknown fragment */
ngx_campaign_template_t *ngx_campaign_template_compile(
    ngx_campaign_alloc_t *a, const u_char *src, size_t len,
    ngx_campaign_escape_e escape, ngx_campaign_template_error_t *err);

/*
 * Renders with data: names resolve against it, e.g.
 * {{profile.person.name.firstName}} into {"profile":{...}, ...}; data may
 * be NULL.  The output is one buffer from the allocator, followed by a NUL
 * that out_len does not count.  Returns 0 on success, -1 when out of
 * memory or when a limit is hit.
 */
int ngx_campaign_template_render(const ngx_campaign_template_t *tpl,
    const cJSON *data, ngx_campaign_alloc_t *a, u_char **out,
    size_t *out_len);

/*
 * As ngx_campaign_template_render(), the output escaped as the inside of a
 * JSON string (ngx_campaign_json_escape()), for a gateway payload: the same
 * bytes as escaping the output of ngx_campaign_template_render(), but the
 * static text was escaped when the template was compiled and only values
 * are escaped now.  The output limit counts the escaped bytes.
 */
int ngx_campaign_template_render_json(const ngx_campaign_template_t *tpl,
    const cJSON *data, ngx_campaign_alloc_t *a, u_char **out,
    size_t *out_len);

/*
 * The names a template references, in source order, for docs and linting:
 * those of its own tags ("this", "../a" and "@index" too), not those of
 * its fragments nor of its expression tags.
 */
const ngx_campaign_template_ref_t *ngx_campaign_template_refs(
    const ngx_campaign_template_t *tpl, size_t *n);


#endif /* _NGX_CAMPAIGN_TEMPLATE_H_INCLUDED_ */
