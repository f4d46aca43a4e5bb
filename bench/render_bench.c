
/*
 * Copyright (C) ngx_campaign developers
 */


/*
 * The render time of the engine alone: the html template of
 * bench/campaigns/bench-order-confirmation.json (2 KB, 14 substitutions)
 * with the data of the first recipient of bench/trigger.json, as the
 * module renders it: {"profile": ..., "context": ...}.  Each render gets
 * a fresh arena, as each request gets a fresh pool in nginx.  Five runs
 * of about a second each; the median is the figure to quote.
 *
 *     cc -std=c99 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -O2 -Isrc \
 *         src/ngx_campaign_template.c src/ngx_campaign_expr.c \
 *         src/ngx_campaign_arena.c bench/render_bench.c -lcjson -lm \
 *         -o build/render_bench
 *     build/render_bench [campaign.json trigger.json]
 */

#define _POSIX_C_SOURCE  200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ngx_campaign_template.h"
#include "ngx_campaign_arena.h"


#define RENDER_BENCH_RUNS  5


static char *render_bench_read(const char *path);
static double render_bench_now(void);
static int render_bench_loop(const ngx_campaign_template_t *tpl,
    const cJSON *data, size_t n);
static int render_bench_compare(const void *a, const void *b);


int
main(int argc, char **argv)
{
    char                           *text;
    size_t                          i, n, out_len;
    u_char                         *out;
    cJSON                          *campaign, *trigger, *data, *recipient;
    double                          start, elapsed, ns[RENDER_BENCH_RUNS];
    const char                     *campaign_path, *trigger_path, *html;
    ngx_campaign_arena_t            arena, scratch;
    ngx_campaign_template_t        *tpl;
    ngx_campaign_template_error_t   err;

    campaign_path = (argc > 1) ? argv[1]
                    : "bench/campaigns/bench-order-confirmation.json";
    trigger_path = (argc > 2) ? argv[2] : "bench/trigger.json";

    text = render_bench_read(campaign_path);
    campaign = text ? cJSON_Parse(text) : NULL;
    free(text);

    text = render_bench_read(trigger_path);
    trigger = text ? cJSON_Parse(text) : NULL;
    free(text);

    if (campaign == NULL || trigger == NULL) {
        fprintf(stderr, "cannot read %s or %s as JSON\n", campaign_path,
                trigger_path);
        return 1;
    }

    html = cJSON_GetStringValue(cJSON_GetObjectItem(
                                   cJSON_GetObjectItem(campaign, "content"),
                                   "html"));
    recipient = cJSON_GetArrayItem(cJSON_GetObjectItem(trigger, "recipients"),
                                   0);

    if (html == NULL || recipient == NULL) {
        fprintf(stderr, "no content.html in %s or no recipient in %s\n",
                campaign_path, trigger_path);
        return 1;
    }

    data = cJSON_CreateObject();
    cJSON_AddItemReferenceToObject(data, "profile",
                                   cJSON_GetObjectItem(recipient, "profile"));
    cJSON_AddItemReferenceToObject(data, "context",
                                   cJSON_GetObjectItem(recipient, "context"));

    ngx_campaign_arena_init(&arena, NGX_CAMPAIGN_ARENA_CHUNK_SIZE);

    tpl = ngx_campaign_template_compile(&arena.alloc, (const u_char *) html,
                                        strlen(html), NGX_CAMPAIGN_ESCAPE_HTML,
                                        &err);
    if (tpl == NULL) {
        fprintf(stderr, "%zu:%zu: %s\n", err.line, err.column, err.message);
        return 1;
    }

    ngx_campaign_arena_init(&scratch, NGX_CAMPAIGN_ARENA_CHUNK_SIZE);

    if (ngx_campaign_template_render(tpl, data, &scratch.alloc, &out,
                                     &out_len)
        != 0)
    {
        fprintf(stderr, "render failed\n");
        return 1;
    }

    printf("template %zu bytes, output %zu bytes\n", strlen(html), out_len);
    ngx_campaign_arena_destroy(&scratch);

    /* about a second a run */

    n = 1000;

    for ( ;; ) {
        start = render_bench_now();

        if (render_bench_loop(tpl, data, n) != 0) {
            return 1;
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

        if (render_bench_loop(tpl, data, n) != 0) {
            return 1;
        }

        elapsed = render_bench_now() - start;
        ns[i] = elapsed * 1e9 / n;

        printf("run %zu: %zu renders in %.3f s: %.0f renders/s, "
               "%.1f ns/render\n", i + 1, n, elapsed, n / elapsed, ns[i]);
    }

    qsort(ns, RENDER_BENCH_RUNS, sizeof(double), render_bench_compare);

    printf("median: %.0f renders/s, %.1f ns/render\n",
           1e9 / ns[RENDER_BENCH_RUNS / 2], ns[RENDER_BENCH_RUNS / 2]);

    ngx_campaign_arena_destroy(&arena);
    cJSON_Delete(data);
    cJSON_Delete(campaign);
    cJSON_Delete(trigger);

    return 0;
}


static int
render_bench_loop(const ngx_campaign_template_t *tpl, const cJSON *data,
    size_t n)
{
    size_t                 i, out_len;
    u_char                *out;
    ngx_campaign_arena_t   arena;

    for (i = 0; i < n; i++) {
        ngx_campaign_arena_init(&arena, NGX_CAMPAIGN_ARENA_CHUNK_SIZE);

        if (ngx_campaign_template_render(tpl, data, &arena.alloc, &out,
                                         &out_len)
            != 0)
        {
            fprintf(stderr, "render failed\n");
            return -1;
        }

        ngx_campaign_arena_destroy(&arena);
    }

    return 0;
}


static char *
render_bench_read(const char *path)
{
    long   len;
    char  *text;
    FILE  *f;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);

    text = malloc(len + 1);

    if (text == NULL || fread(text, 1, len, f) != (size_t) len) {
        free(text);
        fclose(f);
        return NULL;
    }

    fclose(f);
    text[len] = '\0';

    return text;
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
