
/*
 * Copyright (C) ngx_campaign developers
 */


/*
 * libFuzzer target: any body through ngx_campaign_trigger_parse() and,
 * when it parses, ngx_campaign_trigger_validate() against a fixed e-mail
 * campaign with one pattern field.
 *
 *     clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c99 \
 *         -D_DEFAULT_SOURCE -Isrc -It/unit src/ngx_campaign_trigger.c \
 *         t/unit/arena.c t/fuzz/fuzz_trigger.c -lcjson -lpcre2-8 \
 *         -o build/fuzz_trigger
 *     build/fuzz_trigger -max_total_time=120 build/corpus/trigger
 *
 * Besides the sanitizers it checks what must hold for any input: every
 * problem has a pointer and a message, the status agrees with the return
 * code, the context size limit agrees with cJSON's own printing, a
 * parsed tree has no duplicate member names, and no cJSON block outlives
 * the arena: the trees are in the arena (the engine's cJSON hooks), and
 * a malloc'd node put into one is freed with it.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_campaign_json.h"
#include "ngx_campaign_trigger.h"
#include "ngx_campaign_arena.h"


/* small, so that inputs cross it both ways */
#define FUZZ_MAX_CONTEXT_SIZE  256


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_problems(int rc, ngx_campaign_problems_t *problems);
static size_t fuzz_context_size(const cJSON *root);
static size_t fuzz_printed_size(const cJSON *item);
static void fuzz_check_names(const cJSON *item);


static ngx_campaign_field_t  fuzz_fields[] = {
    { "resetLink", NGX_CAMPAIGN_FIELD_STRING, 1, 200, "^https://[^\\s]+$",
      NULL, NULL },
    { "count", NGX_CAMPAIGN_FIELD_INTEGER, 0, 0, NULL, NULL, NULL }
};


static ngx_campaign_t  fuzz_campaign = {
    .id = "password-reset",
    .namespace = "email",
    .channel = NGX_CAMPAIGN_CHANNEL_EMAIL,
    .fields = fuzz_fields,
    .nfields = sizeof(fuzz_fields) / sizeof(fuzz_fields[0])
};


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    int           err;
    PCRE2_SIZE    off;

    (void) argc;
    (void) argv;

    if (ngx_campaign_trigger_init() != 0) {
        abort();
    }

    fuzz_fields[0].pattern = pcre2_compile(
                                 (PCRE2_SPTR) fuzz_fields[0].pattern_src,
                                 PCRE2_ZERO_TERMINATED, PCRE2_UTF,
                                 &err, &off, NULL);
    if (fuzz_fields[0].pattern == NULL) {
        abort();
    }

    (void) pcre2_jit_compile(fuzz_fields[0].pattern, PCRE2_JIT_COMPLETE);

    fuzz_fields[0].match_data = pcre2_match_data_create_from_pattern(
                                    fuzz_fields[0].pattern, NULL);
    if (fuzz_fields[0].match_data == NULL) {
        abort();
    }

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                             rc;
    size_t                          i, printed;
    cJSON                          *item;
    ngx_campaign_arena_t            arena;
    ngx_campaign_trigger_t          t;
    ngx_campaign_problems_t         problems;
    ngx_campaign_trigger_limits_t   limits;

    /* every allocation on its own, so that ASan sees any overrun */
    ngx_campaign_arena_init(&arena, 0);

    limits.max_depth = 0;
    limits.max_context_size = FUZZ_MAX_CONTEXT_SIZE;

    rc = ngx_campaign_trigger_parse(&arena.alloc, data, size, &limits, &t,
                                    &problems);
    fuzz_check_problems(rc, &problems);

    /* the size limit as cJSON itself would print the contexts */

    if (t.root != NULL && (rc == 0 || problems.status == 413)) {
        printed = fuzz_context_size(t.root);

        if ((rc == 0) != (printed <= FUZZ_MAX_CONTEXT_SIZE)) {
            abort();
        }
    }

    if (t.root != NULL) {
        fuzz_check_names(t.root);

        /* nothing of a parsed tree is malloc'd */

        if (ngx_campaign_json_live() != 0) {
            abort();
        }
    }

    if (rc == 0) {
        if (!ngx_campaign_user_id_valid(t.recipients[0].user_id)
            || !ngx_campaign_namespace_valid(t.recipients[0].namespace))
        {
            abort();
        }

        /* a malloc'd node in a pooled tree, as the module puts a profile */

        item = cJSON_CreateObject();
        if (item == NULL
            || !cJSON_ReplaceItemInObjectCaseSensitive(t.recipients[0].data,
                                                       "profile", item))
        {
            abort();
        }

        if (t.request_id == NULL || t.campaign_id == NULL
            || t.nrecipients < 1
            || t.nrecipients > NGX_CAMPAIGN_MAX_RECIPIENTS)
        {
            abort();
        }

        for (i = 0; i < t.nrecipients; i++) {
            if (t.recipients[i].user_id == NULL
                || t.recipients[i].data == NULL)
            {
                abort();
            }

            /* walk the references, as a template would */

            item = cJSON_GetObjectItemCaseSensitive(t.recipients[i].data,
                                                    "context");
            for (item = item ? item->child : NULL; item; item = item->next) {
                if (item->string == NULL) {
                    abort();
                }

                (void) fuzz_printed_size(item);
            }
        }

        rc = ngx_campaign_trigger_validate(&arena.alloc, &t, &fuzz_campaign,
                                           &problems);
        fuzz_check_problems(rc, &problems);

        if (rc == 0) {
            for (i = 0; i < t.nrecipients; i++) {
                if (t.recipients[i].address == NULL) {
                    abort();
                }
            }

        } else if (problems.status != 400) {
            abort();
        }
    }

    ngx_campaign_arena_destroy(&arena);

    if (ngx_campaign_json_live() != 0) {
        abort();
    }

    return 0;
}


/* no object of the tree has two members of the same name */

static void
fuzz_check_names(const cJSON *item)
{
    const cJSON  *child, *prev;

    for (child = item->child; child != NULL; child = child->next) {
        if (cJSON_IsObject(item)) {
            for (prev = item->child; prev != child; prev = prev->next) {
                if (strcmp(prev->string, child->string) == 0) {
                    abort();
                }
            }
        }

        fuzz_check_names(child);
    }
}


static void
fuzz_check_problems(int rc, ngx_campaign_problems_t *problems)
{
    size_t                   i;
    ngx_campaign_problem_t  *p;

    if (rc == 0) {
        if (problems->nitems != 0 || problems->status != 0) {
            abort();
        }

        return;
    }

    if (rc != -1 || problems->nitems == 0
        || (problems->status != 400 && problems->status != 413))
    {
        abort();
    }

    for (i = 0; i < problems->nitems; i++) {
        p = &problems->items[i];

        if (p->pointer == NULL || p->message == NULL || p->message[0] == '\0'
            || (p->pointer[0] != '\0' && p->pointer[0] != '/'))
        {
            abort();
        }
    }
}


/* what parse counts: the top-level context and every recipient's */

static size_t
fuzz_context_size(const cJSON *root)
{
    int           n;
    size_t        size;
    const cJSON  *item, *ctx;

    size = 0;

    ctx = cJSON_GetObjectItemCaseSensitive(root, "context");
    if (cJSON_IsObject(ctx)) {
        size += fuzz_printed_size(ctx);
    }

    item = cJSON_GetObjectItemCaseSensitive(root, "recipients");
    if (!cJSON_IsArray(item)) {
        return size;
    }

    n = cJSON_GetArraySize(item);
    if (n < 1 || n > NGX_CAMPAIGN_MAX_RECIPIENTS) {
        return size;
    }

    for (item = item->child; item; item = item->next) {
        ctx = cJSON_GetObjectItemCaseSensitive(item, "context");
        if (cJSON_IsObject(ctx)) {
            size += fuzz_printed_size(ctx);
        }
    }

    return size;
}


static size_t
fuzz_printed_size(const cJSON *item)
{
    char    *s;
    size_t   size;

    s = cJSON_PrintUnformatted(item);
    if (s == NULL) {
        abort();
    }

    size = strlen(s);
    cJSON_free(s);

    return size;
}
