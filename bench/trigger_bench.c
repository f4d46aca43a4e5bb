
/*
 * Copyright (C) ngx_campaign developers
 */


/*
 * The trigger step of the engine alone: bench/trigger.json (one recipient)
 * through ngx_campaign_trigger_parse() and ngx_campaign_trigger_validate()
 * against bench/campaigns/bench-order-confirmation.json, each round with
 * a fresh arena of 4 KB chunks, as each request gets a fresh pool of
 * request_pool_size in nginx.  Made for instruction counts:
 *
 *     make build/trigger_bench
 *     valgrind --tool=callgrind --toggle-collect=trigger_bench_round \
 *         --callgrind-out-file=build/callgrind.trigger \
 *         build/trigger_bench 1000
 *     callgrind_annotate build/callgrind.trigger | head -30
 *
 * The total divided by the rounds is the cost of one trigger; without
 * valgrind the program prints the time per round.
 */

#define _POSIX_C_SOURCE  200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ngx_campaign_trigger.h"
#include "ngx_campaign_arena.h"


#define TRIGGER_BENCH_CHUNK  4096


int trigger_bench_round(const u_char *body, size_t len,
    const ngx_campaign_t *campaign);
static void trigger_bench_error(void *data, const char *file,
    const char *field, size_t line, size_t column, const char *message);


int
main(int argc, char **argv)
{
    long                   rounds, i;
    size_t                 n, len;
    u_char                *body;
    double                 elapsed;
    const char            *dir, *path;
    ngx_campaign_t       **campaigns;
    struct timespec        start, end;
    ngx_campaign_arena_t   arena;

    rounds = (argc > 1) ? atol(argv[1]) : 100000;
    dir = (argc > 2) ? argv[2] : "bench/campaigns";
    path = (argc > 3) ? argv[3] : "bench/trigger.json";

    if (ngx_campaign_trigger_init() != 0) {
        fprintf(stderr, "ngx_campaign_trigger_init() failed\n");
        return 1;
    }

    ngx_campaign_arena_init(&arena, NGX_CAMPAIGN_ARENA_CHUNK_SIZE);

    if (ngx_campaign_definition_load_dir(&arena.alloc, dir, NULL, &campaigns,
                                         &n, trigger_bench_error, NULL)
        != 0
        || n != 1)
    {
        fprintf(stderr, "%s: expected one campaign\n", dir);
        return 1;
    }

    body = ngx_campaign_definition_read_file(&arena.alloc, path, &len,
                                             trigger_bench_error, NULL);
    if (body == NULL) {
        return 1;
    }

    clock_gettime(CLOCK_MONOTONIC, &start);

    for (i = 0; i < rounds; i++) {
        if (trigger_bench_round(body, len, campaigns[0]) != 0) {
            fprintf(stderr, "%s: does not validate\n", path);
            return 1;
        }
    }

    clock_gettime(CLOCK_MONOTONIC, &end);

    elapsed = (end.tv_sec - start.tv_sec) * 1e9
              + (end.tv_nsec - start.tv_nsec);

    printf("%ld rounds, %.0f ns per trigger\n", rounds,
           rounds ? elapsed / rounds : 0.0);

    ngx_campaign_arena_destroy(&arena);

    return 0;
}


/* one request: a pool, parse, validate, the pool goes */

int
trigger_bench_round(const u_char *body, size_t len,
    const ngx_campaign_t *campaign)
{
    int                       rc;
    ngx_campaign_arena_t      pool;
    ngx_campaign_trigger_t    t;
    ngx_campaign_problems_t   problems;

    ngx_campaign_arena_init(&pool, TRIGGER_BENCH_CHUNK);

    rc = ngx_campaign_trigger_parse(&pool.alloc, body, len, NULL, &t,
                                    &problems);
    if (rc == 0) {
        rc = ngx_campaign_trigger_validate(&pool.alloc, &t, campaign,
                                           &problems);
    }

    ngx_campaign_arena_destroy(&pool);

    return rc;
}


static void
trigger_bench_error(void *data, const char *file, const char *field,
    size_t line, size_t column, const char *message)
{
    (void) data;
    (void) line;
    (void) column;

    fprintf(stderr, "%s: %s: %s\n", file, field ? field : "", message);
}
