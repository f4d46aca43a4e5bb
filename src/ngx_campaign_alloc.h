
/*
 * Copyright (C) ngx_campaign developers
 */


#ifndef _NGX_CAMPAIGN_ALLOC_H_INCLUDED_
#define _NGX_CAMPAIGN_ALLOC_H_INCLUDED_


#include <stddef.h>


/*
 * The engine parts (templates, campaign definitions, trigger validation)
 * do not include nginx headers: they allocate through this interface.
 * Inside nginx it is backed by a request or cycle pool, in the unit tests,
 * the fuzzers and the command-line tool by a small arena.  Memory is never
 * freed piecemeal: it goes away with the pool.
 */

typedef struct {
    void      *(*alloc)(void *pool, size_t size);

    /* runs handler(data) when the pool is destroyed; 0 on success */
    int        (*cleanup)(void *pool, void (*handler)(void *data),
                          void *data);

    void       *pool;
} ngx_campaign_alloc_t;


#define ngx_campaign_alloc(a, size)  (a)->alloc((a)->pool, size)
#define ngx_campaign_cleanup(a, h, d)  (a)->cleanup((a)->pool, h, d)


#endif /* _NGX_CAMPAIGN_ALLOC_H_INCLUDED_ */
