
/*
 * Copyright (C) ngx_campaign developers
 */


/*
 * libFuzzer target over ngx_campaign_template_compile() and _render().
 *
 * The input is a template, a NUL byte and JSON data; without the NUL or
 * when the JSON does not parse, a fixed sample object is the data.  The
 * template compiles in both escape modes, which must agree on whether it
 * is valid, and renders; the output must be as long as it says.
 *
 *     clang -g -O1 -fsanitize=fuzzer,address -Isrc -It/unit \
 *         src/ngx_campaign_template.c t/unit/arena.c \
 *         t/fuzz/fuzz_template.c -lcjson -o build/fuzz_template
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_campaign_template.h"
#include "arena.h"


static const char  sample[] =
    "{\"profile\": {\"person\": {\"name\": {\"firstName\": \"<Ann & Bo>\"}},"
    " \"tags\": [\"a\", \"b'\", \"\\\"c\\\"\"]},"
    " \"context\": {\"offers\": [{\"title\": \"{{x}}\", \"price\": 1.21},"
    " {\"title\": \"T\", \"price\": 85}, 3, null, [1, [2]]]},"
    " \"a\": {\"b\": {\"c\": {\"d\": true}}}, \"n\": null, \"t\": true,"
    " \"f\": false, \"e\": [], \"o\": {}, \"s\": \"\", \"z\": 0,"
    " \"x\": 1e300, \"y\": -0.000001}";


static int ngx_campaign_fuzz_compile_render(const u_char *src, size_t len,
    ngx_campaign_escape_e escape, const cJSON *data);


int
LLVMFuzzerTestOneInput(const uint8_t *input, size_t size)
{
    int             valid_none, valid_html;
    cJSON          *data;
    size_t          len;
    const uint8_t  *nul;

    static cJSON   *fixed;

    if (fixed == NULL) {
        fixed = cJSON_Parse(sample);
        if (fixed == NULL) {
            abort();
        }
    }

    nul = memchr(input, '\0', size);
    len = nul ? (size_t) (nul - input) : size;

    data = NULL;

    if (nul) {
        data = cJSON_ParseWithLength((const char *) nul + 1, size - len - 1);
    }

    valid_none = ngx_campaign_fuzz_compile_render(input, len,
                                                  NGX_CAMPAIGN_ESCAPE_NONE,
                                                  data ? data : fixed);
    valid_html = ngx_campaign_fuzz_compile_render(input, len,
                                                  NGX_CAMPAIGN_ESCAPE_HTML,
                                                  data ? data : fixed);

    if (valid_none != valid_html) {
        abort();
    }

    cJSON_Delete(data);

    return 0;
}


/* returns whether the template compiled */

static int
ngx_campaign_fuzz_compile_render(const u_char *src, size_t len,
    ngx_campaign_escape_e escape, const cJSON *data)
{
    size_t                              i, n, out_len;
    u_char                             *out;
    ngx_campaign_arena_t                arena;
    ngx_campaign_template_t            *tpl;
    const ngx_campaign_template_ref_t  *refs;
    ngx_campaign_template_error_t       err;

    ngx_campaign_arena_init(&arena, 0);

    tpl = ngx_campaign_template_compile(&arena.alloc, src, len, escape, &err);

    if (tpl == NULL) {
        /* a syntax error has a place in the source and a message */
        if (err.line == 0 || err.column == 0 || err.message[0] == '\0'
            || memchr(err.message, '\0', sizeof(err.message)) == NULL)
        {
            abort();
        }

        ngx_campaign_arena_destroy(&arena);
        return 0;
    }

    /* the names are trimmed and point into the template's own copy */

    refs = ngx_campaign_template_refs(tpl, &n);

    for (i = 0; i < n; i++) {
        if (refs[i].len == 0 || refs[i].line == 0 || refs[i].column == 0
            || memchr(refs[i].name, ' ', refs[i].len) != NULL)
        {
            abort();
        }
    }

    if (ngx_campaign_template_render(tpl, data, &arena.alloc, &out, &out_len)
        == 0)
    {
        /*
         * memchr() reads every byte for ASan; a NUL cannot come from the
         * template (cut at the first NUL) nor from cJSON's C strings
         */

        if (out_len > NGX_CAMPAIGN_TEMPLATE_MAX_OUTPUT || out[out_len] != '\0'
            || memchr(out, '\0', out_len) != NULL)
        {
            abort();
        }
    }

    ngx_campaign_arena_destroy(&arena);

    return 1;
}
