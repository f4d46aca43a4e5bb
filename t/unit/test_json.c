
/*
 * Copyright (C) ngx_campaign developers
 */


/*
 * JSON string escaping: what every answer and gateway payload relies on to
 * keep a profile value inside its string.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include "ngx_campaign_json.h"


static char *
escape(const char *src, size_t len)
{
    size_t   n;
    u_char  *dst, *end;

    n = ngx_campaign_json_escaped_len((const u_char *) src, len);

    dst = malloc(n + 1);
    assert_non_null(dst);

    end = ngx_campaign_json_escape(dst, (const u_char *) src, len);
    assert_int_equal(end - dst, n);
    *end = '\0';

    return (char *) dst;
}


static void
test_plain_text_is_copied(void **state)
{
    char  *s;

    (void) state;

    s = escape("Hello Ada, <b>&é</b> /path", 27);
    assert_string_equal(s, "Hello Ada, <b>&é</b> /path");
    free(s);
}


static void
test_quotes_and_backslashes(void **state)
{
    char  *s;

    (void) state;

    s = escape("say \"hi\" \\ bye", 14);
    assert_string_equal(s, "say \\\"hi\\\" \\\\ bye");
    free(s);
}


static void
test_control_characters(void **state)
{
    char  *s;

    (void) state;

    s = escape("a\nb\rc\td\be\ff\x01g\x1f", 14);
    assert_string_equal(s, "a\\nb\\rc\\td\\be\\ff\\u0001g\\u001f");
    free(s);

    s = escape("\0x", 2);
    assert_string_equal(s, "\\u0000x");
    free(s);
}


static void
test_every_byte_round_trips(void **state)
{
    char    src[256 - 1], *s, *doc;
    cJSON  *json;
    size_t  i;

    (void) state;

    /* every byte but NUL, as a JSON string, parses back to itself */

    for (i = 0; i < sizeof(src); i++) {
        src[i] = (char) (i + 1);
    }

    s = escape(src, sizeof(src));

    doc = malloc(strlen(s) + 3);
    assert_non_null(doc);
    sprintf(doc, "\"%s\"", s);

    json = cJSON_Parse(doc);
    assert_non_null(json);
    assert_true(cJSON_IsString(json));
    assert_int_equal(strlen(json->valuestring), sizeof(src));
    assert_memory_equal(json->valuestring, src, sizeof(src));

    cJSON_Delete(json);
    free(doc);
    free(s);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_plain_text_is_copied),
        cmocka_unit_test(test_quotes_and_backslashes),
        cmocka_unit_test(test_control_characters),
        cmocka_unit_test(test_every_byte_round_trips),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
