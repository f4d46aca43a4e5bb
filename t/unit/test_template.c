
/*
 * Copyright (C) ngx_campaign developers
 */


/*
 * The template engine: every case of the Mustache spec files
 * interpolation.json and sections.json, the cases of the spec's comments,
 * inverted, partials and delimiters files (written out below), then what
 * the spec leaves to us: Handlebars block helpers, AJO expression tags,
 * fragments, error positions, escape modes, number formatting and the
 * limits.
 *
 * The spec files are read from $MUSTACHE_SPEC_DIR, else from
 * ../shared/spec/mustache (tests run from the repository root).
 */

#define _POSIX_C_SOURCE  200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "ngx_campaign_template.h"
#include "ngx_campaign_json.h"
#include "ngx_campaign_arena.h"


typedef struct {
    const char    *file;
    const cJSON   *test;       /* {"name", "data", "template", "expected"} */
} spec_case_t;


/*
 * The cases of the Mustache spec v1.4 files that ../shared/spec/mustache
 * does not hold, as the spec writes them.  One differs on purpose:
 * "Failed Lookup" is an error here (campaign authors want a typo in a
 * fragment name caught), expected gives the error.
 */
typedef struct {
    const char    *file;
    const char    *name;
    const char    *template;
    const char    *data;       /* JSON */
    const char    *partials;   /* JSON object, NULL: none */
    const char    *expected;
    const char    *error;      /* "line:column: message" instead */
} written_case_t;


/* a template compiled and rendered in an arena of its own */
typedef struct {
    ngx_campaign_arena_t            arena;
    ngx_campaign_template_t        *tpl;
    ngx_campaign_template_error_t   err;
    cJSON                          *data;
    cJSON                          *partials;
    size_t                          lookups;   /* of fragments */
    u_char                         *out;
    size_t                          out_len;
} run_t;


static const written_case_t  written_cases[] = {
    {   "comments", "Inline",
        "12345{{! Comment Block! }}67890",
        "{}",
        NULL,
        "1234567890",
        NULL },
    {   "comments", "Multiline",
        "12345{{!\n  This is a\n  multi-line comment...\n}}67890\n",
        "{}",
        NULL,
        "1234567890\n",
        NULL },
    {   "comments", "Standalone",
        "Begin.\n{{! Comment Block! }}\nEnd.\n",
        "{}",
        NULL,
        "Begin.\nEnd.\n",
        NULL },
    {   "comments", "Indented Standalone",
        "Begin.\n  {{! Indented Comment Block! }}\nEnd.\n",
        "{}",
        NULL,
        "Begin.\nEnd.\n",
        NULL },
    {   "comments", "Standalone Line Endings",
        "|\r\n{{! Standalone Comment }}\r\n|",
        "{}",
        NULL,
        "|\r\n|",
        NULL },
    {   "comments", "Standalone Without Previous Line",
        "  {{! I'm Still Standalone }}\n!",
        "{}",
        NULL,
        "!",
        NULL },
    {   "comments", "Standalone Without Newline",
        "!\n  {{! I'm Still Standalone }}",
        "{}",
        NULL,
        "!\n",
        NULL },
    {   "comments", "Multiline Standalone",
        "Begin.\n{{!\nSomething's going on here...\n}}\nEnd.\n",
        "{}",
        NULL,
        "Begin.\nEnd.\n",
        NULL },
    {   "comments", "Indented Multiline Standalone",
        "Begin.\n  {{!\n    Something's going on here...\n  }}\nEnd.\n",
        "{}",
        NULL,
        "Begin.\nEnd.\n",
        NULL },
    {   "comments", "Indented Inline",
        "  12 {{! 34 }}\n",
        "{}",
        NULL,
        "  12 \n",
        NULL },
    {   "comments", "Surrounding Whitespace",
        "12345 {{! Comment Block! }} 67890",
        "{}",
        NULL,
        "12345  67890",
        NULL },
    {   "comments", "Variable Name Collision",
        "comments never show: >{{! comment }}<",
        "{\"! comment\":1,\"! comment \":2,\"!comment\":3,\"comment\":4}",
        NULL,
        "comments never show: ><",
        NULL },
    {   "inverted", "Falsey",
        "\"{{^boolean}}This should be rendered.{{/boolean}}\"",
        "{\"boolean\":false}",
        NULL,
        "\"This should be rendered.\"",
        NULL },
    {   "inverted", "Truthy",
        "\"{{^boolean}}This should not be rendered.{{/boolean}}\"",
        "{\"boolean\":true}",
        NULL,
        "\"\"",
        NULL },
    {   "inverted", "Null is falsey",
        "\"{{^null}}This should be rendered.{{/null}}\"",
        "{\"null\":null}",
        NULL,
        "\"This should be rendered.\"",
        NULL },
    {   "inverted", "Context",
        "\"{{^context}}Hi {{name}}.{{/context}}\"",
        "{\"context\":{\"name\":\"Joe\"}}",
        NULL,
        "\"\"",
        NULL },
    {   "inverted", "List",
        "\"{{^list}}{{n}}{{/list}}\"",
        "{\"list\":[{\"n\":1},{\"n\":2},{\"n\":3}]}",
        NULL,
        "\"\"",
        NULL },
    {   "inverted", "Empty List",
        "\"{{^list}}Yay lists!{{/list}}\"",
        "{\"list\":[]}",
        NULL,
        "\"Yay lists!\"",
        NULL },
    {   "inverted", "Doubled",
        "{{^bool}}\n* first\n{{/bool}}\n* {{two}}\n{{^bool}}\n* third\n{{/boo"
        "l}}\n",
        "{\"bool\":false,\"two\":\"second\"}",
        NULL,
        "* first\n* second\n* third\n",
        NULL },
    {   "inverted", "Nested (Falsey)",
        "| A {{^bool}}B {{^bool}}C{{/bool}} D{{/bool}} E |",
        "{\"bool\":false}",
        NULL,
        "| A B C D E |",
        NULL },
    {   "inverted", "Nested (Truthy)",
        "| A {{^bool}}B {{^bool}}C{{/bool}} D{{/bool}} E |",
        "{\"bool\":true}",
        NULL,
        "| A  E |",
        NULL },
    {   "inverted", "Context Misses",
        "[{{^missing}}Cannot find key 'missing'!{{/missing}}]",
        "{}",
        NULL,
        "[Cannot find key 'missing'!]",
        NULL },
    {   "inverted", "Dotted Names - Truthy",
        "\"{{^a.b.c}}Not Here{{/a.b.c}}\" == \"\"",
        "{\"a\":{\"b\":{\"c\":true}}}",
        NULL,
        "\"\" == \"\"",
        NULL },
    {   "inverted", "Dotted Names - Falsey",
        "\"{{^a.b.c}}Not Here{{/a.b.c}}\" == \"Not Here\"",
        "{\"a\":{\"b\":{\"c\":false}}}",
        NULL,
        "\"Not Here\" == \"Not Here\"",
        NULL },
    {   "inverted", "Dotted Names - Broken Chains",
        "\"{{^a.b.c}}Not Here{{/a.b.c}}\" == \"Not Here\"",
        "{\"a\":{}}",
        NULL,
        "\"Not Here\" == \"Not Here\"",
        NULL },
    {   "inverted", "Surrounding Whitespace",
        " | {{^boolean}}\t|\t{{/boolean}} | \n",
        "{\"boolean\":false}",
        NULL,
        " | \t|\t | \n",
        NULL },
    {   "inverted", "Internal Whitespace",
        " | {{^boolean}} {{! Important Whitespace }}\n {{/boolean}} | \n",
        "{\"boolean\":false}",
        NULL,
        " |  \n  | \n",
        NULL },
    {   "inverted", "Indented Inline Sections",
        " {{^boolean}}NO{{/boolean}}\n {{^boolean}}WAY{{/boolean}}\n",
        "{\"boolean\":false}",
        NULL,
        " NO\n WAY\n",
        NULL },
    {   "inverted", "Standalone Lines",
        "| This Is\n{{^boolean}}\n|\n{{/boolean}}\n| A Line\n",
        "{\"boolean\":false}",
        NULL,
        "| This Is\n|\n| A Line\n",
        NULL },
    {   "inverted", "Standalone Indented Lines",
        "| This Is\n  {{^boolean}}\n|\n  {{/boolean}}\n| A Line\n",
        "{\"boolean\":false}",
        NULL,
        "| This Is\n|\n| A Line\n",
        NULL },
    {   "inverted", "Standalone Line Endings",
        "|\r\n{{^boolean}}\r\n{{/boolean}}\r\n|",
        "{\"boolean\":false}",
        NULL,
        "|\r\n|",
        NULL },
    {   "inverted", "Standalone Without Previous Line",
        "  {{^boolean}}\n^{{/boolean}}\n/",
        "{\"boolean\":false}",
        NULL,
        "^\n/",
        NULL },
    {   "inverted", "Standalone Without Newline",
        "^{{^boolean}}\n/\n  {{/boolean}}",
        "{\"boolean\":false}",
        NULL,
        "^\n/\n",
        NULL },
    {   "inverted", "Padding",
        "|{{^ boolean }}={{/ boolean }}|",
        "{\"boolean\":false}",
        NULL,
        "|=|",
        NULL },
    {   "partials", "Basic Behavior",
        "\"{{>text}}\"",
        "{}",
        "{\"text\":\"from partial\"}",
        "\"from partial\"",
        NULL },
    {   "partials", "Failed Lookup",
        "\"{{>text}}\"",
        "{}",
        "{}",
        "",
        "1:2: unknown fragment \"text\"" },
    {   "partials", "Context",
        "\"{{>partial}}\"",
        "{\"text\":\"content\"}",
        "{\"partial\":\"*{{text}}*\"}",
        "\"*content*\"",
        NULL },
    {   "partials", "Recursion",
        "{{>node}}",
        "{\"content\":\"X\",\"nodes\":[{\"content\":\"Y\",\"nodes\":[]}]}",
        "{\"node\":\"{{content}}<{{#nodes}}{{>node}}{{/nodes}}>\"}",
        "X<Y<>>",
        NULL },
    {   "partials", "Nested",
        "{{>outer}}",
        "{\"a\":\"hello\",\"b\":\"world\"}",
        "{\"outer\":\"*{{a}} {{>inner}}*\",\"inner\":\"{{b}}!\"}",
        "*hello world!*",
        NULL },
    {   "partials", "Surrounding Whitespace",
        "| {{>partial}} |",
        "{}",
        "{\"partial\":\"\\t|\\t\"}",
        "| \t|\t |",
        NULL },
    {   "partials", "Inline Indentation",
        "  {{data}}  {{> partial}}\n",
        "{\"data\":\"|\"}",
        "{\"partial\":\">\\n>\"}",
        "  |  >\n>\n",
        NULL },
    {   "partials", "Standalone Line Endings",
        "|\r\n{{>partial}}\r\n|",
        "{}",
        "{\"partial\":\">\"}",
        "|\r\n>|",
        NULL },
    {   "partials", "Standalone Without Previous Line",
        "  {{>partial}}\n>",
        "{}",
        "{\"partial\":\">\\n>\"}",
        "  >\n  >>",
        NULL },
    {   "partials", "Standalone Without Newline",
        ">\n  {{>partial}}",
        "{}",
        "{\"partial\":\">\\n>\"}",
        ">\n  >\n  >",
        NULL },
    {   "partials", "Standalone Indentation",
        "\\\n {{>partial}}\n/\n",
        "{\"content\":\"<\\n->\"}",
        "{\"partial\":\"|\\n{{{content}}}\\n|\\n\"}",
        "\\\n |\n <\n->\n |\n/\n",
        NULL },
    {   "partials", "Padding Whitespace",
        "|{{> partial }}|",
        "{\"boolean\":true}",
        "{\"partial\":\"[]\"}",
        "|[]|",
        NULL },
    {   "delimiters", "Pair Behavior",
        "{{=<% %>=}}(<%text%>)",
        "{\"text\":\"Hey!\"}",
        NULL,
        "(Hey!)",
        NULL },
    {   "delimiters", "Special Characters",
        "({{=[ ]=}}[text])",
        "{\"text\":\"It worked!\"}",
        NULL,
        "(It worked!)",
        NULL },
    {   "delimiters", "Sections",
        "[\n{{#section}}\n  {{data}}\n  |data|\n{{/section}}\n\n{{= | | =}}\n"
        "|#section|\n  {{data}}\n  |data|\n|/section|\n]\n",
        "{\"section\":true,\"data\":\"I got interpolated.\"}",
        NULL,
        "[\n  I got interpolated.\n  |data|\n\n  {{data}}\n  I got interpolat"
        "ed.\n]\n",
        NULL },
    {   "delimiters", "Inverted Sections",
        "[\n{{^section}}\n  {{data}}\n  |data|\n{{/section}}\n\n{{= | | =}}\n"
        "|^section|\n  {{data}}\n  |data|\n|/section|\n]\n",
        "{\"section\":false,\"data\":\"I got interpolated.\"}",
        NULL,
        "[\n  I got interpolated.\n  |data|\n\n  {{data}}\n  I got interpolat"
        "ed.\n]\n",
        NULL },
    {   "delimiters", "Partial Inheritence",
        "[ {{>include}} ]\n{{= | | =}}\n[ |>include| ]\n",
        "{\"value\":\"yes\"}",
        "{\"include\":\".{{value}}.\"}",
        "[ .yes. ]\n[ .yes. ]\n",
        NULL },
    {   "delimiters", "Post-Partial Behavior",
        "[ {{>include}} ]\n[ .{{value}}.  .|value|. ]\n",
        "{\"value\":\"yes\"}",
        "{\"include\":\".{{value}}. {{= | | =}} .|value|.\"}",
        "[ .yes.  .yes. ]\n[ .yes.  .|value|. ]\n",
        NULL },
    {   "delimiters", "Surrounding Whitespace",
        "| {{=@ @=}} |",
        "{}",
        NULL,
        "|  |",
        NULL },
    {   "delimiters", "Outlying Whitespace (Inline)",
        " | {{=@ @=}}\n",
        "{}",
        NULL,
        " | \n",
        NULL },
    {   "delimiters", "Standalone Tag",
        "Begin.\n{{=@ @=}}\nEnd.\n",
        "{}",
        NULL,
        "Begin.\nEnd.\n",
        NULL },
    {   "delimiters", "Indented Standalone Tag",
        "Begin.\n  {{=@ @=}}\nEnd.\n",
        "{}",
        NULL,
        "Begin.\nEnd.\n",
        NULL },
    {   "delimiters", "Standalone Line Endings",
        "|\r\n{{= @ @ =}}\r\n|",
        "{}",
        NULL,
        "|\r\n|",
        NULL },
    {   "delimiters", "Standalone Without Previous Line",
        "  {{=@ @=}}\n=",
        "{}",
        NULL,
        "=",
        NULL },
    {   "delimiters", "Standalone Without Newline",
        "=\n  {{=@ @=}}",
        "{}",
        NULL,
        "=\n",
        NULL },
    {   "delimiters", "Pair with Padding",
        "|{{= @   @ =}}|",
        "{}",
        NULL,
        "||",
        NULL },
};


/* fragments from a JSON object {"name": "template", ...} */

static int
partial_from_json(void *data, const u_char *name, size_t len,
    const u_char **src, size_t *src_len)
{
    char          key[256];
    run_t        *run = data;
    const cJSON  *item;

    run->lookups++;

    if (len >= sizeof(key)) {
        return -1;
    }

    memcpy(key, name, len);
    key[len] = '\0';

    item = cJSON_GetObjectItemCaseSensitive(run->partials, key);
    if (!cJSON_IsString(item)) {
        return -1;
    }

    *src = (const u_char *) item->valuestring;
    *src_len = strlen(item->valuestring);

    return 0;
}


/* partials: a JSON object of fragments, NULL: none at all */

static int
compile_with(run_t *run, const char *src, ngx_campaign_escape_e escape,
    const char *partials)
{
    ngx_campaign_template_opts_t  opts;

    opts.escape = escape;
    opts.partial = NULL;
    opts.partial_data = run;

    cJSON_Delete(run->partials);
    run->partials = NULL;
    run->lookups = 0;

    if (partials != NULL) {
        run->partials = cJSON_Parse(partials);
        assert_non_null(run->partials);
        opts.partial = partial_from_json;
    }

    run->tpl = ngx_campaign_template_compile_opts(&run->arena.alloc,
                                                  (const u_char *) src,
                                                  strlen(src), &opts,
                                                  &run->err);
    return run->tpl ? 0 : -1;
}


static int
compile(run_t *run, const char *src, ngx_campaign_escape_e escape)
{
    run->tpl = ngx_campaign_template_compile(&run->arena.alloc,
                                             (const u_char *) src,
                                             strlen(src), escape, &run->err);
    return run->tpl ? 0 : -1;
}


static int
setup_run(void **state)
{
    run_t  *run;

    run = calloc(1, sizeof(run_t));
    if (run == NULL) {
        return -1;
    }

    /* every allocation on its own: valgrind sees any overrun */
    ngx_campaign_arena_init(&run->arena, 0);

    *state = run;

    return 0;
}


static int
teardown_run(void **state)
{
    run_t  *run = *state;

    ngx_campaign_arena_destroy(&run->arena);
    cJSON_Delete(run->data);
    cJSON_Delete(run->partials);
    free(run);

    return 0;
}


/*
 * ngx_campaign_template_render_json() gives what escaping the output of
 * ngx_campaign_template_render() gives: every case below checks it.
 */

static int
same_as_json(const ngx_campaign_template_t *tpl, const cJSON *data,
    ngx_campaign_alloc_t *a, const u_char *out, size_t out_len)
{
    size_t   len, json_len;
    u_char  *expected, *json;

    len = ngx_campaign_json_escaped_len(out, out_len);

    expected = malloc(len + 1);
    assert_non_null(expected);

    ngx_campaign_json_escape(expected, out, out_len);

    if (ngx_campaign_template_render_json(tpl, data, a, &json, &json_len)
        != 0
        || json_len != len || memcmp(json, expected, len) != 0
        || json[json_len] != '\0')
    {
        print_error("render_json: expected \"%.*s\"\n", (int) len, expected);
        free(expected);
        return 0;
    }

    free(expected);

    return 1;
}


/* renders the compiled template with the JSON data: 0 or -1 */

static int
render_compiled(run_t *run, const char *json)
{
    int  rc;

    cJSON_Delete(run->data);
    run->data = cJSON_Parse(json);
    assert_non_null(run->data);

    rc = ngx_campaign_template_render(run->tpl, run->data, &run->arena.alloc,
                                      &run->out, &run->out_len);

    if (rc == 0) {
        assert_true(same_as_json(run->tpl, run->data, &run->arena.alloc,
                                 run->out, run->out_len));
    }

    return rc;
}


/* compiles src with fragments, renders it and returns the output */

static const char *
render_with(run_t *run, const char *src, const char *json,
    const char *partials, ngx_campaign_escape_e escape)
{
    if (compile_with(run, src, escape, partials) != 0) {
        fail_msg("compile \"%s\": %zu:%zu: %s", src, run->err.line,
                 run->err.column, run->err.message);
    }

    assert_int_equal(render_compiled(run, json), 0);
    assert_int_equal(strlen((char *) run->out), run->out_len);

    return (const char *) run->out;
}


static const char *
render(run_t *run, const char *src, const char *json,
    ngx_campaign_escape_e escape)
{
    return render_with(run, src, json, NULL, escape);
}


static const char *
render_html(run_t *run, const char *src, const char *json)
{
    return render_with(run, src, json, NULL, NGX_CAMPAIGN_ESCAPE_HTML);
}


static void
assert_error_with(run_t *run, const char *src, const char *partials,
    size_t line, size_t column, const char *message)
{
    if (compile_with(run, src, NGX_CAMPAIGN_ESCAPE_HTML, partials) == 0) {
        fail_msg("\"%s\" compiled, expected \"%s\"", src, message);
    }

    if (run->err.line != line || run->err.column != column
        || strstr(run->err.message, message) == NULL)
    {
        fail_msg("\"%s\": got %zu:%zu: \"%s\", expected %zu:%zu: \"%s\"",
                 src, run->err.line, run->err.column, run->err.message,
                 line, column, message);
    }
}


static void
assert_compile_error(run_t *run, const char *src, size_t line,
    size_t column, const char *message)
{
    assert_error_with(run, src, NULL, line, column, message);
}


static void
test_spec_case(void **state)
{
    int                             rc;
    u_char                         *out;
    size_t                          out_len;
    const char                     *src, *expected;
    spec_case_t                    *c = *state;
    ngx_campaign_arena_t            arena;
    ngx_campaign_template_t        *tpl;
    ngx_campaign_template_error_t   err;

    src = cJSON_GetObjectItem(c->test, "template")->valuestring;
    expected = cJSON_GetObjectItem(c->test, "expected")->valuestring;

    ngx_campaign_arena_init(&arena, 0);

    tpl = ngx_campaign_template_compile(&arena.alloc, (const u_char *) src,
                                        strlen(src), NGX_CAMPAIGN_ESCAPE_HTML,
                                        &err);
    if (tpl == NULL) {
        ngx_campaign_arena_destroy(&arena);
        fail_msg("%s: \"%s\": compile error %zu:%zu: %s", c->file,
                 cJSON_GetObjectItem(c->test, "name")->valuestring,
                 err.line, err.column, err.message);
    }

    rc = ngx_campaign_template_render(tpl,
                                      cJSON_GetObjectItem(c->test, "data"),
                                      &arena.alloc, &out, &out_len);

    if (rc != 0 || out_len != strlen(expected)
        || memcmp(out, expected, out_len) != 0
        || !same_as_json(tpl, cJSON_GetObjectItem(c->test, "data"),
                         &arena.alloc, out, out_len))
    {
        print_error("%s: \"%s\"\n  template: \"%s\"\n  expected: \"%s\"\n"
                    "  got:      \"%.*s\" (rc %d)\n",
                    c->file,
                    cJSON_GetObjectItem(c->test, "name")->valuestring,
                    src, expected, rc ? 0 : (int) out_len, out, rc);
        ngx_campaign_arena_destroy(&arena);
        fail();
    }

    ngx_campaign_arena_destroy(&arena);
}


static void
test_spec_missing(void **state)
{
    print_message("Mustache spec not found in \"%s\" "
                  "(set MUSTACHE_SPEC_DIR): spec cases skipped\n",
                  (const char *) *state);
    skip();
}


/* one cmocka test per spec case, named "file: case" */

static int
run_spec(void)
{
    int                 failed;
    FILE               *f;
    char                path[4096], *text;
    long                len;
    size_t              i, n, ncases;
    cJSON              *spec[2], *test;
    const char         *dir;
    struct stat         st;
    spec_case_t        *cases;
    struct CMUnitTest  *tests;

    static const char  *files[2] = { "interpolation.json", "sections.json" };

    dir = getenv("MUSTACHE_SPEC_DIR");
    if (dir == NULL || dir[0] == '\0') {
        dir = "../shared/spec/mustache";
    }

    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        const struct CMUnitTest missing[] = {
            cmocka_unit_test_prestate(test_spec_missing, (void *) dir),
        };

        return cmocka_run_group_tests_name("mustache spec", missing,
                                           NULL, NULL);
    }

    ncases = 0;

    for (i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);

        f = fopen(path, "rb");
        if (f == NULL) {
            fprintf(stderr, "cannot open %s\n", path);
            return 1;
        }

        fseek(f, 0, SEEK_END);
        len = ftell(f);
        fseek(f, 0, SEEK_SET);

        text = malloc(len + 1);
        if (text == NULL || fread(text, 1, len, f) != (size_t) len) {
            fprintf(stderr, "cannot read %s\n", path);
            return 1;
        }

        fclose(f);
        text[len] = '\0';

        spec[i] = cJSON_Parse(text);
        free(text);

        if (spec[i] == NULL) {
            fprintf(stderr, "%s is not JSON\n", path);
            return 1;
        }

        ncases += cJSON_GetArraySize(cJSON_GetObjectItem(spec[i], "tests"));
    }

    cases = calloc(ncases, sizeof(spec_case_t));
    tests = calloc(ncases, sizeof(struct CMUnitTest));
    if (cases == NULL || tests == NULL) {
        return 1;
    }

    n = 0;

    for (i = 0; i < 2; i++) {
        cJSON_ArrayForEach(test, cJSON_GetObjectItem(spec[i], "tests")) {
            char        *name;
            size_t       size;
            const char  *case_name;

            cases[n].file = files[i];
            cases[n].test = test;

            case_name = cJSON_GetObjectItem(test, "name")->valuestring;

            size = strlen(files[i]) + sizeof(": ") + strlen(case_name);
            name = malloc(size);
            if (name == NULL) {
                return 1;
            }

            snprintf(name, size, "%s: %s", files[i], case_name);

            tests[n].name = name;
            tests[n].test_func = test_spec_case;
            tests[n].initial_state = &cases[n];
            n++;
        }
    }

    /* the macro wants an array of fixed size; the cases are counted above */
    failed = _cmocka_run_group_tests("mustache spec", tests, n, NULL, NULL);

    for (i = 0; i < n; i++) {
        free((char *) tests[i].name);
    }

    free(tests);
    free(cases);
    cJSON_Delete(spec[0]);
    cJSON_Delete(spec[1]);

    return failed;
}


static void
test_written_case(void **state)
{
    char                   where[64];
    run_t                  run;
    const written_case_t  *c = *state;

    memset(&run, 0, sizeof(run_t));
    ngx_campaign_arena_init(&run.arena, 0);

    if (compile_with(&run, c->template, NGX_CAMPAIGN_ESCAPE_HTML,
                     c->partials)
        != 0)
    {
        snprintf(where, sizeof(where), "%zu:%zu: ", run.err.line,
                 run.err.column);

        if (c->error == NULL
            || strncmp(c->error, where, strlen(where)) != 0
            || strcmp(c->error + strlen(where), run.err.message) != 0)
        {
            print_error("%s: \"%s\": compile error %s%s\n", c->file,
                        c->name, where, run.err.message);
            goto failed;
        }

        goto done;
    }

    if (c->error != NULL) {
        print_error("%s: \"%s\": compiled, expected \"%s\"\n", c->file,
                    c->name, c->error);
        goto failed;
    }

    if (render_compiled(&run, c->data) != 0
        || strcmp((char *) run.out, c->expected) != 0)
    {
        print_error("%s: \"%s\"\n  template: \"%s\"\n  expected: \"%s\"\n"
                    "  got:      \"%s\"\n", c->file, c->name, c->template,
                    c->expected, run.out ? (char *) run.out : "(error)");
        goto failed;
    }

done:

    ngx_campaign_arena_destroy(&run.arena);
    cJSON_Delete(run.data);
    cJSON_Delete(run.partials);
    return;

failed:

    ngx_campaign_arena_destroy(&run.arena);
    cJSON_Delete(run.data);
    cJSON_Delete(run.partials);
    fail();
}


static int
run_written_cases(void)
{
    int                 failed;
    char               *name;
    size_t              i, n, size;
    struct CMUnitTest  *tests;

    n = sizeof(written_cases) / sizeof(written_cases[0]);

    tests = calloc(n, sizeof(struct CMUnitTest));
    if (tests == NULL) {
        return 1;
    }

    for (i = 0; i < n; i++) {
        size = strlen(written_cases[i].file) + sizeof(".json: ")
               + strlen(written_cases[i].name);
        name = malloc(size);
        if (name == NULL) {
            return 1;
        }

        snprintf(name, size, "%s.json: %s", written_cases[i].file,
                 written_cases[i].name);

        tests[i].name = name;
        tests[i].test_func = test_written_case;
        tests[i].initial_state = (void *) &written_cases[i];
    }

    failed = _cmocka_run_group_tests("mustache spec, written out", tests, n,
                                     NULL, NULL);

    for (i = 0; i < n; i++) {
        free((char *) tests[i].name);
    }

    free(tests);

    return failed;
}


static void
test_error_unclosed_tag(void **state)
{
    run_t  *run = *state;

    assert_compile_error(run, "Hello,\n  {{name", 2, 3, "unclosed tag");
    assert_compile_error(run, "{{name}", 1, 1, "unclosed tag");
    assert_compile_error(run, "ok {{{name}}", 1, 4, "no \"}}}\"");
    assert_compile_error(run, "{{=<% %>=}}\n<%name%", 2, 1,
                         "unclosed tag: no \"%>\" after \"<%\"");

    /* columns count characters: "é" is two bytes */
    assert_compile_error(run, "\xc3\xa9t\xc3\xa9 {{x", 1, 5, "unclosed tag");
}


static void
test_error_unclosed_section(void **state)
{
    run_t  *run = *state;

    /* the innermost open block is reported, where it opens */
    assert_compile_error(run, "Hi\n{{#offers}}\n  {{^empty}}\n{{/empty}}\n"
                         " {{#items}}\n", 5, 2,
                         "unclosed section \"items\"");
    assert_compile_error(run, "{{^none}}", 1, 1, "unclosed section \"none\"");
    assert_compile_error(run, "{{#each a}}\n  {{#if b}}{{/if}}", 1, 1,
                         "unclosed block \"#each\"");
    assert_compile_error(run, "x {%#if a %}", 1, 3,
                         "unclosed block \"{%#if%}\"");
}


static void
test_error_mismatched_close(void **state)
{
    run_t  *run = *state;

    assert_compile_error(run, "{{#a}}\n{{#b}}\n  {{/a}}\n{{/b}}", 3, 3,
                         "close tag \"a\" does not match section \"b\" "
                         "opened at line 2, column 1");
    assert_compile_error(run, "text\n {{/a}}", 2, 2,
                         "close tag \"a\" without an open section");

    /* helpers: both tags named, with their positions */
    assert_compile_error(run, "{{#each l}}\n {{#if x}}\n {{/each}}", 3, 2,
                         "close tag \"each\" does not match block \"#if\" "
                         "opened at line 2, column 2");
    assert_compile_error(run, "{{#if x}}{{/unless}}", 1, 10,
                         "close tag \"unless\" does not match block "
                         "\"#if\" opened at line 1, column 1");
    assert_compile_error(run, "{{#if x}}{{/x}}", 1, 10,
                         "close tag \"x\" does not match block \"#if\"");
    assert_compile_error(run, "{{#x}}{{/if}}", 1, 7,
                         "close tag \"if\" does not match section \"x\"");
    assert_compile_error(run, "{{#if x}}{%/if%}", 1, 10,
                         "close tag \"{%/if%}\" does not match block "
                         "\"#if\" opened at line 1, column 1");
    assert_compile_error(run, "{%#if x %}{{/if}}", 1, 11,
                         "close tag \"if\" does not match block "
                         "\"{%#if%}\" opened at line 1, column 1");
    assert_compile_error(run, "a {%/if%}", 1, 3,
                         "close tag \"{%/if%}\" without an open section");
}


static void
test_error_tag_names(void **state)
{
    run_t  *run = *state;

    assert_compile_error(run, "a {{}}", 1, 3, "empty tag name");
    assert_compile_error(run, "{{  }}", 1, 1, "empty tag name");
    assert_compile_error(run, "{{#}}{{/}}", 1, 1, "empty tag name");
    assert_compile_error(run, "{{{ }}}", 1, 1, "empty tag name");
    assert_compile_error(run, "{{> }}", 1, 1, "empty tag name");
    assert_compile_error(run, "{{first name}}", 1, 1, "invalid character");
    assert_compile_error(run, "{{a..b}}", 1, 1, "empty segment");
    assert_compile_error(run, "{{.a}}", 1, 1, "empty segment");
    assert_compile_error(run, "{{a.}}", 1, 1, "empty segment");
    assert_compile_error(run, "{{this.}}", 1, 1, "empty segment");
    assert_compile_error(run, "x\n {{@idx}}", 2, 2,
                         "unknown data variable \"@idx\"");
    assert_compile_error(run, "{{#each l}}{{@count.x}}{{/each}}", 1, 12,
                         "unknown data variable \"@count\"");
}


static void
test_error_helpers(void **state)
{
    run_t  *run = *state;

    assert_compile_error(run, "{{#if}}{{/if}}", 1, 1,
                         "\"#if\" needs a path");
    assert_compile_error(run, "{{#each   }}", 1, 1, "\"#each\" needs a path");
    assert_compile_error(run, "{{#if a b}}{{/if}}", 1, 1,
                         "\"#if\" takes one path, found \"a b\"");
    assert_compile_error(run, "{{#unless (eq a b)}}", 1, 1,
                         "\"#unless\" takes one path");
    assert_compile_error(run, "{{#each l as item}}", 1, 1,
                         "invalid block parameters \"as item\"");
    assert_compile_error(run, "{{#each l as |a b c|}}", 1, 1,
                         "invalid block parameters");
    assert_compile_error(run, "{{#each l as ||}}", 1, 1,
                         "invalid block parameters");
    assert_compile_error(run, "{{#each l as |a.b|}}", 1, 1,
                         "invalid block parameters");
    assert_compile_error(run, "{{#with p as |a i|}}", 1, 1,
                         "expected \"as |name|\"");
    assert_compile_error(run, "{{#each l zz}}", 1, 1,
                         "invalid block parameters \"zz\"");

    /* {{else}} belongs to block helpers only */
    assert_compile_error(run, "a {{else}}", 1, 3,
                         "\"{{else}}\" outside a block");
    assert_compile_error(run, "{{#list}}\n  {{else}}\n{{/list}}", 2, 3,
                         "\"{{else}}\" does not belong in section \"list\" "
                         "opened at line 1, column 1");
    assert_compile_error(run, "{{^list}}{{else}}{{/list}}", 1, 10,
                         "does not belong in section \"list\"");
    assert_compile_error(run, "{{#if a}}{{else}}{{else}}{{/if}}", 1, 18,
                         "\"{{else}}\" after \"{{else}}\" in block \"#if\" "
                         "opened at line 1, column 1");
    assert_compile_error(run, "{{#if a}}{{else}}{{else if b}}{{/if}}", 1, 18,
                         "\"{{else if}}\" after \"{{else}}\"");
    assert_compile_error(run, "{{#if a}}{{else unless b}}{{/if}}", 1, 10,
                         "\"else\" takes \"if path\", found \"unless b\"");
    assert_compile_error(run, "{{#if a}}{{else if}}{{/if}}", 1, 10,
                         "\"else\" takes \"if path\"");
    assert_compile_error(run, "{{#if a}}{%else%}{{/if}}", 1, 10,
                         "\"{%else%}\" does not belong in block \"#if\"");
    assert_compile_error(run, "{%#if a %}{{else}}{%/if%}", 1, 11,
                         "\"{{else}}\" does not belong in block \"{%#if%}\"");
}


static void
test_error_delimiters(void **state)
{
    run_t  *run = *state;

    assert_compile_error(run, "a\n{{=<%%>=}}", 2, 1,
                         "invalid delimiters \"<%%>\"");
    assert_compile_error(run, "{{= < % > =}}", 1, 1, "invalid delimiters");
    assert_compile_error(run, "{{=a= b=}}", 1, 1, "invalid delimiters");
    assert_compile_error(run, "{{==}}", 1, 1, "invalid delimiters");
}


static void
test_error_expression_tags(void **state)
{
    run_t  *run = *state;

    assert_compile_error(run, "Hi\n  {%= name", 2, 3,
                         "unclosed tag: no \"%}\" after \"{%\"");
    assert_compile_error(run, "{%= \"50%} ", 1, 1,
                         "(in a string literal)");
    assert_compile_error(run, "{%=   %}", 1, 1, "empty expression");
    assert_compile_error(run, "{%#if %}{%/if%}", 1, 1, "empty expression");
    assert_compile_error(run, "{%#if a%}{%else if%}{%/if%}", 1, 10,
                         "empty expression");
    assert_compile_error(run, "{% name %}", 1, 1,
                         "unknown expression tag \"{% name %}\"");
    assert_compile_error(run, "{%#each l %}", 1, 1, "unknown expression tag");
    assert_compile_error(run, "{%/each%}", 1, 1, "unknown expression tag");
    assert_compile_error(run, "{%#if a %}{%else unless b%}{%/if%}", 1, 11,
                         "unknown expression tag");
    assert_compile_error(run, "{%else%}", 1, 1,
                         "\"{%else%}\" outside a block");

    /* the expression engine's errors point into the template */
    assert_int_equal(compile(run, "ok\n  {%= nosuchfunction(a) %}",
                             NGX_CAMPAIGN_ESCAPE_HTML), -1);
    assert_int_equal(run->err.line, 2);
    assert_true(run->err.column >= 7);
    assert_true(run->err.message[0] != '\0');
}


static void
test_error_fragments(void **state)
{
    run_t  *run = *state;

    /* no fragments at all, and a typo in a fragment's name */
    assert_compile_error(run, "{{> footer}}", 1, 1,
                         "unknown fragment \"footer\"");
    assert_error_with(run, "Hi\n  {{> fotter}}", "{\"footer\": \"x\"}", 2, 3,
                      "unknown fragment \"fotter\"");

    /* an error inside a fragment: at the including tag, naming the place */
    assert_error_with(run, "Hi\n {{> footer}}",
                      "{\"footer\": \"Bye\\n    {{#a}}\"}", 2, 2,
                      "in fragment \"footer\": line 2, column 5: unclosed "
                      "section \"a\"");
    assert_error_with(run, "{{>a}}", "{\"a\": \"{{>b}}\", \"b\": \"{{x\"}",
                      1, 1,
                      "in fragment \"b\": line 1, column 1: unclosed tag");
    assert_error_with(run, "{{#x}}{{>a}}{{/x}}", "{\"a\": \"\\n{{>zz}}\"}",
                      1, 7,
                      "in fragment \"a\": line 2, column 1: unknown "
                      "fragment \"zz\"");

    /* a fragment starts with the default delimiters */
    assert_error_with(run, "{{=<% %>=}}<%>a%>", "{\"a\": \"<%x%>{{y\"}", 1, 12,
                      "in fragment \"a\": line 1, column 6: unclosed tag");
}


static void
test_escape_none(void **state)
{
    run_t       *run = *state;
    const char  *data = "{\"v\": \"Tom & Jerry <b>\\\"x\\\"</b> 'y'\"}";

    assert_string_equal(render(run, "{{v}}", data, NGX_CAMPAIGN_ESCAPE_NONE),
                        "Tom & Jerry <b>\"x\"</b> 'y'");

    assert_string_equal(render(run, "{{v}}", data, NGX_CAMPAIGN_ESCAPE_HTML),
                        "Tom &amp; Jerry &lt;b&gt;&quot;x&quot;&lt;/b&gt; "
                        "&#39;y&#39;");

    /* {{{ }}} and {{& }} never escape */
    assert_string_equal(render(run, "{{{v}}}|{{& v}}", data,
                               NGX_CAMPAIGN_ESCAPE_HTML),
                        "Tom & Jerry <b>\"x\"</b> 'y'|"
                        "Tom & Jerry <b>\"x\"</b> 'y'");
}


/* the escape mode is the compile's, in fragments and expressions too */

static void
test_escape_everywhere(void **state)
{
    run_t       *run = *state;
    const char  *data = "{\"v\": \"<a&b>\", \"l\": [\"<i>\"], "
                        "\"o\": {\"k\": \"'q'\"}}";
    const char  *src = "{{v}}|{{>f}}|{{#each l}}{{this}}{{/each}}|"
                       "{{#with o}}{{k}}{{/with}}|{%= v %}|{{{v}}}";
    const char  *partials = "{\"f\": \"{{v}}\"}";

    assert_string_equal(render_with(run, src, data, partials,
                                    NGX_CAMPAIGN_ESCAPE_HTML),
                        "&lt;a&amp;b&gt;|&lt;a&amp;b&gt;|&lt;i&gt;|"
                        "&#39;q&#39;|&lt;a&amp;b&gt;|<a&b>");

    assert_string_equal(render_with(run, src, data, partials,
                                    NGX_CAMPAIGN_ESCAPE_NONE),
                        "<a&b>|<a&b>|<i>|'q'|<a&b>|<a&b>");
}


static void
test_values_are_not_templates(void **state)
{
    run_t       *run = *state;
    const char  *data = "{\"v\": \"{{x}} {{> f}} {%= x %} {{#x}}{{/x}}\", "
                        "\"x\": \"no\", \"s\": [\"{{#x}}\", \"{%#if x%}\"]}";

    assert_string_equal(render(run, "{{v}}|{{{v}}}|{{#s}}{{.}}{{/s}}",
                               data, NGX_CAMPAIGN_ESCAPE_NONE),
                        "{{x}} {{> f}} {%= x %} {{#x}}{{/x}}|"
                        "{{x}} {{> f}} {%= x %} {{#x}}{{/x}}|"
                        "{{#x}}{%#if x%}");

    assert_string_equal(render_with(run, "{{>f}}|{%= v %}|"
                                         "{{#each s}}{{this}}{{/each}}",
                                    data, "{\"f\": \"{{{v}}}\"}",
                                    NGX_CAMPAIGN_ESCAPE_HTML),
                        "{{x}} {{> f}} {%= x %} {{#x}}{{/x}}|"
                        "{{x}} {{&gt; f}} {%= x %} {{#x}}{{/x}}|"
                        "{{#x}}{%#if x%}");
}


static void
test_source_is_copied(void **state)
{
    char    src[] = "Hello, {{name}}! {{>f}}";
    char    part[] = "[{{name}}]";
    run_t  *run = *state;

    run->partials = NULL;

    assert_int_equal(compile_with(run, src, NGX_CAMPAIGN_ESCAPE_HTML,
                                  "{\"f\": \"[{{name}}]\"}"), 0);
    memset(src, 'x', sizeof(src) - 1);
    memset(part, 'x', sizeof(part) - 1);
    cJSON_Delete(run->partials);
    run->partials = NULL;

    assert_int_equal(render_compiled(run, "{\"name\": \"Ann\"}"), 0);
    assert_string_equal((char *) run->out, "Hello, Ann! [Ann]");
}


static void
test_comments(void **state)
{
    run_t  *run = *state;

    /* a Handlebars comment may hold the close delimiter */
    assert_string_equal(render_html(run, "a{{!-- {{x}} }} --}}b\n"
                                         "  {{!--\n  }}\n  --}}\nc", "{}"),
                        "ab\nc");

    /* a Mustache comment that starts with "--" still ends at "}}" */
    assert_string_equal(render_html(run, "a{{!-- x }}b", "{}"), "ab");
}


static void
test_delimiters(void **state)
{
    run_t  *run = *state;

    /* the new delimiters apply to every tag kind, helpers too */
    assert_string_equal(render_html(run,
                                    "{{=<% %>=}}<%#each l%><%this%>"
                                    "<%^@last%>,<%/@last%><%/each%> "
                                    "<%{raw}%> {{x}} <%={{ }}=%>{{raw}}",
                                    "{\"l\": [1, 2, 3], \"raw\": \"<b>\"}"),
                        "1,2,3 <b> {{x}} &lt;b&gt;");

    /* expression tags keep their own syntax */
    assert_string_equal(render_html(run, "{{=[ ]=}}[a]{%= a %}",
                                    "{\"a\": \"x\"}"),
                        "xx");
}


static void
test_if_unless(void **state)
{
    run_t  *run = *state;

    assert_string_equal(render_html(run,
                                    "{{#if a}}A{{else if b}}B"
                                    "{{else if c}}C{{else}}D{{/if}}",
                                    "{\"b\": 1, \"c\": 1}"),
                        "B");
    assert_string_equal(render_html(run,
                                    "{{#if a}}A{{else if b}}B"
                                    "{{else if c}}C{{else}}D{{/if}}",
                                    "{\"c\": true}"),
                        "C");
    assert_string_equal(render_html(run,
                                    "{{#if a}}A{{else if b}}B{{/if}}.",
                                    "{}"),
                        ".");
    assert_string_equal(render_html(run, "{{#unless a}}no{{else}}yes"
                                         "{{/unless}}"
                                         "{{#unless b}}!{{/unless}}",
                                    "{\"a\": \"x\", \"b\": 0}"),
                        "yes!");
    assert_string_equal(render_html(run, "{{#unless a}}A{{else if b}}B"
                                         "{{else}}C{{/unless}}",
                                    "{\"a\": 1}"),
                        "C");

    /* #if does not push a context: names and ../ are as outside it */
    assert_string_equal(render_html(run, "{{#with o}}{{#if t}}{{n}} "
                                         "{{../n}}{{/if}}{{/with}}",
                                    "{\"n\": \"out\", \"o\": {\"t\": 1, "
                                    "\"n\": \"in\"}}"),
                        "in out");
}


static void
test_truthiness(void **state)
{
    run_t       *run = *state;
    const char  *data = "{\"f\": false, \"n\": null, \"s\": \"\", "
                        "\"z\": 0, \"e\": [], \"o\": {}, \"t\": true, "
                        "\"x\": \"x\", \"one\": 1, \"l\": [0], \"m\": -0.5}";

    /* Handlebars: false, null, missing, "", 0 and [] are falsy */
    assert_string_equal(render_html(run,
                                    "{{#if f}}f{{/if}}{{#if n}}n{{/if}}"
                                    "{{#if s}}s{{/if}}{{#if z}}z{{/if}}"
                                    "{{#if e}}e{{/if}}{{#if missing}}m"
                                    "{{/if}}{{#if o}}O{{/if}}"
                                    "{{#if t}}T{{/if}}{{#if x}}X{{/if}}"
                                    "{{#if one}}1{{/if}}{{#if l}}L{{/if}}"
                                    "{{#if m}}M{{/if}}",
                                    data),
                        "OTX1LM");

    /* Mustache sections: "" and 0 are truthy, {} too */
    assert_string_equal(render_html(run,
                                    "{{#s}}s{{/s}}{{#z}}z{{/z}}{{#o}}O{{/o}}"
                                    "{{^e}}e{{/e}}{{^n}}n{{/n}}",
                                    data),
                        "szOen");

    /* #with: as Handlebars' isEmpty(), 0 is a context, "" is not */
    assert_string_equal(render_html(run,
                                    "{{#with z}}[{{this}}]{{/with}}"
                                    "{{#with s}}s{{else}}-{{/with}}"
                                    "{{#with e}}e{{else}}-{{/with}}"
                                    "{{#with o}}O{{/with}}",
                                    data),
                        "[0]--O");
}


static void
test_each(void **state)
{
    run_t       *run = *state;
    const char  *data = "{\"l\": [\"a\", \"b\", \"c\"], "
                        "\"o\": {\"x\": 1, \"y\": {\"n\": \"Y\"}}, "
                        "\"people\": [{\"name\": \"Ann\"}, "
                        "{\"name\": \"Bo\"}], \"e\": [], \"s\": \"str\", "
                        "\"title\": \"T\"}";

    assert_string_equal(render_html(run,
                                    "{{#each l}}{{@index}}:{{this}}"
                                    "{{#if @first}}(first){{/if}}"
                                    "{{#unless @last}}, {{/unless}}"
                                    "{{/each}}",
                                    data),
                        "0:a(first), 1:b, 2:c");

    /* objects: @key, and the members' values as the context */
    assert_string_equal(render_html(run,
                                    "{{#each o}}{{@key}}={{@index}}"
                                    "{{#if @last}}.{{n}}{{/if}};{{/each}}",
                                    data),
                        "x=0;y=1.Y;");

    /* this.name, ../ and the else part */
    assert_string_equal(render_html(run,
                                    "{{#each people}}{{this.name}}/{{name}}"
                                    "/{{../title}} {{/each}}"
                                    "{{#each e}}x{{else}}none{{/each}}"
                                    "{{#each s}}x{{else}}!{{/each}}"
                                    "{{#each missing}}x{{else}}?{{/each}}",
                                    data),
                        "Ann/Ann/T Bo/Bo/T none!?");

    /* block parameters */
    assert_string_equal(render_html(run,
                                    "{{#each people as |p i|}}{{i}}."
                                    "{{p.name}}{{#each ../l as |c|}}"
                                    "{{p.name}}{{c}}{{i}}{{@index}}"
                                    "{{/each}};{{/each}}",
                                    data),
                        "0.AnnAnna00Annb01Annc02;1.BoBoa10Bob11Boc12;");

    assert_string_equal(render_html(run,
                                    "{{#each o as |v k|}}{{k}}{{/each}}",
                                    data),
                        "xy");

    /* the else part has no block parameters: a name as any other */
    assert_string_equal(render_html(run,
                                    "{{#each e as |title|}}{{title}}"
                                    "{{else}}{{title}}{{/each}}",
                                    data),
                        "T");

    /* Mustache list sections have @index too, as Handlebars' do */
    assert_string_equal(render_html(run, "{{#l}}{{@index}}{{.}}{{/l}}",
                                    data),
                        "0a1b2c");

    /* outside an iteration the data variables are missing */
    assert_string_equal(render_html(run, "[{{@index}}{{@key}}{{@first}}]",
                                    data),
                        "[]");
}


static void
test_with_and_paths(void **state)
{
    run_t       *run = *state;
    const char  *data = "{\"p\": {\"name\": \"Ann\", \"a\": {\"city\": "
                        "\"Paris\"}}, \"name\": \"root\", \"x\": \"X\"}";

    assert_string_equal(render_html(run,
                                    "{{#with p}}{{name}} {{this.name}} "
                                    "{{../name}} {{#with a}}{{city}} "
                                    "{{../name}} {{../../x}} {{@root.x}} "
                                    "{{../../../x}}|{{/with}}{{/with}}",
                                    data),
                        "Ann Ann root Paris Ann X X |");

    assert_string_equal(render_html(run,
                                    "{{#with q}}x{{else}}no q{{/with}}"
                                    "{{#with p as |who|}}{{who.a.city}}"
                                    "{{/with}}",
                                    data),
                        "no qParis");

    /* this.name looks in the context only, a name up the stack */
    assert_string_equal(render_html(run,
                                    "{{#with p.a}}[{{this.name}}|{{name}}]"
                                    "{{/with}}",
                                    data),
                        "[|root]");

    /* ".." and "../this" are the parent context itself */
    assert_string_equal(render_html(run,
                                    "{{#each p.a}}{{../name}}{{..}}"
                                    "{{../this}}{{/each}}",
                                    "{\"p\": {\"a\": [\"v\"]}, "
                                    "\"name\": \"n\"}"),
                        "n");
}


static void
test_standalone_helpers(void **state)
{
    run_t  *run = *state;

    assert_string_equal(render_html(run,
                                    "<ul>\n"
                                    "  {{#each l}}\n"
                                    "  <li>{{this}}</li>\n"
                                    "  {{else}}\n"
                                    "  <li>none</li>\n"
                                    "  {{/each}}\n"
                                    "</ul>\r\n"
                                    "{{#if a}}\r\n"
                                    "A\r\n"
                                    "{{else if b}}\r\n"
                                    "B\r\n"
                                    "{{/if}}\r\n"
                                    "{%#if b %}\n"
                                    "  b\n"
                                    "  {%else%}\n"
                                    "{%/if%}\n"
                                    "end",
                                    "{\"l\": [1, 2], \"b\": true}"),
                        "<ul>\n  <li>1</li>\n  <li>2</li>\n</ul>\r\n"
                        "B\r\n  b\nend");

    /* not standalone: the whitespace stays */
    assert_string_equal(render_html(run, " {{#if a}}x{{else}} y {{/if}} \n",
                                    "{}"),
                        "  y  \n");
}


/*
 * AJO's expression tags, on the expression engine: only what the template
 * engine adds is tested here, the paths a lookup resolves and escaping.
 */

static void
test_expressions(void **state)
{
    run_t       *run = *state;
    const char  *data = "{\"profile\": {\"person\": {\"name\": "
                        "{\"firstName\": \"Ann <3\"}}}, "
                        "\"context\": {\"tier\": \"gold\", "
                        "\"items\": [{\"n\": \"a\"}, {\"n\": \"b\"}]}, "
                        "\"t\": \"T\"}";

    assert_string_equal(render_html(run,
                                    "Hi {%= profile.person.name.firstName "
                                    "%}, {%= profile.nickname ?: \"friend\" "
                                    "%}!",
                                    data),
                        "Hi Ann &lt;3, friend!");

    assert_string_equal(render(run, "{%= profile.person.name.firstName %}",
                               data, NGX_CAMPAIGN_ESCAPE_NONE),
                        "Ann <3");

    assert_string_equal(render_html(run,
                                    "{%#if context.tier = \"gold\" %}G"
                                    "{%else if context.tier = \"silver\" %}S"
                                    "{%else%}-{%/if%}"
                                    "{%#if context.tier = \"x\" %}X"
                                    "{%else if context.tier != \"gold\" %}S"
                                    "{%else%}-{%/if%}"
                                    "{%#if missing %}M{%/if%}",
                                    data),
                        "G-");

    /* paths inside blocks resolve as {{tags}} do */
    assert_string_equal(render_html(run,
                                    "{{#each context.items as |it i|}}"
                                    "{%= this.n %}{%= n %}{%= it.n %}"
                                    "{%= i %}{%= @index %}{%= ../t %}"
                                    "{%= profile.person.name.firstName %}"
                                    "{%#if @first %}F{%/if%};{{/each}}"
                                    "{{#with context}}{%= tier %}"
                                    "{%= @root.t %}{{/with}}",
                                    data),
                        "aaa00TAnn &lt;3F;bbb11TAnn &lt;3;goldT");

    /* expression values are text, never templates */
    assert_string_equal(render_html(run, "{%= v %}",
                                    "{\"v\": \"{{t}}{%= t %}\", "
                                    "\"t\": \"no\"}"),
                        "{{t}}{%= t %}");

    /* "%}" inside a string literal does not end the tag */
    assert_string_equal(render_html(run, "{%= \"50%}\" %}", "{}"),
                        "50%}");
}


static void
test_fragments(void **state)
{
    run_t       *run = *state;
    const char  *partials = "{\"header\": \"<h1>{{title}}</h1>\\n\", "
                            "\"item\": \"<li>{{@index}} {{name}}</li>\\n\", "
                            "\"list\": \"<ul>\\n  {{#each items}}\\n"
                            "  {{>item}}\\n  {{/each}}\\n</ul>\\n\"}";

    assert_string_equal(render_with(run,
                                    "{{>header}}{{>item}}{{>header}}\n"
                                    "  {{>list}}\n"
                                    "end",
                                    "{\"title\": \"T\", \"name\": \"root\", "
                                    "\"items\": [{\"name\": \"a\"}, "
                                    "{\"name\": \"b\"}]}",
                                    partials, NGX_CAMPAIGN_ESCAPE_HTML),
                        "<h1>T</h1>\n<li> root</li>\n<h1>T</h1>\n\n"
                        "  <ul>\n"
                        "    <li>0 a</li>\n"
                        "    <li>1 b</li>\n"
                        "  </ul>\n"
                        "end");

    /* each fragment is looked up and compiled once */
    assert_int_equal(run->lookups, 3);

    /* a fragment inline: not indented, nor what it includes */
    assert_string_equal(render_with(run, "  x {{>a}}\n",
                                    "{}", "{\"a\": \"1\\n{{>b}}\", "
                                    "\"b\": \"2\\n3\"}",
                                    NGX_CAMPAIGN_ESCAPE_HTML),
                        "  x 1\n2\n3\n");

    /* nested standalone fragments add up their indentation */
    assert_string_equal(render_with(run, "  {{>a}}\n",
                                    "{}", "{\"a\": \"1\\n\\t{{>b}}\\n4\\n\", "
                                    "\"b\": \"2\\n\\n3\\n\"}",
                                    NGX_CAMPAIGN_ESCAPE_HTML),
                        "  1\n  \t2\n  \t\n  \t3\n  4\n");

    /* a fragment sees the context where it is included */
    assert_string_equal(render_with(run,
                                    "{{#each l as |x|}}{{>f}}{{/each}}",
                                    "{\"l\": [{\"v\": 1}, {\"v\": 2}]}",
                                    "{\"f\": \"{{v}}{{this.v}}{{@index}}"
                                    "{{x}}\"}",
                                    NGX_CAMPAIGN_ESCAPE_HTML),
                        "110221");
}


static void
test_recursion(void **state)
{
    char        *s, json[16384];
    size_t       i;
    run_t       *run = *state;
    const char  *partials = "{\"node\": \"{{name}}{{#kids}}({{>node}})"
                            "{{/kids}}\"}";

    /*
     * A fragment that includes itself ends where the data ends.  Names
     * resolve up the context stack: a leaf without "kids" would find its
     * parent's, as in the spec's own case.
     */
    assert_string_equal(render_with(run, "{{>node}}",
                                    "{\"name\": \"a\", \"kids\": ["
                                    "{\"name\": \"b\", \"kids\": "
                                    "[{\"name\": \"c\", \"kids\": []}]}, "
                                    "{\"name\": \"d\", \"kids\": []}]}",
                                    partials, NGX_CAMPAIGN_ESCAPE_HTML),
                        "a(b(c))(d)");
    assert_int_equal(run->lookups, 1);

    /* 32 nested calls render, 33 fail instead of running out of stack */

    for (i = NGX_CAMPAIGN_TEMPLATE_MAX_CALLS;
         i <= NGX_CAMPAIGN_TEMPLATE_MAX_CALLS + 1;
         i++)
    {
        size_t  n;

        /* i - 1 levels of kids: i calls of the fragment */

        s = json;
        for (n = 1; n < i; n++) {
            s += sprintf(s, "{\"name\": \"%zu\", \"kids\": [", n % 10);
        }

        s += sprintf(s, "{\"name\": \"x\", \"kids\": []}");

        for (n = 1; n < i; n++) {
            s += sprintf(s, "]}");
        }

        assert_int_equal(compile_with(run, "{{>node}}",
                                      NGX_CAMPAIGN_ESCAPE_HTML, partials), 0);
        assert_int_equal(render_compiled(run, json),
                         i <= NGX_CAMPAIGN_TEMPLATE_MAX_CALLS ? 0 : -1);
    }

    /* with no data to end it, the call limit does */
    assert_int_equal(compile_with(run, "{{>loop}}", NGX_CAMPAIGN_ESCAPE_HTML,
                                  "{\"loop\": \"x{{>loop}}\"}"), 0);
    assert_int_equal(render_compiled(run, "{}"), -1);

    /* two fragments including each other */
    assert_int_equal(compile_with(run, "{{>a}}", NGX_CAMPAIGN_ESCAPE_HTML,
                                  "{\"a\": \"a{{#n}}{{>b}}{{/n}}\", "
                                  "\"b\": \"b{{#n}}{{>a}}{{/n}}\"}"), 0);
    assert_int_equal(render_compiled(run, "{\"n\": {\"n\": {\"n\": "
                                          "false}}}"),
                     0);
    assert_string_equal((char *) run->out, "aba");
}


static void
test_numbers(void **state)
{
    run_t  *run = *state;

    assert_string_equal(render(run,
                               "{{a}} {{b}} {{c}} {{d}} {{e}} {{f}} {{g}}",
                               "{\"a\": 85, \"b\": -3, \"c\": 0, \"d\": 1.21,"
                               " \"e\": 0.1, \"f\": -2.5, \"g\": 85.0}",
                               NGX_CAMPAIGN_ESCAPE_HTML),
                        "85 -3 0 1.21 0.1 -2.5 85");

    /* integers stay integers below 1e17, as doubles hold them */
    assert_string_equal(render(run, "{{a}} {{b}} {{c}} {{d}}",
                               "{\"a\": 12345678901234, "
                               "\"b\": 9007199254740993, \"c\": 1e17, "
                               "\"d\": 1e21}",
                               NGX_CAMPAIGN_ESCAPE_HTML),
                        "12345678901234 9007199254740992 1e+17 1e+21");

    /* fixed notation up to 6 decimals, as JavaScript would print them */
    assert_string_equal(render(run, "{{a}} {{b}} {{c}} {{d}} {{e}}",
                               "{\"a\": 19.99, \"b\": -0.5, "
                               "\"c\": 0.000025, \"d\": 1e-7, "
                               "\"e\": 123456.789}",
                               NGX_CAMPAIGN_ESCAPE_HTML),
                        "19.99 -0.5 0.000025 1e-7 123456.789");

    /* shortest round trip: 17 digits only when needed */
    assert_string_equal(render(run, "{{a}} {{b}} {{c}}",
                               "{\"a\": 0.30000000000000004, "
                               "\"b\": 3.141592653589793, "
                               "\"c\": 1.5e-300}",
                               NGX_CAMPAIGN_ESCAPE_HTML),
                        "0.30000000000000004 3.141592653589793 1.5e-300");
}


static void
test_other_values(void **state)
{
    run_t  *run = *state;

    assert_string_equal(render(run, "[{{t}}|{{f}}|{{n}}|{{o}}|{{l}}|{{m}}]",
                               "{\"t\": true, \"f\": false, \"n\": null, "
                               "\"o\": {\"a\": 1}, \"l\": [1, 2]}",
                               NGX_CAMPAIGN_ESCAPE_HTML),
                        "[true|false||||]");

    /* no data at all: every name is missing */
    assert_int_equal(compile(run, "[{{a}}{{#b}}x{{/b}}{{^c}}y{{/c}}"
                                  "{{#each d}}{{else}}z{{/each}}]",
                             NGX_CAMPAIGN_ESCAPE_HTML), 0);
    assert_int_equal(ngx_campaign_template_render(run->tpl, NULL,
                                                  &run->arena.alloc,
                                                  &run->out, &run->out_len),
                     0);
    assert_string_equal((char *) run->out, "[yz]");
}


static void
test_profile_names(void **state)
{
    run_t  *run = *state;

    assert_string_equal(render(run,
                               "Hi {{profile.person.name.firstName}}, "
                               "{{#context.offers}}{{title}} for "
                               "{{profile.person.name.firstName}}; "
                               "{{/context.offers}}",
                               "{\"profile\": {\"person\": {\"name\": "
                               "{\"firstName\": \"Ann\"}}}, "
                               "\"context\": {\"offers\": "
                               "[{\"title\": \"A\"}, {\"title\": \"B\"}]}}",
                               NGX_CAMPAIGN_ESCAPE_HTML),
                        "Hi Ann, A for Ann; B for Ann; ");
}


static void
test_nesting_limit(void **state)
{
    char          src[4096], *s;
    size_t        i;
    run_t        *run = *state;
    const char   *open[4] = { "{{#a}}", "{{#if a}}", "{{#each l}}",
                              "{{#with a}}" };
    const char   *close[4] = { "{{/a}}", "{{/if}}", "{{/each}}",
                               "{{/with}}" };

    /* 64 levels of blocks of any kind compile and render */

    s = src;
    for (i = 0; i < NGX_CAMPAIGN_TEMPLATE_MAX_DEPTH; i++) {
        s += sprintf(s, "%s", open[i % 4]);
    }

    s += sprintf(s, "{{b}}");

    for (i = NGX_CAMPAIGN_TEMPLATE_MAX_DEPTH; i > 0; i--) {
        s += sprintf(s, "%s", close[(i - 1) % 4]);
    }

    assert_string_equal(render(run, src, "{\"a\": {\"l\": [1]}, \"l\": [1], "
                                         "\"b\": \"deep\"}",
                               NGX_CAMPAIGN_ESCAPE_HTML),
                        "deep");

    /* the 65th is refused where it opens: line 1, column 6 * 64 + 1 */

    s = src;
    for (i = 0; i <= NGX_CAMPAIGN_TEMPLATE_MAX_DEPTH; i++) {
        s += sprintf(s, "{{#a}}");
    }

    assert_compile_error(run, src, 1, 6 * NGX_CAMPAIGN_TEMPLATE_MAX_DEPTH + 1,
                         "sections nested deeper than 64");

    s = src;
    for (i = 0; i <= NGX_CAMPAIGN_TEMPLATE_MAX_DEPTH; i++) {
        s += sprintf(s, "{%%#if a %%}");
    }

    assert_compile_error(run, src, 1,
                         10 * NGX_CAMPAIGN_TEMPLATE_MAX_DEPTH + 1,
                         "nested deeper than 64");
}


/* blocks nested in recursive fragments: the context stack is bounded */

static void
test_context_limit(void **state)
{
    char    src[1024], *s;
    size_t  i;
    run_t  *run = *state;

    s = src + sprintf(src, "{\"f\": \"");
    for (i = 0; i < 16; i++) {
        s += sprintf(s, "{{#a}}");
    }

    s += sprintf(s, "{{>f}}");

    for (i = 0; i < 16; i++) {
        s += sprintf(s, "{{/a}}");
    }

    strcpy(s, "\"}");

    /* 16 contexts per call, 32 calls: over 256 contexts */
    assert_int_equal(compile_with(run, "{{>f}}", NGX_CAMPAIGN_ESCAPE_HTML,
                                  src), 0);
    assert_int_equal(render_compiled(run, "{\"a\": true}"), -1);
}


static void
test_output_limit(void **state)
{
    char    *json;
    size_t   i, len;
    run_t   *run = *state;

    /* a 1 MB string shown 17 times would make 17 MB */

    len = 1024 * 1024;
    json = malloc(len + 64);
    assert_non_null(json);

    i = sprintf(json, "{\"l\": [%s], \"s\": \"",
                "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1");
    memset(json + i, 'x', len);
    strcpy(json + i + len, "\"}");

    run->data = cJSON_Parse(json);
    free(json);
    assert_non_null(run->data);

    assert_int_equal(compile(run, "{{#l}}{{s}}{{/l}}",
                             NGX_CAMPAIGN_ESCAPE_HTML), 0);
    assert_int_equal(ngx_campaign_template_render(run->tpl, run->data,
                                                  &run->arena.alloc,
                                                  &run->out, &run->out_len),
                     -1);

    /* 15 times fits */

    cJSON_DeleteItemFromArray(cJSON_GetObjectItem(run->data, "l"), 0);
    cJSON_DeleteItemFromArray(cJSON_GetObjectItem(run->data, "l"), 0);
    assert_int_equal(ngx_campaign_template_render(run->tpl, run->data,
                                                  &run->arena.alloc,
                                                  &run->out, &run->out_len),
                     0);
    assert_int_equal(run->out_len, 15 * len);
}


static void
test_step_limit(void **state)
{
    char    json[4096], *s;
    size_t  i;
    run_t  *run = *state;

    /* 300 ^ 3 iterations of nothing: refused, not run for seconds */

    s = json + sprintf(json, "{\"l\": [0");
    for (i = 1; i < 300; i++) {
        s += sprintf(s, ",%zu", i);
    }

    strcpy(s, "]}");

    run->data = cJSON_Parse(json);
    assert_non_null(run->data);

    assert_int_equal(compile(run, "{{#l}}{{#l}}{{#l}}{{/l}}{{/l}}{{/l}}",
                             NGX_CAMPAIGN_ESCAPE_HTML), 0);
    assert_int_equal(ngx_campaign_template_render(run->tpl, run->data,
                                                  &run->arena.alloc,
                                                  &run->out, &run->out_len),
                     -1);

    assert_int_equal(compile(run, "{{#each l}}{{#each @root.l}}"
                                  "{{#each @root.l}}"
                                  "{{/each}}{{/each}}{{/each}}",
                             NGX_CAMPAIGN_ESCAPE_HTML), 0);
    assert_int_equal(ngx_campaign_template_render(run->tpl, run->data,
                                                  &run->arena.alloc,
                                                  &run->out, &run->out_len),
                     -1);

    /* 300 ^ 2 is fine */

    assert_int_equal(compile(run, "{{#l}}{{#each ../l}}{{/each}}{{/l}}",
                             NGX_CAMPAIGN_ESCAPE_HTML), 0);
    assert_int_equal(ngx_campaign_template_render(run->tpl, run->data,
                                                  &run->arena.alloc,
                                                  &run->out, &run->out_len),
                     0);
}


static void
test_out_of_memory(void **state)
{
    int                             rc;
    u_char                         *out;
    size_t                          n, out_len;
    cJSON                          *data;
    run_t                           run;
    const char                     *src;

    (void) state;

    src = "{{#list}}<li>{{name}}</li>\n{{/list}}{{^list}}none{{/list}}"
          "{{#each list as |i|}}{{>f}}{{else}}-{{/each}}"
          "{%= nothing ?: \"x\" %}";
    data = cJSON_Parse("{\"list\": [{\"name\": \"a\"}, {\"name\": \"b\"}]}");

    /* fail each allocation in turn: a clean error, never a crash */

    memset(&run, 0, sizeof(run_t));

    for (n = 1; /* void */; n++) {
        ngx_campaign_arena_init(&run.arena, 0);
        run.arena.fail_at = n;

        if (compile_with(&run, src, NGX_CAMPAIGN_ESCAPE_HTML,
                         "{\"f\": \"[{{i.name}}{{{name}}}]\"}")
            == 0)
        {
            break;
        }

        assert_string_equal(run.err.message, "out of memory");
        assert_int_equal(run.err.line, 0);
        ngx_campaign_arena_destroy(&run.arena);
    }

    assert_true(n > 1);

    run.arena.fail_at = run.arena.nallocs + 1;
    rc = ngx_campaign_template_render(run.tpl, data, &run.arena.alloc, &out,
                                      &out_len);
    assert_int_equal(rc, -1);

    run.arena.fail_at = 0;
    rc = ngx_campaign_template_render(run.tpl, data, &run.arena.alloc, &out,
                                      &out_len);
    assert_int_equal(rc, 0);
    assert_string_equal((char *) out, "<li>a</li>\n<li>b</li>\n[a][b]x");

    ngx_campaign_arena_destroy(&run.arena);
    cJSON_Delete(run.partials);
    cJSON_Delete(data);
}


static void
test_refs(void **state)
{
    size_t                              n;
    run_t                              *run = *state;
    const ngx_campaign_template_ref_t  *refs;

    assert_int_equal(compile(run, "Hi {{ profile.name }}\n"
                                  "{{#offers}}\n  {{{title}}} {{.}}\n"
                                  "{{/offers}}{{! not a name }}"
                                  "{{#each l as |x|}}{{x.a}}{{/each}}",
                             NGX_CAMPAIGN_ESCAPE_HTML), 0);

    refs = ngx_campaign_template_refs(run->tpl, &n);
    assert_int_equal(n, 6);

    assert_memory_equal(refs[0].name, "profile.name", refs[0].len);
    assert_int_equal(refs[0].line, 1);
    assert_int_equal(refs[0].column, 4);
    assert_int_equal(refs[0].depth, 0);
    assert_false(refs[0].section);

    assert_memory_equal(refs[1].name, "offers", refs[1].len);
    assert_true(refs[1].section);

    assert_memory_equal(refs[2].name, "title", refs[2].len);
    assert_int_equal(refs[2].line, 3);
    assert_int_equal(refs[2].column, 3);
    assert_int_equal(refs[2].depth, 1);

    assert_int_equal(refs[3].len, 1);
    assert_memory_equal(refs[3].name, ".", 1);

    assert_int_equal(refs[4].len, 1);
    assert_memory_equal(refs[4].name, "l", 1);
    assert_true(refs[4].section);

    assert_int_equal(refs[5].len, 3);
    assert_memory_equal(refs[5].name, "x.a", 3);
    assert_int_equal(refs[5].depth, 1);
}


/*
 * A 2 KB e-mail with 10 substitutions, the size the render time is
 * measured on (bench/render_bench.c).
 */

static void
test_email_2k(void **state)
{
    char         src[4096], expected[4096], *s, *e;
    size_t       i;
    run_t       *run = *state;
    const char  *filler;

    static const char  *names[10] = {
        "profile.person.name.firstName", "profile.person.name.lastName",
        "profile.homeAddress.city", "context.offer.title",
        "context.offer.price", "context.offer.code", "context.store.name",
        "context.store.url", "profile.loyalty.tier", "profile.loyalty.points"
    };

    static const char  *values[10] = {
        "Ann", "O&#39;Neil &lt;3", "Paris", "Summer &lt;sale&gt;", "19.99",
        "S&amp;S-10", "Rue du Bac", "https://example.com/?a=1&amp;b=2",
        "gold", "1250"
    };

    filler = "<p style=\"margin:0 0 12px 0;font-family:Arial,sans-serif;"
             "font-size:14px;line-height:20px;color:#333333\">Lorem ipsum "
             "dolor sit amet, consectetur adipiscing elit, sed do eiusmod "
             "tempor incididunt ut labore: ";

    s = src;
    e = expected;

    for (i = 0; i < 10; i++) {
        s += sprintf(s, "%s{{%s}}</p>\n", filler, names[i]);
        e += sprintf(e, "%s%s</p>\n", filler, values[i]);
    }

    assert_true(strlen(src) >= 2000);

    assert_string_equal(render(run, src,
        "{\"profile\": {\"person\": {\"name\": {\"firstName\": \"Ann\", "
        "\"lastName\": \"O'Neil <3\"}}, \"homeAddress\": {\"city\": "
        "\"Paris\"}, \"loyalty\": {\"tier\": \"gold\", \"points\": 1250}}, "
        "\"context\": {\"offer\": {\"title\": \"Summer <sale>\", "
        "\"price\": 19.99, \"code\": \"S&S-10\"}, \"store\": {\"name\": "
        "\"Rue du Bac\", \"url\": \"https://example.com/?a=1&b=2\"}}}",
        NGX_CAMPAIGN_ESCAPE_HTML), expected);
}


/*
 * Rendered for a JSON string: HTML entities need no JSON escaping, what
 * the data brings between them does (quotes, backslashes, control
 * characters), and so do the static text and a fragment's indentation.
 */

static void
test_render_json(void **state)
{
    char         long_data[512];
    u_char      *out;
    size_t       i, len;
    run_t       *run = *state;
    const char  *data = "{\"v\": \"<a href=\\\"x\\\">\\\\\\n\\t\\u0001'\"}";

    /* v is: <a href="x">\ newline tab U+0001 ' */

    assert_int_equal(compile_with(run, "\"{{v}}\"\n{{{v}}}\n{%= v %}\n"
                                       "\t{{>f}}\nend",
                                  NGX_CAMPAIGN_ESCAPE_HTML,
                                  "{\"f\": \"[{{v}}]\\n<\\\\>\\n\"}"),
                     0);
    assert_int_equal(render_compiled(run, data), 0);

    assert_int_equal(ngx_campaign_template_render_json(run->tpl, run->data,
                                                       &run->arena.alloc,
                                                       &out, &len),
                     0);
    assert_string_equal((char *) out,
        "\\\"&lt;a href=&quot;x&quot;&gt;\\\\\\n\\t\\u0001&#39;\\\"\\n"
        "<a href=\\\"x\\\">\\\\\\n\\t\\u0001'\\n"
        "&lt;a href=&quot;x&quot;&gt;\\\\\\n\\t\\u0001&#39;\\n"
        "\\t[&lt;a href=&quot;x&quot;&gt;\\\\\\n\\t\\u0001&#39;]\\n"
        "\\t<\\\\>\\nend");
    assert_int_equal(strlen((char *) out), len);

    /* the text escape mode escapes for JSON only */

    assert_string_equal(render(run, "\"{{v}}\"", data,
                               NGX_CAMPAIGN_ESCAPE_NONE),
                        "\"<a href=\"x\">\\\n\t\001'\"");
    assert_int_equal(ngx_campaign_template_render_json(run->tpl, run->data,
                                                       &run->arena.alloc,
                                                       &out, &len),
                     0);
    assert_string_equal((char *) out,
                        "\\\"<a href=\\\"x\\\">\\\\\\n\\t\\u0001'\\\"");

    /* values longer than those escaped byte by byte (render_compiled()) */

    strcpy(long_data, "{\"v\": \"");

    for (i = 0; i < 40; i++) {
        strcat(long_data, "a\\\"<\\\\\\n");
    }

    strcat(long_data, "\"}");

    assert_int_equal(compile(run, "{{v}}|{{{v}}}|{{v}}",
                             NGX_CAMPAIGN_ESCAPE_HTML),
                     0);
    assert_int_equal(render_compiled(run, long_data), 0);
    assert_int_equal(run->out_len, 2 * 40 * 13 + 40 * 5 + 2);
}


#define template_test(f)                                                    \
    cmocka_unit_test_setup_teardown(f, setup_run, teardown_run)


int
main(void)
{
    int  failed;

    const struct CMUnitTest  tests[] = {
        template_test(test_error_unclosed_tag),
        template_test(test_error_unclosed_section),
        template_test(test_error_mismatched_close),
        template_test(test_error_tag_names),
        template_test(test_error_helpers),
        template_test(test_error_delimiters),
        template_test(test_error_expression_tags),
        template_test(test_error_fragments),
        template_test(test_escape_none),
        template_test(test_escape_everywhere),
        template_test(test_values_are_not_templates),
        template_test(test_source_is_copied),
        template_test(test_comments),
        template_test(test_delimiters),
        template_test(test_if_unless),
        template_test(test_truthiness),
        template_test(test_each),
        template_test(test_with_and_paths),
        template_test(test_standalone_helpers),
        template_test(test_expressions),
        template_test(test_fragments),
        template_test(test_recursion),
        template_test(test_numbers),
        template_test(test_other_values),
        template_test(test_profile_names),
        template_test(test_nesting_limit),
        template_test(test_context_limit),
        template_test(test_output_limit),
        template_test(test_step_limit),
        cmocka_unit_test(test_out_of_memory),
        template_test(test_refs),
        template_test(test_email_2k),
        template_test(test_render_json),
    };

    failed = run_spec();
    failed += run_written_cases();
    failed += cmocka_run_group_tests_name("template", tests, NULL, NULL);

    return failed ? 1 : 0;
}
