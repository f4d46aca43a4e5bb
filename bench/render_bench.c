
/*
 * Copyright (C) ngx_campaign developers
 */


/*
 * The render time of the engine alone: the content of the campaign of
 * bench/campaigns (subject, html and text, about 2 KB rendered) for the
 * first recipient of bench/trigger.json, as a gateway payload has it:
 * rendered against {"profile": ..., "context": ...} and JSON-escaped,
 * in one step (ngx_campaign_content_render_json()) and in two
 * (ngx_campaign_content_render(), then ngx_campaign_content_json()).
 * Each render gets a fresh arena, as each request gets a fresh pool in
 * nginx.  Five runs of about a second each; the median is the figure to
 * quote.
 *
 *     make build/render_bench
 *     build/render_bench [campaign.json trigger.json]
 */

#define _POSIX_C_SOURCE  200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ngx_campaign_content.h"
#include "ngx_campaign_definition.h"
#include "ngx_campaign_arena.h"


#define RENDER_BENCH_RUNS  5


static void render_bench_problem(void *data, const char *file,
    const char *field, size_t line, size_t column, const char *message);
static double render_bench_now(void);
static int render_bench_measure(const ngx_campaign_t *c, const cJSON *data,
    unsigned steps);
static int render_bench_once(const ngx_campaign_t *c, const cJSON *data,
    unsigned steps, ngx_campaign_alloc_t *a, size_t *len);
static int render_bench_loop(const ngx_campaign_t *c, const cJSON *data,
    unsigned steps, size_t n);
static int render_bench_compare(const void *a, const void *b);


int
main(int argc, char **argv)
{
    u_char                *text;
    size_t                 len;
    cJSON                 *trigger, *data, *recipient;
    const char            *campaign_path, *trigger_path;
    ngx_campaign_t        *c;
    ngx_campaign_arena_t   arena, scratch;

    campaign_path = (argc > 1) ? argv[1]
                    : "bench/campaigns/bench-order-confirmation.json";
    trigger_path = (argc > 2) ? argv[2] : "bench/trigger.json";

    ngx_campaign_arena_init(&arena, NGX_CAMPAIGN_ARENA_CHUNK_SIZE);

    text = ngx_campaign_definition_read_file(&arena.alloc, campaign_path,
                                             &len, render_bench_problem,
                                             NULL);
    if (text == NULL) {
        return 1;
    }

    c = ngx_campaign_definition_parse(&arena.alloc, campaign_path, text, len,
                                      render_bench_problem, NULL);
    if (c == NULL) {
        return 1;
    }

    text = ngx_campaign_definition_read_file(&arena.alloc, trigger_path,
                                             &len, render_bench_problem,
                                             NULL);
    if (text == NULL) {
        return 1;
    }

    trigger = cJSON_ParseWithLength((const char *) text, len);
    recipient = cJSON_GetArrayItem(cJSON_GetObjectItem(trigger, "recipients"),
                                   0);

    if (recipient == NULL) {
        fprintf(stderr, "no recipient in %s\n", trigger_path);
        return 1;
    }

    data = cJSON_CreateObject();
    cJSON_AddItemReferenceToObject(data, "profile",
                                   cJSON_GetObjectItem(recipient, "profile"));
    cJSON_AddItemReferenceToObject(data, "context",
                                   cJSON_GetObjectItem(recipient, "context"));

    ngx_campaign_arena_init(&scratch, NGX_CAMPAIGN_ARENA_CHUNK_SIZE);

    if (render_bench_once(c, data, 1, &scratch.alloc, &len) != 0) {
        return 1;
    }

    printf("campaign %s: %zu bytes of content JSON\n", c->id, len);
    ngx_campaign_arena_destroy(&scratch);

    if (render_bench_measure(c, data, 1) != 0
        || render_bench_measure(c, data, 2) != 0)
    {
        return 1;
    }

    cJSON_Delete(data);
    cJSON_Delete(trigger);
    ngx_campaign_arena_destroy(&arena);

    return 0;
}


static void
render_bench_problem(void *data, const char *file, const char *field,
    size_t line, size_t column, const char *message)
{
    (void) data;

    fprintf(stderr, "%s:%zu:%zu: %s%s%s\n", file, line, column,
            field ? field : "", field ? ": " : "", message);
}


/* five runs of about a second each */

static int
render_bench_measure(const ngx_campaign_t *c, const cJSON *data,
    unsigned steps)
{
    size_t  i, n;
    double  start, elapsed, ns[RENDER_BENCH_RUNS];

    n = 1000;

    for ( ;; ) {
        start = render_bench_now();

        if (render_bench_loop(c, data, steps, n) != 0) {
            return -1;
        }

        elapsed = render_bench_now() - start;

        if (elapsed > 0.1) {
            n = (size_t) (n / elapsed);
            break;
        }

        n *= 10;
    }

    for (i = 0; i < RENDER_BENCH_RUNS; i++) {
        start = render_bench_now();

        if (render_bench_loop(c, data, steps, n) != 0) {
            return -1;
        }

        elapsed = render_bench_now() - start;
        ns[i] = elapsed * 1e9 / n;
    }

    qsort(ns, RENDER_BENCH_RUNS, sizeof(double), render_bench_compare);

    printf("content JSON in %s step%s: %zu renders a run, median of %d: "
           "%.0f renders/s, %.1f ns/render (runs: %.1f to %.1f ns)\n",
           (steps == 1) ? "one" : "two", (steps == 1) ? "" : "s", n,
           RENDER_BENCH_RUNS, 1e9 / ns[RENDER_BENCH_RUNS / 2],
           ns[RENDER_BENCH_RUNS / 2], ns[0], ns[RENDER_BENCH_RUNS - 1]);

    return 0;
}


static int
render_bench_once(const ngx_campaign_t *c, const cJSON *data,
    unsigned steps, ngx_campaign_alloc_t *a, size_t *len)
{
    int                       rc;
    size_t                    n;
    u_char                   *json;
    ngx_campaign_rendered_t  *r;

    if (steps == 1) {
        rc = ngx_campaign_content_render_json(a, c, data, NULL, &json, len);

    } else {
        rc = ngx_campaign_content_render(a, c, data, NULL, &r, &n);

        if (rc == 0) {
            rc = ngx_campaign_content_json(a, r, n, &json, len);
        }
    }

    if (rc != 0) {
        fprintf(stderr, "render failed\n");
        return -1;
    }

    return 0;
}


static int
render_bench_loop(const ngx_campaign_t *c, const cJSON *data,
    unsigned steps, size_t n)
{
    size_t                 i, len;
    ngx_campaign_arena_t   arena;

    for (i = 0; i < n; i++) {
        ngx_campaign_arena_init(&arena, NGX_CAMPAIGN_ARENA_CHUNK_SIZE);

        if (render_bench_once(c, data, steps, &arena.alloc, &len) != 0) {
            return -1;
        }

        ngx_campaign_arena_destroy(&arena);
    }

    return 0;
}


static double
render_bench_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static int
render_bench_compare(const void *a, const void *b)
{
    double  x, y;

    x = *(const double *) a;
    y = *(const double *) b;

    return (x > y) - (x < y);
}
