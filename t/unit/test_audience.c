
/*
 * Copyright (C) ngx_campaign developers
 */


/*
 * The audience reader: JSON Lines fed in chunks cut anywhere, one
 * recipient handed over at a time, skipped lines counted and reported
 * with their line numbers, never more than one line held.
 *
 * Every test records what the reader reports as text, one event a line:
 *
 *   "3 ok jane jane@example.com"                 a recipient, line 3
 *   "4 json  malformed JSON at line 1, ..."      a skipped line: reason,
 *   "5 invalid /userId is required"              pointer, message
 *
 * Lines are written with single quotes for readability; q() turns them
 * into JSON.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_campaign_json.h"
#include "ngx_campaign_audience.h"


typedef struct {
    ngx_campaign_audience_t        au;
    ngx_campaign_audience_conf_t   conf;

    char                          *log;
    size_t                         log_len;
    size_t                         log_size;

    /* offsets of the lines handed over, and what the handler answers */
    off_t                          starts[64];
    off_t                          ends[64];
    size_t                         nlines;
    int                            answer;
    unsigned                       verbose:1;    /* with r->data */
    unsigned                       no_context:1;
} test_t;


static int test_setup(void **state);
static int test_teardown(void **state);
static void test_start(test_t *c);
static int test_recipient(void *data, const ngx_campaign_audience_line_t *line,
    ngx_campaign_recipient_t *r, cJSON *value);
static void test_skipped(void *data, const ngx_campaign_audience_line_t *line,
    ngx_campaign_audience_reason_e reason,
    const ngx_campaign_problem_t *problem);
static void test_log(test_t *c, const char *fmt, ...);
static int test_feed_all(test_t *c, const char *input, size_t len,
    size_t chunk);
static char *test_run(const char *input, size_t len, const size_t *cuts,
    size_t ncuts, ngx_campaign_audience_counters_t *counters);
static char *q(const char *s);


static ngx_campaign_field_t  test_fields[] = {
    { "offerCode", NGX_CAMPAIGN_FIELD_STRING, 0, 5, NULL, NULL, NULL },
    { "storeId", NGX_CAMPAIGN_FIELD_INTEGER, 1, 0, NULL, NULL, NULL }
};


static ngx_campaign_t  test_campaign = {
    .id = "winter-sale",
    .namespace = "email",
    .channel = NGX_CAMPAIGN_CHANNEL_EMAIL,
    .fields = test_fields,
    .nfields = sizeof(test_fields) / sizeof(test_fields[0])
};


/* the execution's context: storeId, required, comes from it */
static cJSON  *test_context;


/*
 * An input with something of everything, for the chunk boundary tests:
 * max_line is 140 there, line 8 is longer, and the last line has no LF.
 */

static const char  test_sample[] =
    "{'type':'aep','userId':'jane','namespace':'email',"
    "'channelData':{'emailAddress':'jane@example.com'}}\n"
    "\r\n"
    "{'type':'aep','userId':'bob','namespace':'email',"
    "'channelData':{'emailAddress':'bob@example.org'}}\r\n"
    "{'type':'aep','userId':\n"
    "   \t \n"
    "{'type':'aep','namespace':'email',"
    "'channelData':{'emailAddress':'x@example.org'}}\n"
    "{'type':'aep','userId':'jane','namespace':'email',"
    "'channelData':{'emailAddress':'jane2@example.com'}}\n"
    "{'type':'aep','userId':'long','namespace':'email',"
    "'channelData':{'emailAddress':'long@example.com'},"
    "'profile':{'x':'..................................'}}\n"
    "{'type':'aep','userId':'ann','namespace':'email',"
    "'channelData':{'emailAddress':'ann@example.net'},"
    "'context':{'offerCode':'ANN'}}";

static const char  test_sample_log[] =
    "1 ok jane jane@example.com\n"
    "3 ok bob bob@example.org\n"
    "4 json  malformed JSON at line 1, column 23\n"
    "6 invalid /userId is required\n"
    "7 duplicate /userId is a duplicate of the userId of an earlier line\n"
    "8 too_long  line is longer than 140 bytes\n"
    "9 ok ann ann@example.net\n";


static void
test_valid_lines(void **state)
{
    test_t  *c = *state;
    char    *input;

    c->verbose = 1;
    test_start(c);

    input = q("{'type':'aep','userId':'jane','namespace':'email',"
              "'channelData':{'emailAddress':'jane@example.com'},"
              "'profile':{'person':{'name':{'firstName':'Jane'}}},"
              "'context':{'offerCode':'JANE'}}\n"
              "{'type':'external','userId':'bob','namespace':'email',"
              "'channelData':{'emailAddress':'bob@example.org'},"
              "'extra':1}\n");

    assert_int_equal(test_feed_all(c, input, strlen(input), 0), 0);
    assert_int_equal(ngx_campaign_audience_finish(&c->au), 0);

    assert_string_equal(c->log,
        "1 ok jane jane@example.com {\"profile\":{\"person\":{\"name\":"
        "{\"firstName\":\"Jane\"}}},\"context\":{\"storeId\":7,"
        "\"offerCode\":\"JANE\"}}\n"
        "2 ok bob bob@example.org {\"profile\":{},\"context\":"
        "{\"storeId\":7}}\n");

    assert_int_equal(c->au.counters.lines, 2);
    assert_int_equal(c->au.counters.valid, 2);
    assert_int_equal(c->au.counters.blank, 0);

    /* where each line is in the input, its LF included */

    assert_int_equal(c->nlines, 2);
    assert_int_equal(c->starts[0], 0);
    assert_int_equal(c->ends[0], strchr(input, '\n') - input + 1);
    assert_int_equal(c->starts[1], c->ends[0]);
    assert_int_equal(c->ends[1], (off_t) strlen(input));

    free(input);
}


/*
 * The sample cut at every byte, cut into chunks of every size, and fed a
 * byte at a time: always the same events and counters as in one piece.
 */

static void
test_chunk_boundaries(void **state)
{
    char                              *input, *log;
    size_t                             len, i, j, cuts[2];
    ngx_campaign_audience_counters_t   whole, counters;

    (void) state;

    input = q(test_sample);
    len = strlen(input);

    log = test_run(input, len, NULL, 0, &whole);
    assert_string_equal(log, test_sample_log);
    free(log);

    assert_int_equal(whole.lines, 9);
    assert_int_equal(whole.blank, 2);
    assert_int_equal(whole.valid, 3);
    assert_int_equal(whole.skipped[NGX_CAMPAIGN_AUDIENCE_JSON], 1);
    assert_int_equal(whole.skipped[NGX_CAMPAIGN_AUDIENCE_INVALID], 1);
    assert_int_equal(whole.skipped[NGX_CAMPAIGN_AUDIENCE_TOO_LONG], 1);
    assert_int_equal(whole.skipped[NGX_CAMPAIGN_AUDIENCE_DUPLICATE], 1);

    for (i = 0; i <= len; i++) {
        cuts[0] = i;
        log = test_run(input, len, cuts, 1, &counters);
        assert_string_equal(log, test_sample_log);
        assert_memory_equal(&counters, &whole, sizeof(whole));
        free(log);
    }

    /* two cuts, a few bytes apart: a line in three pieces */

    for (i = 0; i <= len; i++) {
        for (j = i; j <= len && j < i + 5; j++) {
            cuts[0] = i;
            cuts[1] = j;
            log = test_run(input, len, cuts, 2, &counters);
            assert_string_equal(log, test_sample_log);
            assert_memory_equal(&counters, &whole, sizeof(whole));
            free(log);
        }
    }

    /* chunks of every size, 1 byte included */

    for (i = 1; i <= len; i++) {
        test_t  c;

        memset(&c, 0, sizeof(test_t));
        c.conf.max_line = 140;
        c.conf.unique = 1;
        test_start(&c);

        assert_int_equal(test_feed_all(&c, input, len, i), 0);
        assert_int_equal(ngx_campaign_audience_finish(&c.au), 0);
        assert_string_equal(c.log, test_sample_log);
        assert_memory_equal(&c.au.counters, &whole, sizeof(whole));
        assert_true(c.au.peak <= 140);
        assert_true(c.au.size <= 140);

        ngx_campaign_audience_free(&c.au);
        free(c.log);
    }

    free(input);
}


static void
test_crlf_and_last_line(void **state)
{
    test_t  *c = *state;
    char    *input;

    test_start(c);

    input = q("{'type':'aep','userId':'a','namespace':'email',"
              "'channelData':{'emailAddress':'a@example.com'}}\r\n"
              "{'type':'aep','userId':'b','namespace':'email',"
              "'channelData':{'emailAddress':'b@example.com'}}\r\r\n"
              "{'type':'aep','userId':'c','namespace':'email',"
              "'channelData':{'emailAddress':'c@example.com'}}\r");

    assert_int_equal(test_feed_all(c, input, strlen(input), 7), 0);

    /* the last line waits for more, or for the end */

    assert_string_equal(c->log, "1 ok a a@example.com\n"
                                "2 ok b b@example.com\n");
    assert_int_equal(c->au.counters.lines, 2);

    assert_int_equal(ngx_campaign_audience_finish(&c->au), 0);

    assert_string_equal(c->log, "1 ok a a@example.com\n"
                                "2 ok b b@example.com\n"
                                "3 ok c c@example.com\n");
    assert_int_equal(c->au.counters.lines, 3);
    assert_int_equal(c->ends[2], (off_t) strlen(input));

    /* once only */

    assert_int_equal(ngx_campaign_audience_finish(&c->au), 0);
    assert_int_equal(c->au.counters.lines, 3);

    free(input);
}


static void
test_empty_inputs(void **state)
{
    test_t  *c = *state;

    test_start(c);
    assert_int_equal(ngx_campaign_audience_finish(&c->au), 0);
    assert_int_equal(c->au.counters.lines, 0);
    ngx_campaign_audience_free(&c->au);

    test_start(c);
    assert_int_equal(test_feed_all(c, "\n", 1, 0), 0);
    assert_int_equal(ngx_campaign_audience_finish(&c->au), 0);
    assert_int_equal(c->au.counters.lines, 1);
    assert_int_equal(c->au.counters.blank, 1);
    ngx_campaign_audience_free(&c->au);

    /* a last line of blanks, without LF, is a line */

    test_start(c);
    assert_int_equal(test_feed_all(c, "\n  ", 3, 0), 0);
    assert_int_equal(ngx_campaign_audience_finish(&c->au), 0);
    assert_int_equal(c->au.counters.lines, 2);
    assert_int_equal(c->au.counters.blank, 2);

    assert_null(c->log);
}


static void
test_blank_lines(void **state)
{
    test_t  *c = *state;
    char    *input;

    test_start(c);

    input = q("\n"
              "   \n"
              "\t\r\n"
              "\r\n"
              "{'type':'aep','userId':'a','namespace':'email',"
              "'channelData':{'emailAddress':'a@example.com'}}\n"
              "\n");

    assert_int_equal(test_feed_all(c, input, strlen(input), 3), 0);
    assert_int_equal(ngx_campaign_audience_finish(&c->au), 0);

    assert_string_equal(c->log, "5 ok a a@example.com\n");
    assert_int_equal(c->au.counters.lines, 6);
    assert_int_equal(c->au.counters.blank, 5);
    assert_int_equal(c->au.counters.valid, 1);

    free(input);
}


static void
test_too_long_lines(void **state)
{
    test_t  *c = *state;
    char    *line, *input, *log;
    size_t   i, n, len;

    /* a line of exactly max_line bytes is read, one more is not */

    c->conf.max_line = 200;
    test_start(c);

    line = q("{'type':'aep','userId':'a','namespace':'email',"
             "'channelData':{'emailAddress':'a@example.com'}}");
    len = strlen(line);

    input = malloc(4 * 300);
    assert_non_null(input);

    n = 0;
    memcpy(input + n, line, len);
    n += len;
    memset(input + n, ' ', 200 - len);
    n += 200 - len;
    input[n++] = '\n';

    memcpy(input + n, line, len);
    n += len;
    memset(input + n, ' ', 201 - len);
    n += 201 - len;
    input[n++] = '\n';

    /* CR counts: it is a byte before the LF */

    memcpy(input + n, line, len);
    n += len;
    memset(input + n, ' ', 200 - len);
    n += 200 - len;
    input[n++] = '\r';
    input[n++] = '\n';

    memcpy(input + n, line, len);
    n += len;
    input[n++] = '\n';

    for (i = 1; i <= n; i++) {
        ngx_campaign_audience_free(&c->au);
        free(c->log);
        c->log = NULL;
        c->log_len = 0;
        c->log_size = 0;
        c->nlines = 0;

        test_start(c);

        assert_int_equal(test_feed_all(c, input, n, i), 0);
        assert_int_equal(ngx_campaign_audience_finish(&c->au), 0);

        assert_string_equal(c->log,
                            "1 ok a a@example.com\n"
                            "2 too_long  line is longer than 200 bytes\n"
                            "3 too_long  line is longer than 200 bytes\n"
                            "4 ok a a@example.com\n");

        assert_int_equal(c->au.counters.lines, 4);
        assert_int_equal(c->au.counters.skipped[
                             NGX_CAMPAIGN_AUDIENCE_TOO_LONG], 2);
        assert_true(c->au.peak <= 200);
        assert_true(c->au.size <= 200);

        /* the line after a too long one starts where it should */
        assert_int_equal(c->starts[3], (off_t) (n - len - 1));
    }

    free(input);
    free(line);

    /* a 1 MB line in 4 KB chunks is never buffered past max_line */

    ngx_campaign_audience_free(&c->au);
    free(c->log);
    c->log = NULL;
    c->log_len = 0;
    c->log_size = 0;

    c->conf.max_line = 0;
    test_start(c);

    n = 1024 * 1024;
    input = malloc(n + 1);
    assert_non_null(input);
    memset(input, 'x', n);
    input[0] = '{';
    input[n] = '\n';

    assert_int_equal(test_feed_all(c, input, n + 1, 4096), 0);
    assert_int_equal(ngx_campaign_audience_finish(&c->au), 0);

    log = c->log;
    assert_string_equal(log, "1 too_long  line is longer than 65536 bytes\n");
    assert_true(c->au.peak <= NGX_CAMPAIGN_AUDIENCE_MAX_LINE);
    assert_true(c->au.size <= NGX_CAMPAIGN_AUDIENCE_MAX_LINE);
    assert_int_equal(c->au.counters.lines, 1);

    /* and without a final LF */

    ngx_campaign_audience_free(&c->au);
    free(c->log);
    c->log = NULL;
    c->log_len = 0;
    c->log_size = 0;

    test_start(c);

    assert_int_equal(test_feed_all(c, input, n, 65536), 0);
    assert_int_equal(ngx_campaign_audience_finish(&c->au), 0);
    assert_string_equal(c->log,
                        "1 too_long  line is longer than 65536 bytes\n");
    assert_int_equal(c->au.counters.lines, 1);

    free(input);
}


static void
test_malformed_json(void **state)
{
    test_t  *c = *state;
    char    *input;

    test_start(c);

    input = q("{'type':'aep','userId':'a','namespace':'email',"
              "'channelData':{'emailAddress':'a@example.com'}}\n"
              "{'type':'aep'\n"
              "not json\n"
              "{'userId':'a','userId':'b'}\n"
              "{} {}\n"
              "\"caf\xc3\"\n"
              "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
              "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n"
              "{'type':'aep','userId':'b','namespace':'email',"
              "'channelData':{'emailAddress':'b@example.com'}}");

    assert_int_equal(test_feed_all(c, input, strlen(input), 0), 0);
    assert_int_equal(ngx_campaign_audience_finish(&c->au), 0);

    assert_string_equal(c->log,
        "1 ok a a@example.com\n"
        "2 json  malformed JSON at line 1, column 13\n"
        "3 json  malformed JSON at line 1, column 1\n"
        "4 json /userId duplicate member name \"userId\"\n"
        "5 json  malformed JSON at line 1, column 4\n"
        "6 json  invalid UTF-8 at byte offset 4\n"
        "7 json  nested deeper than 32 levels at byte offset 32\n"
        "8 ok b b@example.com\n");

    assert_int_equal(c->au.counters.skipped[NGX_CAMPAIGN_AUDIENCE_JSON], 6);
    assert_int_equal(c->au.counters.valid, 2);
    assert_int_equal(c->au.counters.lines, 8);

    free(input);
}


static void
test_invalid_recipients(void **state)
{
    test_t  *c = *state;
    char    *input;

    test_start(c);

    input = q("['jane']\n"
              "{'type':'aep','namespace':'email',"
              "'channelData':{'emailAddress':'a@example.com'}}\n"
              "{'type':'aep','userId':'a/b','namespace':'email',"
              "'channelData':{'emailAddress':'a@example.com'}}\n"
              "{'type':'aep','userId':'a','namespace':'phone',"
              "'channelData':{'emailAddress':'a@example.com'}}\n"
              "{'type':'aep','userId':'a','namespace':'email',"
              "'channelData':{'emailAddress':'not an address'}}\n"
              "{'type':'aep','userId':'a','namespace':'email',"
              "'channelData':{'mobilePhoneNumber':'+14155550100'}}\n"
              "{'type':'aep','userId':'a','namespace':'email',"
              "'channelData':{'emailAddress':'a@example.com'},"
              "'profile':[1]}\n"
              "{'type':'aep','userId':'a','namespace':'email',"
              "'channelData':{'emailAddress':'a@example.com'},"
              "'context':{'offerCode':'TOOLONG'}}\n"
              "{'type':'aep','userId':'a','namespace':'email',"
              "'channelData':{'emailAddress':'a@example.com'},"
              "'context':{'storeId':'seven'}}\n"
              "{'type':'mail','userId':'a','namespace':'email'}\n"
              "{'type':'aep','userId':'a','namespace':'email',"
              "'channelData':{'emailAddress':'a@example.com'}}\n");

    assert_int_equal(test_feed_all(c, input, strlen(input), 0), 0);
    assert_int_equal(ngx_campaign_audience_finish(&c->au), 0);

    assert_string_equal(c->log,
        "1 invalid  must be an object, found array\n"
        "2 invalid /userId is required\n"
        "3 invalid /userId must contain only the characters "
        "A-Z a-z 0-9 @ . _ - + : = ~\n"
        "4 invalid /namespace must be \"email\" for this campaign\n"
        "5 invalid /channelData/emailAddress must be an e-mail address\n"
        "6 invalid /channelData/emailAddress is required\n"
        "7 invalid /profile must be an object, found array\n"
        "8 invalid /context/offerCode must be at most 5 characters, "
        "found 7\n"
        "9 invalid /context/storeId must be an integer, found string\n"
        "10 invalid /type must be \"aep\" or \"external\"\n"
        "11 ok a a@example.com\n");

    assert_int_equal(c->au.counters.skipped[NGX_CAMPAIGN_AUDIENCE_INVALID],
                     10);
    assert_int_equal(c->au.counters.valid, 1);

    free(input);
}


/* a required field missing from both the line and the shared context */

static void
test_required_context(void **state)
{
    test_t  *c = *state;
    char    *input;

    c->no_context = 1;
    test_start(c);

    input = q("{'type':'aep','userId':'a','namespace':'email',"
              "'channelData':{'emailAddress':'a@example.com'}}\n"
              "{'type':'aep','userId':'b','namespace':'email',"
              "'channelData':{'emailAddress':'b@example.com'},"
              "'context':{'storeId':3}}\n");

    assert_int_equal(test_feed_all(c, input, strlen(input), 0), 0);

    assert_string_equal(c->log,
                        "1 invalid /context/storeId is required\n"
                        "2 ok b b@example.com\n");

    free(input);
}


static void
test_context_size(void **state)
{
    test_t  *c = *state;
    char    *input;

    /* {"storeId":7} is 13 bytes, {"offerCode":"AB"} 18 */

    c->conf.rules.max_context_size = 31;
    test_start(c);

    input = q("{'type':'aep','userId':'a','namespace':'email',"
              "'channelData':{'emailAddress':'a@example.com'},"
              "'context':{'offerCode':'AB'}}\n"
              "{'type':'aep','userId':'b','namespace':'email',"
              "'channelData':{'emailAddress':'b@example.com'},"
              "'context':{'offerCode':'ABC'}}\n");

    assert_int_equal(test_feed_all(c, input, strlen(input), 0), 0);

    assert_string_equal(c->log,
                        "1 ok a a@example.com\n"
                        "2 invalid /context context data must be at most "
                        "31 bytes, found 32\n");

    free(input);
}


static void
test_duplicates(void **state)
{
    test_t  *c = *state;
    char    *input;

    c->conf.unique = 1;
    test_start(c);

    /* an invalid line does not take the userId: line 2 is the first */

    input = q("{'type':'aep','userId':'a','namespace':'email'}\n"
              "{'type':'aep','userId':'a','namespace':'email',"
              "'channelData':{'emailAddress':'a@example.com'}}\n"
              "{'type':'aep','userId':'b','namespace':'email',"
              "'channelData':{'emailAddress':'b@example.com'}}\n"
              "{'type':'external','userId':'a','namespace':'email',"
              "'channelData':{'emailAddress':'other@example.com'}}\n"
              "{'type':'aep','userId':'A','namespace':'email',"
              "'channelData':{'emailAddress':'a@example.com'}}\n");

    assert_int_equal(test_feed_all(c, input, strlen(input), 0), 0);

    assert_string_equal(c->log,
        "1 invalid /channelData/emailAddress is required\n"
        "2 ok a a@example.com\n"
        "3 ok b b@example.com\n"
        "4 duplicate /userId is a duplicate of the userId of an earlier "
        "line\n"
        "5 ok A a@example.com\n");

    assert_int_equal(c->au.counters.skipped[NGX_CAMPAIGN_AUDIENCE_DUPLICATE],
                     1);
    assert_int_equal(c->au.counters.valid, 3);

    /* without unique, every valid line is handed over */

    ngx_campaign_audience_free(&c->au);
    free(c->log);
    c->log = NULL;
    c->log_len = 0;
    c->log_size = 0;

    c->conf.unique = 0;
    test_start(c);

    assert_int_equal(test_feed_all(c, input, strlen(input), 0), 0);
    assert_int_equal(c->au.counters.valid, 4);
    assert_int_equal(c->au.counters.skipped[NGX_CAMPAIGN_AUDIENCE_DUPLICATE],
                     0);

    free(input);
}


/*
 * The userId table grows from 1024 slots once 768 are taken: a duplicate
 * that comes when it is full is found without growing it, and every
 * userId added before a growth is still found after it.
 */

static void
test_duplicates_grow(void **state)
{
    test_t  *c = *state;
    char    *input, *p;
    size_t   i, n;

    c->conf.unique = 1;
    test_start(c);

    n = 5000;
    input = malloc((2 * n + 2) * 128);
    assert_non_null(input);

    p = input;

    for (i = 0; i < 768; i++) {
        p += sprintf(p, "{\"type\":\"aep\",\"userId\":\"u%zu\","
                     "\"namespace\":\"email\",\"channelData\":"
                     "{\"emailAddress\":\"u%zu@a.example\"}}\n", i, i);
    }

    /* the table is as full as it may be: u0 again, then u768 */

    p += sprintf(p, "{\"type\":\"aep\",\"userId\":\"u0\","
                 "\"namespace\":\"email\",\"channelData\":"
                 "{\"emailAddress\":\"x@a.example\"}}\n");

    assert_int_equal(test_feed_all(c, input, p - input, 0), 0);
    assert_int_equal(c->au.nseen, 768);
    assert_int_equal(c->au.seen_size, 1024);
    assert_int_equal(c->au.counters.skipped[NGX_CAMPAIGN_AUDIENCE_DUPLICATE],
                     1);

    p = input;

    for (i = 768; i < n; i++) {
        p += sprintf(p, "{\"type\":\"aep\",\"userId\":\"u%zu\","
                     "\"namespace\":\"email\",\"channelData\":"
                     "{\"emailAddress\":\"u%zu@a.example\"}}\n", i, i);
    }

    /* every one again, from the last: all duplicates */

    for (i = n; i-- > 0; /* void */) {
        p += sprintf(p, "{\"type\":\"aep\",\"userId\":\"u%zu\","
                     "\"namespace\":\"email\",\"channelData\":"
                     "{\"emailAddress\":\"v%zu@a.example\"}}\n", i, i);
    }

    assert_int_equal(test_feed_all(c, input, p - input, 4096), 0);

    assert_int_equal(c->au.counters.valid, n);
    assert_int_equal(c->au.counters.skipped[NGX_CAMPAIGN_AUDIENCE_DUPLICATE],
                     n + 1);
    assert_int_equal(c->au.nseen, n);

    /* 8 bytes a userId, the table at most three quarters full, no more */
    assert_int_equal(c->au.seen_size, 8192);

    free(input);
}


/*
 * A handler that keeps what it is given: the line's arena is its own,
 * the recipients stay readable after the feed, the reader goes on with
 * a new arena, and destroying the kept ones leaves nothing behind.
 */

typedef struct {
    ngx_campaign_audience_t       *au;
    ngx_campaign_arena_t           arenas[3];
    ngx_campaign_recipient_t       recipients[3];
    size_t                         n;
} test_keep_t;


static int
test_keep_recipient(void *data, const ngx_campaign_audience_line_t *line,
    ngx_campaign_recipient_t *r, cJSON *value)
{
    test_keep_t  *k = data;

    (void) line;
    (void) value;

    assert_true(k->n < 3);
    assert_non_null(k->au->arena.chunks);

    ngx_campaign_audience_keep(k->au, &k->arenas[k->n]);

    assert_null(k->au->arena.chunks);
    assert_non_null(k->arenas[k->n].chunks);
    assert_ptr_equal(k->arenas[k->n].alloc.pool, &k->arenas[k->n]);

    k->recipients[k->n++] = *r;

    return 0;
}


static void
test_keep(void **state)
{
    test_t       *c = *state;
    char         *input, *printed;
    size_t        i, live;
    test_keep_t   k;

    live = ngx_campaign_json_live();

    memset(&k, 0, sizeof(test_keep_t));
    k.au = &c->au;

    c->conf.unique = 1;
    test_start(c);
    c->au.conf.recipient = test_keep_recipient;
    c->au.conf.data = &k;

    input = q("{'type':'aep','userId':'a','namespace':'email',"
              "'channelData':{'emailAddress':'a@example.com'},"
              "'profile':{'name':'Ann'},'context':{'offerCode':'A1'}}\n"
              "not json\n"
              "{'type':'aep','userId':'b','namespace':'email',"
              "'channelData':{'emailAddress':'b@example.com'}}\n"
              "{'type':'aep','userId':'a','namespace':'email',"
              "'channelData':{'emailAddress':'a@example.com'}}\n"
              "{'type':'aep','userId':'c','namespace':'email',"
              "'channelData':{'emailAddress':'c@example.com'}}\n");

    assert_int_equal(test_feed_all(c, input, strlen(input), 7), 0);

    /* the input's memory is gone: what was kept does not point into it */
    memset(input, 'x', strlen(input));

    assert_int_equal(k.n, 3);
    assert_string_equal(k.recipients[0].user_id, "a");
    assert_string_equal(k.recipients[0].address, "a@example.com");
    assert_string_equal(k.recipients[1].user_id, "b");
    assert_string_equal(k.recipients[2].address, "c@example.com");

    printed = cJSON_PrintUnformatted(k.recipients[0].data);
    assert_non_null(printed);
    assert_non_null(strstr(printed, "\"name\":\"Ann\""));
    assert_non_null(strstr(printed, "\"offerCode\":\"A1\""));
    cJSON_free(printed);

    for (i = 0; i < k.n; i++) {
        ngx_campaign_arena_destroy(&k.arenas[i]);
        assert_null(k.arenas[i].chunks);
    }

    assert_null(c->au.arena.chunks);
    assert_int_equal(ngx_campaign_json_live(), live);

    free(input);
}


/* a handler pacing its work: the feed stops after the line handed over */

static void
test_pause(void **state)
{
    test_t  *c = *state;
    int      rc;
    char    *input;
    size_t   len, off, used, feeds;

    c->answer = NGX_CAMPAIGN_AUDIENCE_PAUSED;
    c->conf.max_line = 140;
    c->conf.unique = 1;
    test_start(c);

    input = q(test_sample);
    len = strlen(input);

    off = 0;
    feeds = 0;

    while (off < len) {
        rc = ngx_campaign_audience_feed(&c->au, (u_char *) input + off,
                                        len - off, &used);
        assert_true(rc == 0 || rc == NGX_CAMPAIGN_AUDIENCE_PAUSED);
        assert_true(used <= len - off);

        if (rc == 0) {
            assert_int_equal(used, len - off);

        } else {
            /* paused right after a line's LF */
            assert_int_equal(input[off + used - 1], '\n');
        }

        off += used;
        feeds++;
    }

    assert_int_equal(ngx_campaign_audience_finish(&c->au), 0);

    assert_string_equal(c->log, test_sample_log);

    /* two lines handed over before the last, which finish() reads */
    assert_int_equal(feeds, 3);

    free(input);
}


static void
test_give_up(void **state)
{
    test_t  *c = *state;
    char    *input;
    size_t   used;

    c->answer = -1;
    test_start(c);

    input = q("{'type':'aep','userId':'a','namespace':'email',"
              "'channelData':{'emailAddress':'a@example.com'}}\n"
              "{'type':'aep','userId':'b','namespace':'email',"
              "'channelData':{'emailAddress':'b@example.com'}}\n");

    assert_int_equal(ngx_campaign_audience_feed(&c->au, (u_char *) input,
                                                strlen(input), &used),
                     -1);

    assert_string_equal(c->log, "1 ok a a@example.com\n");
    assert_int_equal(used, strchr(input, '\n') - input + 1);

    free(input);
}


/* reading again from a journaled cursor: offsets and numbers go on */

static void
test_resume(void **state)
{
    test_t  *c = *state;
    char    *input;

    c->conf.first_offset = 1000;
    c->conf.first_line = 42;
    test_start(c);

    input = q("{'type':'aep','userId':'a','namespace':'email',"
              "'channelData':{'emailAddress':'a@example.com'}}\n"
              "{'type':'aep'}\n");

    assert_int_equal(test_feed_all(c, input, strlen(input), 5), 0);

    assert_string_equal(c->log,
                        "42 ok a a@example.com\n"
                        "43 invalid /userId is required\n");
    assert_int_equal(c->starts[0], 1000);
    assert_int_equal(c->ends[0], 1000 + strchr(input, '\n') - input + 1);
    assert_int_equal(c->au.offset, 1000 + (off_t) strlen(input));

    free(input);
}


/*
 * 100,000 lines in 4 KB chunks: every line is read, the line buffer
 * never grows past max_line, and nothing of a line outlives it.
 */

static void
test_large_input(void **state)
{
    test_t  *c = *state;
    char    *input, *p;
    size_t   i, n, len, live;

    live = ngx_campaign_json_live();

    c->conf.max_line = 1024;
    c->conf.unique = 1;
    test_start(c);

    n = 100000;
    input = malloc(n * 200);
    assert_non_null(input);

    p = input;

    for (i = 0; i < n; i++) {
        if (i % 1000 == 999) {
            p += sprintf(p, "{\"type\":\"aep\",\"userId\":\"u%zu\"\n", i);
            continue;
        }

        p += sprintf(p, "{\"type\":\"aep\",\"userId\":\"u%zu\","
                     "\"namespace\":\"email\",\"channelData\":"
                     "{\"emailAddress\":\"u%zu@example.com\"},"
                     "\"context\":{\"offerCode\":\"C%zu\"}}\n",
                     i, i, i % 1000);
    }

    len = p - input;

    assert_int_equal(test_feed_all(c, input, len, 4096), 0);
    assert_int_equal(ngx_campaign_audience_finish(&c->au), 0);

    assert_int_equal(c->au.counters.lines, n);
    assert_int_equal(c->au.counters.valid, n - n / 1000);
    assert_int_equal(c->au.counters.skipped[NGX_CAMPAIGN_AUDIENCE_JSON],
                     n / 1000);
    assert_int_equal(c->au.counters.skipped[NGX_CAMPAIGN_AUDIENCE_DUPLICATE],
                     0);
    assert_int_equal(c->au.offset, (off_t) len);

    assert_true(c->au.peak <= 1024);
    assert_true(c->au.size <= 1024);
    assert_null(c->au.arena.chunks);
    assert_int_equal(ngx_campaign_json_live(), live);

    /* one hash per userId, the table at most three quarters full */
    assert_int_equal(c->au.nseen, n - n / 1000);
    assert_true(c->au.nseen * 4 <= c->au.seen_size * 3);

    free(input);
}


/*
 * Each allocation of a line's parse failing in turn: the feed says so
 * (-2), or the line goes through whole; nothing is left behind.
 */

static void
test_out_of_memory(void **state)
{
    test_t  *c = *state;
    int      rc;
    char    *input;
    size_t   k, live;

    live = ngx_campaign_json_live();

    input = q("{'type':'aep','userId':'a','namespace':'email',"
              "'channelData':{'emailAddress':'a@example.com'},"
              "'profile':{'name':'A'},'context':{'offerCode':'X'}}\n");

    for (k = 1; k < 1000; k++) {
        ngx_campaign_audience_free(&c->au);
        free(c->log);
        c->log = NULL;
        c->log_len = 0;
        c->log_size = 0;

        test_start(c);
        c->au.arena.fail_at = k;

        rc = ngx_campaign_audience_feed(&c->au, (u_char *) input,
                                        strlen(input), NULL);

        assert_null(c->au.arena.chunks);
        assert_int_equal(ngx_campaign_json_live(), live);

        if (rc == 0) {
            break;
        }

        assert_int_equal(rc, -2);
        assert_null(c->log);
    }

    assert_true(k > 1);
    assert_true(k < 1000);
    assert_string_equal(c->log, "1 ok a a@example.com\n");

    free(input);
}


static void
test_reason_names(void **state)
{
    (void) state;

    assert_string_equal(
        ngx_campaign_audience_reason_name(NGX_CAMPAIGN_AUDIENCE_JSON),
        "json");
    assert_string_equal(
        ngx_campaign_audience_reason_name(NGX_CAMPAIGN_AUDIENCE_INVALID),
        "invalid");
    assert_string_equal(
        ngx_campaign_audience_reason_name(NGX_CAMPAIGN_AUDIENCE_TOO_LONG),
        "too_long");
    assert_string_equal(
        ngx_campaign_audience_reason_name(NGX_CAMPAIGN_AUDIENCE_DUPLICATE),
        "duplicate");
    assert_string_equal(
        ngx_campaign_audience_reason_name(NGX_CAMPAIGN_AUDIENCE_NREASONS),
        "unknown");
}


static int
test_setup(void **state)
{
    test_t  *c;

    if (ngx_campaign_trigger_init() != 0) {
        return -1;
    }

    if (test_context == NULL) {
        test_context = cJSON_Parse("{\"storeId\":7}");
        if (test_context == NULL) {
            return -1;
        }
    }

    c = calloc(1, sizeof(test_t));
    if (c == NULL) {
        return -1;
    }

    *state = c;

    return 0;
}


static int
test_teardown(void **state)
{
    test_t  *c = *state;

    ngx_campaign_audience_free(&c->au);
    free(c->log);
    free(c);

    return 0;
}


/* the reader with the test's conf and handlers, on the test campaign */

static void
test_start(test_t *c)
{
    c->conf.rules.campaign = &test_campaign;
    c->conf.rules.context = c->no_context ? NULL : test_context;

    c->conf.recipient = test_recipient;
    c->conf.skipped = test_skipped;
    c->conf.data = c;

    assert_int_equal(ngx_campaign_audience_init(&c->au, &c->conf), 0);
}


static int
test_recipient(void *data, const ngx_campaign_audience_line_t *line,
    ngx_campaign_recipient_t *r, cJSON *value)
{
    char    *printed;
    test_t  *c = data;

    assert_true(cJSON_IsObject(value));
    assert_non_null(r->data);
    assert_true(line->end > line->start);
    assert_true((size_t) (line->end - line->start) >= line->len);

    if (c->nlines < 64) {
        c->starts[c->nlines] = line->start;
        c->ends[c->nlines] = line->end;
        c->nlines++;
    }

    if (c->verbose) {
        printed = cJSON_PrintUnformatted(r->data);
        assert_non_null(printed);
        test_log(c, "%zu ok %s %s %s\n", line->number, r->user_id,
                 r->address, printed);
        cJSON_free(printed);

    } else {
        test_log(c, "%zu ok %s %s\n", line->number, r->user_id,
                 r->address);
    }

    return c->answer;
}


static void
test_skipped(void *data, const ngx_campaign_audience_line_t *line,
    ngx_campaign_audience_reason_e reason,
    const ngx_campaign_problem_t *problem)
{
    test_t  *c = data;

    if (reason == NGX_CAMPAIGN_AUDIENCE_TOO_LONG) {
        assert_null(line->text);
        assert_int_equal(line->end, -1);

        if (c->nlines < 64) {
            c->starts[c->nlines] = line->start;
            c->ends[c->nlines] = line->end;
            c->nlines++;
        }
    }

    test_log(c, "%zu %s %s %s\n", line->number,
             ngx_campaign_audience_reason_name(reason), problem->pointer,
             problem->message);
}


static void
test_log(test_t *c, const char *fmt, ...)
{
    int      n;
    va_list  args;

    for ( ;; ) {
        va_start(args, fmt);
        n = vsnprintf(c->log ? c->log + c->log_len : NULL,
                      c->log ? c->log_size - c->log_len : 0, fmt, args);
        va_end(args);

        assert_true(n >= 0);

        if (c->log != NULL && c->log_len + n < c->log_size) {
            c->log_len += n;
            return;
        }

        c->log_size = (c->log_size + n + 1) * 2;
        c->log = realloc(c->log, c->log_size);
        assert_non_null(c->log);
        c->log[c->log_len] = '\0';
    }
}


/* the whole input in chunks of chunk bytes (0: in one) */

static int
test_feed_all(test_t *c, const char *input, size_t len, size_t chunk)
{
    int     rc;
    size_t  off, n, used;

    if (chunk == 0) {
        chunk = len ? len : 1;
    }

    for (off = 0; off < len; off += n) {
        n = (len - off < chunk) ? len - off : chunk;

        rc = ngx_campaign_audience_feed(&c->au, (const u_char *) input + off,
                                        n, &used);
        if (rc != 0) {
            return rc;
        }

        assert_int_equal(used, n);
    }

    return 0;
}


/* the sample's reader: cut at the offsets given, then finished */

static char *
test_run(const char *input, size_t len, const size_t *cuts, size_t ncuts,
    ngx_campaign_audience_counters_t *counters)
{
    char    *log;
    size_t   i, from, to;
    test_t   c;

    memset(&c, 0, sizeof(test_t));
    c.conf.max_line = 140;
    c.conf.unique = 1;
    test_start(&c);

    from = 0;

    for (i = 0; i <= ncuts; i++) {
        to = (i < ncuts) ? cuts[i] : len;

        assert_int_equal(ngx_campaign_audience_feed(&c.au,
                             (const u_char *) input + from, to - from, NULL),
                         0);
        from = to;
    }

    assert_int_equal(ngx_campaign_audience_finish(&c.au), 0);
    assert_true(c.au.peak <= 140);

    *counters = c.au.counters;
    log = c.log;

    ngx_campaign_audience_free(&c.au);

    return log;
}


static char *
q(const char *s)
{
    char  *d, *p;

    d = strdup(s);
    assert_non_null(d);

    for (p = d; *p; p++) {
        if (*p == '\'') {
            *p = '"';
        }
    }

    return d;
}


#define test(f)  cmocka_unit_test_setup_teardown(f, test_setup, test_teardown)


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        test(test_valid_lines),
        test(test_chunk_boundaries),
        test(test_crlf_and_last_line),
        test(test_empty_inputs),
        test(test_blank_lines),
        test(test_too_long_lines),
        test(test_malformed_json),
        test(test_invalid_recipients),
        test(test_required_context),
        test(test_context_size),
        test(test_duplicates),
        test(test_duplicates_grow),
        test(test_keep),
        test(test_pause),
        test(test_give_up),
        test(test_resume),
        test(test_large_input),
        test(test_out_of_memory),
        test(test_reason_names)
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
