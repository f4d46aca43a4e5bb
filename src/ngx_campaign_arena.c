
/*
 * Copyright (C) ngx_campaign developers
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_campaign_arena.h"


struct ngx_campaign_arena_chunk_s {
    ngx_campaign_arena_chunk_t    *next;
};


struct ngx_campaign_arena_cleanup_s {
    void                         (*handler)(void *data);
    void                          *data;
    ngx_campaign_arena_cleanup_t  *next;
};


/* allocations are aligned as malloc's are on the usual 64-bit platforms */
#define NGX_CAMPAIGN_ARENA_ALIGNMENT  16

#define ngx_campaign_arena_align(n)                                         \
    (((n) + NGX_CAMPAIGN_ARENA_ALIGNMENT - 1)                               \
     & ~((size_t) NGX_CAMPAIGN_ARENA_ALIGNMENT - 1))

#define NGX_CAMPAIGN_ARENA_HEADER                                           \
    ngx_campaign_arena_align(sizeof(ngx_campaign_arena_chunk_t))


static void *ngx_campaign_arena_alloc(void *pool, size_t size);
static void *ngx_campaign_arena_get(ngx_campaign_arena_t *arena,
    size_t size);
static void *ngx_campaign_arena_alloc_chunk(ngx_campaign_arena_t *arena,
    size_t size);
static int ngx_campaign_arena_cleanup(void *pool, void (*handler)(void *data),
    void *data);


void
ngx_campaign_arena_init(ngx_campaign_arena_t *arena, size_t chunk_size)
{
    memset(arena, 0, sizeof(ngx_campaign_arena_t));

    arena->alloc.alloc = ngx_campaign_arena_alloc;
    arena->alloc.cleanup = ngx_campaign_arena_cleanup;
    arena->alloc.pool = arena;
    arena->chunk_size = chunk_size;
}


void
ngx_campaign_arena_destroy(ngx_campaign_arena_t *arena)
{
    ngx_campaign_arena_chunk_t    *chunk, *next_chunk;
    ngx_campaign_arena_cleanup_t  *cln, *next_cln;

    /* the records are in the chunks, as in an nginx pool */

    for (cln = arena->cleanups; cln; cln = next_cln) {
        next_cln = cln->next;
        cln->handler(cln->data);
    }

    for (chunk = arena->chunks; chunk; chunk = next_chunk) {
        next_chunk = chunk->next;
        free(chunk);
    }

    ngx_campaign_arena_init(arena, arena->chunk_size);
}


static void *
ngx_campaign_arena_alloc(void *pool, size_t size)
{
    ngx_campaign_arena_t  *arena;

    arena = pool;
    arena->nallocs++;

    if (arena->fail_at && arena->nallocs >= arena->fail_at) {
        return NULL;
    }

    return ngx_campaign_arena_get(arena, size);
}


static void *
ngx_campaign_arena_get(ngx_campaign_arena_t *arena, size_t size)
{
    unsigned char  *p;

    if (size > (size_t) -1 - 2 * NGX_CAMPAIGN_ARENA_HEADER) {
        return NULL;
    }

    /* large allocations get a block of their own, as in an nginx pool */

    if (arena->chunk_size == 0 || size > arena->chunk_size / 4) {
        return ngx_campaign_arena_alloc_chunk(arena, size);
    }

    size = ngx_campaign_arena_align(size);

    if ((size_t) (arena->last - arena->pos) < size) {
        p = ngx_campaign_arena_alloc_chunk(arena, arena->chunk_size);
        if (p == NULL) {
            return NULL;
        }

        arena->pos = p;
        arena->last = p + arena->chunk_size;
    }

    p = arena->pos;
    arena->pos += size;

    return p;
}


static void *
ngx_campaign_arena_alloc_chunk(ngx_campaign_arena_t *arena, size_t size)
{
    ngx_campaign_arena_chunk_t  *chunk;

    chunk = malloc(NGX_CAMPAIGN_ARENA_HEADER + size);
    if (chunk == NULL) {
        return NULL;
    }

    chunk->next = arena->chunks;
    arena->chunks = chunk;

    return (unsigned char *) chunk + NGX_CAMPAIGN_ARENA_HEADER;
}


static int
ngx_campaign_arena_cleanup(void *pool, void (*handler)(void *data),
    void *data)
{
    ngx_campaign_arena_t          *arena;
    ngx_campaign_arena_cleanup_t  *cln;

    arena = pool;
    arena->nallocs++;

    if (arena->fail_at && arena->nallocs >= arena->fail_at) {
        return -1;
    }

    cln = ngx_campaign_arena_get(arena, sizeof(ngx_campaign_arena_cleanup_t));
    if (cln == NULL) {
        return -1;
    }

    cln->handler = handler;
    cln->data = data;
    cln->next = arena->cleanups;
    arena->cleanups = cln;

    return 0;
}
