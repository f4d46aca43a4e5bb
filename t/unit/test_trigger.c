
/*
 * Copyright (C) ngx_campaign developers
 */


/*
 * The "executions/unitary" request: what ngx_campaign_trigger_parse()
 * accepts and how it reports what it refuses, then what
 * ngx_campaign_trigger_validate() checks once the campaign is known.
 *
 * Request bodies are written with single quotes for readability; q()
 * turns them into JSON.
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
#include "ngx_campaign_trigger.h"
#include "ngx_campaign_arena.h"


typedef struct {
    ngx_campaign_arena_t        arena;
    ngx_campaign_trigger_t      t;
    ngx_campaign_problems_t     problems;
} test_t;


static int test_setup(void **state);
static int test_teardown(void **state);
static int test_parse(test_t *c, const char *src);
static int test_parse_raw(test_t *c, const char *body, size_t len,
    const ngx_campaign_trigger_limits_t *limits);
static int test_validate(test_t *c, const char *src,
    const ngx_campaign_t *campaign);
static int test_validate_raw(test_t *c, const char *body,
    const ngx_campaign_t *campaign);
static void test_expect(test_t *c, int status, size_t n);
static void test_expect_problem(test_t *c, const char *pointer,
    const char *message);
static void test_expect_problem_at(test_t *c, size_t i, const char *pointer,
    const char *message);
static void test_print_problems(test_t *c);
static char *test_request(const char *recipients, const char *context);
static char *test_printf(const char *fmt, ...);
static int test_parse_object(test_t *c, const char *src, cJSON **object);


/*
 * The campaigns are built by hand, as the definition loader would build
 * them, so that these tests do not depend on it.
 */

static ngx_campaign_field_t  test_email_fields[] = {
    { "resetLink", NGX_CAMPAIGN_FIELD_STRING, 1, 0, "^https://",
      NULL, NULL },
    { "offerCode", NGX_CAMPAIGN_FIELD_STRING, 0, 5, NULL, NULL, NULL },
    { "count", NGX_CAMPAIGN_FIELD_INTEGER, 0, 0, NULL, NULL, NULL },
    { "amount", NGX_CAMPAIGN_FIELD_NUMBER, 0, 0, NULL, NULL, NULL },
    { "vip", NGX_CAMPAIGN_FIELD_BOOLEAN, 0, 0, NULL, NULL, NULL },
    { "items", NGX_CAMPAIGN_FIELD_ARRAY, 0, 0, NULL, NULL, NULL },
    { "store", NGX_CAMPAIGN_FIELD_OBJECT, 0, 0, NULL, NULL, NULL },
    { "a/b~c", NGX_CAMPAIGN_FIELD_STRING, 0, 0, NULL, NULL, NULL },
    { "anything", NGX_CAMPAIGN_FIELD_ANY, 0, 3, "^[a-z]+$", NULL, NULL }
};

#define TEST_NFIELDS                                                        \
    (sizeof(test_email_fields) / sizeof(test_email_fields[0]))


static ngx_campaign_t  test_email = {
    .id = "password-reset",
    .channel = NGX_CAMPAIGN_CHANNEL_EMAIL,
    .fields = test_email_fields,
    .nfields = TEST_NFIELDS
};

static ngx_campaign_t  test_email_ns = {
    .id = "newsletter",
    .channel = NGX_CAMPAIGN_CHANNEL_EMAIL,
    .namespace = "email"
};

static ngx_campaign_t  test_sms = {
    .id = "order-shipped",
    .channel = NGX_CAMPAIGN_CHANNEL_SMS
};

static ngx_campaign_t  test_push = {
    .id = "cart-reminder",
    .channel = NGX_CAMPAIGN_CHANNEL_PUSH
};


static const char  test_valid[] =
    "{'requestId': 'req-1', 'campaignId': 'password-reset',"
    " 'recipients': ["
    "  {'type': 'aep', 'userId': 'jane', 'namespace': 'email',"
    "   'channelData': {'emailAddress': 'jane.doe+x@mail.example.com'},"
    "   'profile': {'person': {'name': {'firstName': 'Jane'}}},"
    "   'context': {'offerCode': 'JANE', 'count': 3}},"
    "  {'type': 'external', 'userId': 'bob', 'namespace': 'email',"
    "   'channelData': {'emailAddress': 'bob@example.org'},"
    "   'unknownRecipientKey': 1}],"
    " 'context': {'resetLink': 'https://example.com/r/abc',"
    "             'offerCode': 'ALL', 'amount': 9.5, 'vip': true,"
    "             'items': [1, 2], 'store': {'id': 7}},"
    " 'unknownTopLevelKey': 'AJO clients send extras'}";


/* a request */

static void
test_valid_request(void **state)
{
    test_t                    *c = *state;
    cJSON                     *ctx, *top, *profile, *item, *orig;
    const char                *keys[8];
    size_t                     n;
    ngx_campaign_recipient_t  *r;

    assert_int_equal(test_parse(c, test_valid), 0);
    assert_int_equal(c->problems.nitems, 0);

    assert_string_equal(c->t.request_id, "req-1");
    assert_string_equal(c->t.campaign_id, "password-reset");
    assert_int_equal(c->t.nrecipients, 2);

    r = c->t.recipients;
    assert_string_equal(r[0].user_id, "jane");
    assert_string_equal(r[0].type, "aep");
    assert_string_equal(r[0].namespace, "email");
    assert_string_equal(r[1].user_id, "bob");
    assert_string_equal(r[1].type, "external");

    /* the inline profile, or {} for templates when there is none */

    profile = cJSON_GetObjectItemCaseSensitive(r[0].data, "profile");
    assert_ptr_equal(profile->child, r[0].profile->child);
    assert_true(profile->type & cJSON_IsReference);

    assert_null(r[1].profile);
    profile = cJSON_GetObjectItemCaseSensitive(r[1].data, "profile");
    assert_true(cJSON_IsObject(profile));
    assert_null(profile->child);

    /* the recipient's own keys win over the top-level context's */

    ctx = cJSON_GetObjectItemCaseSensitive(r[0].data, "context");
    item = cJSON_GetObjectItemCaseSensitive(ctx, "offerCode");
    assert_string_equal(item->valuestring, "JANE");
    item = cJSON_GetObjectItemCaseSensitive(ctx, "count");
    assert_int_equal(item->valueint, 3);
    item = cJSON_GetObjectItemCaseSensitive(ctx, "resetLink");
    assert_string_equal(item->valuestring, "https://example.com/r/abc");

    ctx = cJSON_GetObjectItemCaseSensitive(r[1].data, "context");
    item = cJSON_GetObjectItemCaseSensitive(ctx, "offerCode");
    assert_string_equal(item->valuestring, "ALL");
    assert_null(cJSON_GetObjectItemCaseSensitive(ctx, "count"));

    /* top-level keys first, then the recipient's; nothing twice */

    ctx = cJSON_GetObjectItemCaseSensitive(r[0].data, "context");
    n = 0;

    for (item = ctx->child; item; item = item->next) {
        assert_true(n < 8);
        keys[n++] = item->string;
    }

    assert_int_equal(n, 7);
    assert_string_equal(keys[0], "resetLink");
    assert_string_equal(keys[4], "store");
    assert_string_equal(keys[5], "offerCode");
    assert_string_equal(keys[6], "count");

    /* references, not copies: the very strings and children of the tree */

    top = cJSON_GetObjectItemCaseSensitive(c->t.root, "context");
    orig = cJSON_GetObjectItemCaseSensitive(top, "resetLink");
    item = cJSON_GetObjectItemCaseSensitive(ctx, "resetLink");
    assert_ptr_equal(item->valuestring, orig->valuestring);
    assert_true(item->type & cJSON_IsReference);

    orig = cJSON_GetObjectItemCaseSensitive(top, "store");
    item = cJSON_GetObjectItemCaseSensitive(ctx, "store");
    assert_ptr_equal(item->child, orig->child);

    /* the campaign accepts it, and the addresses are set */

    assert_int_equal(ngx_campaign_trigger_validate(&c->arena.alloc, &c->t,
                                                   &test_email,
                                                   &c->problems),
                     0);
    assert_string_equal(r[0].address, "jane.doe+x@mail.example.com");
    assert_string_equal(r[1].address, "bob@example.org");
    assert_null(r[0].platform);

    /* the trees and the data objects are in the pool: nothing malloc'd */

    assert_int_equal(ngx_campaign_json_live(), 0);
}


static void
test_optional_members_may_be_null(void **state)
{
    test_t  *c = *state;

    assert_int_equal(test_parse(c,
        "{'requestId': 'r', 'campaignId': 'c', 'context': null,"
        " 'recipients': [{'type': 'aep', 'userId': 'u', 'namespace': 'e',"
        "  'channelData': null, 'profile': null, 'context': null}]}"), 0);

    assert_null(c->t.recipients[0].profile);
    assert_non_null(c->t.recipients[0].data);
}


/* malformed bodies: one problem at "", with where it went wrong */

static void
test_preview_body(void **state)
{
    test_t  *c = *state;

    cJSON       *data, *item;
    const char  *body;

    body = "{\"profile\": {\"firstName\": \"Ada\"}}";

    assert_int_equal(ngx_campaign_trigger_parse_preview(&c->arena.alloc,
                         (const u_char *) body, strlen(body), &data,
                         &c->problems), 0);

    item = cJSON_GetObjectItemCaseSensitive(data, "profile");
    assert_true(cJSON_IsObject(item));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(item, "firstName")
                        ->valuestring, "Ada");

    /* an absent context is an empty object to render against */

    item = cJSON_GetObjectItemCaseSensitive(data, "context");
    assert_true(cJSON_IsObject(item));
    assert_null(item->child);

    body = "{\"profile\": [1], \"context\": \"x\"}";

    assert_int_equal(ngx_campaign_trigger_parse_preview(&c->arena.alloc,
                         (const u_char *) body, strlen(body), &data,
                         &c->problems), -1);
    test_expect(c, 400, 2);
    test_expect_problem_at(c, 0, "/profile", "must be an object, found array");
    test_expect_problem_at(c, 1, "/context",
                           "must be an object, found string");

    body = "{\"profile\": ";

    assert_int_equal(ngx_campaign_trigger_parse_preview(&c->arena.alloc,
                         (const u_char *) body, strlen(body), &data,
                         &c->problems), -1);
    test_expect(c, 400, 1);
    assert_non_null(strstr(c->problems.items[0].message, "malformed JSON"));
}


static void
test_malformed_json(void **state)
{
    test_t  *c = *state;

    assert_int_equal(test_parse(c,
        "{\n  'requestId': 'r',\n  'campaignId': x\n}"), -1);
    test_expect(c, 400, 1);
    test_expect_problem(c, "", "malformed JSON at line 3, column 17");

    /* columns count characters, not bytes */

    assert_int_equal(test_parse(c, "{'a': 'é€', 'b': }"), -1);
    test_expect_problem(c, "", "malformed JSON at line 1, column 18");

    assert_int_equal(test_parse(c, "{'a': 1,\n}"), -1);
    test_expect_problem(c, "", "malformed JSON at line 2, column 1");

    /* trailing garbage after a complete value */

    assert_int_equal(test_parse(c, "{} x"), -1);
    test_expect(c, 400, 1);
    test_expect_problem(c, "", "malformed JSON at line 1, column 4");

    assert_int_equal(test_parse(c, "{}\r\n\t "), -1);
    test_expect_problem(c, "/requestId", "is required");

    assert_int_equal(test_parse(c, ""), -1);
    test_expect_problem(c, "", "request body is empty");

    assert_int_equal(test_parse(c, "[]"), -1);
    test_expect(c, 400, 1);
    test_expect_problem(c, "", "must be an object, found array");
}


static void
test_control_characters_and_nul(void **state)
{
    test_t  *c = *state;

    assert_int_equal(test_parse(c, "{'requestId': 'a\tb'}"), -1);
    test_expect(c, 400, 1);
    test_expect_problem(c, "",
                        "malformed JSON at line 1, column 17: "
                        "unescaped control character");

    /* cJSON would skip any byte up to 0x20 as white space */

    assert_int_equal(test_parse_raw(c, "{\x01}", 3, NULL), -1);
    test_expect_problem(c, "",
                        "malformed JSON at line 1, column 2: "
                        "unescaped control character");

    assert_int_equal(test_parse_raw(c, "{\"a\":\"\0\"}", 9, NULL), -1);
    test_expect(c, 400, 1);

    /* "\u0000" and bad hex digits, which cJSON decodes as U+0000 */

    assert_int_equal(test_parse(c, "{'userId': 'a\\u0000b'}"), -1);
    test_expect(c, 400, 1);
    test_expect_problem(c, "",
                        "malformed JSON at line 1, column 14: "
                        "\\u0000 is not allowed in strings");

    assert_int_equal(test_parse(c, "{'userId': 'a\\u00zzb'}"), -1);
    test_expect_problem(c, "",
                        "malformed JSON at line 1, column 14: "
                        "invalid \\u escape");

    assert_int_equal(test_parse(c, "{'userId': 'a\\u"), -1);
    test_expect_problem(c, "",
                        "malformed JSON at line 1, column 14: "
                        "invalid \\u escape");

    /* escaped, they are fine; a lone surrogate is not */

    assert_int_equal(test_parse(c,
        "{'requestId': '\\u00e9\\ud83d\\ude00\\\\u0000',"
        " 'campaignId': 'c', 'recipients': [{'type': 'aep',"
        " 'userId': 'u', 'namespace': 'e'}]}"), 0);
    assert_string_equal(c->t.request_id, "é\xf0\x9f\x98\x80\\u0000");

    /* identifiers end up in headers and paths: no control characters */

    assert_int_equal(test_parse(c,
        "{'requestId': 'r', 'campaignId': 'c', 'recipients': [{'type':"
        " 'aep', 'userId': 'a\\r\\nX-Evil: 1', 'namespace': 'e'}]}"), -1);
    test_expect(c, 400, 1);
    test_expect_problem(c, "/recipients/0/userId",
                        "must contain only the characters "
                        "A-Z a-z 0-9 @ . _ - + : = ~");

    assert_int_equal(test_parse(c,
        "{'requestId': 'r\\u007f', 'campaignId': 'c', 'recipients': [{'type':"
        " 'aep', 'userId': 'u', 'namespace': 'e'}]}"), -1);
    test_expect(c, 400, 1);
    test_expect_problem(c, "/requestId",
                        "must not contain control characters");

    assert_int_equal(test_parse(c, "{'requestId': '\\ud800'}"), -1);
    test_expect(c, 400, 1);
}


/* invalid UTF-8: refused before parsing, by byte offset */

static void
test_invalid_utf8(void **state)
{
    test_t  *c = *state;
    size_t   i;
    char     body[64];

    static const struct {
        const char  *bytes;
        size_t       len;
    } invalid[] = {
        { "\xc0\xaf", 2 },                   /* overlong '/' */
        { "\xc1\xbf", 2 },                   /* overlong */
        { "\xe0\x80\xaf", 3 },               /* overlong, 3 bytes */
        { "\xf0\x80\x80\xaf", 4 },           /* overlong, 4 bytes */
        { "\xed\xa0\x80", 3 },               /* U+D800, a surrogate */
        { "\xed\xbf\xbf", 3 },               /* U+DFFF */
        { "\xf4\x90\x80\x80", 4 },           /* U+110000 */
        { "\xf5\x80\x80\x80", 4 },           /* no such lead byte */
        { "\xff", 1 },
        { "\x80", 1 },                       /* a stray continuation */
        { "\xe2\x82", 2 },                   /* truncated */
        { "\xe2\x28\xa1", 3 }                /* bad continuation */
    };

    for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        memcpy(body, "{\"a\": \"", 7);
        memcpy(body + 7, invalid[i].bytes, invalid[i].len);
        memcpy(body + 7 + invalid[i].len, "\"}", 2);

        assert_int_equal(test_parse_raw(c, body, 9 + invalid[i].len, NULL),
                         -1);
        test_expect(c, 400, 1);
        test_expect_problem(c, "", "invalid UTF-8 at byte offset 7");
    }

    /* truncated by the end of the body */

    assert_int_equal(test_parse_raw(c, "{\"a\": \"\xf0\x9f\x98", 10, NULL),
                     -1);
    test_expect_problem(c, "", "invalid UTF-8 at byte offset 7");

    /* outside strings too */

    assert_int_equal(test_parse_raw(c, "{\xa0}", 3, NULL), -1);
    test_expect_problem(c, "", "invalid UTF-8 at byte offset 1");

    /* the edges of what is valid */

    assert_int_equal(test_parse(c,
        "{'requestId': '\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf"
        "\xee\x80\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf',"
        " 'campaignId': 'c', 'recipients': [{'type': 'aep',"
        " 'userId': 'u', 'namespace': 'e'}]}"), 0);
}


/* nesting: 32 levels are fine, 33 are refused before cJSON recurses */

static char *
test_nested(size_t depth)
{
    char    *body, *p;
    size_t   i, arrays;

    /* the body and "context" are two levels */
    arrays = depth - 2;

    body = malloc(256 + 2 * arrays);
    assert_non_null(body);

    p = body + sprintf(body,
                       "{\"requestId\": \"r\", \"campaignId\": \"c\","
                       " \"recipients\": [{\"type\": \"aep\","
                       " \"userId\": \"u\", \"namespace\": \"e\"}],"
                       " \"context\": {\"s\": \"[[{{\\\"[[\", \"x\": ");

    for (i = 0; i < arrays; i++) {
        *p++ = '[';
    }

    for (i = 0; i < arrays; i++) {
        *p++ = ']';
    }

    strcpy(p, "}}");

    return body;
}


static void
test_depth(void **state)
{
    test_t                         *c = *state;
    char                           *body, message[80];
    ngx_campaign_trigger_limits_t   limits;

    body = test_nested(32);
    assert_int_equal(test_parse_raw(c, body, strlen(body), NULL), 0);
    free(body);

    body = test_nested(33);
    assert_int_equal(test_parse_raw(c, body, strlen(body), NULL), -1);
    test_expect(c, 400, 1);

    /* the offset of the 33rd bracket */
    snprintf(message, sizeof(message),
             "nested deeper than 32 levels at byte offset %zu",
             (size_t) (strstr(body, "[]") - body));
    test_expect_problem(c, "", message);
    free(body);

    /* brackets in strings do not count; the limit can be lowered */

    memset(&limits, 0, sizeof(limits));
    limits.max_depth = 3;

    body = test_printf("{\"a\": [\"[[[\\\"{{{\", {\"b\": 1}]}");
    assert_int_equal(test_parse_raw(c, body, strlen(body), &limits), -1);
    test_expect_problem(c, "/requestId", "is required");
    free(body);

    body = test_printf("{\"a\": [{\"b\": [1]}]}");
    assert_int_equal(test_parse_raw(c, body, strlen(body), &limits), -1);
    test_expect(c, 400, 1);
    test_expect_problem(c, "",
                        "nested deeper than 3 levels at byte offset 13");
    free(body);
}


/* the shape of the request */

static void
test_wrong_types(void **state)
{
    test_t  *c = *state;

    assert_int_equal(test_parse(c,
        "{'requestId': 1, 'campaignId': true,"
        " 'recipients': [{'type': 2, 'userId': [], 'namespace': {},"
        "  'channelData': {'emailAddress': 3, 'mobilePhoneNumber': false,"
        "   'pushInfo': {'appID': 1, 'platform': 2.5, 'token': null}},"
        "  'profile': 'p', 'context': []}],"
        " 'context': 'c'}"), -1);

    test_expect(c, 400, 12);
    test_expect_problem(c, "/requestId", "must be a string, found number");
    test_expect_problem(c, "/campaignId", "must be a string, found boolean");
    test_expect_problem(c, "/recipients/0/type",
                        "must be a string, found number");
    test_expect_problem(c, "/recipients/0/userId",
                        "must be a string, found array");
    test_expect_problem(c, "/recipients/0/namespace",
                        "must be a string, found object");
    test_expect_problem(c, "/recipients/0/channelData/emailAddress",
                        "must be a string, found number");
    test_expect_problem(c, "/recipients/0/channelData/mobilePhoneNumber",
                        "must be a string, found boolean");
    test_expect_problem(c, "/recipients/0/channelData/pushInfo/appID",
                        "must be a string, found number");
    test_expect_problem(c, "/recipients/0/channelData/pushInfo/platform",
                        "must be a string, found number");
    test_expect_problem(c, "/recipients/0/profile",
                        "must be an object, found string");
    test_expect_problem(c, "/recipients/0/context",
                        "must be an object, found array");
    test_expect_problem(c, "/context", "must be an object, found string");

    assert_int_equal(test_parse(c,
        "{'requestId': 'r', 'campaignId': 'c', 'recipients': {}}"), -1);
    test_expect(c, 400, 1);
    test_expect_problem(c, "/recipients", "must be an array, found object");

    assert_int_equal(test_parse(c,
        "{'requestId': 'r', 'campaignId': 'c', 'recipients': ["
        " 'jane', {'type': 'aep', 'userId': 'u', 'namespace': 'e',"
        "  'channelData': 'x'},"
        " {'type': 'aep', 'userId': 'v', 'namespace': 'e',"
        "  'channelData': {'pushInfo': []}}]}"), -1);
    test_expect(c, 400, 3);
    test_expect_problem(c, "/recipients/0", "must be an object, found string");
    test_expect_problem(c, "/recipients/1/channelData",
                        "must be an object, found string");
    test_expect_problem(c, "/recipients/2/channelData/pushInfo",
                        "must be an object, found array");

    assert_int_equal(test_parse(c,
        "{'requestId': 'r', 'campaignId': 'c', 'recipients': ["
        " {'type': 'AEP', 'userId': 'u', 'namespace': 'e'}]}"), -1);
    test_expect(c, 400, 1);
    test_expect_problem(c, "/recipients/0/type",
                        "must be \"aep\" or \"external\"");
}


static void
test_missing_fields(void **state)
{
    test_t  *c = *state;
    char    *body;

    assert_int_equal(test_parse(c, "{}"), -1);
    test_expect(c, 400, 3);
    test_expect_problem_at(c, 0, "/requestId", "is required");
    test_expect_problem_at(c, 1, "/campaignId", "is required");
    test_expect_problem_at(c, 2, "/recipients", "is required");

    assert_int_equal(test_parse(c,
        "{'requestId': '', 'campaignId': '', 'recipients': [{},"
        " {'type': '', 'userId': '', 'namespace': ''}]}"), -1);
    test_expect(c, 400, 8);
    test_expect_problem(c, "/requestId", "must not be empty");
    test_expect_problem(c, "/campaignId", "must not be empty");
    test_expect_problem(c, "/recipients/0/type", "is required");
    test_expect_problem(c, "/recipients/0/userId", "is required");
    test_expect_problem(c, "/recipients/0/namespace", "is required");
    test_expect_problem(c, "/recipients/1/type", "must not be empty");
    test_expect_problem(c, "/recipients/1/userId", "must not be empty");
    test_expect_problem(c, "/recipients/1/namespace", "must not be empty");

    /* a null required member is a wrong type, not an absent one */

    assert_int_equal(test_parse(c,
        "{'requestId': null, 'campaignId': 'c', 'recipients': ["
        " {'type': 'aep', 'userId': 'u', 'namespace': 'e'}]}"), -1);
    test_expect(c, 400, 1);
    test_expect_problem(c, "/requestId", "must be a string, found null");

    /* requestId: 256 bytes at most */

    body = test_printf("{\"requestId\": \"%0256d\", \"campaignId\": \"c\","
                       " \"recipients\": [{\"type\": \"aep\","
                       " \"userId\": \"u\", \"namespace\": \"e\"}]}", 0);
    assert_int_equal(test_parse_raw(c, body, strlen(body), NULL), 0);
    free(body);

    body = test_printf("{\"requestId\": \"%0257d\", \"campaignId\": \"c\","
                       " \"recipients\": [{\"type\": \"aep\","
                       " \"userId\": \"u\", \"namespace\": \"e\"}]}", 0);
    assert_int_equal(test_parse_raw(c, body, strlen(body), NULL), -1);
    test_expect(c, 400, 1);
    test_expect_problem(c, "/requestId",
                        "must be at most 256 bytes, found 257");
    free(body);
}


static char *
test_recipients(size_t n)
{
    char    *list, *p;
    size_t   i;

    list = malloc(n * 64 + 1);
    assert_non_null(list);

    p = list;
    *p = '\0';

    for (i = 0; i < n; i++) {
        p += sprintf(p, "%s{\"type\": \"aep\", \"userId\": \"u%zu\","
                     " \"namespace\": \"email\"}", i ? ", " : "", i);
    }

    return list;
}


static void
test_recipient_count(void **state)
{
    test_t  *c = *state;
    char    *list, *body;

    list = test_recipients(0);
    body = test_request(list, NULL);
    assert_int_equal(test_parse_raw(c, body, strlen(body), NULL), -1);
    test_expect(c, 400, 1);
    test_expect_problem(c, "/recipients",
                        "must have between 1 and 20 items, found 0");
    free(list);
    free(body);

    list = test_recipients(20);
    body = test_request(list, NULL);
    assert_int_equal(test_parse_raw(c, body, strlen(body), NULL), 0);
    assert_int_equal(c->t.nrecipients, 20);
    assert_string_equal(c->t.recipients[19].user_id, "u19");
    free(list);
    free(body);

    /* the items of an oversized list are not looked at */

    list = test_recipients(21);
    body = test_request(list, NULL);
    assert_int_equal(test_parse_raw(c, body, strlen(body), NULL), -1);
    test_expect(c, 400, 1);
    test_expect_problem(c, "/recipients",
                        "must have between 1 and 20 items, found 21");
    free(list);
    free(body);
}


static void
test_duplicate_user_ids(void **state)
{
    test_t  *c = *state;

    assert_int_equal(test_parse(c,
        "{'requestId': 'r', 'campaignId': 'c', 'recipients': ["
        " {'type': 'aep', 'userId': 'u1', 'namespace': 'e'},"
        " {'type': 'aep', 'userId': 'u2', 'namespace': 'e'},"
        " {'type': 'aep', 'userId': 'u1', 'namespace': 'e'},"
        " {'type': 'aep', 'userId': 'U1', 'namespace': 'e'},"
        " {'type': 'aep', 'userId': 'u2', 'namespace': 'e'},"
        " {'type': 'aep', 'userId': 'u1', 'namespace': 'e'}]}"), -1);

    test_expect(c, 400, 3);
    test_expect_problem(c, "/recipients/2/userId",
                        "is a duplicate of /recipients/0/userId");
    test_expect_problem(c, "/recipients/4/userId",
                        "is a duplicate of /recipients/1/userId");
    test_expect_problem(c, "/recipients/5/userId",
                        "is a duplicate of /recipients/0/userId");
}


/* context data: its compact JSON size, all contexts together */

static void
test_context_size(void **state)
{
    test_t                         *c = *state;
    char                           *body, *big, *printed, message[96];
    size_t                          size;
    cJSON                          *top, *own;
    ngx_campaign_trigger_limits_t   limits;

    big = malloc(NGX_CAMPAIGN_MAX_CONTEXT_SIZE + 1);
    assert_non_null(big);
    memset(big, 'x', NGX_CAMPAIGN_MAX_CONTEXT_SIZE);
    big[NGX_CAMPAIGN_MAX_CONTEXT_SIZE] = '\0';

    body = test_printf("{\"recipients\": 5, \"context\": {\"x\": \"%s\"}}",
                       big);
    free(big);

    assert_int_equal(test_parse_raw(c, body, strlen(body), NULL), -1);
    free(body);

    /* too large wins over the other problems */

    test_expect(c, 413, 4);
    snprintf(message, sizeof(message),
             "context data must be at most %d bytes, found %d",
             NGX_CAMPAIGN_MAX_CONTEXT_SIZE,
             NGX_CAMPAIGN_MAX_CONTEXT_SIZE + 8);
    test_expect_problem(c, "/context", message);
    test_expect_problem(c, "/recipients", "must be an array, found number");

    /*
     * The size is what cJSON_PrintUnformatted() would print, summed over
     * the top-level and every recipient's context: exactly at the limit
     * is fine, one byte over is not.
     */

    body = test_request(
        "{\"type\": \"aep\", \"userId\": \"u\", \"namespace\": \"e\","
        " \"context\": {\"q\": \"\\\"\\\\\\n\\u0001\", \"e\": []}},"
        "{\"type\": \"aep\", \"userId\": \"v\", \"namespace\": \"e\"}",
        "{\"n\": 1.5, \"i\": -42, \"big\": 1e300, \"t\": true,"
        " \"f\": false, \"z\": null, \"é\": \"é€\","
        " \"a\": [1, {\"k\": \"v\"}, [], {}],  \"e\": 0.1}");

    assert_int_equal(test_parse_raw(c, body, strlen(body), NULL), 0);

    top = cJSON_GetObjectItemCaseSensitive(c->t.root, "context");
    own = cJSON_GetObjectItemCaseSensitive(
              cJSON_GetArrayItem(
                  cJSON_GetObjectItemCaseSensitive(c->t.root, "recipients"),
                  0),
              "context");

    printed = cJSON_PrintUnformatted(top);
    size = strlen(printed);
    cJSON_free(printed);
    printed = cJSON_PrintUnformatted(own);
    size += strlen(printed);
    cJSON_free(printed);

    memset(&limits, 0, sizeof(limits));

    limits.max_context_size = size;
    assert_int_equal(test_parse_raw(c, body, strlen(body), &limits), 0);

    limits.max_context_size = size - 1;
    assert_int_equal(test_parse_raw(c, body, strlen(body), &limits), -1);
    test_expect(c, 413, 1);
    snprintf(message, sizeof(message),
             "context data must be at most %zu bytes, found %zu",
             size - 1, size);
    test_expect_problem(c, "/context", message);

    free(body);
}


/* the merge stays linear with many keys on both sides */

static void
test_merge_many_keys(void **state)
{
    test_t                         *c = *state;
    char                           *body, *p;
    cJSON                          *ctx, *item;
    size_t                          i, n;
    ngx_campaign_trigger_limits_t   limits;

    body = malloc(512 * 1024);
    assert_non_null(body);

    p = body + sprintf(body, "{\"requestId\": \"r\", \"campaignId\": \"c\","
                       " \"context\": {");

    for (i = 0; i < 10000; i++) {
        p += sprintf(p, "%s\"k%zu\": 0", i ? ", " : "", i);
    }

    p += sprintf(p, "}, \"recipients\": [{\"type\": \"aep\","
                 " \"userId\": \"u\", \"namespace\": \"e\", \"context\": {");

    for (i = 5000; i < 15000; i++) {
        p += sprintf(p, "%s\"k%zu\": 1", i > 5000 ? ", " : "", i);
    }

    strcpy(p, "}}]}");

    memset(&limits, 0, sizeof(limits));
    limits.max_context_size = 1024 * 1024;

    assert_int_equal(test_parse_raw(c, body, strlen(body), &limits), 0);
    free(body);

    ctx = cJSON_GetObjectItemCaseSensitive(c->t.recipients[0].data,
                                           "context");
    n = 0;

    for (item = ctx->child; item; item = item->next) {
        n++;
    }

    assert_int_equal(n, 15000);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(ctx, "k0")->valueint,
                     0);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(ctx, "k4999")
                     ->valueint, 0);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(ctx, "k5000")
                     ->valueint, 1);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(ctx, "k14999")
                     ->valueint, 1);
}


/* channelData, checked for the campaign's channel */

static void
test_email_address(void **state)
{
    test_t       *c = *state;
    char         *body, *addr;
    size_t        i;
    const char   *valid[] = {
        "jane.doe+tag@sub.example.co.uk",
        "o'reilly@example.com",
        "x@a.io",
        "!#$%&*+/=?^_`{|}~-@example.com",
        "j@xn--bcher-kva.example"
    };
    const char   *invalid[] = {
        "",
        "jane",
        "jane@localhost",
        "jane@@example.com",
        "jane@doe@example.com",
        "jane doe@example.com",
        ".jane@example.com",
        "jane.@example.com",
        "jane..doe@example.com",
        "jane@-example.com",
        "jane@example-.com",
        "jane@example..com",
        "jane@example.com.",
        "jane@example.com\\n",
        "\\\"jane\\\"@example.com",
        "jane@[127.0.0.1]",
        "jan\\u00e9@example.com"
    };

    for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        body = test_printf("{\"requestId\": \"r\", \"campaignId\": \"c\","
                           " \"recipients\": [{\"type\": \"aep\","
                           " \"userId\": \"u\", \"namespace\": \"email\","
                           " \"channelData\": {\"emailAddress\": \"%s\"}}],"
                           " \"context\": {\"resetLink\": \"https://x\"}}",
                           valid[i]);
        assert_int_equal(test_validate_raw(c, body, &test_email), 0);
        assert_string_equal(c->t.recipients[0].address, valid[i]);
        free(body);
    }

    for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        body = test_printf("{\"requestId\": \"r\", \"campaignId\": \"c\","
                           " \"recipients\": [{\"type\": \"aep\","
                           " \"userId\": \"u\", \"namespace\": \"email\","
                           " \"channelData\": {\"emailAddress\": \"%s\"}}],"
                           " \"context\": {\"resetLink\": \"https://x\"}}",
                           invalid[i]);
        assert_int_equal(test_validate_raw(c, body, &test_email), -1);
        test_expect(c, 400, 1);
        test_expect_problem(c, "/recipients/0/channelData/emailAddress",
                            "must be an e-mail address");
        assert_null(c->t.recipients[0].address);
        free(body);
    }

    /* 254 characters at most */

    addr = malloc(300);
    assert_non_null(addr);
    memset(addr, 'a', 64);
    memcpy(addr + 64, "@", 1);

    for (i = 0; i < 3; i++) {
        memset(addr + 65 + 60 * i, 'b', 59);
        addr[65 + 60 * i + 59] = '.';
    }

    strcpy(addr + 245, "example.c");         /* 254 in all */
    assert_int_equal(strlen(addr), 254);

    body = test_printf("{\"requestId\": \"r\", \"campaignId\": \"c\","
                       " \"recipients\": [{\"type\": \"aep\","
                       " \"userId\": \"u\", \"namespace\": \"email\","
                       " \"channelData\": {\"emailAddress\": \"%s\"}}],"
                       " \"context\": {\"resetLink\": \"https://x\"}}", addr);
    assert_int_equal(test_validate_raw(c, body, &test_email), 0);
    free(body);

    strcpy(addr + 245, "example.co");        /* 255 */

    body = test_printf("{\"requestId\": \"r\", \"campaignId\": \"c\","
                       " \"recipients\": [{\"type\": \"aep\","
                       " \"userId\": \"u\", \"namespace\": \"email\","
                       " \"channelData\": {\"emailAddress\": \"%s\"}}],"
                       " \"context\": {\"resetLink\": \"https://x\"}}", addr);
    assert_int_equal(test_validate_raw(c, body, &test_email), -1);
    test_expect_problem(c, "/recipients/0/channelData/emailAddress",
                        "must be an e-mail address");
    free(body);
    free(addr);

    /* absent, with or without channelData */

    assert_int_equal(test_validate(c,
        "{'requestId': 'r', 'campaignId': 'c', 'recipients': ["
        " {'type': 'aep', 'userId': 'u', 'namespace': 'email'},"
        " {'type': 'aep', 'userId': 'v', 'namespace': 'email',"
        "  'channelData': {'mobilePhoneNumber': '+14155550100'}}],"
        " 'context': {'resetLink': 'https://x'}}", &test_email), -1);
    test_expect(c, 400, 2);
    test_expect_problem(c, "/recipients/0/channelData/emailAddress",
                        "is required");
    test_expect_problem(c, "/recipients/1/channelData/emailAddress",
                        "is required");
}


static void
test_phone_number(void **state)
{
    test_t      *c = *state;
    char        *body;
    size_t       i;
    const char  *valid[] = {
        "+14155550100", "+4930123456", "+12345678", "+123456789012345"
    };
    const char  *invalid[] = {
        "", "14155550100", "+04155550100", "+1234567", "+1234567890123456",
        "+1 415 555 0100", "+1-415-555-0100", "+14155550100\\n",
        "+1415555010a"
    };

    for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        body = test_printf("{\"requestId\": \"r\", \"campaignId\": \"c\","
                           " \"recipients\": [{\"type\": \"aep\","
                           " \"userId\": \"u\", \"namespace\": \"phone\","
                           " \"channelData\":"
                           " {\"mobilePhoneNumber\": \"%s\"}}]}", valid[i]);
        assert_int_equal(test_validate_raw(c, body, &test_sms), 0);
        assert_string_equal(c->t.recipients[0].address, valid[i]);
        free(body);
    }

    for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        body = test_printf("{\"requestId\": \"r\", \"campaignId\": \"c\","
                           " \"recipients\": [{\"type\": \"aep\","
                           " \"userId\": \"u\", \"namespace\": \"phone\","
                           " \"channelData\":"
                           " {\"mobilePhoneNumber\": \"%s\"}}]}",
                           invalid[i]);
        assert_int_equal(test_validate_raw(c, body, &test_sms), -1);
        test_expect(c, 400, 1);
        test_expect_problem(c, "/recipients/0/channelData/mobilePhoneNumber",
                            "must be an E.164 phone number, "
                            "such as +14155550100");
        free(body);
    }

    assert_int_equal(test_validate(c,
        "{'requestId': 'r', 'campaignId': 'c', 'recipients': ["
        " {'type': 'aep', 'userId': 'u', 'namespace': 'phone',"
        "  'channelData': {'emailAddress': 'jane@example.com'}}]}",
        &test_sms), -1);
    test_expect(c, 400, 1);
    test_expect_problem(c, "/recipients/0/channelData/mobilePhoneNumber",
                        "is required");
}


static void
test_push_info(void **state)
{
    test_t                    *c = *state;
    ngx_campaign_recipient_t  *r;

    assert_int_equal(test_validate(c,
        "{'requestId': 'r', 'campaignId': 'c', 'recipients': ["
        " {'type': 'aep', 'userId': 'u', 'namespace': 'ecid',"
        "  'channelData': {'pushInfo': {'appID': 'com.example.app',"
        "   'platform': 'apns', 'token': 'abc123'}}},"
        " {'type': 'aep', 'userId': 'v', 'namespace': 'ecid',"
        "  'channelData': {'pushInfo': {'platform': 'fcm',"
        "   'token': 'def456'}}}]}", &test_push), 0);

    r = c->t.recipients;
    assert_string_equal(r[0].address, "abc123");
    assert_string_equal(r[0].platform, "apns");
    assert_string_equal(r[0].app_id, "com.example.app");
    assert_string_equal(r[1].address, "def456");
    assert_string_equal(r[1].platform, "fcm");
    assert_null(r[1].app_id);

    assert_int_equal(test_validate(c,
        "{'requestId': 'r', 'campaignId': 'c', 'recipients': ["
        " {'type': 'aep', 'userId': 'u', 'namespace': 'ecid',"
        "  'channelData': {'pushInfo': {'appID': 'a', 'platform': 'apns'}}},"
        " {'type': 'aep', 'userId': 'v', 'namespace': 'ecid',"
        "  'channelData': {'pushInfo': {'token': ''}}},"
        " {'type': 'aep', 'userId': 'w', 'namespace': 'ecid'}]}",
        &test_push), -1);

    test_expect(c, 400, 5);
    test_expect_problem_at(c, 0, "/recipients/0/channelData/pushInfo/token",
                           "is required");
    test_expect_problem_at(c, 1, "/recipients/1/channelData/pushInfo/token",
                           "must not be empty");
    test_expect_problem_at(c, 2,
                           "/recipients/1/channelData/pushInfo/platform",
                           "is required");
    test_expect_problem_at(c, 3, "/recipients/2/channelData/pushInfo/token",
                           "is required");
    test_expect_problem_at(c, 4,
                           "/recipients/2/channelData/pushInfo/platform",
                           "is required");
}


static void
test_namespace(void **state)
{
    test_t  *c = *state;

    assert_int_equal(test_validate(c,
        "{'requestId': 'r', 'campaignId': 'c', 'recipients': ["
        " {'type': 'aep', 'userId': 'u', 'namespace': 'email',"
        "  'channelData': {'emailAddress': 'u@example.com'}},"
        " {'type': 'aep', 'userId': 'v', 'namespace': 'ecid',"
        "  'channelData': {'emailAddress': 'v@example.com'}}]}",
        &test_email_ns), -1);

    test_expect(c, 400, 1);
    test_expect_problem(c, "/recipients/1/namespace",
                        "must be \"email\" for this campaign");
}


/* the campaign's context schema, against each recipient's merged context */

static void
test_schema_required(void **state)
{
    test_t  *c = *state;

    assert_int_equal(test_validate(c,
        "{'requestId': 'r', 'campaignId': 'c', 'recipients': ["
        " {'type': 'aep', 'userId': 'u', 'namespace': 'email',"
        "  'channelData': {'emailAddress': 'u@example.com'}},"
        " {'type': 'aep', 'userId': 'v', 'namespace': 'email',"
        "  'channelData': {'emailAddress': 'v@example.com'},"
        "  'context': {'resetLink': 'https://example.com/v'}},"
        " {'type': 'aep', 'userId': 'w', 'namespace': 'email',"
        "  'channelData': {'emailAddress': 'w@example.com'},"
        "  'context': {'offerCode': 'W'}}]}",
        &test_email), -1);

    test_expect(c, 400, 2);
    test_expect_problem(c, "/recipients/0/context/resetLink", "is required");
    test_expect_problem(c, "/recipients/2/context/resetLink", "is required");

    /* present but null is present: a wrong type */

    assert_int_equal(test_validate(c,
        "{'requestId': 'r', 'campaignId': 'c', 'recipients': ["
        " {'type': 'aep', 'userId': 'u', 'namespace': 'email',"
        "  'channelData': {'emailAddress': 'u@example.com'},"
        "  'context': {'resetLink': null}}]}",
        &test_email), -1);
    test_expect(c, 400, 1);
    test_expect_problem(c, "/recipients/0/context/resetLink",
                        "must be a string, found null");
}


static void
test_schema_types(void **state)
{
    test_t  *c = *state;

    assert_int_equal(test_validate(c,
        "{'requestId': 'r', 'campaignId': 'c', 'recipients': ["
        " {'type': 'aep', 'userId': 'u', 'namespace': 'email',"
        "  'channelData': {'emailAddress': 'u@example.com'},"
        "  'context': {'resetLink': 5, 'offerCode': false, 'count': 1.5,"
        "   'amount': '9.5', 'vip': 'yes', 'items': {}, 'store': [],"
        "   'a/b~c': 1, 'anything': {'any': 'thing'}}}]}",
        &test_email), -1);

    test_expect(c, 400, 8);
    test_expect_problem(c, "/recipients/0/context/resetLink",
                        "must be a string, found number");
    test_expect_problem(c, "/recipients/0/context/offerCode",
                        "must be a string, found boolean");
    test_expect_problem(c, "/recipients/0/context/count",
                        "must be an integer, found number");
    test_expect_problem(c, "/recipients/0/context/amount",
                        "must be a number, found string");
    test_expect_problem(c, "/recipients/0/context/vip",
                        "must be a boolean, found string");
    test_expect_problem(c, "/recipients/0/context/items",
                        "must be an array, found object");
    test_expect_problem(c, "/recipients/0/context/store",
                        "must be an object, found array");
    test_expect_problem(c, "/recipients/0/context/a~1b~0c",
                        "must be a string, found number");

    /* integers: numbers with no fraction, however written */

    assert_int_equal(test_validate(c,
        "{'requestId': 'r', 'campaignId': 'c', 'recipients': ["
        " {'type': 'aep', 'userId': 'u', 'namespace': 'email',"
        "  'channelData': {'emailAddress': 'u@example.com'},"
        "  'context': {'count': 2.0}},"
        " {'type': 'aep', 'userId': 'v', 'namespace': 'email',"
        "  'channelData': {'emailAddress': 'v@example.com'},"
        "  'context': {'count': -3e2}},"
        " {'type': 'aep', 'userId': 'w', 'namespace': 'email',"
        "  'channelData': {'emailAddress': 'w@example.com'},"
        "  'context': {'count': 1e20, 'amount': 7, 'vip': false}}],"
        " 'context': {'resetLink': 'https://x'}}",
        &test_email), 0);
}


static void
test_schema_pattern_and_length(void **state)
{
    test_t  *c = *state;

    /* maxLength counts characters: five of two, three and four bytes */

    assert_int_equal(test_validate(c,
        "{'requestId': 'r', 'campaignId': 'c', 'recipients': ["
        " {'type': 'aep', 'userId': 'u', 'namespace': 'email',"
        "  'channelData': {'emailAddress': 'u@example.com'},"
        "  'context': {'offerCode': 'ééééé'}},"
        " {'type': 'aep', 'userId': 'v', 'namespace': 'email',"
        "  'channelData': {'emailAddress': 'v@example.com'},"
        "  'context': {'offerCode': '€€€€€'}},"
        " {'type': 'aep', 'userId': 'w', 'namespace': 'email',"
        "  'channelData': {'emailAddress': 'w@example.com'},"
        "  'context': {'offerCode': '\xf0\x9f\x98\x80\\ud83d\\ude00abc'}}],"
        " 'context': {'resetLink': 'https://x'}}",
        &test_email), 0);

    assert_int_equal(test_validate(c,
        "{'requestId': 'r', 'campaignId': 'c', 'recipients': ["
        " {'type': 'aep', 'userId': 'u', 'namespace': 'email',"
        "  'channelData': {'emailAddress': 'u@example.com'},"
        "  'context': {'offerCode': 'éééééé', 'anything': 'abcD'}}],"
        " 'context': {'resetLink': 'http://example.com/r'}}",
        &test_email), -1);

    test_expect(c, 400, 4);
    test_expect_problem_at(c, 0, "/context/resetLink",
                           "must match the pattern ^https://");
    test_expect_problem_at(c, 1, "/recipients/0/context/offerCode",
                           "must be at most 5 characters, found 6");

    /* both of a field's constraints are reported */

    test_expect_problem_at(c, 2, "/recipients/0/context/anything",
                           "must be at most 3 characters, found 4");
    test_expect_problem_at(c, 3, "/recipients/0/context/anything",
                           "must match the pattern ^[a-z]+$");
}


static void
test_schema_top_level_once(void **state)
{
    test_t  *c = *state;

    /*
     * Recipients 0 and 2 use the top-level count, recipient 1 its own:
     * the top-level problem is one problem, whoever uses it.
     */

    assert_int_equal(test_validate(c,
        "{'requestId': 'r', 'campaignId': 'c', 'recipients': ["
        " {'type': 'aep', 'userId': 'u', 'namespace': 'email',"
        "  'channelData': {'emailAddress': 'u@example.com'}},"
        " {'type': 'aep', 'userId': 'v', 'namespace': 'email',"
        "  'channelData': {'emailAddress': 'v@example.com'},"
        "  'context': {'count': 'two'}},"
        " {'type': 'aep', 'userId': 'w', 'namespace': 'email',"
        "  'channelData': {'emailAddress': 'w@example.com'}}],"
        " 'context': {'resetLink': 'https://x', 'count': 'one',"
        "  'a/b~c': false}}",
        &test_email), -1);

    test_expect(c, 400, 3);
    test_expect_problem_at(c, 0, "/context/count",
                           "must be an integer, found string");
    test_expect_problem_at(c, 1, "/context/a~1b~0c",
                           "must be a string, found boolean");
    test_expect_problem_at(c, 2, "/recipients/1/context/count",
                           "must be an integer, found string");
}


/* everything wrong is reported, in one answer, in request order */

static void
test_several_problems(void **state)
{
    test_t  *c = *state;

    assert_int_equal(test_parse(c,
        "{'requestId': '', 'recipients': ["
        " {'type': 'bot', 'userId': 'u1', 'namespace': 'email',"
        "  'channelData': []},"
        " {'type': 'aep', 'userId': 'u1', 'profile': 1}],"
        " 'context': 5}"), -1);

    test_expect(c, 400, 8);
    test_expect_problem_at(c, 0, "/requestId", "must not be empty");
    test_expect_problem_at(c, 1, "/campaignId", "is required");
    test_expect_problem_at(c, 2, "/recipients/0/type",
                           "must be \"aep\" or \"external\"");
    test_expect_problem_at(c, 3, "/recipients/0/channelData",
                           "must be an object, found array");
    test_expect_problem_at(c, 4, "/recipients/1/namespace", "is required");
    test_expect_problem_at(c, 5, "/recipients/1/profile",
                           "must be an object, found number");
    test_expect_problem_at(c, 6, "/recipients/1/userId",
                           "is a duplicate of /recipients/0/userId");
    test_expect_problem_at(c, 7, "/context",
                           "must be an object, found number");

    assert_int_equal(test_validate(c,
        "{'requestId': 'r', 'campaignId': 'c', 'recipients': ["
        " {'type': 'aep', 'userId': 'u', 'namespace': 'email',"
        "  'channelData': {'emailAddress': 'not an address'},"
        "  'context': {'vip': 1, 'resetLink': 'https://x'}},"
        " {'type': 'aep', 'userId': 'v', 'namespace': 'email',"
        "  'channelData': {'mobilePhoneNumber': '+14155550100'},"
        "  'context': {'offerCode': 'TOOLONG'}}],"
        " 'context': {'store': 'main'}}",
        &test_email), -1);

    test_expect(c, 400, 6);
    test_expect_problem_at(c, 0, "/recipients/0/channelData/emailAddress",
                           "must be an e-mail address");
    test_expect_problem_at(c, 1, "/recipients/0/context/vip",
                           "must be a boolean, found number");
    test_expect_problem_at(c, 2, "/context/store",
                           "must be an object, found string");
    test_expect_problem_at(c, 3, "/recipients/1/channelData/emailAddress",
                           "is required");
    test_expect_problem_at(c, 4, "/recipients/1/context/resetLink",
                           "is required");
    test_expect_problem_at(c, 5, "/recipients/1/context/offerCode",
                           "must be at most 5 characters, found 7");
}


/* the module adds its own problems the same way */

static void
test_problems_add(void **state)
{
    test_t  *c = *state;
    size_t   i;

    memset(&c->problems, 0, sizeof(ngx_campaign_problems_t));

    assert_int_equal(ngx_campaign_problems_add(&c->arena.alloc, &c->problems,
                                               "", "campaignId",
                                               "no campaign \"%s\"", "x"),
                     0);
    assert_int_equal(ngx_campaign_problems_add(&c->arena.alloc, &c->problems,
                                               "/recipients/0/context",
                                               "a/b~c", "is required"),
                     0);
    assert_int_equal(ngx_campaign_problems_add(&c->arena.alloc, &c->problems,
                                               "", NULL, "the body"),
                     0);

    test_expect_problem_at(c, 0, "/campaignId", "no campaign \"x\"");
    test_expect_problem_at(c, 1, "/recipients/0/context/a~1b~0c",
                           "is required");
    test_expect_problem_at(c, 2, "", "the body");

    /* the list grows as needed */

    for (i = 0; i < 100; i++) {
        assert_int_equal(ngx_campaign_problems_add(&c->arena.alloc,
                                                   &c->problems, "", "k",
                                                   "%zu", i),
                         0);
    }

    assert_int_equal(c->problems.nitems, 103);
    test_expect_problem_at(c, 102, "/k", "99");
}


/*
 * Identifiers: namespace and userId keep to alphabets that need no
 * escaping in a lookup path, a log line or a header.
 */

static void
test_identifier_alphabets(void **state)
{
    char        id[300];
    size_t      i;
    const char  *ns_chars, *user_chars;

    static const char  *namespaces[] = {
        "email", "phone", "ecid", "crmId", "email_lc_sha256", "Push-2", "_",
        "-"
    };

    static const char  *user_ids[] = {
        "jane.doe+tag@mail.example.com", "+14155550100", "u",
        "123e4567-e89b-12d3-a456-426614174000",
        "91288836254553297440219468331394870416",
        "dGhpcyBpcyBhbiBpZA-_", "dGhpcyBpcyBhbiBpZA==", "urn:crm:42",
        "~jane", "a.b.c", "trailing.", "email_lc_sha256"
    };

    /* one of each forbidden class, in the middle of a valid id */

    static const char  *forbidden[] = {
        "/", "%", "?", "#", ";", " ", "\"", "'", "\\", ",", "*", "&", "$",
        "!", "(", ")", "<", ">", "[", "]", "{", "}", "|", "^", "`",
        "\t", "\n", "\r", "\x01", "\x1f", "\x7f",
        "\xc3\xa9",                          /* non-ASCII: e acute */
        "\xe2\x80\x8b"                       /* a zero-width space */
    };

    ns_chars = "must contain only the characters A-Z a-z 0-9 _ -";
    user_chars = "must contain only the characters "
                 "A-Z a-z 0-9 @ . _ - + : = ~";

    (void) state;

    for (i = 0; i < sizeof(namespaces) / sizeof(namespaces[0]); i++) {
        assert_true(ngx_campaign_namespace_valid(namespaces[i]));
        assert_null(ngx_campaign_namespace_check(namespaces[i]));
    }

    for (i = 0; i < sizeof(user_ids) / sizeof(user_ids[0]); i++) {
        assert_true(ngx_campaign_user_id_valid(user_ids[i]));
        assert_null(ngx_campaign_user_id_check(user_ids[i]));
    }

    for (i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++) {
        snprintf(id, sizeof(id), "ab%scd", forbidden[i]);

        assert_false(ngx_campaign_namespace_valid(id));
        assert_string_equal(ngx_campaign_namespace_check(id), ns_chars);

        assert_false(ngx_campaign_user_id_valid(id));
        assert_string_equal(ngx_campaign_user_id_check(id), user_chars);

        /* at either end too */

        snprintf(id, sizeof(id), "%sab", forbidden[i]);
        assert_false(ngx_campaign_user_id_valid(id));
        snprintf(id, sizeof(id), "ab%s", forbidden[i]);
        assert_false(ngx_campaign_user_id_valid(id));
        assert_false(ngx_campaign_namespace_valid(id));
    }

    /* what userIds may hold and namespaces may not */

    assert_string_equal(ngx_campaign_namespace_check("a.b"), ns_chars);
    assert_string_equal(ngx_campaign_namespace_check("a@b"), ns_chars);
    assert_string_equal(ngx_campaign_namespace_check("a+b"), ns_chars);
    assert_string_equal(ngx_campaign_namespace_check("a:b"), ns_chars);
    assert_string_equal(ngx_campaign_namespace_check("a=b"), ns_chars);
    assert_string_equal(ngx_campaign_namespace_check("a~b"), ns_chars);
    assert_string_equal(ngx_campaign_namespace_check("../secret"), ns_chars);

    /* nothing a path could take for "." or ".." */

    assert_string_equal(ngx_campaign_user_id_check("."),
                        "must not start with \".\"");
    assert_string_equal(ngx_campaign_user_id_check(".."),
                        "must not start with \".\"");
    assert_string_equal(ngx_campaign_user_id_check(".jane"),
                        "must not start with \".\"");
    assert_string_equal(ngx_campaign_user_id_check("jane..doe"),
                        "must not contain \"..\"");
    assert_string_equal(ngx_campaign_user_id_check("jane.."),
                        "must not contain \"..\"");
    assert_string_equal(ngx_campaign_user_id_check("../../etc/passwd"),
                        user_chars);

    assert_string_equal(ngx_campaign_namespace_check(""),
                        "must not be empty");
    assert_string_equal(ngx_campaign_user_id_check(""), "must not be empty");

    /* lengths: 64 and 255 characters at most */

    memset(id, 'n', 64);
    id[64] = '\0';
    assert_true(ngx_campaign_namespace_valid(id));
    id[64] = 'n';
    id[65] = '\0';
    assert_string_equal(ngx_campaign_namespace_check(id),
                        "must be at most 64 characters");

    memset(id, 'u', 255);
    id[255] = '\0';
    assert_true(ngx_campaign_user_id_valid(id));
    id[255] = 'u';
    id[256] = '\0';
    assert_string_equal(ngx_campaign_user_id_check(id),
                        "must be at most 255 characters");
}


static void
test_identifiers_in_requests(void **state)
{
    test_t  *c = *state;
    char    *body;

    assert_int_equal(test_parse(c,
        "{'requestId': 'r', 'campaignId': 'c', 'recipients': ["
        " {'type': 'aep', 'userId': 'jane.doe+x@example.com',"
        "  'namespace': 'email_lc_sha256'},"
        " {'type': 'aep', 'userId': '+14155550100', 'namespace': 'phone'},"
        " {'type': 'aep', 'userId': 'urn:x=1~2', 'namespace': 'crmId'}]}"),
        0);
    assert_string_equal(c->t.recipients[2].user_id, "urn:x=1~2");
    assert_string_equal(c->t.recipients[0].namespace, "email_lc_sha256");

    /* a namespace that would read another directory */

    assert_int_equal(test_parse(c,
        "{'requestId': 'r', 'campaignId': 'c', 'recipients': ["
        " {'type': 'aep', 'userId': 'u', 'namespace': '../secret'},"
        " {'type': 'aep', 'userId': '../../etc/passwd', 'namespace': 'e'},"
        " {'type': 'aep', 'userId': '..', 'namespace': 'e'},"
        " {'type': 'aep', 'userId': 'a..b', 'namespace': 'e'},"
        " {'type': 'aep', 'userId': 'a%2F..%2Fb', 'namespace': 'e%00'},"
        " {'type': 'aep', 'userId': 'a b', 'namespace': 'e\\u00e9'},"
        " {'type': 'aep', 'userId': 'a\\\\b', 'namespace': 'e\\\"'}]}"),
        -1);

    test_expect(c, 400, 10);
    test_expect_problem_at(c, 0, "/recipients/0/namespace",
                           "must contain only the characters "
                           "A-Z a-z 0-9 _ -");
    test_expect_problem_at(c, 1, "/recipients/1/userId",
                           "must contain only the characters "
                           "A-Z a-z 0-9 @ . _ - + : = ~");
    test_expect_problem_at(c, 2, "/recipients/2/userId",
                           "must not start with \".\"");
    test_expect_problem_at(c, 3, "/recipients/3/userId",
                           "must not contain \"..\"");
    test_expect_problem(c, "/recipients/4/userId",
                        "must contain only the characters "
                        "A-Z a-z 0-9 @ . _ - + : = ~");
    test_expect_problem(c, "/recipients/4/namespace",
                        "must contain only the characters A-Z a-z 0-9 _ -");
    test_expect_problem(c, "/recipients/5/userId",
                        "must contain only the characters "
                        "A-Z a-z 0-9 @ . _ - + : = ~");
    test_expect_problem(c, "/recipients/5/namespace",
                        "must contain only the characters A-Z a-z 0-9 _ -");
    test_expect_problem(c, "/recipients/6/userId",
                        "must contain only the characters "
                        "A-Z a-z 0-9 @ . _ - + : = ~");
    test_expect_problem(c, "/recipients/6/namespace",
                        "must contain only the characters A-Z a-z 0-9 _ -");

    /* the lengths, through a request */

    body = test_printf("{\"requestId\": \"r\", \"campaignId\": \"c\","
                       " \"recipients\": [{\"type\": \"aep\","
                       " \"userId\": \"%0256d\", \"namespace\": \"%065d\"}]}",
                       0, 0);
    assert_int_equal(test_parse_raw(c, body, strlen(body), NULL), -1);
    test_expect(c, 400, 2);
    test_expect_problem_at(c, 0, "/recipients/0/userId",
                           "must be at most 255 characters");
    test_expect_problem_at(c, 1, "/recipients/0/namespace",
                           "must be at most 64 characters");
    free(body);
}


/*
 * Duplicate member names (I-JSON): anywhere in a body, a preview or a
 * profile, one problem per name, at its second occurrence.
 */

static void
test_duplicate_members(void **state)
{
    test_t  *c = *state;

    assert_int_equal(test_parse(c,
        "{'requestId': 'r', 'campaignId': 'c', 'requestId': 'r2',"
        " 'recipients': [{'type': 'aep', 'userId': 'u', 'namespace': 'e'}]}"),
        -1);
    test_expect(c, 400, 1);
    test_expect_problem(c, "/requestId",
                        "duplicate member name \"requestId\"");

    /* nested in objects and arrays, in document order */

    assert_int_equal(test_parse(c,
        "{'requestId': 'r', 'campaignId': 'c', 'recipients': ["
        " {'type': 'aep', 'userId': 'u', 'namespace': 'e',"
        "  'profile': {'person': {'name': 'A', 'age': 1, 'name': 'B'}},"
        "  'context': {'x': 1, 'y': 2, 'x': 3, 'x': 4, 'y': 5}}],"
        " 'context': {'items': [1, {'k': 1}, {'k': 2, 'j': 0, 'k': 3}],"
        "             'same': {'k': 1}, 'other': {'k': 1}}}"), -1);
    test_expect(c, 400, 4);
    test_expect_problem_at(c, 0, "/recipients/0/profile/person/name",
                           "duplicate member name \"name\"");
    test_expect_problem_at(c, 1, "/recipients/0/context/x",
                           "duplicate member name \"x\"");
    test_expect_problem_at(c, 2, "/recipients/0/context/y",
                           "duplicate member name \"y\"");
    test_expect_problem_at(c, 3, "/context/items/2/k",
                           "duplicate member name \"k\"");

    /* names are compared decoded; pointers are escaped per RFC 6901 */

    assert_int_equal(test_parse(c,
        "{'context': {'a/b~c': {'\\u0061': 1, 'a': 2},"
        " 'a/b~c': 0, '': 1, '': 2, 'A': 1, 'a': 1, 'aa': 1}}"), -1);
    test_expect(c, 400, 3);
    test_expect_problem_at(c, 0, "/context/a~1b~0c/a",
                           "duplicate member name \"a\"");
    test_expect_problem_at(c, 1, "/context/a~1b~0c",
                           "duplicate member name \"a/b~c\"");
    test_expect_problem_at(c, 2, "/context/", "duplicate member name \"\"");

    /* a duplicate makes the document ambiguous: its shape is not checked */

    assert_int_equal(test_parse(c, "{'x': 1, 'x': 1}"), -1);
    test_expect(c, 400, 1);
    test_expect_problem(c, "/x", "duplicate member name \"x\"");
}


/* objects larger than the pairwise limit are sorted */

static void
test_duplicate_members_many(void **state)
{
    test_t  *c = *state;
    char    *body, *p, pointer[32];
    cJSON   *object;
    size_t   i;

    body = malloc(64 * 1024);
    assert_non_null(body);

    p = body + sprintf(body, "{\"id\": 1, \"traits\": {");

    for (i = 0; i < 3000; i++) {
        p += sprintf(p, "\"k%zu\": %zu, ", i, i);
    }

    /* later: k2999 again, k7 three times, and the first key again */

    strcpy(p, "\"k2999\": 0, \"k7\": 0, \"k7\": 0, \"k0\": 0}}");

    assert_int_equal(ngx_campaign_trigger_parse_object(&c->arena.alloc,
                         (const u_char *) body, strlen(body), &object,
                         &c->problems), -1);
    assert_null(object);
    test_expect(c, 400, 3);
    test_expect_problem_at(c, 0, "/traits/k2999",
                           "duplicate member name \"k2999\"");
    test_expect_problem_at(c, 1, "/traits/k7",
                           "duplicate member name \"k7\"");
    test_expect_problem_at(c, 2, "/traits/k0",
                           "duplicate member name \"k0\"");

    /* without them, the profile is an object */

    strcpy(p, "\"last\": 0}}");

    assert_int_equal(ngx_campaign_trigger_parse_object(&c->arena.alloc,
                         (const u_char *) body, strlen(body), &object,
                         &c->problems), 0);
    assert_int_equal(cJSON_GetArraySize(
                         cJSON_GetObjectItemCaseSensitive(object, "traits")),
                     3001);

    /* at most NGX_CAMPAIGN_MAX_DUPLICATES are reported */

    p = body + sprintf(body, "{\"context\": {");

    for (i = 0; i < 40; i++) {
        p += sprintf(p, "\"d%02zu\": 0, \"d%02zu\": 1, ", i, i);
    }

    strcpy(p, "\"end\": 0}}");

    assert_int_equal(test_parse_raw(c, body, strlen(body), NULL), -1);
    test_expect(c, 400, NGX_CAMPAIGN_MAX_DUPLICATES);

    for (i = 0; i < NGX_CAMPAIGN_MAX_DUPLICATES; i++) {
        snprintf(pointer, sizeof(pointer), "/context/d%02zu", i);
        assert_string_equal(c->problems.items[i].pointer, pointer);
    }

    free(body);
}


static void
test_duplicate_members_preview_and_profile(void **state)
{
    test_t  *c = *state;
    cJSON   *object;

    assert_int_equal(test_parse_object(c,
        "{'person': {'name': {'firstName': 'Ada', 'firstName': 'Bob'}}}",
        &object), -1);
    assert_null(object);
    test_expect(c, 400, 1);
    test_expect_problem(c, "/person/name/firstName",
                        "duplicate member name \"firstName\"");

    assert_int_equal(test_parse_object(c,
        "{'person': {'name': {'firstName': 'Ada'}}, 'tags': ['a', 'a']}",
        &object), 0);
    assert_true(cJSON_IsObject(object));

    /* a profile is an object; like a body, nothing may follow it */

    assert_int_equal(test_parse_object(c, "[{'a': 1}]", &object), -1);
    test_expect_problem(c, "", "must be an object, found array");

    assert_int_equal(test_parse_object(c, "{} {}", &object), -1);
    test_expect_problem(c, "", "malformed JSON at line 1, column 4");

    /* a preview */

    assert_int_equal(ngx_campaign_trigger_parse_preview(&c->arena.alloc,
                         (const u_char *) "{\"context\": {}, \"context\": {}}",
                         30, &object, &c->problems), -1);
    assert_null(object);
    test_expect(c, 400, 1);
    test_expect_problem(c, "/context", "duplicate member name \"context\"");
}


/*
 * cJSON's allocations: the trees of a request are in its pool, and
 * cJSON_Delete() is right for any tree, pooled, malloc'd or mixed.
 */

static void
test_cjson_allocations(void **state)
{
    test_t  *c = *state;
    cJSON   *node, *copy, *holder, *profile, *item;
    size_t   live;

    assert_true(ngx_campaign_json_hooked());

    assert_int_equal(test_parse(c, test_valid), 0);
    assert_int_equal(ngx_campaign_json_live(), 0);

    /* deleting part of a pooled tree frees nothing, and breaks nothing */

    cJSON_Delete(cJSON_DetachItemFromObjectCaseSensitive(c->t.root,
                                                   "unknownTopLevelKey"));
    assert_int_equal(ngx_campaign_json_live(), 0);
    assert_null(cJSON_GetObjectItemCaseSensitive(c->t.root,
                                                 "unknownTopLevelKey"));

    /* outside the engine cJSON mallocs, as without hooks */

    node = cJSON_CreateObject();
    assert_non_null(node);
    assert_int_equal(ngx_campaign_json_live(), 1);
    assert_non_null(cJSON_AddStringToObject(node, "firstName", "Looked-up"));
    assert_int_equal(ngx_campaign_json_live(), 4);

    /*
     * Put into a pooled tree, as the module puts a looked-up profile into
     * a recipient's data: the pooled node it replaces is not freed, the
     * malloc'd ones are freed with the pool.
     */

    profile = cJSON_GetObjectItemCaseSensitive(c->t.recipients[0].data,
                                               "profile");
    assert_non_null(profile);
    assert_true(cJSON_ReplaceItemInObjectCaseSensitive(
                    c->t.recipients[0].data, "profile", node));
    live = ngx_campaign_json_live();
    assert_true(live > 4);                    /* and the key's copy */

    item = cJSON_GetObjectItemCaseSensitive(
               cJSON_GetObjectItemCaseSensitive(c->t.recipients[0].data,
                                                "profile"),
               "firstName");
    assert_string_equal(item->valuestring, "Looked-up");

    /* a copy of a pooled tree is malloc'd, and freed as such */

    copy = cJSON_Duplicate(c->t.root, 1);
    assert_non_null(copy);
    assert_true(ngx_campaign_json_live() > live);
    assert_true(cJSON_Compare(copy, c->t.root, 1));
    cJSON_Delete(copy);
    assert_int_equal(ngx_campaign_json_live(), live);

    /* a malloc'd tree holding a pooled node, deleted before the pool */

    holder = cJSON_CreateArray();
    assert_non_null(holder);
    item = cJSON_DetachItemFromObjectCaseSensitive(c->t.root, "context");
    assert_non_null(item);
    cJSON_AddItemToArray(holder, item);
    cJSON_Delete(holder);
    assert_int_equal(ngx_campaign_json_live(), live);

    /* the pool takes the malloc'd nodes with it */

    ngx_campaign_arena_destroy(&c->arena);
    assert_int_equal(ngx_campaign_json_live(), 0);

    /* what cJSON prints outside the engine is malloc'd */

    assert_int_equal(test_parse(c, "{'requestId': 'r'}"), -1);
    node = cJSON_Parse("{\"a\": [1, \"x\"]}");
    assert_non_null(node);
    copy = (cJSON *) cJSON_PrintUnformatted(node);
    assert_string_equal((char *) copy, "{\"a\":[1,\"x\"]}");
    cJSON_free(copy);
    cJSON_Delete(node);
    assert_int_equal(ngx_campaign_json_live(), 0);
}


/* out of memory at every allocation in turn: -2, and nothing leaks */

static void
test_out_of_memory(void **state)
{
    test_t  *c = *state;
    int      rc;
    cJSON   *object;
    size_t   fail_at;

    for (fail_at = 1; /* void */; fail_at++) {
        ngx_campaign_arena_destroy(&c->arena);
        assert_int_equal(ngx_campaign_json_live(), 0);

        c->arena.fail_at = fail_at;

        rc = test_parse(c, test_valid);

        if (rc == 0) {
            rc = ngx_campaign_trigger_validate(&c->arena.alloc, &c->t,
                                               &test_email, &c->problems);
        }

        if (rc == 0) {
            break;
        }

        assert_int_equal(rc, -2);
    }

    /* the tree's cleanup, recipients, two data cleanups, schema flags */
    assert_true(fail_at > 5);

    /* and out of memory while reporting problems */

    for (fail_at = 1; /* void */; fail_at++) {
        ngx_campaign_arena_destroy(&c->arena);
        c->arena.fail_at = fail_at;

        rc = test_parse(c, "{'recipients': [{}]}");

        if (rc == -1) {
            break;
        }

        assert_int_equal(rc, -2);
    }

    test_expect(c, 400, 5);

    /* in cJSON's own allocations, and while sorting a large object */

    for (fail_at = 1; /* void */; fail_at++) {
        ngx_campaign_arena_destroy(&c->arena);
        c->arena.fail_at = fail_at;

        rc = test_parse_object(c,
            "{'p': {'k0': 0, 'k1': 0, 'k2': 0, 'k3': 0, 'k4': 0, 'k5': 0,"
            " 'k6': 0, 'k7': 0, 'k8': 0, 'k9': 0, 'k10': 0, 'k11': 0,"
            " 'k12': 0, 'k13': 0, 'k14': 0, 'k15': 0, 'k16': 0, 'k3': 1}}",
            &object);

        if (rc == -1) {
            break;
        }

        assert_int_equal(rc, -2);
        assert_null(object);
        assert_int_equal(ngx_campaign_json_live(), 0);
    }

    assert_true(fail_at > 40);
    test_expect(c, 400, 1);
    test_expect_problem(c, "/p/k3", "duplicate member name \"k3\"");
}


static int
test_setup(void **state)
{
    test_t  *c;

    c = calloc(1, sizeof(test_t));
    if (c == NULL) {
        return -1;
    }

    /* a chunk size of 0: every allocation on its own, for valgrind */
    ngx_campaign_arena_init(&c->arena, 0);

    *state = c;

    return 0;
}


static int
test_teardown(void **state)
{
    test_t  *c = *state;

    ngx_campaign_arena_destroy(&c->arena);
    free(c);

    /* every cJSON block malloc'd by a test was freed, with the arena */

    if (ngx_campaign_json_live() != 0) {
        print_error("%zu cJSON allocations outlived the arena\n",
                    ngx_campaign_json_live());
        return -1;
    }

    return 0;
}


static int
test_parse(test_t *c, const char *src)
{
    int     rc;
    char   *body, *p;
    size_t  len;

    /* a private copy, so that valgrind sees any read past the end */

    len = strlen(src);
    body = malloc(len ? len : 1);
    assert_non_null(body);

    memcpy(body, src, len);

    for (p = body; p < body + len; p++) {
        if (*p == '\'') {
            *p = '"';
        }
    }

    rc = test_parse_raw(c, body, len, NULL);
    free(body);

    return rc;
}


static int
test_parse_raw(test_t *c, const char *body, size_t len,
    const ngx_campaign_trigger_limits_t *limits)
{
    return ngx_campaign_trigger_parse(&c->arena.alloc, (const u_char *) body,
                                      len, limits, &c->t, &c->problems);
}


/* a profile, written with single quotes as the bodies are */

static int
test_parse_object(test_t *c, const char *src, cJSON **object)
{
    int     rc;
    char   *body, *p;
    size_t  len;

    len = strlen(src);
    body = malloc(len ? len : 1);
    assert_non_null(body);

    memcpy(body, src, len);

    for (p = body; p < body + len; p++) {
        if (*p == '\'') {
            *p = '"';
        }
    }

    rc = ngx_campaign_trigger_parse_object(&c->arena.alloc,
                                           (const u_char *) body, len,
                                           object, &c->problems);
    free(body);

    return rc;
}


static int
test_validate(test_t *c, const char *src, const ngx_campaign_t *campaign)
{
    int  rc;

    rc = test_parse(c, src);
    if (rc != 0) {
        test_print_problems(c);
        fail_msg("the request does not parse");
    }

    return ngx_campaign_trigger_validate(&c->arena.alloc, &c->t, campaign,
                                         &c->problems);
}


/* for bodies built with test_printf(): no quote turned */

static int
test_validate_raw(test_t *c, const char *body,
    const ngx_campaign_t *campaign)
{
    int  rc;

    rc = test_parse_raw(c, body, strlen(body), NULL);
    if (rc != 0) {
        test_print_problems(c);
        fail_msg("the request does not parse");
    }

    return ngx_campaign_trigger_validate(&c->arena.alloc, &c->t, campaign,
                                         &c->problems);
}


static void
test_expect(test_t *c, int status, size_t n)
{
    if (c->problems.status != status || c->problems.nitems != n) {
        test_print_problems(c);
        fail_msg("expected status %d with %zu problems, got %d with %zu",
                 status, n, c->problems.status, c->problems.nitems);
    }
}


static void
test_expect_problem(test_t *c, const char *pointer, const char *message)
{
    size_t  i;

    for (i = 0; i < c->problems.nitems; i++) {
        if (strcmp(c->problems.items[i].pointer, pointer) == 0
            && strcmp(c->problems.items[i].message, message) == 0)
        {
            return;
        }
    }

    test_print_problems(c);
    fail_msg("no problem \"%s\": \"%s\"", pointer, message);
}


static void
test_expect_problem_at(test_t *c, size_t i, const char *pointer,
    const char *message)
{
    if (i >= c->problems.nitems
        || strcmp(c->problems.items[i].pointer, pointer) != 0
        || strcmp(c->problems.items[i].message, message) != 0)
    {
        test_print_problems(c);
        fail_msg("problem %zu is not \"%s\": \"%s\"", i, pointer, message);
    }
}


static void
test_print_problems(test_t *c)
{
    size_t  i;

    print_message("status %d, %zu problems\n", c->problems.status,
                  c->problems.nitems);

    for (i = 0; i < c->problems.nitems; i++) {
        print_message("  \"%s\": %s\n", c->problems.items[i].pointer,
                      c->problems.items[i].message);
    }
}


/* a valid request around recipients and a top-level context */

static char *
test_request(const char *recipients, const char *context)
{
    return test_printf("{\"requestId\": \"r\", \"campaignId\": \"c\","
                       " \"recipients\": [%s]%s%s}", recipients,
                       context ? ", \"context\": " : "",
                       context ? context : "");
}


static char *
test_printf(const char *fmt, ...)
{
    int       n;
    char     *s;
    va_list   args;

    va_start(args, fmt);
    n = vsnprintf(NULL, 0, fmt, args);
    va_end(args);

    assert_true(n >= 0);

    s = malloc((size_t) n + 1);
    assert_non_null(s);

    va_start(args, fmt);
    vsnprintf(s, (size_t) n + 1, fmt, args);
    va_end(args);

    return s;
}


static int
test_group_setup(void **state)
{
    int                    err;
    size_t                 i;
    PCRE2_SIZE             off;
    ngx_campaign_field_t  *f;

    (void) state;

    /* before any cJSON allocation, as the module and the tool do */

    if (ngx_campaign_trigger_init() != 0) {
        return -1;
    }

    /* as the definition loader compiles a field's pattern */

    for (i = 0; i < TEST_NFIELDS; i++) {
        f = &test_email_fields[i];

        if (f->pattern_src == NULL) {
            continue;
        }

        f->pattern = pcre2_compile((PCRE2_SPTR) f->pattern_src,
                                   PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_DOLLAR_ENDONLY,
                                   &err, &off, NULL);
        if (f->pattern == NULL) {
            return -1;
        }

        (void) pcre2_jit_compile(f->pattern, PCRE2_JIT_COMPLETE);

        f->match_data = pcre2_match_data_create_from_pattern(f->pattern,
                                                             NULL);
        if (f->match_data == NULL) {
            return -1;
        }
    }

    return 0;
}


static int
test_group_teardown(void **state)
{
    size_t                 i;
    ngx_campaign_field_t  *f;

    (void) state;

    for (i = 0; i < TEST_NFIELDS; i++) {
        f = &test_email_fields[i];

        pcre2_match_data_free(f->match_data);
        pcre2_code_free(f->pattern);
    }

    return 0;
}


#define test(f)  cmocka_unit_test_setup_teardown(f, test_setup, test_teardown)


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        test(test_valid_request),
        test(test_optional_members_may_be_null),
        test(test_malformed_json),
        test(test_preview_body),
        test(test_control_characters_and_nul),
        test(test_invalid_utf8),
        test(test_depth),
        test(test_wrong_types),
        test(test_missing_fields),
        test(test_recipient_count),
        test(test_duplicate_user_ids),
        test(test_context_size),
        test(test_merge_many_keys),
        test(test_email_address),
        test(test_phone_number),
        test(test_push_info),
        test(test_namespace),
        test(test_schema_required),
        test(test_schema_types),
        test(test_schema_pattern_and_length),
        test(test_schema_top_level_once),
        test(test_several_problems),
        test(test_problems_add),
        test(test_identifier_alphabets),
        test(test_identifiers_in_requests),
        test(test_duplicate_members),
        test(test_duplicate_members_many),
        test(test_duplicate_members_preview_and_profile),
        test(test_cjson_allocations),
        test(test_out_of_memory)
    };

    return cmocka_run_group_tests(tests, test_group_setup,
                                  test_group_teardown);
}
