
/*
 * Copyright (C) ngx_campaign developers
 */


#ifndef _NGX_CAMPAIGN_JSON_H_INCLUDED_
#define _NGX_CAMPAIGN_JSON_H_INCLUDED_


#include <sys/types.h>
#include <stddef.h>

#include "ngx_campaign_alloc.h"


/*
 * JSON string escaping for what the module writes: answers, problems and
 * gateway payloads.  Rendered text is placed into a payload only through
 * these, so a profile value can never break out of its string.
 */

size_t ngx_campaign_json_escaped_len(const u_char *src, size_t len);
size_t ngx_campaign_json_escaped_strlen(const char *s);
u_char *ngx_campaign_json_escape(u_char *dst, const u_char *src, size_t len);

/*
 * The end of the run of bytes at p that a JSON string holds as they are,
 * needing no look by a reader: ASCII, neither control characters nor '"'
 * nor '\\'.  For scanners, eight bytes at a time.
 */

const u_char *ngx_campaign_json_ascii_run(const u_char *p,
    const u_char *end);


/*
 * cJSON's allocations.  The engine installs process-wide cJSON hooks
 * (cJSON_InitHooks()) under which every block cJSON asks for carries a
 * small header saying where it came from:
 *
 *   - between ngx_campaign_json_enter() and ngx_campaign_json_leave(),
 *     which the engine puts around its own cJSON_Parse*() calls and the
 *     trees it builds, blocks come from the engine's allocator (a request
 *     pool in nginx), and freeing one does nothing: it goes with the pool;
 *   - at any other time they come from malloc(), and freeing one frees it.
 *
 * So cJSON_Delete() does the right thing for any tree, whoever calls it,
 * including trees that mix the two (a malloc'd node put into a parsed
 * tree, cJSON_Duplicate() of a parsed tree).  A pool-backed tree needs no
 * cJSON_Delete() at all as long as nothing malloc'd was put into it.
 *
 * The hooks belong to the whole process, hence the caveats:
 *
 *   - install them (ngx_campaign_json_hooks_init(), which
 *     ngx_campaign_trigger_init() calls) before any cJSON allocation that
 *     is freed later: a block from before carries no header (with glibc
 *     such a block is recognised and given to free(), but that is a
 *     safety net, not a licence);
 *   - nothing else may call cJSON_InitHooks() afterwards, and anything
 *     else in the process linked with the same libcjson (another nginx
 *     module) gets these hooks too: outside enter/leave they behave as
 *     malloc() and free() do;
 *   - a tree parsed from a pool must not outlive the pool, nor be put
 *     into a tree that does;
 *   - the current allocator is a global: one thread uses cJSON, as in an
 *     nginx worker.
 */

typedef struct {
    ngx_campaign_alloc_t      *prev;
    size_t                     failures;
} ngx_campaign_json_scope_t;


void ngx_campaign_json_hooks_init(void);

/* 1 once the hooks are installed */
int ngx_campaign_json_hooked(void);

/* from now on cJSON allocates from a (when the hooks are installed) */
void ngx_campaign_json_enter(ngx_campaign_json_scope_t *scope,
    ngx_campaign_alloc_t *a);

/* back to what was before; -1 if an allocation from a failed meanwhile */
int ngx_campaign_json_leave(ngx_campaign_json_scope_t *scope);

/* how many malloc'd cJSON blocks are alive, for leak checks */
size_t ngx_campaign_json_live(void);


#endif /* _NGX_CAMPAIGN_JSON_H_INCLUDED_ */
