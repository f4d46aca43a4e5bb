
/*
 * Copyright (C) ngx_campaign developers
 */


/*
 * libFuzzer target: any input through the audience reader twice, once in
 * one piece and once in chunks of sizes drawn from the input, with the
 * recipient handler pausing the feed now and then.  The first byte
 * chooses max_line (16..1032 bytes) and whether userIds must be unique,
 * the second seeds the chunk sizes; the rest is the audience.
 *
 *     make fuzz    (or build/fuzz_audience -max_total_time=60 DIR)
 *
 * Besides the sanitizers it checks what must hold for any input: both
 * runs report the same events (digested) and counters, every line has
 * exactly one outcome, line numbers only grow, the line buffer never
 * holds more than max_line bytes, every recipient handed over is usable,
 * every problem has a pointer and a message, and no malloc'd cJSON block
 * outlives a line.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_campaign_json.h"
#include "ngx_campaign_audience.h"


typedef struct {
    uint64_t     digest;
    size_t       last_line;
    size_t       handed;
    unsigned     pause:1;
} fuzz_run_t;


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_read(const uint8_t *data, size_t size, size_t max_line,
    unsigned unique, unsigned chunked, uint32_t seed,
    ngx_campaign_audience_counters_t *counters, uint64_t *digest);
static int fuzz_recipient(void *data, const ngx_campaign_audience_line_t *line,
    ngx_campaign_recipient_t *r, cJSON *value);
static void fuzz_skipped(void *data, const ngx_campaign_audience_line_t *line,
    ngx_campaign_audience_reason_e reason,
    const ngx_campaign_problem_t *problem);
static void fuzz_line(fuzz_run_t *run,
    const ngx_campaign_audience_line_t *line);
static void fuzz_digest(fuzz_run_t *run, const void *p, size_t n);
static void fuzz_digest_string(fuzz_run_t *run, const char *s);


static ngx_campaign_field_t  fuzz_fields[] = {
    { "offerCode", NGX_CAMPAIGN_FIELD_STRING, 0, 5, NULL, NULL, NULL },
    { "storeId", NGX_CAMPAIGN_FIELD_INTEGER, 1, 0, NULL, NULL, NULL }
};


static ngx_campaign_t  fuzz_campaign = {
    .id = "winter-sale",
    .namespace = "email",
    .channel = NGX_CAMPAIGN_CHANNEL_EMAIL,
    .fields = fuzz_fields,
    .nfields = sizeof(fuzz_fields) / sizeof(fuzz_fields[0])
};


static cJSON   *fuzz_context;
static size_t   fuzz_live;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;

    if (ngx_campaign_trigger_init() != 0) {
        abort();
    }

    fuzz_context = cJSON_Parse("{\"storeId\":7}");
    if (fuzz_context == NULL) {
        abort();
    }

    fuzz_live = ngx_campaign_json_live();

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                             max_line, i, sum;
    uint64_t                           whole_digest, chunked_digest;
    unsigned                           unique;
    uint32_t                           seed;
    ngx_campaign_audience_counters_t   whole, chunked;

    if (size < 2) {
        return 0;
    }

    max_line = 16 + (size_t) (data[0] >> 1) * 8;
    unique = data[0] & 1;
    seed = data[1] * 2654435761u + (uint32_t) size;

    fuzz_read(data + 2, size - 2, max_line, unique, 0, seed, &whole,
              &whole_digest);
    fuzz_read(data + 2, size - 2, max_line, unique, 1, seed, &chunked,
              &chunked_digest);

    if (whole_digest != chunked_digest
        || memcmp(&whole, &chunked, sizeof(whole)) != 0)
    {
        abort();
    }

    /* one outcome a line */

    sum = whole.blank + whole.valid;

    for (i = 0; i < NGX_CAMPAIGN_AUDIENCE_NREASONS; i++) {
        sum += whole.skipped[i];
    }

    if (sum != whole.lines) {
        abort();
    }

    return 0;
}


static void
fuzz_read(const uint8_t *data, size_t size, size_t max_line,
    unsigned unique, unsigned chunked, uint32_t seed,
    ngx_campaign_audience_counters_t *counters, uint64_t *digest)
{
    int                            rc;
    size_t                         off, n, used;
    fuzz_run_t                     run;
    ngx_campaign_audience_t        au;
    ngx_campaign_audience_conf_t   conf;

    memset(&run, 0, sizeof(fuzz_run_t));
    run.digest = 0xcbf29ce484222325ULL;
    run.pause = chunked;

    memset(&conf, 0, sizeof(conf));
    conf.rules.campaign = &fuzz_campaign;
    conf.rules.context = fuzz_context;
    conf.rules.max_context_size = 64;
    conf.max_line = max_line;
    conf.unique = unique;
    conf.recipient = fuzz_recipient;
    conf.skipped = fuzz_skipped;
    conf.data = &run;

    if (ngx_campaign_audience_init(&au, &conf) != 0) {
        abort();
    }

    off = 0;

    while (off < size) {
        n = size - off;

        if (chunked) {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;

            /* mostly small pieces, now and then one larger than a line */
            n = (seed & 0x100) ? 1 + seed % (2 * max_line) : 1 + seed % 8;
            n = (n < size - off) ? n : size - off;
        }

        rc = ngx_campaign_audience_feed(&au, data + off, n, &used);

        if (rc == NGX_CAMPAIGN_AUDIENCE_PAUSED) {
            if (used == 0 || used > n || data[off + used - 1] != '\n') {
                abort();
            }

        } else if (rc != 0 || used != n) {
            abort();
        }

        off += used;

        if (au.peak > max_line || au.size > max_line) {
            abort();
        }
    }

    if (ngx_campaign_audience_finish(&au) != 0) {
        abort();
    }

    if (au.offset != (off_t) size
        || ngx_campaign_json_live() != fuzz_live
        || au.arena.chunks != NULL)
    {
        abort();
    }

    *counters = au.counters;
    *digest = run.digest;

    ngx_campaign_audience_free(&au);
}


static int
fuzz_recipient(void *data, const ngx_campaign_audience_line_t *line,
    ngx_campaign_recipient_t *r, cJSON *value)
{
    fuzz_run_t  *run = data;

    if (!cJSON_IsObject(value) || r->data == NULL || r->address == NULL
        || !ngx_campaign_user_id_valid(r->user_id)
        || !ngx_campaign_namespace_valid(r->namespace)
        || line->text == NULL || line->end < line->start
        || (size_t) (line->end - line->start) < line->len)
    {
        abort();
    }

    fuzz_line(run, line);
    fuzz_digest_string(run, "ok");
    fuzz_digest_string(run, r->user_id);
    fuzz_digest_string(run, r->address);

    run->handed++;

    return (run->pause && run->handed % 3 == 0)
           ? NGX_CAMPAIGN_AUDIENCE_PAUSED : 0;
}


static void
fuzz_skipped(void *data, const ngx_campaign_audience_line_t *line,
    ngx_campaign_audience_reason_e reason,
    const ngx_campaign_problem_t *problem)
{
    fuzz_run_t  *run = data;

    if (problem->pointer == NULL || problem->message == NULL
        || problem->message[0] == '\0'
        || (size_t) reason >= NGX_CAMPAIGN_AUDIENCE_NREASONS)
    {
        abort();
    }

    if ((reason == NGX_CAMPAIGN_AUDIENCE_TOO_LONG)
        != (line->text == NULL && line->end == -1))
    {
        abort();
    }

    fuzz_line(run, line);
    fuzz_digest_string(run, ngx_campaign_audience_reason_name(reason));
    fuzz_digest_string(run, problem->pointer);
    fuzz_digest_string(run, problem->message);
}


static void
fuzz_line(fuzz_run_t *run, const ngx_campaign_audience_line_t *line)
{
    if (line->number <= run->last_line || line->start < 0) {
        abort();
    }

    run->last_line = line->number;

    fuzz_digest(run, &line->number, sizeof(line->number));
    fuzz_digest(run, &line->start, sizeof(line->start));
    fuzz_digest(run, &line->end, sizeof(line->end));
}


static void
fuzz_digest(fuzz_run_t *run, const void *p, size_t n)
{
    const uint8_t  *b = p;

    while (n--) {
        run->digest ^= *b++;
        run->digest *= 0x100000001b3ULL;
    }
}


static void
fuzz_digest_string(fuzz_run_t *run, const char *s)
{
    fuzz_digest(run, s, strlen(s) + 1);
}
