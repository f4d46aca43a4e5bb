
/*
 * Copyright (C) ngx_campaign developers
 */


/*
 * libFuzzer target over ngx_campaign_template_compile_opts() and
 * _render().
 *
 * The input is a template, a NUL byte and JSON data; without the NUL or
 * when the JSON does not parse, a fixed sample object is the data.  The
 * template compiles in both escape modes, which must agree on whether it
 * is valid, and renders; the output must be as long as it says.  Its
 * fragments are a few fixed ones, recursive ones among them, and "self":
 * the template itself, so that any template is a recursive fragment too.
 *
 *     clang -g -O1 -fsanitize=fuzzer,address -D_DEFAULT_SOURCE -Isrc \
 *         src/ngx_campaign_template.c src/ngx_campaign_expr.c \
 *         src/ngx_campaign_arena.c t/fuzz/fuzz_template.c -lcjson -lm \
 *         -o build/fuzz_template
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_campaign_template.h"
#include "ngx_campaign_arena.h"


static const char  sample[] =
    "{\"profile\": {\"person\": {\"name\": {\"firstName\": \"<Ann & Bo>\"}},"
    " \"tags\": [\"a\", \"b'\", \"\\\"c\\\"\"]},"
    " \"context\": {\"offers\": [{\"title\": \"{{x}}\", \"price\": 1.21},"
    " {\"title\": \"T\", \"price\": 85}, 3, null, [1, [2]]]},"
    " \"a\": {\"b\": {\"c\": {\"d\": true}}}, \"n\": null, \"t\": true,"
    " \"f\": false, \"e\": [], \"o\": {}, \"s\": \"\", \"z\": 0,"
    " \"x\": 1e300, \"y\": -0.000001}";


/* name, source: "self" is the input */
static const char  *fragments[] = {
    "a", "[{{a.b.c.d}}{{#each context.offers}}{{@index}}{{/each}}]\n",
    "node", "{{#each this}}({{>node}}){{/each}}",
    "ping", "{{#t}}p{{>pong}}{{/t}}",
    "pong", "{{#with o}}{{>ping}}{{/with}}",
    "indent", "  x\n{{>a}}\n  {{>a}}\n{{=<% %>=}}<%>a%>\n",
    "bad", "{{#oops}}",
    NULL
};


typedef struct {
    const u_char  *src;
    size_t         len;
} ngx_campaign_fuzz_input_t;


static int ngx_campaign_fuzz_partial(void *data, const u_char *name,
    size_t len, const u_char **src, size_t *src_len);
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


static int
ngx_campaign_fuzz_partial(void *data, const u_char *name, size_t len,
    const u_char **src, size_t *src_len)
{
    size_t                      i;
    ngx_campaign_fuzz_input_t  *input = data;

    if (len == 4 && memcmp(name, "self", 4) == 0) {
        *src = input->src;
        *src_len = input->len;
        return 0;
    }

    for (i = 0; fragments[i] != NULL; i += 2) {
        if (len == strlen(fragments[i])
            && memcmp(name, fragments[i], len) == 0)
        {
            *src = (const u_char *) fragments[i + 1];
            *src_len = strlen(fragments[i + 1]);
            return 0;
        }
    }

    return -1;
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
    ngx_campaign_fuzz_input_t           input;
    const ngx_campaign_template_ref_t  *refs;
    ngx_campaign_template_opts_t        opts;
    ngx_campaign_template_error_t       err;

    ngx_campaign_arena_init(&arena, 0);

    input.src = src;
    input.len = len;

    opts.escape = escape;
    opts.partial = ngx_campaign_fuzz_partial;
    opts.partial_data = &input;

    tpl = ngx_campaign_template_compile_opts(&arena.alloc, src, len, &opts,
                                             &err);

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
