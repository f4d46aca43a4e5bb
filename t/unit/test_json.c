
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


/* the word-at-a-time scan against a byte-by-byte one, on random text */

static size_t
reference_len(const u_char *s, size_t len)
{
    size_t  i, n;

    for (i = 0, n = len; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\' || s[i] == '\n' || s[i] == '\r'
            || s[i] == '\t' || s[i] == '\b' || s[i] == '\f')
        {
            n += 1;

        } else if (s[i] < 0x20) {
            n += 5;
        }
    }

    return n;
}


static void
test_random_text(void **state)
{
    u_char    src[300], dst[300 * 6];
    size_t    i, len, round;
    cJSON    *json;
    u_char   *end;
    char      doc[300 * 6 + 3];

    (void) state;

    srand(12345);

    for (round = 0; round < 20000; round++) {
        len = rand() % sizeof(src);

        for (i = 0; i < len; i++) {
            /* mostly plain text, sometimes something to escape */
            src[i] = (rand() % 8) ? (u_char) (0x20 + rand() % 0x5f)
                                  : (u_char) (1 + rand() % 0xfe);
        }

        assert_int_equal(ngx_campaign_json_escaped_len(src, len),
                         reference_len(src, len));

        end = ngx_campaign_json_escape(dst, src, len);
        assert_int_equal(end - dst, reference_len(src, len));

        if (round % 100 == 0) {
            doc[0] = '"';
            memcpy(doc + 1, dst, end - dst);
            doc[1 + (end - dst)] = '"';
            doc[2 + (end - dst)] = '\0';

            /* only valid UTF-8 parses back byte for byte; skip the rest */
            json = cJSON_Parse(doc);
            if (json && cJSON_IsString(json)
                && strlen(json->valuestring) == len)
            {
                assert_memory_equal(json->valuestring, src, len);
            }

            cJSON_Delete(json);
        }
    }
}


/*
 * The scanner's run of plain ASCII: it must stop exactly at the first
 * control character, quote, backslash or non-ASCII byte, wherever that
 * falls in a word, and never read past the end.
 */

static void
test_ascii_run(void **state)
{
    size_t         len, at, i;
    u_char        *buf;
    unsigned       b;
    const u_char  *end, *stop;

    (void) state;

    for (len = 0; len <= 40; len++) {

        /* a private buffer of exactly len bytes, for ASan */
        buf = malloc(len ? len : 1);
        assert_non_null(buf);

        for (i = 0; i < len; i++) {
            buf[i] = (u_char) ('a' + i % 26);
        }

        end = buf + len;
        assert_ptr_equal(ngx_campaign_json_ascii_run(buf, end), end);

        for (at = 0; at < len; at++) {
            for (b = 0; b < 256; b++) {
                buf[at] = (u_char) b;

                stop = (b < 0x20 || b >= 0x80 || b == '"' || b == '\\')
                       ? buf + at : end;

                assert_ptr_equal(ngx_campaign_json_ascii_run(buf, end), stop);
            }

            buf[at] = (u_char) ('a' + at % 26);
        }

        free(buf);
    }

    /* the first of several */

    buf = (u_char *) strdup("abcdefghij\"kl\\mn\x01");
    assert_non_null(buf);
    end = buf + strlen((char *) buf);
    assert_ptr_equal(ngx_campaign_json_ascii_run(buf, end), buf + 10);
    assert_ptr_equal(ngx_campaign_json_ascii_run(buf + 11, end), buf + 13);
    free(buf);
}


static void
test_escaped_strlen(void **state)
{
    char      s[2];
    unsigned  b;

    (void) state;

    assert_int_equal(ngx_campaign_json_escaped_strlen(""), 0);
    assert_int_equal(ngx_campaign_json_escaped_strlen("a\"b\\c\n\x01\xc3\xa9"),
                     strlen("a\\\"b\\\\c\\n\\u0001\xc3\xa9"));

    for (b = 1; b < 256; b++) {
        s[0] = (char) b;
        s[1] = '\0';

        assert_int_equal(ngx_campaign_json_escaped_strlen(s),
                         ngx_campaign_json_escaped_len((u_char *) s, 1));
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_plain_text_is_copied),
        cmocka_unit_test(test_quotes_and_backslashes),
        cmocka_unit_test(test_control_characters),
        cmocka_unit_test(test_every_byte_round_trips),
        cmocka_unit_test(test_random_text),
        cmocka_unit_test(test_ascii_run),
        cmocka_unit_test(test_escaped_strlen),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
