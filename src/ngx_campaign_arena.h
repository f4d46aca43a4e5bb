
/*
 * Copyright (C) ngx_campaign developers
 */


#ifndef _NGX_CAMPAIGN_ARENA_H_INCLUDED_
#define _NGX_CAMPAIGN_ARENA_H_INCLUDED_


#include <stddef.h>

#include "ngx_campaign_alloc.h"


/*
 * The allocator of the unit tests, the fuzzers and the command-line tool,
 * standing in for an nginx pool: memory comes from malloc'd chunks and goes
 * away all at once in ngx_campaign_arena_destroy(), which first runs the
 * cleanups, the last registered first.
 *
 *     ngx_campaign_arena_t  arena;
 *
 *     ngx_campaign_arena_init(&arena, NGX_CAMPAIGN_ARENA_CHUNK_SIZE);
 *     tpl = ngx_campaign_template_compile(&arena.alloc, ...);
 *     ...
 *     ngx_campaign_arena_destroy(&arena);
 *
 * With a chunk size of 0 every allocation is malloc'd on its own, so that
 * AddressSanitizer and valgrind see an overrun of any one of them.
 * Setting fail_at makes that allocation (1-based) and all after it fail,
 * to test what the code does when out of memory.
 */

#define NGX_CAMPAIGN_ARENA_CHUNK_SIZE  16384


typedef struct ngx_campaign_arena_chunk_s    ngx_campaign_arena_chunk_t;
typedef struct ngx_campaign_arena_cleanup_s  ngx_campaign_arena_cleanup_t;


typedef struct {
    ngx_campaign_alloc_t           alloc;      /* hand &arena.alloc out */

    ngx_campaign_arena_chunk_t    *chunks;
    unsigned char                 *pos;        /* free in the last chunk */
    unsigned char                 *last;
    ngx_campaign_arena_cleanup_t  *cleanups;

    size_t                         chunk_size;
    size_t                         nallocs;    /* asked for, cleanups too */
    size_t                         fail_at;    /* 0: never fail */
} ngx_campaign_arena_t;


void ngx_campaign_arena_init(ngx_campaign_arena_t *arena, size_t chunk_size);
void ngx_campaign_arena_destroy(ngx_campaign_arena_t *arena);


#endif /* _NGX_CAMPAIGN_ARENA_H_INCLUDED_ */
