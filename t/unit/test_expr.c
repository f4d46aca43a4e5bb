
/*
 * Copyright (C) ngx_campaign developers
 */


/*
 * The expression language of {%= expr %} and {%#if expr %}: literals,
 * paths, every operator and its precedence, every function with normal and
 * edge inputs, the null rules, the text of values, the compile errors with
 * their exact line and column, and the limits.
 *
 * Paths resolve against one cJSON object, as the template engine resolves
 * them against its context stack: "this" stands for the current object,
 * other segments are member names or array indexes.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_campaign_expr.h"
#include "ngx_campaign_arena.h"


typedef struct {
    ngx_campaign_arena_t            arena;
    ngx_campaign_template_error_t   err;
    cJSON                          *data;
    ngx_campaign_value_t            value;

    /* the segments of the last lookup, "a|b|c" */
    char                            segments[256];
} run_t;


static const char  data_json[] =
    "{\"profile\": {"
    "  \"person\": {\"name\": {\"firstName\": \"Ann\","
    "                          \"lastName\": \"\\u00dcnal\"}},"
    "  \"email\": \"ann@example.com\", \"phone\": \"123456789\","
    "  \"age\": 30, \"ageText\": \"30\", \"city\": \"Z\\u00fcrich\","
    "  \"tags\": [\"a\", \"b\", \"c\"],"
    "  \"mixed\": [1.5, 2, \"x\", true, null, [1], {}],"
    "  \"emptyList\": [], \"emptyObject\": {}, \"empty\": \"\","
    "  \"none\": null, \"zero\": 0, \"yes\": true, \"no\": false,"
    "  \"address\": {\"city\": \"Paris\"}},"
    " \"context\": {\"offerCode\": \"SPRING\", \"price\": 1.21,"
    "  \"count\": \"3\", \"decimals\": 2, \"word\": \"ten\"}}";


/* resolves against run->data, recording the segments it was given */

static const cJSON *
lookup(void *ctx, const ngx_campaign_segment_t *segments, size_t n)
{
    char          name[64], *p;
    size_t        i;
    run_t        *run;
    const cJSON  *value;

    run = ctx;
    value = run->data;
    p = run->segments;

    for (i = 0; i < n; i++) {
        p += snprintf(p, run->segments + sizeof(run->segments) - p, "%s%.*s",
                      i ? "|" : "", (int) segments[i].len,
                      (const char *) segments[i].data);
    }

    for (i = 0; i < n; i++) {
        if (segments[i].len >= sizeof(name)) {
            return NULL;
        }

        memcpy(name, segments[i].data, segments[i].len);
        name[segments[i].len] = '\0';

        if (strcmp(name, "this") == 0) {
            continue;
        }

        if (cJSON_IsArray(value) && name[0] >= '0' && name[0] <= '9') {
            value = cJSON_GetArrayItem(value, atoi(name));

        } else {
            value = cJSON_GetObjectItemCaseSensitive(value, name);
        }

        if (value == NULL) {
            return NULL;
        }
    }

    return value;
}


static int
setup_run(void **state)
{
    run_t  *run;

    run = calloc(1, sizeof(run_t));
    if (run == NULL) {
        return -1;
    }

    run->data = cJSON_Parse(data_json);
    if (run->data == NULL) {
        free(run);
        return -1;
    }

    /* every allocation on its own: ASan and valgrind see any overrun */
    ngx_campaign_arena_init(&run->arena, 0);

    *state = run;

    return 0;
}


static int
teardown_run(void **state)
{
    run_t  *run;

    run = *state;

    ngx_campaign_arena_destroy(&run->arena);
    cJSON_Delete(run->data);
    free(run);

    return 0;
}


/* compiles at line 1, column 1 and evaluates; fails the test on error */

static const ngx_campaign_value_t *
eval(run_t *run, const char *src)
{
    ngx_campaign_expr_t  *e;

    e = ngx_campaign_expr_compile(&run->arena.alloc, (const u_char *) src,
                                  strlen(src), 1, 1, &run->err);
    if (e == NULL) {
        fail_msg("\"%s\": %zu:%zu: %s", src, run->err.line,
                 run->err.column, run->err.message);
    }

    run->segments[0] = '\0';

    if (ngx_campaign_expr_eval(e, lookup, run, &run->arena.alloc,
                               &run->value)
        != 0)
    {
        fail_msg("\"%s\": evaluation failed", src);
    }

    return &run->value;
}


/* the value as {%= %} prints it, NUL-terminated */

static const char *
text(run_t *run, const char *src)
{
    char                        *s;
    size_t                       len;
    const u_char                *t;
    const ngx_campaign_value_t  *v;

    v = eval(run, src);

    assert_int_equal(ngx_campaign_value_text(v, &run->arena.alloc, &t, &len),
                     0);

    s = run->arena.alloc.alloc(run->arena.alloc.pool, len + 1);
    assert_non_null(s);

    memcpy(s, t, len);
    s[len] = '\0';

    return s;
}


static ngx_campaign_value_type_e
type(run_t *run, const char *src)
{
    return eval(run, src)->type;
}


static int
truthy(run_t *run, const char *src)
{
    return ngx_campaign_value_truthy(eval(run, src));
}


/* the expression at line 3, column 10 of a template must fail so */

static void
compile_error(run_t *run, const char *src, size_t line, size_t column,
    const char *message)
{
    ngx_campaign_expr_t  *e;

    memset(&run->err, 0, sizeof(run->err));

    e = ngx_campaign_expr_compile(&run->arena.alloc, (const u_char *) src,
                                  strlen(src), 3, 10, &run->err);
    if (e != NULL) {
        fail_msg("\"%s\" compiled", src);
    }

    if (strcmp(run->err.message, message) != 0
        || run->err.line != line || run->err.column != column)
    {
        fail_msg("\"%s\": got %zu:%zu: %s, expected %zu:%zu: %s", src,
                 run->err.line, run->err.column, run->err.message,
                 line, column, message);
    }
}


static void
test_literals(void **state)
{
    run_t  *run = *state;

    assert_string_equal(text(run, "\"Hello\""), "Hello");
    assert_string_equal(text(run, "'Hello'"), "Hello");
    assert_string_equal(text(run, "\"say \\\"hi\\\"\""), "say \"hi\"");
    assert_string_equal(text(run, "'it\\'s'"), "it's");
    assert_string_equal(text(run, "\"it's\""), "it's");
    assert_string_equal(text(run, "'a \"b\"'"), "a \"b\"");
    assert_string_equal(text(run, "\"a\\\\b\""), "a\\b");
    assert_string_equal(text(run, "\"a\\nb\\tc\""), "a\nb\tc");
    assert_string_equal(text(run, "\"\""), "");
    assert_int_equal(type(run, "\"\""), NGX_CAMPAIGN_VALUE_STRING);

    assert_string_equal(text(run, "42"), "42");
    assert_string_equal(text(run, "1.5"), "1.5");
    assert_string_equal(text(run, "-3"), "-3");
    assert_string_equal(text(run, "-0.25"), "-0.25");
    assert_string_equal(text(run, "007"), "7");
    assert_int_equal(type(run, "42"), NGX_CAMPAIGN_VALUE_NUMBER);

    assert_string_equal(text(run, "true"), "true");
    assert_string_equal(text(run, "false"), "false");
    assert_int_equal(type(run, "true"), NGX_CAMPAIGN_VALUE_BOOLEAN);

    assert_string_equal(text(run, "null"), "");
    assert_int_equal(type(run, "null"), NGX_CAMPAIGN_VALUE_NULL);

    /* whitespace and new lines around tokens */
    assert_string_equal(text(run, " \n\t 1 +\n 2 \r\n"), "3");
}


static void
test_paths(void **state)
{
    run_t  *run = *state;

    assert_string_equal(text(run, "profile.person.name.firstName"), "Ann");
    assert_string_equal(run->segments, "profile|person|name|firstName");

    assert_string_equal(text(run, "profile.tags.1"), "b");
    assert_string_equal(text(run, "profile.age"), "30");
    assert_int_equal(type(run, "profile.age"), NGX_CAMPAIGN_VALUE_NUMBER);
    assert_int_equal(type(run, "profile.yes"), NGX_CAMPAIGN_VALUE_BOOLEAN);
    assert_int_equal(type(run, "profile.tags"), NGX_CAMPAIGN_VALUE_JSON);
    assert_int_equal(type(run, "profile.none"), NGX_CAMPAIGN_VALUE_NULL);
    assert_int_equal(type(run, "profile.missing.deeper"),
                     NGX_CAMPAIGN_VALUE_NULL);

    /* the template engine resolves these: they pass through as written */

    assert_string_equal(text(run, "this.profile.email"), "ann@example.com");
    assert_string_equal(run->segments, "this|profile|email");

    type(run, "this");
    assert_string_equal(run->segments, "this");

    type(run, "../name");
    assert_string_equal(run->segments, "..|name");

    type(run, "../../a.b");
    assert_string_equal(run->segments, "..|..|a|b");

    type(run, "@index");
    assert_string_equal(run->segments, "@index");

    type(run, "first-name._x.@last");
    assert_string_equal(run->segments, "first-name|_x|@last");

    /* keywords are keywords only alone */

    type(run, "profile.null");
    assert_string_equal(run->segments, "profile|null");

    type(run, "true_love");
    assert_string_equal(run->segments, "true_love");
}


static void
test_no_lookup(void **state)
{
    run_t                 *run = *state;
    ngx_campaign_expr_t   *e;
    ngx_campaign_value_t   v;

    e = ngx_campaign_expr_compile(&run->arena.alloc,
                                  (const u_char *) "a.b ?: 'x'", 10, 1, 1,
                                  &run->err);
    assert_non_null(e);

    assert_int_equal(ngx_campaign_expr_eval(e, NULL, NULL,
                                            &run->arena.alloc, &v), 0);
    assert_int_equal(v.type, NGX_CAMPAIGN_VALUE_STRING);
    assert_int_equal(v.u.string.len, 1);
}


static void
test_source_is_copied(void **state)
{
    run_t                 *run = *state;
    char                   src[64];
    ngx_campaign_expr_t   *e;
    ngx_campaign_value_t   v;

    strcpy(src, "profile.person.name.firstName + \"!\"");

    e = ngx_campaign_expr_compile(&run->arena.alloc, (const u_char *) src,
                                  strlen(src), 1, 1, &run->err);
    assert_non_null(e);

    memset(src, 'x', sizeof(src));

    assert_int_equal(ngx_campaign_expr_eval(e, lookup, run,
                                            &run->arena.alloc, &v), 0);
    assert_int_equal(v.u.string.len, 4);
    assert_memory_equal(v.u.string.data, "Ann!", 4);
}


static void
test_fallback(void **state)
{
    run_t  *run = *state;

    assert_string_equal(text(run, "profile.person.name.firstName ?: 'you'"),
                        "Ann");
    assert_string_equal(text(run, "profile.missing ?: 'you'"), "you");
    assert_string_equal(text(run, "profile.none ?: 'you'"), "you");
    assert_string_equal(text(run, "profile.empty ?: 'you'"), "you");

    /* only null, missing and "" fall back */
    assert_string_equal(text(run, "profile.zero ?: 'you'"), "0");
    assert_string_equal(text(run, "profile.no ?: 'you'"), "false");
    assert_string_equal(text(run, "profile.emptyList ?: 'you'"), "");
    assert_int_equal(type(run, "profile.emptyList ?: 'you'"),
                     NGX_CAMPAIGN_VALUE_JSON);

    /* chains, right to left */
    assert_string_equal(text(run, "profile.none ?: profile.empty ?: \"x\""),
                        "x");
    assert_string_equal(text(run, "a ?: profile.address.city ?: \"x\""),
                        "Paris");
    assert_string_equal(text(run, "a ?: b ?: c ?: d ?: null ?: 'last'"),
                        "last");
    assert_int_equal(type(run, "a ?: b"), NGX_CAMPAIGN_VALUE_NULL);

    /* the right side is not evaluated when the left side is used */
    assert_string_equal(text(run, "'x' ?: a.b.c"), "x");
    assert_string_equal(run->segments, "");
}


static void
test_boolean_operators(void **state)
{
    run_t  *run = *state;

    assert_string_equal(text(run, "true and true"), "true");
    assert_string_equal(text(run, "true and false"), "false");
    assert_string_equal(text(run, "true && 1"), "true");
    assert_string_equal(text(run, "false or true"), "true");
    assert_string_equal(text(run, "false or false"), "false");
    assert_string_equal(text(run, "'' || 0"), "false");
    assert_string_equal(text(run, "not true"), "false");
    assert_string_equal(text(run, "!false"), "true");
    assert_string_equal(text(run, "!!'x'"), "true");
    assert_string_equal(text(run, "not not not 0"), "true");
    assert_int_equal(type(run, "'a' or 'b'"), NGX_CAMPAIGN_VALUE_BOOLEAN);

    /* short circuits: the other side is not looked up */
    assert_string_equal(text(run, "false and a.b"), "false");
    assert_string_equal(run->segments, "");
    assert_string_equal(text(run, "true or a.b"), "true");
    assert_string_equal(run->segments, "");

    /* truthiness as {%#if %} sees it */
    assert_false(truthy(run, "null"));
    assert_false(truthy(run, "profile.missing"));
    assert_false(truthy(run, "false"));
    assert_false(truthy(run, "0"));
    assert_false(truthy(run, "''"));
    assert_false(truthy(run, "profile.emptyList"));
    assert_true(truthy(run, "profile.emptyObject"));
    assert_true(truthy(run, "profile.tags"));
    assert_true(truthy(run, "'0'"));
    assert_true(truthy(run, "' '"));
    assert_true(truthy(run, "-1"));
    assert_true(truthy(run, "0.5"));
}


static void
test_comparisons(void **state)
{
    run_t  *run = *state;

    /* numbers */
    assert_true(truthy(run, "1 = 1"));
    assert_true(truthy(run, "1 == 1.0"));
    assert_true(truthy(run, "1 != 2"));
    assert_true(truthy(run, "1 < 2"));
    assert_false(truthy(run, "2 < 2"));
    assert_true(truthy(run, "2 <= 2"));
    assert_true(truthy(run, "3 > 2"));
    assert_false(truthy(run, "2 > 2"));
    assert_true(truthy(run, "2 >= 2"));
    assert_true(truthy(run, "-1 < 0"));
    assert_true(truthy(run, "profile.age >= 18"));

    /* strings, byte by byte */
    assert_true(truthy(run, "'a' = 'a'"));
    assert_false(truthy(run, "'a' = 'A'"));
    assert_true(truthy(run, "'a' != 'A'"));
    assert_true(truthy(run, "'a' < 'b'"));
    assert_true(truthy(run, "'B' < 'a'"));
    assert_true(truthy(run, "'ab' < 'abc'"));
    assert_true(truthy(run, "'abd' > 'abc'"));
    assert_true(truthy(run, "'10' < '9'"));
    assert_true(truthy(run, "'' < 'a'"));
    assert_true(truthy(run, "'z' < '\xc3\xa9'"));
    assert_true(truthy(run, "profile.city = 'Z\xc3\xbcrich'"));

    /* mixed: never equal, ordered when both read as numbers */
    assert_false(truthy(run, "3 = '3'"));
    assert_true(truthy(run, "3 != '3'"));
    assert_false(truthy(run, "profile.ageText = 30"));
    assert_true(truthy(run, "profile.ageText > 18"));
    assert_true(truthy(run, "profile.ageText >= 30"));
    assert_false(truthy(run, "profile.ageText < 18"));
    assert_true(truthy(run, "' 2.5 ' < 3"));
    assert_false(truthy(run, "'abc' < 5"));
    assert_false(truthy(run, "'abc' >= 5"));
    assert_false(truthy(run, "'0x10' > 1"));
    assert_false(truthy(run, "true = 1"));
    assert_false(truthy(run, "true > 0"));

    /* null equals null only and orders with nothing */
    assert_true(truthy(run, "null = null"));
    assert_true(truthy(run, "profile.missing = null"));
    assert_true(truthy(run, "profile.none == profile.missing"));
    assert_false(truthy(run, "null = ''"));
    assert_false(truthy(run, "null = 0"));
    assert_true(truthy(run, "null != false"));
    assert_false(truthy(run, "null < 1"));
    assert_false(truthy(run, "null >= null"));

    /* booleans */
    assert_true(truthy(run, "true = true"));
    assert_true(truthy(run, "false != true"));
    assert_true(truthy(run, "profile.yes = true"));
    assert_false(truthy(run, "true < false"));
    assert_false(truthy(run, "false < true"));

    /* arrays and objects equal by content */
    assert_true(truthy(run, "profile.tags = profile.tags"));
    assert_false(truthy(run, "profile.tags = profile.mixed"));
    assert_true(truthy(run, "profile.emptyObject = profile.mixed.6"));
    assert_false(truthy(run, "profile.tags = 'a,b,c'"));
    assert_false(truthy(run, "profile.tags < profile.tags"));
}


static void
test_arithmetic(void **state)
{
    run_t  *run = *state;

    assert_string_equal(text(run, "1 + 2"), "3");
    assert_string_equal(text(run, "5 - 7"), "-2");
    assert_string_equal(text(run, "6 * 7"), "42");
    assert_string_equal(text(run, "7 / 2"), "3.5");
    assert_string_equal(text(run, "7 % 3"), "1");
    assert_string_equal(text(run, "7.5 % 2"), "1.5");
    assert_string_equal(text(run, "-7 % 3"), "-1");
    assert_string_equal(text(run, "0.1 + 0.2"), "0.30000000000000004");
    assert_string_equal(text(run, "context.price"), "1.21");
    assert_string_equal(text(run, "1 / 3"), "0.3333333333333333");
    assert_string_equal(text(run, "-(2 + 3)"), "-5");
    assert_string_equal(text(run, "- -2"), "2");
    assert_string_equal(text(run, "-profile.age"), "-30");

    /* strings that read as numbers take part */
    assert_string_equal(text(run, "context.count * 2"), "6");
    assert_string_equal(text(run, "context.count - 1"), "2");
    assert_string_equal(text(run, "-context.count"), "-3");

    /* anything else gives null */
    assert_int_equal(type(run, "1 / 0"), NGX_CAMPAIGN_VALUE_NULL);
    assert_int_equal(type(run, "1 % 0"), NGX_CAMPAIGN_VALUE_NULL);
    assert_int_equal(type(run, "context.word * 2"), NGX_CAMPAIGN_VALUE_NULL);
    assert_int_equal(type(run, "profile.none + 1"), NGX_CAMPAIGN_VALUE_NULL);
    assert_int_equal(type(run, "true + 1"), NGX_CAMPAIGN_VALUE_NULL);
    assert_int_equal(type(run, "profile.tags + 1"), NGX_CAMPAIGN_VALUE_NULL);
    assert_int_equal(type(run, "-'x'"), NGX_CAMPAIGN_VALUE_NULL);
    assert_int_equal(type(run, "-null"), NGX_CAMPAIGN_VALUE_NULL);

    /* overflow is null, not infinity */
    assert_int_equal(type(run, "99999999999999999999 * 1" "0000000000000000000"
                           "0000000000000000000000000000000000000000000000"
                           "0000000000000000000000000000000000000000000000"
                           "0000000000000000000000000000000000000000000000"
                           "0000000000000000000000000000000000000000000000"
                           "0000000000000000000000000000000000000000000000"
                           "000000000000000000000000000000000000000000000 "
                           "* 1000000000000000000000000"),
                     NGX_CAMPAIGN_VALUE_NULL);
}


static void
test_concatenation(void **state)
{
    run_t  *run = *state;

    /* "+" joins text when either side is a string */
    assert_string_equal(text(run, "'a' + 'b'"), "ab");
    assert_string_equal(text(run, "'a' + 1"), "a1");
    assert_string_equal(text(run, "1 + 'a'"), "1a");
    assert_string_equal(text(run, "1 + 2 + 'a'"), "3a");
    assert_string_equal(text(run, "'a' + 1 + 2"), "a12");
    assert_string_equal(text(run, "'a' + (1 + 2)"), "a3");
    assert_string_equal(text(run, "'x' + 1.5"), "x1.5");
    assert_string_equal(text(run, "'x' + true"), "xtrue");
    assert_string_equal(text(run, "'x' + null"), "x");
    assert_string_equal(text(run, "profile.missing + '!'"), "!");
    assert_string_equal(text(run, "'' + ''"), "");
    assert_string_equal(text(run, "'tags: ' + profile.tags"), "tags: a,b,c");
    assert_string_equal(text(run, "context.count + 1"), "31");
    assert_string_equal(text(run,
                             "'Hi ' + profile.person.name.firstName + '!'"),
                        "Hi Ann!");
}


static void
test_precedence(void **state)
{
    run_t  *run = *state;

    assert_string_equal(text(run, "1 + 2 * 3"), "7");
    assert_string_equal(text(run, "(1 + 2) * 3"), "9");
    assert_string_equal(text(run, "10 - 2 - 3"), "5");
    assert_string_equal(text(run, "100 / 10 / 5"), "2");
    assert_string_equal(text(run, "2 * 3 % 4"), "2");
    assert_string_equal(text(run, "-2 * 3"), "-6");
    assert_string_equal(text(run, "2 - -3"), "5");
    assert_string_equal(text(run, "1 + 2 = 3"), "true");
    assert_string_equal(text(run, "(1 < 2) = true"), "true");

    /* not binds looser than comparisons, tighter than and */
    assert_string_equal(text(run, "not 1 = 2"), "true");
    assert_string_equal(text(run, "!1 = 2"), "true");
    assert_string_equal(text(run, "not false and false"), "false");

    /* and before or */
    assert_string_equal(text(run, "true or false and false"), "true");
    assert_string_equal(text(run, "false and true or true"), "true");
    assert_string_equal(text(run, "(true or false) and false"), "false");

    /* ?: binds loosest */
    assert_string_equal(text(run, "profile.none ?: false or true"), "true");
    assert_string_equal(text(run, "'a' + profile.none ?: 'b'"), "a");
    assert_string_equal(text(run, "profile.none + 1 ?: 'b'"), "b");
    assert_string_equal(text(run, "(profile.none ?: 1) + 1"), "2");
    assert_string_equal(text(run, "((((1))))"), "1");
}


static void
test_case_functions(void **state)
{
    run_t  *run = *state;

    assert_string_equal(text(run, "lowerCase('Hello WORLD 42')"),
                        "hello world 42");
    assert_string_equal(text(run, "upperCase('Hello world 42')"),
                        "HELLO WORLD 42");
    assert_string_equal(text(run, "upperCase(profile.person.name.firstName)"),
                        "ANN");

    /* Latin-1 pairs, not the signs U+00D7 and U+00F7; U+00DF, U+00FF stay */
    assert_string_equal(
        text(run, "lowerCase('\xc3\x80\xc3\x89\xc3\x8e\xc3\x95\xc3\x9c"
                  "\xc3\x9e \xc3\x97')"),
        "\xc3\xa0\xc3\xa9\xc3\xae\xc3\xb5\xc3\xbc\xc3\xbe \xc3\x97");
    assert_string_equal(
        text(run, "upperCase('stra\xc3\x9f" "e \xc3\xbf \xc3\xb7 "
                  "\xc3\xa9t\xc3\xa9')"),
        "STRA\xc3\x9f" "E \xc3\xbf \xc3\xb7 \xc3\x89T\xc3\x89");
    assert_string_equal(text(run, "lowerCase(profile.person.name.lastName)"),
                        "\xc3\xbcnal");

    /* Latin Extended-A, Greek and Cyrillic */
    assert_string_equal(text(run, "upperCase('\xc5\x82\xc3\xb3" "d\xc5\xba')"),
                        "\xc5\x81\xc3\x93" "D\xc5\xb9");
    assert_string_equal(text(run, "lowerCase('\xce\xa3\xce\x91\xce\xa3')"),
                        "\xcf\x83\xce\xb1\xcf\x83");
    assert_string_equal(text(run, "upperCase('\xcf\x82')"), "\xce\xa3");
    assert_string_equal(
        text(run, "upperCase('\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5"
                  "\xd1\x82 \xd1\x91')"),
        "\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2 \xd0\x81");

    /* other scripts and emoji are left alone */
    assert_string_equal(text(run, "upperCase('\xe6\x97\xa5\xe6\x9c\xac abc "
                                  "\xf0\x9f\x98\x80')"),
                        "\xe6\x97\xa5\xe6\x9c\xac ABC \xf0\x9f\x98\x80");

    /* edges: empty, null, numbers */
    assert_string_equal(text(run, "upperCase('')"), "");
    assert_string_equal(text(run, "upperCase(null)"), "");
    assert_string_equal(text(run, "lowerCase(profile.missing)"), "");
    assert_int_equal(type(run, "lowerCase(profile.missing)"),
                     NGX_CAMPAIGN_VALUE_STRING);
    assert_string_equal(text(run, "upperCase(profile.age)"), "30");
    assert_string_equal(text(run, "upperCase(profile.yes)"), "TRUE");

    assert_string_equal(text(run, "capitalize('hello World')"),
                        "Hello World");
    assert_string_equal(text(run, "capitalize('\xc3\xa9lan vital')"),
                        "\xc3\x89lan vital");
    assert_string_equal(text(run, "capitalize('ALREADY')"), "ALREADY");
    assert_string_equal(text(run, "capitalize(' x')"), " x");
    assert_string_equal(text(run, "capitalize('a')"), "A");
    assert_string_equal(text(run, "capitalize('')"), "");
    assert_string_equal(text(run, "capitalize(profile.none)"), "");
}


static void
test_case_invalid_utf8(void **state)
{
    run_t  *run = *state;

    /* a truncated or stray sequence from the data is copied unchanged */

    cJSON_AddItemToObject(run->data, "bad",
                          cJSON_CreateString("a\xc3 \xa9z\xe6\x97"));

    assert_string_equal(text(run, "upperCase(bad)"), "A\xc3 \xa9Z\xe6\x97");
    assert_string_equal(text(run, "lowerCase(upperCase(bad))"),
                        "a\xc3 \xa9z\xe6\x97");
    assert_string_equal(text(run, "length(bad)"), "7");
    assert_string_equal(text(run, "mask(bad, 1, 2)"), "aXXXX\xe6\x97");
}


static void
test_trim_concat(void **state)
{
    run_t  *run = *state;

    assert_string_equal(text(run, "trim('  a b \\t\\n')"), "a b");
    assert_string_equal(text(run, "trim('a')"), "a");
    assert_string_equal(text(run, "trim('   ')"), "");
    assert_string_equal(text(run, "trim('')"), "");
    assert_string_equal(text(run, "trim(null)"), "");
    assert_string_equal(text(run, "trim(' \xc3\xa9 ')"), "\xc3\xa9");

    assert_string_equal(text(run, "concat('a', 'b', 'c')"), "abc");
    assert_string_equal(text(run, "concat('x')"), "x");
    assert_string_equal(text(run, "concat('a', 1, true, null, 2.5)"),
                        "a1true2.5");
    assert_string_equal(text(run, "concat(profile.person.name.firstName, "
                                  "' ', profile.missing, '<', "
                                  "profile.tags, '>')"),
                        "Ann <a,b,c>");
    assert_string_equal(text(run, "concat('', '')"), "");
    assert_string_equal(text(run, "concat(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)"),
                        "12345678910");
    assert_int_equal(type(run, "concat(null)"), NGX_CAMPAIGN_VALUE_STRING);
}


static void
test_search_functions(void **state)
{
    run_t  *run = *state;

    assert_true(truthy(run, "contains('Z\xc3\xbcrich', '\xc3\xbc')"));
    assert_true(truthy(run, "contains(profile.email, '@example.')"));
    assert_false(truthy(run, "contains('abc', 'abcd')"));
    assert_false(truthy(run, "contains('abc', 'B')"));
    assert_true(truthy(run, "contains('abc', '')"));
    assert_false(truthy(run, "contains('', 'a')"));
    assert_true(truthy(run, "contains(profile.none, '')"));
    assert_true(truthy(run, "contains(profile.age, '3')"));
    assert_int_equal(type(run, "contains('a', 'a')"),
                     NGX_CAMPAIGN_VALUE_BOOLEAN);

    assert_true(truthy(run, "startsWith('campaign', 'camp')"));
    assert_true(truthy(run, "startsWith('camp', 'camp')"));
    assert_false(truthy(run, "startsWith('camp', 'campaign')"));
    assert_false(truthy(run, "startsWith('campaign', 'Camp')"));
    assert_true(truthy(run, "startsWith('x', '')"));
    assert_true(truthy(run, "startsWith('', '')"));
    assert_false(truthy(run, "startsWith(null, 'a')"));

    assert_true(truthy(run, "endsWith(profile.email, '.com')"));
    assert_false(truthy(run, "endsWith(profile.email, '.org')"));
    assert_false(truthy(run, "endsWith('m', 'com')"));
    assert_true(truthy(run, "endsWith('x', '')"));
    assert_true(truthy(run, "endsWith('Z\xc3\xbcrich', 'rich')"));
    assert_true(truthy(run, "endsWith(context.price, '.21')"));
}


static void
test_length_is_empty(void **state)
{
    run_t  *run = *state;

    assert_string_equal(text(run, "length('hello')"), "5");
    assert_string_equal(text(run, "length('')"), "0");
    assert_string_equal(text(run, "length(profile.city)"), "6");
    assert_string_equal(text(run, "length('\xe6\x97\xa5\xe6\x9c\xac')"), "2");
    assert_string_equal(text(run, "length('\xf0\x9f\x98\x80!')"), "2");
    assert_string_equal(text(run, "length(profile.tags)"), "3");
    assert_string_equal(text(run, "length(profile.emptyList)"), "0");
    assert_string_equal(text(run, "length(profile.address)"), "1");
    assert_string_equal(text(run, "length(profile.emptyObject)"), "0");
    assert_string_equal(text(run, "length(profile.none)"), "0");
    assert_string_equal(text(run, "length(null)"), "0");
    assert_string_equal(text(run, "length(profile.age)"), "2");
    assert_string_equal(text(run, "length(upperCase('abc')) + 1"), "4");
    assert_int_equal(type(run, "length('')"), NGX_CAMPAIGN_VALUE_NUMBER);

    assert_true(truthy(run, "isEmpty(null)"));
    assert_true(truthy(run, "isEmpty(profile.missing)"));
    assert_true(truthy(run, "isEmpty(profile.none)"));
    assert_true(truthy(run, "isEmpty('')"));
    assert_true(truthy(run, "isEmpty(profile.empty)"));
    assert_true(truthy(run, "isEmpty(profile.emptyList)"));
    assert_true(truthy(run, "isEmpty(profile.emptyObject)"));
    assert_false(truthy(run, "isEmpty(' ')"));
    assert_false(truthy(run, "isEmpty(0)"));
    assert_false(truthy(run, "isEmpty(false)"));
    assert_false(truthy(run, "isEmpty(profile.tags)"));
    assert_false(truthy(run, "isEmpty(profile.address)"));
    assert_true(truthy(run, "isEmpty(1 / 0)"));
    assert_true(truthy(run, "not isEmpty(profile.email)"));
}


static void
test_replace(void **state)
{
    run_t  *run = *state;

    assert_string_equal(text(run, "replace('a-b-c', '-', '+')"), "a+b+c");
    assert_string_equal(text(run, "replace('a-b-c', '-', '')"), "abc");
    assert_string_equal(text(run, "replace('a-b', '-', ' and ')"),
                        "a and b");
    assert_string_equal(text(run, "replace('aaa', 'aa', 'b')"), "ba");
    assert_string_equal(text(run, "replace('abc', 'x', 'y')"), "abc");
    assert_string_equal(text(run, "replace('abc', '', 'y')"), "abc");
    assert_string_equal(text(run, "replace('abc', 'abc', '')"), "");
    assert_string_equal(text(run, "replace('ab', 'abc', 'x')"), "ab");
    assert_string_equal(text(run, "replace('', 'a', 'b')"), "");
    assert_string_equal(text(run, "replace(profile.none, 'a', 'b')"), "");
    assert_string_equal(text(run, "replace('a.b', '.', null)"), "ab");
    assert_string_equal(text(run, "replace('Z\xc3\xbcrich', '\xc3\xbc', "
                                  "'ue')"), "Zuerich");

    /* literal: no patterns */
    assert_string_equal(text(run, "replace('a.*b', '.*', '-')"), "a-b");
}


static void
test_mask(void **state)
{
    run_t  *run = *state;

    assert_string_equal(text(run, "mask(\"123456789\", 1, 2)"), "1XXXXXX89");
    assert_string_equal(text(run, "mask(profile.phone, 0, 4)"), "XXXXX6789");
    assert_string_equal(text(run, "mask('abc', 0, 0)"), "XXX");
    assert_string_equal(text(run, "mask('abcd', 1, 1)"), "aXXd");

    /* counted in characters: one X each */
    assert_string_equal(text(run, "mask(profile.city, 1, 1)"), "ZXXXXh");
    assert_string_equal(text(run, "mask('\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa"
                                  "\x9e', 1, 0)"), "\xe6\x97\xa5XX");

    /* nothing left to mask: unchanged */
    assert_string_equal(text(run, "mask('abc', 2, 1)"), "abc");
    assert_string_equal(text(run, "mask('abc', 5, 0)"), "abc");
    assert_string_equal(text(run, "mask('', 0, 0)"), "");
    assert_string_equal(text(run, "mask(null, 0, 0)"), "");

    /* negative counts are zero, fractions are cut */
    assert_string_equal(text(run, "mask('abc', -1, 1)"), "XXc");
    assert_string_equal(text(run, "mask('abcd', 1.9, 1)"), "aXXd");

    /* counts from the data: numbers or strings that read as one */
    assert_string_equal(text(run, "mask('abcdef', context.decimals, "
                                  "context.count)"), "abXdef");
    assert_int_equal(type(run, "mask('abc', profile.none, 1)"),
                     NGX_CAMPAIGN_VALUE_NULL);
    assert_int_equal(type(run, "mask('abc', context.word, 1)"),
                     NGX_CAMPAIGN_VALUE_NULL);
    assert_string_equal(text(run, "mask(profile.email, 1, 4) ?: 'n/a'"),
                        "aXXXXXXXXXX.com");
}


static void
test_join(void **state)
{
    run_t  *run = *state;

    assert_string_equal(text(run, "join(profile.tags, ', ')"), "a, b, c");
    assert_string_equal(text(run, "join(profile.tags, '')"), "abc");
    assert_string_equal(text(run, "join(profile.tags, null)"), "abc");
    assert_string_equal(text(run, "join(profile.mixed, '|')"),
                        "1.5|2|x|true|||");
    assert_string_equal(text(run, "join(profile.emptyList, ',')"), "");
    assert_string_equal(text(run, "join(profile.none, ',')"), "");
    assert_string_equal(text(run, "join(null, ',')"), "");

    /* not an array: its own text */
    assert_string_equal(text(run, "join(profile.email, ',')"),
                        "ann@example.com");
    assert_string_equal(text(run, "join(profile.address, ',')"), "");
    assert_string_equal(text(run, "join(profile.tags, context.decimals)"),
                        "a2b2c");
}


static void
test_format_number(void **state)
{
    run_t  *run = *state;

    assert_string_equal(text(run, "formatNumber(3.14159, 2)"), "3.14");
    assert_string_equal(text(run, "formatNumber(2, 0)"), "2");
    assert_string_equal(text(run, "formatNumber(2.5, 0)"), "2");
    assert_string_equal(text(run, "formatNumber(1234567.5, 2)"),
                        "1234567.50");
    assert_string_equal(text(run, "formatNumber(-1.005, 1)"), "-1.0");
    assert_string_equal(text(run, "formatNumber(-0.001, 2)"), "0.00");
    assert_string_equal(text(run, "formatNumber(1, 10)"), "1.0000000000");
    assert_string_equal(text(run, "formatNumber(context.price, 1)"), "1.2");
    assert_string_equal(text(run, "formatNumber(profile.ageText, 1)"),
                        "30.0");
    assert_string_equal(text(run, "formatNumber(1, context.decimals)"),
                        "1.00");
    assert_string_equal(text(run, "formatNumber(length('abc'), 1)"), "3.0");
    assert_int_equal(type(run, "formatNumber(1, 2)"),
                     NGX_CAMPAIGN_VALUE_STRING);

    /* decimals from the data are clamped to 0..10 */
    cJSON_AddNumberToObject(run->data, "many", 25);
    assert_string_equal(text(run, "formatNumber(0.5, many)"),
                        "0.5000000000");

    /* not a number: null, so that a fallback applies */
    assert_int_equal(type(run, "formatNumber(context.word, 2)"),
                     NGX_CAMPAIGN_VALUE_NULL);
    assert_string_equal(text(run, "formatNumber(profile.none, 2) ?: 'n/a'"),
                        "n/a");
    assert_int_equal(type(run, "formatNumber(1, profile.none)"),
                     NGX_CAMPAIGN_VALUE_NULL);
}


static void
test_encode64(void **state)
{
    run_t  *run = *state;

    assert_string_equal(text(run, "encode64('')"), "");
    assert_string_equal(text(run, "encode64('f')"), "Zg==");
    assert_string_equal(text(run, "encode64('fo')"), "Zm8=");
    assert_string_equal(text(run, "encode64('foo')"), "Zm9v");
    assert_string_equal(text(run, "encode64('foobar')"), "Zm9vYmFy");
    assert_string_equal(text(run, "encode64(profile.city)"), "WsO8cmljaA==");
    assert_string_equal(text(run, "encode64('\xff')"), "/w==");
    assert_string_equal(text(run, "encode64(profile.none)"), "");
    assert_string_equal(text(run, "encode64(profile.age)"), "MzA=");
}


static void
test_value_text(void **state)
{
    run_t                 *run = *state;
    size_t                 len;
    const u_char          *t;
    ngx_campaign_value_t   v;

    v.type = NGX_CAMPAIGN_VALUE_NUMBER;

    v.u.number = 3;
    assert_int_equal(ngx_campaign_value_text(&v, &run->arena.alloc, &t, &len),
                     0);
    assert_int_equal(len, 1);
    assert_memory_equal(t, "3", 1);

    v.u.number = -0.0;
    ngx_campaign_value_text(&v, &run->arena.alloc, &t, &len);
    assert_int_equal(len, 1);
    assert_memory_equal(t, "0", 1);

    v.u.number = 1e21;
    ngx_campaign_value_text(&v, &run->arena.alloc, &t, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(t, "1e+21", 5);

    v.u.number = 123456789012.5;
    ngx_campaign_value_text(&v, &run->arena.alloc, &t, &len);
    assert_int_equal(len, 14);
    assert_memory_equal(t, "123456789012.5", 14);

    v.u.number = 0.1 * 3;
    ngx_campaign_value_text(&v, &run->arena.alloc, &t, &len);
    assert_int_equal(len, 19);
    assert_memory_equal(t, "0.30000000000000004", 19);

    /* integers in the data print without decimals */
    assert_string_equal(text(run, "profile.mixed.1"), "2");
    assert_string_equal(text(run, "profile.mixed.0"), "1.5");

    /* arrays: their scalars joined with ","; objects: nothing */
    assert_string_equal(text(run, "profile.tags"), "a,b,c");
    assert_string_equal(text(run, "profile.mixed"), "1.5,2,x,true,,,");
    assert_string_equal(text(run, "profile.emptyList"), "");
    assert_string_equal(text(run, "profile.address"), "");
    assert_string_equal(text(run, "profile.yes"), "true");
    assert_string_equal(text(run, "profile.no"), "false");
    assert_string_equal(text(run, "profile.none"), "");
}


static void
test_errors(void **state)
{
    run_t  *run = *state;

    /* the expression starts at line 3, column 10 of its template */

    compile_error(run, "", 3, 10, "empty expression");
    compile_error(run, "   ", 3, 13, "empty expression");

    compile_error(run, "lowercase(name)", 3, 10,
                  "unknown function \"lowercase\" (did you mean "
                  "\"lowerCase\"?)");
    compile_error(run, "1 + UPPERCASE(name)", 3, 14,
                  "unknown function \"UPPERCASE\" (did you mean "
                  "\"upperCase\"?)");
    compile_error(run, "lenght(name)", 3, 10,
                  "unknown function \"lenght\" (did you mean \"length\"?)");
    compile_error(run, "tirm(name)", 3, 10,
                  "unknown function \"tirm\" (did you mean \"trim\"?)");
    compile_error(run, "uppercaseFirst(name)", 3, 10,
                  "unknown function \"uppercaseFirst\"");
    compile_error(run, "profile.upperCase(name)", 3, 10,
                  "unknown function \"profile.upperCase\"");

    compile_error(run, "mask(profile.phone, 1)", 3, 10,
                  "function \"mask\" takes 3 arguments, found 2");
    compile_error(run, "x ?: upperCase()", 3, 15,
                  "function \"upperCase\" takes 1 argument, found 0");
    compile_error(run, "upperCase('a', 'b')", 3, 10,
                  "function \"upperCase\" takes 1 argument, found 2");
    compile_error(run, "concat()", 3, 10,
                  "function \"concat\" takes at least 1 argument, found 0");

    compile_error(run, "mask(profile.phone, \"a\", 2)", 3, 30,
                  "mask: argument 2 must be a number, found string \"a\"");
    compile_error(run, "mask(s, 1, null)", 3, 21,
                  "mask: argument 3 must be a number, found null");
    compile_error(run, "mask(s, 1, true)", 3, 21,
                  "mask: argument 3 must be a number, found boolean true");
    compile_error(run, "mask(s, upperCase(s), 1)", 3, 18,
                  "mask: argument 2 must be a number, found string "
                  "(result of upperCase())");
    compile_error(run, "upperCase(length(s))", 3, 20,
                  "upperCase: argument 1 must be a string, found number "
                  "(result of length())");
    compile_error(run, "contains(s, 5)", 3, 22,
                  "contains: argument 2 must be a string, found number 5");
    compile_error(run, "contains(s, -1.5)", 3, 22,
                  "contains: argument 2 must be a string, found number "
                  "-1.5");
    compile_error(run, "trim(isEmpty(s))", 3, 15,
                  "trim: argument 1 must be a string, found boolean "
                  "(result of isEmpty())");
    compile_error(run, "length(5)", 3, 17,
                  "length: argument 1 must be a string, an array or an "
                  "object, found number 5");
    compile_error(run, "join(tags, 1)", 3, 21,
                  "join: argument 2 must be a string, found number 1");
    compile_error(run, "join('a,b', ',')", 3, 15,
                  "join: argument 1 must be an array, found string "
                  "\"a,b\"");
    compile_error(run, "formatNumber(1, 11)", 3, 26,
                  "formatNumber: argument 2 must be a whole number from "
                  "0 to 10, found number 11");
    compile_error(run, "formatNumber(1, 1.5)", 3, 26,
                  "formatNumber: argument 2 must be a whole number from "
                  "0 to 10, found number 1.5");
    compile_error(run, "formatNumber('1', 2)", 3, 23,
                  "formatNumber: argument 1 must be a number, found string "
                  "\"1\"");

    /* long literals are cut at a character boundary */
    compile_error(run, "mask(s, '\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9', 1)", 3, 18,
                  "mask: argument 2 must be a number, found string "
                  "\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9...\"");

    compile_error(run, "'abc", 3, 10, "unterminated string");
    compile_error(run, "x + \"abc\\\"", 3, 14, "unterminated string");
    compile_error(run, "\"a\\qb\"", 3, 12,
                  "unknown escape \"\\q\" in a string");

    compile_error(run, "% 3", 3, 10, "unexpected \"%\"");
    compile_error(run, "a + % 3", 3, 14, "unexpected \"%\"");
    compile_error(run, "a b", 3, 12, "unexpected \"b\"");
    compile_error(run, "a ? b", 3, 12, "unexpected \"?\"");
    compile_error(run, "a & b", 3, 12, "unexpected \"&\"");
    compile_error(run, "a | b", 3, 12, "unexpected \"|\"");
    compile_error(run, "a ~ b", 3, 12, "unexpected \"~\"");
    compile_error(run, "a.", 3, 11, "unexpected \".\"");
    compile_error(run, "a +", 3, 13, "unexpected end of expression");
    compile_error(run, "not", 3, 13, "unexpected end of expression");
    compile_error(run, "()", 3, 11, "unexpected \")\"");
    compile_error(run, "a )", 3, 12, "unexpected \")\"");
    compile_error(run, "a = !b", 3, 14, "unexpected \"!\"");
    compile_error(run, "a \x01", 3, 12, "unexpected character 0x01");
    compile_error(run, "1.2.3", 3, 10, "invalid number \"1.2.3\"");
    compile_error(run, "12px", 3, 10, "invalid number \"12px\"");
    compile_error(run, "1.", 3, 10, "invalid number \"1.\"");
    compile_error(run, "../", 3, 13, "expected a name after \"../\"");

    compile_error(run, "(a + b", 3, 16, "expected \")\"");
    compile_error(run, "((a) + b c", 3, 19, "expected \")\"");
    compile_error(run, "upperCase(a b)", 3, 22, "expected \",\" or \")\"");
    compile_error(run, "concat(a, b", 3, 21, "expected \",\" or \")\"");
    compile_error(run, "concat(a,)", 3, 19, "unexpected \")\"");

    compile_error(run, "1 < 2 < 3", 3, 16,
                  "comparisons do not chain, join them with \"and\"");

    /* columns count characters, lines restart them */

    compile_error(run, "'\xe6\x97\xa5\xe6\x9c\xac' ~", 3, 15,
                  "unexpected \"~\"");
    compile_error(run, "a +\n  )", 4, 3, "unexpected \")\"");
    compile_error(run, "concat(\n  'a',\n  lowercase(b))", 5, 3,
                  "unknown function \"lowercase\" (did you mean "
                  "\"lowerCase\"?)");
    compile_error(run, "\n\n  'open", 5, 3, "unterminated string");
}


static void
test_error_without_err(void **state)
{
    run_t  *run = *state;

    assert_null(ngx_campaign_expr_compile(&run->arena.alloc,
                                          (const u_char *) "a +", 3, 1, 1,
                                          NULL));
}


static void
test_nesting_limit(void **state)
{
    run_t  *run = *state;
    char    src[1024];
    size_t  i, n;

    /* parentheses: 60 levels are fine, 100 are not */

    n = 0;

    for (i = 0; i < 60; i++) {
        src[n++] = '(';
    }

    src[n++] = '1';

    for (i = 0; i < 60; i++) {
        src[n++] = ')';
    }

    src[n] = '\0';

    assert_string_equal(text(run, src), "1");

    n = 0;

    for (i = 0; i < 100; i++) {
        src[n++] = '(';
    }

    src[n] = '\0';

    compile_error(run, src, 3, 10 + 64,
                  "expression nested too deeply (more than 64 levels)");

    /* a long chain is a deep tree too */

    n = 0;

    for (i = 0; i < 100; i++) {
        n += sprintf(src + n, "1+");
    }

    src[n++] = '1';
    src[n] = '\0';

    compile_error(run, src, 3, 10 + 2 * 63 + 1,
                  "expression nested too deeply (more than 64 levels)");

    n = 0;

    for (i = 0; i < 100; i++) {
        src[n++] = '!';
    }

    src[n++] = 'a';
    src[n] = '\0';

    compile_error(run, src, 3, 10 + 63,
                  "expression nested too deeply (more than 64 levels)");

    n = 0;

    for (i = 0; i < 100; i++) {
        n += sprintf(src + n, "trim(");
    }

    src[n] = '\0';

    compile_error(run, src, 3, 10 + 5 * 64,
                  "expression nested too deeply (more than 64 levels)");

    n = 0;

    for (i = 0; i < 100; i++) {
        n += sprintf(src + n, "a ?: ");
    }

    src[n++] = 'b';
    src[n] = '\0';

    compile_error(run, src, 3, 10 + 5 * 64,
                  "expression nested too deeply (more than 64 levels)");

    /* wide is fine */

    n = sprintf(src, "concat(");

    for (i = 0; i < 200; i++) {
        n += sprintf(src + n, "'a',");
    }

    sprintf(src + n, "'b')");

    assert_int_equal(strlen(text(run, src)), 201);
}


static void
test_string_limits(void **state)
{
    run_t                 *run = *state;
    char                  *big, src[1024];
    size_t                 i, n;
    ngx_campaign_expr_t   *e;
    ngx_campaign_value_t   v;

    static const char  *too_long[] = {
        "big + big",
        "concat(big, 'x', big)",
        "replace(big, 'a', 'aa')",
        "encode64(big + big)",
        NULL
    };

    big = malloc(600 * 1024 + 1);
    assert_non_null(big);

    memset(big, 'a', 600 * 1024);
    big[600 * 1024] = '\0';

    cJSON_AddItemToObject(run->data, "big", cJSON_CreateString(big));
    free(big);

    /* one string is fine */
    assert_string_equal(text(run, "length(big + '!')"), "614401");
    assert_string_equal(text(run, "length(encode64(big))"), "819200");

    /* a value over 1 MB fails the evaluation */

    for (i = 0; too_long[i]; i++) {
        e = ngx_campaign_expr_compile(&run->arena.alloc,
                                      (const u_char *) too_long[i],
                                      strlen(too_long[i]), 1, 1, &run->err);
        assert_non_null(e);

        assert_int_equal(ngx_campaign_expr_eval(e, lookup, run,
                                                &run->arena.alloc, &v), -1);
    }

    /* so does building more than 8 MB in one evaluation */

    n = 0;

    for (i = 0; i < 15; i++) {
        n += sprintf(src + n, "%slength(big + 'x')", i ? " + " : "");
    }

    e = ngx_campaign_expr_compile(&run->arena.alloc, (const u_char *) src,
                                  n, 1, 1, &run->err);
    assert_non_null(e);

    assert_int_equal(ngx_campaign_expr_eval(e, lookup, run,
                                            &run->arena.alloc, &v), -1);
}


/* every allocation failing in turn: a clean NULL or -1, never a crash */

static void
test_out_of_memory(void **state)
{
    int                             rc;
    size_t                          fail_at, i;
    cJSON                          *data;
    run_t                           run;
    ngx_campaign_expr_t            *e;
    ngx_campaign_value_t            v;
    ngx_campaign_template_error_t   err;

    static const char  *sources[] = {
        "concat(upperCase(profile.person.name.firstName), ' ', "
        "mask(profile.phone, 1, 2), join(profile.tags, '-'), "
        "formatNumber(context.price, 2), encode64('x'), 1.5, 'x' + 2, "
        "replace('a-b', '-', '+'), capitalize(trim(' a ')), "
        "lowerCase('A'), 'a' + profile.mixed)",
        "'x' + 1 + (2 + 3) ?: profile.none",
        "../a.b.c ?: 'x'",
        NULL
    };

    (void) state;

    data = cJSON_Parse(data_json);
    assert_non_null(data);

    for (i = 0; sources[i]; i++) {
        for (fail_at = 1; fail_at < 200; fail_at++) {
            memset(&run, 0, sizeof(run_t));
            run.data = data;

            ngx_campaign_arena_init(&run.arena, 0);
            run.arena.fail_at = fail_at;

            e = ngx_campaign_expr_compile(&run.arena.alloc,
                                          (const u_char *) sources[i],
                                          strlen(sources[i]), 1, 1, &err);
            if (e == NULL) {
                assert_int_equal(err.column, 0);
                assert_string_equal(err.message, "out of memory");
                ngx_campaign_arena_destroy(&run.arena);
                continue;
            }

            rc = ngx_campaign_expr_eval(e, lookup, &run, &run.arena.alloc,
                                        &v);

            ngx_campaign_arena_destroy(&run.arena);

            if (rc == 0) {
                break;
            }
        }

        assert_true(fail_at < 200);
    }

    cJSON_Delete(data);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test_setup_teardown(test_literals,
                                        setup_run, teardown_run),
        cmocka_unit_test_setup_teardown(test_paths,
                                        setup_run, teardown_run),
        cmocka_unit_test_setup_teardown(test_no_lookup,
                                        setup_run, teardown_run),
        cmocka_unit_test_setup_teardown(test_source_is_copied,
                                        setup_run, teardown_run),
        cmocka_unit_test_setup_teardown(test_fallback,
                                        setup_run, teardown_run),
        cmocka_unit_test_setup_teardown(test_boolean_operators,
                                        setup_run, teardown_run),
        cmocka_unit_test_setup_teardown(test_comparisons,
                                        setup_run, teardown_run),
        cmocka_unit_test_setup_teardown(test_arithmetic,
                                        setup_run, teardown_run),
        cmocka_unit_test_setup_teardown(test_concatenation,
                                        setup_run, teardown_run),
        cmocka_unit_test_setup_teardown(test_precedence,
                                        setup_run, teardown_run),
        cmocka_unit_test_setup_teardown(test_case_functions,
                                        setup_run, teardown_run),
        cmocka_unit_test_setup_teardown(test_case_invalid_utf8,
                                        setup_run, teardown_run),
        cmocka_unit_test_setup_teardown(test_trim_concat,
                                        setup_run, teardown_run),
        cmocka_unit_test_setup_teardown(test_search_functions,
                                        setup_run, teardown_run),
        cmocka_unit_test_setup_teardown(test_length_is_empty,
                                        setup_run, teardown_run),
        cmocka_unit_test_setup_teardown(test_replace,
                                        setup_run, teardown_run),
        cmocka_unit_test_setup_teardown(test_mask,
                                        setup_run, teardown_run),
        cmocka_unit_test_setup_teardown(test_join,
                                        setup_run, teardown_run),
        cmocka_unit_test_setup_teardown(test_format_number,
                                        setup_run, teardown_run),
        cmocka_unit_test_setup_teardown(test_encode64,
                                        setup_run, teardown_run),
        cmocka_unit_test_setup_teardown(test_value_text,
                                        setup_run, teardown_run),
        cmocka_unit_test_setup_teardown(test_errors,
                                        setup_run, teardown_run),
        cmocka_unit_test_setup_teardown(test_error_without_err,
                                        setup_run, teardown_run),
        cmocka_unit_test_setup_teardown(test_nesting_limit,
                                        setup_run, teardown_run),
        cmocka_unit_test_setup_teardown(test_string_limits,
                                        setup_run, teardown_run),
        cmocka_unit_test(test_out_of_memory),
    };

    return cmocka_run_group_tests_name("expr", tests, NULL, NULL);
}
