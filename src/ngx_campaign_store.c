
/*
 * Copyright (C) ngx_campaign developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_campaign_module.h"


/*
 * The module's runtime state, in one shared memory zone (campaign_zone):
 * records found by key in an rbtree, the least recently used at the end
 * of a queue.  Every operation is one atomic step under the zone's lock,
 * so that another backend (Redis) can offer the same steps.
 *
 * An idempotency record is claimed by the worker that runs its request,
 * then holds the answer for its window.  A claim whose worker is gone
 * (or that is older than its lease) can be claimed again.
 *
 * Idempotency records are one per trigger, nearly all of a full zone,
 * and one is looked up on every trigger: they are found through a hash
 * table, not the rbtree.  In a tree of 100000 records a lookup reads some
 * 17 nodes scattered over the zone, each a cache miss, and the eviction
 * that makes room for the next record as many again.  The table is open
 * (linear probing) and a slot holds its record's hash besides where the
 * record is: a lookup reads one line of slots and no record but the one
 * it finds, and a record goes without a walk through others (a chain
 * costs a miss for each record in it, on each lookup and each eviction).
 * The rbtree keeps the other records.
 */


#define NGX_CAMPAIGN_STORE_CLAIMED  1
#define NGX_CAMPAIGN_STORE_DONE     2
#define NGX_CAMPAIGN_STORE_BUCKET   3     /* data: key, then the bucket */
#define NGX_CAMPAIGN_STORE_COUNTERS 4     /* answer: the counters */
#define NGX_CAMPAIGN_STORE_COUNT    6     /* data: key, then the counter */

/*
 * An idempotency record takes at least this and is aligned to it (the
 * slab's chunks are aligned to their size): a slot names it in these
 * units, in 32 bits (a zone of less than 2 TB), and a zone holds fewer
 * records than half its slots.
 */
#define NGX_CAMPAIGN_STORE_UNIT     512


typedef struct ngx_campaign_store_record_s  ngx_campaign_store_record_t;

struct ngx_campaign_store_record_s {
    ngx_str_node_t               sn;          /* key */
    ngx_queue_t                  queue;
    time_t                       expires;
    u_char                      *answer;      /* in the zone, or NULL */

    /* small fields packed: a record's header is in every trigger's block */
    uint32_t                     len;         /* of the answer */
    uint32_t                     room;        /* for an answer after the key */
    ngx_pid_t                    pid;         /* the claim's worker */
    uint16_t                     status;
    uint8_t                      problem;     /* the answer's type */
    uint8_t                      state;
    u_char                       fingerprint[NGX_CAMPAIGN_STORE_FP_LEN];
    u_char                       data[1];     /* the key; a bucket after */
};


/* a slot of the idempotency records' table; unit 0 is a free slot */

typedef struct {
    uint32_t                     hash;
    uint32_t                     unit;        /* of the record in the zone */
} ngx_campaign_store_slot_t;


typedef struct {
    ngx_rbtree_t                 rbtree;
    ngx_rbtree_node_t            sentinel;
    ngx_queue_t                  queue;
    time_t                       warned;
    ngx_atomic_t                 evictions;
    ngx_campaign_store_slot_t   *claims;      /* hash table, idempotency */
    ngx_uint_t                   mask;        /* its size - 1 */
    ngx_atomic_t                 flags;       /* flags set so far */

    /* suppressed addresses (unsubscribes), made at the first one */
    ngx_queue_t                  suppressed;
    ngx_atomic_t                 nsuppressed;
} ngx_campaign_store_sh_t;


struct ngx_campaign_store_s {
    ngx_campaign_store_sh_t     *sh;
    ngx_slab_pool_t             *shpool;
    ngx_shm_zone_t              *zone;
};


static ngx_int_t ngx_campaign_store_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_campaign_store_record_t *ngx_campaign_store_find(
    ngx_campaign_store_t *store, ngx_str_t *key);
static ngx_campaign_store_record_t *ngx_campaign_store_find_claim(
    ngx_campaign_store_t *store, ngx_str_t *key, uint32_t hash);
static void ngx_campaign_store_add_claim(ngx_campaign_store_t *store,
    ngx_campaign_store_record_t *rec);
static void ngx_campaign_store_remove_claim(ngx_campaign_store_t *store,
    ngx_campaign_store_record_t *rec);
static void *ngx_campaign_store_alloc(ngx_campaign_store_t *store,
    size_t size, ngx_log_t *log);
static ngx_campaign_store_record_t *ngx_campaign_store_new(
    ngx_campaign_store_t *store, ngx_str_t *key, size_t extra,
    ngx_uint_t state, ngx_log_t *log);
static void ngx_campaign_store_free(ngx_campaign_store_t *store,
    ngx_campaign_store_record_t *rec);
static ngx_int_t ngx_campaign_store_alive(ngx_pid_t pid);


/* campaign_zone NAME SIZE */

char *
ngx_campaign_store_zone(ngx_conf_t *cf, ngx_campaign_store_t **storep)
{
    ssize_t                size;
    ngx_str_t             *value;
    ngx_campaign_store_t  *store;

    if (*storep) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = ngx_parse_size(&value[2]);

    if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\", at least %uz",
                           &value[2], 8 * ngx_pagesize);
        return NGX_CONF_ERROR;
    }

    store = ngx_pcalloc(cf->pool, sizeof(ngx_campaign_store_t));
    if (store == NULL) {
        return NGX_CONF_ERROR;
    }

    store->zone = ngx_shared_memory_add(cf, &value[1], size,
                                        &ngx_http_campaign_module);
    if (store->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (store->zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used", &value[1]);
        return NGX_CONF_ERROR;
    }

    store->zone->init = ngx_campaign_store_init_zone;
    store->zone->data = store;

    *storep = store;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_campaign_store_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_campaign_store_t  *ostore = data;

    size_t                 len;
    ngx_uint_t             n;
    ngx_campaign_store_t  *store;

    store = shm_zone->data;

    if (ostore) {
        /* a reload: everything stored so far is kept */
        store->sh = ostore->sh;
        store->shpool = ostore->shpool;
        return NGX_OK;
    }

    store->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        store->sh = store->shpool->data;
        return NGX_OK;
    }

    store->sh = ngx_slab_calloc(store->shpool,
                                sizeof(ngx_campaign_store_sh_t));
    if (store->sh == NULL) {
        return NGX_ERROR;
    }

    store->shpool->data = store->sh;

    ngx_rbtree_init(&store->sh->rbtree, &store->sh->sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_queue_init(&store->sh->queue);

    /*
     * Two slots for each NGX_CAMPAIGN_STORE_UNIT bytes: the table is never
     * more than half full, and a lookup reads two or three slots.
     */

    for (n = 64; n * NGX_CAMPAIGN_STORE_UNIT < 2 * shm_zone->shm.size; n *= 2)
    {
        /* void */
    }

    store->sh->claims = ngx_slab_calloc(store->shpool,
                                        n * sizeof(ngx_campaign_store_slot_t));
    if (store->sh->claims == NULL) {
        return NGX_ERROR;
    }

    store->sh->mask = n - 1;

    len = sizeof(" in campaign_zone \"\"") + shm_zone->shm.name.len;

    store->shpool->log_ctx = ngx_slab_alloc(store->shpool, len);
    if (store->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(store->shpool->log_ctx, " in campaign_zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone lets its oldest records go: no line for each */
    store->shpool->log_nomem = 0;

    return NGX_OK;
}


/*
 * Claims key for the caller's request.  NGX_OK: claimed, run it.
 * NGX_DONE: answered before, *answer holds the answer, copied into pool;
 * NGX_DECLINED: answered before with another fingerprint; NGX_BUSY: a
 * claim of another request is running.  NGX_ERROR: no room at all.
 */

ngx_int_t
ngx_campaign_store_claim(ngx_campaign_store_t *store, ngx_str_t *key,
    u_char *fingerprint, time_t lease, size_t room, ngx_pool_t *pool,
    ngx_campaign_store_answer_t *answer, void **handle, ngx_log_t *log)
{
    size_t                        size, n;
    uint32_t                      hash;
    ngx_int_t                     rc;
    ngx_campaign_store_record_t  *rec;

    /* murmur takes 4 bytes a step, ngx_crc32_short half of one */

    hash = ngx_murmur_hash2(key->data, key->len);

    ngx_shmtx_lock(&store->shpool->mutex);

    rec = ngx_campaign_store_find_claim(store, key, hash);

    if (rec) {
        if (rec->state == NGX_CAMPAIGN_STORE_DONE) {

            if (ngx_memcmp(rec->fingerprint, fingerprint,
                           NGX_CAMPAIGN_STORE_FP_LEN)
                != 0)
            {
                rc = NGX_DECLINED;
                goto done;
            }

            answer->status = rec->status;
            answer->problem = rec->problem;
            answer->body.len = rec->len;
            answer->body.data = ngx_pnalloc(pool, rec->len);

            if (answer->body.data == NULL) {
                rc = NGX_ERROR;
                goto done;
            }

            ngx_memcpy(answer->body.data, rec->answer, rec->len);

            ngx_queue_remove(&rec->queue);
            ngx_queue_insert_head(&store->sh->queue, &rec->queue);

            rc = NGX_DONE;
            goto done;
        }

        /* a claim lives while its worker does, and its lease */

        if (rec->expires > ngx_time() && ngx_campaign_store_alive(rec->pid))
        {
            answer->retry_after = rec->expires - ngx_time();

            rc = (ngx_memcmp(rec->fingerprint, fingerprint,
                             NGX_CAMPAIGN_STORE_FP_LEN)
                  == 0)
                 ? NGX_BUSY : NGX_DECLINED;
            goto done;
        }

        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "campaign: the claim of worker %P on an "
                      "idempotency key has lapsed, it is claimed again",
                      rec->pid);

        ngx_campaign_store_free(store, rec);
    }

    /*
     * The answer is kept after the key when it fits in the size the slab
     * gives anyway for room bytes more: one block, one free when it goes.
     */

    size = offsetof(ngx_campaign_store_record_t, data) + key->len + room;

    for (n = NGX_CAMPAIGN_STORE_UNIT; n < size && n <= ngx_pagesize / 2;
         n <<= 1)
    {
        /* void */
    }

    if (n >= size) {
        size = n;
    }

    rec = ngx_campaign_store_alloc(store, size, log);
    if (rec == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    ngx_memcpy(rec->data, key->data, key->len);

    rec->room = size - offsetof(ngx_campaign_store_record_t, data) - key->len;
    rec->sn.str.data = rec->data;
    rec->sn.str.len = key->len;
    rec->sn.node.key = hash;
    rec->state = NGX_CAMPAIGN_STORE_CLAIMED;
    rec->pid = ngx_pid;
    rec->expires = ngx_time() + lease;
    rec->len = 0;
    rec->answer = NULL;
    ngx_memcpy(rec->fingerprint, fingerprint, NGX_CAMPAIGN_STORE_FP_LEN);

    ngx_campaign_store_add_claim(store, rec);

    ngx_queue_insert_head(&store->sh->queue, &rec->queue);

    *handle = rec;
    rc = NGX_OK;

done:

    ngx_shmtx_unlock(&store->shpool->mutex);

    return rc;
}


/*
 * The claimed request's answer, kept for the window.  A record that
 * cannot grow to hold it is let go: a repeat runs again rather than
 * replaying nothing.
 */

void
ngx_campaign_store_answer(ngx_campaign_store_t *store, void *handle,
    ngx_str_t *key, time_t window, ngx_campaign_store_answer_t *answer,
    ngx_log_t *log)
{
    ngx_campaign_store_record_t  *rec;

    ngx_shmtx_lock(&store->shpool->mutex);

    /*
     * The record claimed is still there: a claim lapses only when its
     * worker is gone, or well after its execution's deadline.  Checked
     * all the same, key included.
     */

    rec = handle;

    if (rec->state != NGX_CAMPAIGN_STORE_CLAIMED || rec->pid != ngx_pid
        || rec->sn.str.len != key->len
        || ngx_memcmp(rec->data, key->data, key->len) != 0)
    {
        goto done;
    }

    if (answer->body.len <= rec->room) {
        rec->answer = rec->data + rec->sn.str.len;

    } else {
        rec->answer = ngx_campaign_store_alloc(store, answer->body.len, log);
    }

    if (rec->answer == NULL) {
        /* no room: the claim goes, a repeat runs again */
        ngx_campaign_store_free(store, rec);
        goto done;
    }

    ngx_memcpy(rec->answer, answer->body.data, answer->body.len);

    rec->state = NGX_CAMPAIGN_STORE_DONE;
    rec->expires = ngx_time() + window;
    rec->status = answer->status;
    rec->problem = answer->problem;
    rec->len = answer->body.len;

    ngx_queue_remove(&rec->queue);
    ngx_queue_insert_head(&store->sh->queue, &rec->queue);

done:

    ngx_shmtx_unlock(&store->shpool->mutex);
}


/* a claim that ran nothing (the request was refused) is let go */

void
ngx_campaign_store_release(ngx_campaign_store_t *store, ngx_str_t *key)
{
    uint32_t                      hash;
    ngx_campaign_store_record_t  *rec;

    hash = ngx_murmur_hash2(key->data, key->len);

    ngx_shmtx_lock(&store->shpool->mutex);

    rec = ngx_campaign_store_find_claim(store, key, hash);

    if (rec && rec->state == NGX_CAMPAIGN_STORE_CLAIMED
        && rec->pid == ngx_pid)
    {
        ngx_campaign_store_free(store, rec);
    }

    ngx_shmtx_unlock(&store->shpool->mutex);
}


/*
 * Takes n tokens from the bucket of key, all or none (a campaign's
 * throttle).  NGX_OK: taken; NGX_AGAIN: none taken, *wait ms until they
 * would be; NGX_DECLINED: n is more than the bucket holds.  The clock is
 * the system's monotonic one, the same in every worker.
 */

ngx_int_t
ngx_campaign_store_take(ngx_campaign_store_t *store, ngx_str_t *key,
    ngx_uint_t rate, ngx_uint_t burst, ngx_uint_t n, ngx_msec_t *wait,
    ngx_log_t *log)
{
    uint64_t                      ms;
    ngx_int_t                     rc;
    ngx_campaign_bucket_t         bucket;
    ngx_campaign_bucket_rc_e      brc;
    ngx_campaign_store_record_t  *rec;

    ngx_shmtx_lock(&store->shpool->mutex);

    rec = ngx_campaign_store_find(store, key);

    if (rec == NULL) {
        rec = ngx_campaign_store_new(store, key,
                                     sizeof(ngx_campaign_bucket_t),
                                     NGX_CAMPAIGN_STORE_BUCKET, log);
        if (rec == NULL) {
            rc = NGX_ERROR;
            goto done;
        }

        ngx_campaign_bucket_init(&bucket, burst, ngx_current_msec);
        ngx_memcpy(rec->data + key->len, &bucket, sizeof(bucket));

        ngx_queue_insert_head(&store->sh->queue, &rec->queue);
    }

    /* the key may be unaligned in the record: the bucket is copied */

    ngx_memcpy(&bucket, rec->data + key->len, sizeof(bucket));

    brc = ngx_campaign_bucket_take(&bucket, rate, burst, n, ngx_current_msec,
                                   &ms);

    ngx_memcpy(rec->data + key->len, &bucket, sizeof(bucket));

    switch (brc) {

    case NGX_CAMPAIGN_BUCKET_OK:
        rc = NGX_OK;
        break;

    case NGX_CAMPAIGN_BUCKET_WAIT:
        *wait = (ngx_msec_t) ms;
        rc = NGX_AGAIN;
        break;

    default:
        rc = NGX_DECLINED;
    }

done:

    ngx_shmtx_unlock(&store->shpool->mutex);

    return rc;
}


ngx_uint_t
ngx_campaign_store_evictions(ngx_campaign_store_t *store)
{
    return store->sh->evictions;
}


static ngx_campaign_store_record_t *
ngx_campaign_store_find(ngx_campaign_store_t *store, ngx_str_t *key)
{
    ngx_str_node_t               *sn;
    ngx_campaign_store_record_t  *rec;

    sn = ngx_str_rbtree_lookup(&store->sh->rbtree, key,
                               ngx_crc32_short(key->data, key->len));
    if (sn == NULL) {
        return NULL;
    }

    rec = (ngx_campaign_store_record_t *) sn;

    if ((rec->state == NGX_CAMPAIGN_STORE_DONE
         || rec->state == NGX_CAMPAIGN_STORE_COUNT)
        && rec->expires <= ngx_time())
    {
        ngx_campaign_store_free(store, rec);
        return NULL;
    }

    return rec;
}


/* an idempotency record, not one whose window is over */

static ngx_campaign_store_record_t *
ngx_campaign_store_find_claim(ngx_campaign_store_t *store, ngx_str_t *key,
    uint32_t hash)
{
    ngx_uint_t                    i, mask;
    ngx_campaign_store_slot_t    *slot;
    ngx_campaign_store_record_t  *rec;

    slot = store->sh->claims;
    mask = store->sh->mask;

    for (i = hash & mask; slot[i].unit; i = (i + 1) & mask) {

        if (slot[i].hash != hash) {
            continue;
        }

        rec = (ngx_campaign_store_record_t *)
                  ((u_char *) store->shpool
                   + (size_t) slot[i].unit * NGX_CAMPAIGN_STORE_UNIT);

        if (rec->sn.str.len != key->len
            || ngx_memcmp(rec->data, key->data, key->len) != 0)
        {
            continue;
        }

        if (rec->state == NGX_CAMPAIGN_STORE_DONE
            && rec->expires <= ngx_time())
        {
            ngx_campaign_store_free(store, rec);
            return NULL;
        }

        return rec;
    }

    return NULL;
}


static void
ngx_campaign_store_add_claim(ngx_campaign_store_t *store,
    ngx_campaign_store_record_t *rec)
{
    ngx_uint_t                  i, mask;
    ngx_campaign_store_slot_t  *slot;

    slot = store->sh->claims;
    mask = store->sh->mask;

    for (i = rec->sn.node.key & mask; slot[i].unit; i = (i + 1) & mask) {
        /* void */
    }

    slot[i].hash = (uint32_t) rec->sn.node.key;
    slot[i].unit = ((u_char *) rec - (u_char *) store->shpool)
                   / NGX_CAMPAIGN_STORE_UNIT;
}


static void
ngx_campaign_store_remove_claim(ngx_campaign_store_t *store,
    ngx_campaign_store_record_t *rec)
{
    uint32_t                    unit;
    ngx_uint_t                  i, j, mask;
    ngx_campaign_store_slot_t  *slot;

    slot = store->sh->claims;
    mask = store->sh->mask;

    unit = ((u_char *) rec - (u_char *) store->shpool)
           / NGX_CAMPAIGN_STORE_UNIT;

    for (i = rec->sn.node.key & mask; slot[i].unit != unit; i = (i + 1) & mask)
    {
        /* void */
    }

    /*
     * The slots after it up to a free one are moved back into the hole
     * when their lookups, which start at their hash, pass it: a lookup
     * stops at the first free slot.
     */

    for (j = (i + 1) & mask; slot[j].unit; j = (j + 1) & mask) {

        if (((j - slot[j].hash) & mask) >= ((j - i) & mask)) {
            slot[i] = slot[j];
            i = j;
        }
    }

    slot[i].unit = 0;
}


/*
 * Room for a record or an answer: the expired ones at the end of the
 * queue go first;
 * when the zone is still full, the least recently used answers go before
 * their time (logged at most once a minute).  Running claims, buckets
 * and the counts of windows still open never go.
 */

static void *
ngx_campaign_store_alloc(ngx_campaign_store_t *store, size_t size,
    ngx_log_t *log)
{
    void                         *p;
    time_t                        now;
    ngx_uint_t                    n;
    ngx_queue_t                  *q;
    ngx_campaign_store_record_t  *oldest;

    now = ngx_time();

    for (n = 0; n < 3 && !ngx_queue_empty(&store->sh->queue); n++) {
        q = ngx_queue_last(&store->sh->queue);
        oldest = ngx_queue_data(q, ngx_campaign_store_record_t, queue);

        if ((oldest->state != NGX_CAMPAIGN_STORE_DONE
             && oldest->state != NGX_CAMPAIGN_STORE_COUNT)
            || oldest->expires > now)
        {
            break;
        }

        ngx_campaign_store_free(store, oldest);
    }

    for ( ;; ) {
        p = ngx_slab_alloc_locked(store->shpool, size);

        if (p) {
            return p;
        }

        for (q = ngx_queue_last(&store->sh->queue);
             q != ngx_queue_sentinel(&store->sh->queue);
             q = ngx_queue_prev(q))
        {
            oldest = ngx_queue_data(q, ngx_campaign_store_record_t, queue);

            if (oldest->state == NGX_CAMPAIGN_STORE_DONE) {
                break;
            }

            /* a count goes only with its window: it is no cache */

            if (oldest->state == NGX_CAMPAIGN_STORE_COUNT
                && oldest->expires <= now)
            {
                break;
            }
        }

        if (q == ngx_queue_sentinel(&store->sh->queue)) {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "campaign: no room for a record%s",
                          store->shpool->log_ctx);
            return NULL;
        }

        if (oldest->state == NGX_CAMPAIGN_STORE_COUNT) {
            ngx_campaign_store_free(store, oldest);
            continue;
        }

        if (now - store->sh->warned >= 60) {
            store->sh->warned = now;

            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "campaign: zone is full, the least recently used "
                          "idempotency records go before their window%s",
                          store->shpool->log_ctx);
        }

        store->sh->evictions++;

        ngx_campaign_store_free(store, oldest);
    }
}


static void
ngx_campaign_store_free(ngx_campaign_store_t *store,
    ngx_campaign_store_record_t *rec)
{
    if (rec->answer
        && (rec->state != NGX_CAMPAIGN_STORE_DONE
            || rec->answer != rec->data + rec->sn.str.len))
    {
        ngx_slab_free_locked(store->shpool, rec->answer);
    }

    ngx_queue_remove(&rec->queue);

    if (rec->state == NGX_CAMPAIGN_STORE_CLAIMED
        || rec->state == NGX_CAMPAIGN_STORE_DONE)
    {
        ngx_campaign_store_remove_claim(store, rec);

    } else {
        ngx_rbtree_delete(&store->sh->rbtree, &rec->sn.node);
    }

    ngx_slab_free_locked(store->shpool, rec);
}


/*
 * A new record of state under key, with extra bytes after the key, in the
 * rbtree and in no queue yet (the caller's lock is held).  NULL: no room.
 */

static ngx_campaign_store_record_t *
ngx_campaign_store_new(ngx_campaign_store_t *store, ngx_str_t *key,
    size_t extra, ngx_uint_t state, ngx_log_t *log)
{
    ngx_campaign_store_record_t  *rec;

    rec = ngx_campaign_store_alloc(store,
                                   offsetof(ngx_campaign_store_record_t, data)
                                   + key->len + extra, log);
    if (rec == NULL) {
        return NULL;
    }

    ngx_memcpy(rec->data, key->data, key->len);

    rec->sn.str.data = rec->data;
    rec->sn.str.len = key->len;
    rec->sn.node.key = ngx_crc32_short(key->data, key->len);
    rec->state = state;
    rec->expires = 0;
    rec->len = extra;
    rec->answer = NULL;

    ngx_rbtree_insert(&store->sh->rbtree, &rec->sn.node);
    ngx_queue_init(&rec->queue);

    return rec;
}


static ngx_int_t
ngx_campaign_store_alive(ngx_pid_t pid)
{
    if (pid == ngx_pid) {
        return 1;
    }

    return kill(pid, 0) == 0 || ngx_errno != NGX_ESRCH;
}


/*
 * Counters (ngx_campaign_metrics.c): a zeroed block of size bytes under
 * key, found or made once, then updated with atomic operations without
 * the lock.  It is in the rbtree but not in the queue: it never expires
 * and is never evicted, and it lives as long as the zone.
 */

void *
ngx_campaign_store_counters(ngx_campaign_store_t *store, ngx_str_t *key,
    size_t size, ngx_log_t *log)
{
    void                         *p;
    ngx_campaign_store_record_t  *rec;

    p = NULL;

    ngx_shmtx_lock(&store->shpool->mutex);

    rec = ngx_campaign_store_find(store, key);

    if (rec) {
        if (rec->state == NGX_CAMPAIGN_STORE_COUNTERS && rec->len == size) {
            p = rec->answer;
        }

        goto done;
    }

    p = ngx_campaign_store_alloc(store, size, log);
    if (p == NULL) {
        goto done;
    }

    rec = ngx_campaign_store_new(store, key, 0, NGX_CAMPAIGN_STORE_COUNTERS,
                                 log);
    if (rec == NULL) {
        ngx_slab_free_locked(store->shpool, p);
        p = NULL;
        goto done;
    }

    ngx_memzero(p, size);

    rec->len = size;
    rec->answer = p;

done:

    ngx_shmtx_unlock(&store->shpool->mutex);

    return p;
}


/* the zone's name, size and the bytes its pages in use hold */

void
ngx_campaign_store_usage(ngx_campaign_store_t *store, ngx_str_t *name,
    size_t *size, size_t *used)
{
    *name = store->zone->shm.name;
    *size = store->zone->shm.size;
    *used = *size - store->shpool->pfree * ngx_pagesize;
}


/*
 * Flags: a value and the time it was set, by key (a campaign's stop
 * switch).  A flag is kept for the zone's life: it is not in the LRU
 * queue, so that a full zone never lets one go, and there are only as
 * many as the keys the callers make (one per campaign).
 */

#define NGX_CAMPAIGN_STORE_FLAG     5     /* status: value, expires: since */


/*
 * Sets the flag of key to flag->value, since flag->since.  NGX_OK: set;
 * NGX_DECLINED: the flag is left as it was, and *flag is what it is --
 * when it has the value already (its "since" is kept), or when it exists
 * and keep is set (a flag that is only seeded).  NGX_ERROR: no room.
 */

ngx_int_t
ngx_campaign_store_set_flag(ngx_campaign_store_t *store, ngx_str_t *key,
    ngx_campaign_store_flag_t *flag, ngx_uint_t keep, ngx_log_t *log)
{
    ngx_int_t                     rc;
    ngx_campaign_store_record_t  *rec;

    ngx_shmtx_lock(&store->shpool->mutex);

    rec = ngx_campaign_store_find(store, key);

    if (rec && rec->state == NGX_CAMPAIGN_STORE_FLAG) {

        if (keep || rec->status == flag->value) {
            flag->value = rec->status;
            flag->since = rec->expires;
            rc = NGX_DECLINED;
            goto done;
        }

        rec->status = flag->value;
        rec->expires = flag->since;
        (void) ngx_atomic_fetch_add(&store->sh->flags, 1);
        rc = NGX_OK;
        goto done;
    }

    if (rec) {
        /* not a flag: a key of another kind, never made by our callers */
        rc = NGX_ERROR;
        goto done;
    }

    /* out of the LRU queue: a flag is never let go to make room */

    rec = ngx_campaign_store_new(store, key, 0, NGX_CAMPAIGN_STORE_FLAG, log);
    if (rec == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    rec->status = flag->value;
    rec->expires = flag->since;

    (void) ngx_atomic_fetch_add(&store->sh->flags, 1);

    rc = NGX_OK;

done:

    ngx_shmtx_unlock(&store->shpool->mutex);

    return rc;
}


/*
 * How many times a flag was set in the zone's life: a reader that saw the
 * same number before knows that no flag changed since, without the lock.
 */

ngx_atomic_uint_t
ngx_campaign_store_flags_set(ngx_campaign_store_t *store)
{
    return store->sh->flags;
}


/* NGX_OK and *flag, or NGX_DECLINED: the flag was never set */

ngx_int_t
ngx_campaign_store_get_flag(ngx_campaign_store_t *store, ngx_str_t *key,
    ngx_campaign_store_flag_t *flag)
{
    ngx_int_t                     rc;
    ngx_campaign_store_record_t  *rec;

    ngx_shmtx_lock(&store->shpool->mutex);

    rec = ngx_campaign_store_find(store, key);

    if (rec && rec->state == NGX_CAMPAIGN_STORE_FLAG) {
        flag->value = rec->status;
        flag->since = rec->expires;
        rc = NGX_OK;

    } else {
        flag->value = 0;
        flag->since = 0;
        rc = NGX_DECLINED;
    }

    ngx_shmtx_unlock(&store->shpool->mutex);

    return rc;
}


/*
 * Counts in a window (frequency caps).  A count is a record keyed by
 * its caller (a rule, a window, a profile) that lives until its window
 * ends: the messages that their gateway accepted, and those reserved
 * while they are sent.  A reservation is made before a message is sent,
 * so that concurrent senders cannot pass max together, and is then kept
 * (commit) or given back (cancel).  A worker that dies holding one
 * leaves it counted until the window ends: a cap errs on the side of
 * sending less.
 */


typedef struct {
    uint32_t                     count;       /* accepted */
    uint32_t                     reserved;    /* being sent */
} ngx_campaign_store_counter_t;


/*
 * Reserves one in each of the n counts, or in none, atomically.
 * NGX_OK: reserved in all; NGX_DECLINED: counts[*full] is at its max,
 * nothing is reserved; NGX_ERROR: no room for a count.
 */

ngx_int_t
ngx_campaign_store_count(ngx_campaign_store_t *store,
    ngx_campaign_store_count_t *counts, ngx_uint_t n, ngx_uint_t *full,
    ngx_log_t *log)
{
    ngx_int_t                      rc;
    ngx_uint_t                     i;
    ngx_campaign_store_record_t   *rec[NGX_CAMPAIGN_STORE_COUNT_MAX];
    ngx_campaign_store_counter_t   counter;

    if (n > NGX_CAMPAIGN_STORE_COUNT_MAX) {
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&store->shpool->mutex);

    /* every record first: an allocation only frees what is not these */

    for (i = 0; i < n; i++) {
        rec[i] = ngx_campaign_store_find(store, &counts[i].key);

        if (rec[i]) {
            continue;
        }

        rec[i] = ngx_campaign_store_new(store, &counts[i].key,
                                        sizeof(ngx_campaign_store_counter_t),
                                        NGX_CAMPAIGN_STORE_COUNT, log);
        if (rec[i] == NULL) {
            rc = NGX_ERROR;
            goto done;
        }

        rec[i]->expires = counts[i].expires;

        ngx_memzero(&counter, sizeof(counter));
        ngx_memcpy(rec[i]->data + counts[i].key.len, &counter,
                   sizeof(counter));

        ngx_queue_insert_head(&store->sh->queue, &rec[i]->queue);
    }

    for (i = 0; i < n; i++) {
        ngx_memcpy(&counter, rec[i]->data + counts[i].key.len,
                   sizeof(counter));

        if ((ngx_uint_t) counter.count + counter.reserved >= counts[i].max) {
            *full = i;
            rc = NGX_DECLINED;
            goto done;
        }
    }

    for (i = 0; i < n; i++) {
        ngx_memcpy(&counter, rec[i]->data + counts[i].key.len,
                   sizeof(counter));

        counter.reserved++;

        ngx_memcpy(rec[i]->data + counts[i].key.len, &counter,
                   sizeof(counter));

        ngx_queue_remove(&rec[i]->queue);
        ngx_queue_insert_head(&store->sh->queue, &rec[i]->queue);
    }

    rc = NGX_OK;

done:

    ngx_shmtx_unlock(&store->shpool->mutex);

    return rc;
}


/*
 * A reservation of ngx_campaign_store_count(), kept (the message was
 * accepted) or given back.  A count whose window has ended since is gone
 * already: nothing to do.
 */

void
ngx_campaign_store_count_settle(ngx_campaign_store_t *store,
    ngx_campaign_store_count_t *counts, ngx_uint_t n, ngx_uint_t commit)
{
    ngx_uint_t                     i;
    ngx_campaign_store_record_t   *rec;
    ngx_campaign_store_counter_t   counter;

    ngx_shmtx_lock(&store->shpool->mutex);

    for (i = 0; i < n; i++) {
        rec = ngx_campaign_store_find(store, &counts[i].key);

        if (rec == NULL || rec->state != NGX_CAMPAIGN_STORE_COUNT) {
            continue;
        }

        ngx_memcpy(&counter, rec->data + counts[i].key.len, sizeof(counter));

        if (counter.reserved == 0) {
            continue;
        }

        counter.reserved--;

        if (commit) {
            counter.count++;
        }

        ngx_memcpy(rec->data + counts[i].key.len, &counter, sizeof(counter));
    }

    ngx_shmtx_unlock(&store->shpool->mutex);
}


/*
 * Suppressed addresses (ngx_campaign_consent.c): a record per key (a
 * channel and an address), never expired nor evicted: an unsubscribe is
 * kept as long as the zone.  They are in the rbtree and in a queue of
 * their own, so that they can be listed without walking the tree.
 */

#define NGX_CAMPAIGN_STORE_SUPPRESSED  7


/* NGX_OK: added; NGX_DECLINED: it was there; NGX_ERROR: no room */

ngx_int_t
ngx_campaign_store_suppress(ngx_campaign_store_t *store, ngx_str_t *key,
    ngx_log_t *log)
{
    ngx_int_t                     rc;
    ngx_campaign_store_record_t  *rec;

    ngx_shmtx_lock(&store->shpool->mutex);

    if (store->sh->suppressed.next == NULL) {
        ngx_queue_init(&store->sh->suppressed);
    }

    rec = ngx_campaign_store_find(store, key);

    if (rec) {
        rc = (rec->state == NGX_CAMPAIGN_STORE_SUPPRESSED) ? NGX_DECLINED
                                                           : NGX_ERROR;
        goto done;
    }

    rec = ngx_campaign_store_new(store, key, 0,
                                 NGX_CAMPAIGN_STORE_SUPPRESSED, log);
    if (rec == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    ngx_queue_insert_tail(&store->sh->suppressed, &rec->queue);

    (void) ngx_atomic_fetch_add(&store->sh->nsuppressed, 1);

    rc = NGX_OK;

done:

    ngx_shmtx_unlock(&store->shpool->mutex);

    return rc;
}


ngx_uint_t
ngx_campaign_store_suppressed(ngx_campaign_store_t *store, ngx_str_t *key)
{
    ngx_uint_t                    found;
    ngx_campaign_store_record_t  *rec;

    /* no lock while nothing was ever suppressed: the common case */

    if (store->sh->nsuppressed == 0) {
        return 0;
    }

    ngx_shmtx_lock(&store->shpool->mutex);

    rec = ngx_campaign_store_find(store, key);
    found = (rec && rec->state == NGX_CAMPAIGN_STORE_SUPPRESSED);

    ngx_shmtx_unlock(&store->shpool->mutex);

    return found;
}


/* every suppressed key, copied into pool, in the order they were added */

ngx_int_t
ngx_campaign_store_suppressions(ngx_campaign_store_t *store,
    ngx_pool_t *pool, ngx_array_t *keys)
{
    ngx_int_t                     rc;
    ngx_str_t                    *key;
    ngx_queue_t                  *q;
    ngx_campaign_store_record_t  *rec;

    rc = NGX_OK;

    ngx_shmtx_lock(&store->shpool->mutex);

    if (store->sh->suppressed.next == NULL) {
        goto done;
    }

    for (q = ngx_queue_head(&store->sh->suppressed);
         q != ngx_queue_sentinel(&store->sh->suppressed);
         q = ngx_queue_next(q))
    {
        rec = ngx_queue_data(q, ngx_campaign_store_record_t, queue);

        key = ngx_array_push(keys);
        if (key == NULL) {
            rc = NGX_ERROR;
            goto done;
        }

        key->data = ngx_pnalloc(pool, rec->sn.str.len);
        if (key->data == NULL) {
            rc = NGX_ERROR;
            goto done;
        }

        ngx_memcpy(key->data, rec->sn.str.data, rec->sn.str.len);
        key->len = rec->sn.str.len;
    }

done:

    ngx_shmtx_unlock(&store->shpool->mutex);

    return rc;
}


/*
 * Counters made by ngx_campaign_store_counters(), found and never made:
 * for readers of a key that a client names (an audience execution's
 * status), who must not fill the zone by asking.  NULL when unknown.
 */

void *
ngx_campaign_store_counters_find(ngx_campaign_store_t *store, ngx_str_t *key,
    size_t size)
{
    void                         *p;
    ngx_campaign_store_record_t  *rec;

    p = NULL;

    ngx_shmtx_lock(&store->shpool->mutex);

    rec = ngx_campaign_store_find(store, key);

    if (rec && rec->state == NGX_CAMPAIGN_STORE_COUNTERS && rec->len == size)
    {
        p = rec->answer;
    }

    ngx_shmtx_unlock(&store->shpool->mutex);

    return p;
}
