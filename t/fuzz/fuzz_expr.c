
/*
 * Copyright (C) ngx_campaign developers
 */


/*
 * libFuzzer target over ngx_campaign_expr_compile() and _eval().
 *
 * The input is an expression; it is compiled at line 1, column 1 and
 * evaluated against a fixed data object.  A compile error must have a
 * place inside the expression and a message; a value must be well formed,
 * its text no longer than the limit, and "not" of it the opposite of its
 * truthiness.
 *
 *     clang -g -O1 -fsanitize=fuzzer,address -Isrc \
 *         src/ngx_campaign_expr.c src/ngx_campaign_arena.c \
 *         t/fuzz/fuzz_expr.c -lcjson -lm -o build/fuzz_expr
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_campaign_expr.h"
#include "ngx_campaign_arena.h"


static const char  sample[] =
    "{\"profile\": {\"person\": {\"name\": {\"firstName\": \"<Ann & Bo>\","
    " \"lastName\": \"\\u00dcnal \\u65e5\\u672c \\ud83d\\ude00\"}},"
    " \"phone\": \"123456789\", \"age\": 30, \"ageText\": \" 30 \","
    " \"tags\": [\"a\", \"b'\", \"\\\"c\\\"\"]},"
    " \"context\": {\"offers\": [{\"title\": \"{{x}}\", \"price\": 1.21},"
    " {\"title\": \"T\", \"price\": 85}, 3, null, [1, [2]]]},"
    " \"a\": {\"b\": {\"c\": {\"d\": true}}}, \"n\": null, \"t\": true,"
    " \"f\": false, \"e\": [], \"o\": {}, \"s\": \"\", \"z\": 0,"
    " \"x\": 1e300, \"y\": -0.000001, \"m\": -1e-300, \"w\": \"ten\"}";


/* where the text of values is read to, so that no read is optimised out */
static volatile u_char  ngx_campaign_fuzz_sum;


static const cJSON *ngx_campaign_fuzz_lookup(void *ctx,
    const ngx_campaign_segment_t *segments, size_t n);


int
LLVMFuzzerTestOneInput(const uint8_t *input, size_t size)
{
    int                             truthy;
    size_t                          len, i, lines;
    const u_char                   *text;
    ngx_campaign_expr_t            *e;
    ngx_campaign_arena_t            arena;
    ngx_campaign_value_t            v;
    ngx_campaign_template_error_t   err;

    static cJSON                   *data;

    if (data == NULL) {
        data = cJSON_Parse(sample);
        if (data == NULL) {
            abort();
        }
    }

    ngx_campaign_arena_init(&arena, 0);

    memset(&err, 0, sizeof(err));

    e = ngx_campaign_expr_compile(&arena.alloc, input, size, 1, 1, &err);

    if (e == NULL) {
        /* the error is in the expression, or just past its end */

        for (lines = 1, i = 0; i < size; i++) {
            lines += (input[i] == '\n');
        }

        if (err.message[0] == '\0'
            || memchr(err.message, '\0', sizeof(err.message)) == NULL)
        {
            abort();
        }

        if (strcmp(err.message, "out of memory") != 0
            && (err.line == 0 || err.column == 0 || err.line > lines
                || err.column > size + 1))
        {
            abort();
        }

        ngx_campaign_arena_destroy(&arena);
        return 0;
    }

    if (ngx_campaign_expr_eval(e, ngx_campaign_fuzz_lookup, data,
                               &arena.alloc, &v)
        == 0)
    {
        if (v.type > NGX_CAMPAIGN_VALUE_JSON) {
            abort();
        }

        if (ngx_campaign_value_text(&v, &arena.alloc, &text, &len) == 0) {
            if (len > NGX_CAMPAIGN_EXPR_MAX_STRING) {
                abort();
            }

            /* every byte read, for ASan */

            for (i = 0; i < len; i++) {
                ngx_campaign_fuzz_sum += text[i];
            }
        }

        truthy = ngx_campaign_value_truthy(&v);

        if (truthy != 0 && truthy != 1) {
            abort();
        }
    }

    ngx_campaign_arena_destroy(&arena);

    return 0;
}


/* member names and array indexes from the root; "this" stays in place */

static const cJSON *
ngx_campaign_fuzz_lookup(void *ctx, const ngx_campaign_segment_t *segments,
    size_t n)
{
    char          name[64];
    size_t        i;
    const cJSON  *value;

    value = ctx;

    for (i = 0; i < n && value; i++) {
        if (segments[i].len == 0) {
            abort();
        }

        if (segments[i].len >= sizeof(name)) {
            return NULL;
        }

        memcpy(name, segments[i].data, segments[i].len);
        name[segments[i].len] = '\0';

        if (strcmp(name, "this") == 0) {
            continue;
        }

        if (cJSON_IsArray(value)) {
            value = cJSON_GetArrayItem(value, atoi(name));

        } else {
            value = cJSON_GetObjectItemCaseSensitive(value, name);
        }
    }

    return value;
}
