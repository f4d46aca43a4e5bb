
/*
 * Copyright (C) ngx_campaign developers
 */


/*
 * Campaign definitions: what a valid file of each channel turns into, and
 * how every kind of mistake is reported (field path, line and column),
 * all of them at once.  The JSON below is written with single quotes for
 * readability; json() turns them into double quotes.
 */


#include <sys/types.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ngx_campaign_definition.h"
#include "ngx_campaign_arena.h"


typedef struct {
    char                   file[256];
    char                   field[256];     /* "" for the file as a whole */
    size_t                 line;
    size_t                 column;
    char                   message[512];
} problem_t;


static ngx_campaign_arena_t  arena;
static problem_t             problems[64];
static size_t                nproblems;
static char                  text[8192];
static char                  tmpdir[64];


static void
collect(void *data, const char *file, const char *field, size_t line,
    size_t column, const char *message)
{
    problem_t  *p;

    (void) data;

    assert_true(nproblems < sizeof(problems) / sizeof(problems[0]));

    p = &problems[nproblems++];

    snprintf(p->file, sizeof(p->file), "%s", file ? file : "");
    snprintf(p->field, sizeof(p->field), "%s", field ? field : "");
    snprintf(p->message, sizeof(p->message), "%s", message);
    p->line = line;
    p->column = column;
}


static void
print_problems(void)
{
    size_t  i;

    for (i = 0; i < nproblems; i++) {
        print_message("  %s: %s: %zu:%zu: %s\n", problems[i].file,
                      problems[i].field, problems[i].line,
                      problems[i].column, problems[i].message);
    }
}


/* the problem reported for field whose message contains what */

static const problem_t *
problem(const char *field, const char *what)
{
    size_t  i;

    for (i = 0; i < nproblems; i++) {
        if (strcmp(problems[i].field, field) == 0
            && strstr(problems[i].message, what) != NULL)
        {
            return &problems[i];
        }
    }

    print_message("no problem \"%s\" at \"%s\" among:\n", what, field);
    print_problems();
    fail();

    return NULL;
}


static const char *
json(const char *s)
{
    size_t  i;

    assert_true(strlen(s) < sizeof(text));

    for (i = 0; s[i]; i++) {
        text[i] = (s[i] == '\'') ? '"' : s[i];
    }

    text[i] = '\0';

    return text;
}


static ngx_campaign_t *
parse(const char *s)
{
    const char  *t;

    t = json(s);

    return ngx_campaign_definition_parse(&arena.alloc, "test.json",
                                         (const u_char *) t, strlen(t),
                                         collect, NULL);
}


/* a campaign that must parse: any problem fails the test */

static ngx_campaign_t *
parse_valid(const char *s)
{
    ngx_campaign_t  *c;

    c = parse(s);

    if (c == NULL || nproblems) {
        print_problems();
        fail();
    }

    return c;
}


/* a campaign that must be refused */

static void
parse_invalid(const char *s)
{
    assert_null(parse(s));
    assert_true(nproblems > 0);
}


static const char *
render(const ngx_campaign_content_t *entry, const char *data)
{
    cJSON   *root;
    size_t   len;
    u_char  *out;

    root = cJSON_Parse(json(data));
    assert_non_null(root);

    assert_int_equal(ngx_campaign_template_render(entry->tpl, root,
                                                  &arena.alloc, &out, &len),
                     0);
    cJSON_Delete(root);

    return (const char *) out;
}


static void
assert_content(const ngx_campaign_content_t *entry, const char *key,
    const char *group)
{
    assert_string_equal(entry->key, key);

    if (group == NULL) {
        assert_null(entry->group);

    } else {
        assert_non_null(entry->group);
        assert_string_equal(entry->group, group);
    }

    assert_non_null(entry->tpl);
}


static int
setup(void **state)
{
    (void) state;

    ngx_campaign_arena_init(&arena, NGX_CAMPAIGN_ARENA_CHUNK_SIZE);
    nproblems = 0;

    return 0;
}


static int
teardown(void **state)
{
    (void) state;

    ngx_campaign_arena_destroy(&arena);

    return 0;
}


/* valid campaigns */


static const char  email_campaign[] =
    "{\n"
    "  '$schema': 'https://example.com/campaign.schema.json',\n"
    "  '_comment': 'keys starting with _ or $ are comments',\n"
    "  'id': 'password-reset',\n"
    "  'name': 'Password reset',\n"
    "  'description': 'Sent when a user asks for a new password',\n"
    "  'type': 'transactional',\n"
    "  'status': 'live',\n"
    "  'channel': 'email',\n"
    "  'namespace': 'email',\n"
    "  'schedule': {\n"
    "    'start': '2026-01-01T00:00:00Z',\n"
    "    'end': '2027-01-01T00:00:00Z'\n"
    "  },\n"
    "  'throttle': 100,\n"
    "  'context': {\n"
    "    'resetLink': {\n"
    "      'type': 'string', 'required': true,\n"
    "      'pattern': '^https://\\\\S+$', 'maxLength': 2048,\n"
    "      '_note': 'comments are allowed in a rule too'\n"
    "    },\n"
    "    'minutes': { 'type': 'integer' },\n"
    "    'extra': {}\n"
    "  },\n"
    "  'content': {\n"
    "    'text': 'Reset: {{context.resetLink}}',\n"
    "    'html': '<p>Hello {{profile.name}}</p>',\n"
    "    'subject': 'Reset your password',\n"
    "    'replyTo': 'support@example.com',\n"
    "    'from': 'Example <no-reply@example.com>',\n"
    "    '_todo': 'comments are allowed in content'\n"
    "  }\n"
    "}\n";


static void
test_email_campaign(void **state)
{
    int                    rc;
    ngx_campaign_t        *c;
    ngx_campaign_field_t  *f;

    (void) state;

    c = parse_valid(email_campaign);

    assert_string_equal(c->id, "password-reset");
    assert_string_equal(c->name, "Password reset");
    assert_string_equal(c->description,
                        "Sent when a user asks for a new password");
    assert_string_equal(c->file, "test.json");
    assert_string_equal(c->namespace, "email");
    assert_int_equal(c->type, NGX_CAMPAIGN_TRANSACTIONAL);
    assert_int_equal(c->status, NGX_CAMPAIGN_LIVE);
    assert_int_equal(c->channel, NGX_CAMPAIGN_CHANNEL_EMAIL);
    assert_int_equal(c->start, 1767225600);
    assert_int_equal(c->end, 1798761600);

    /* AJO's shorthand: the rate, and a burst of one second of it */

    assert_true(c->has_throttle);
    assert_int_equal(c->rate, 100);
    assert_int_equal(c->burst, 100);
    assert_false(c->cap_opt_out);

    /* the context schema, in file order */

    assert_int_equal(c->nfields, 3);

    f = &c->fields[0];
    assert_string_equal(f->name, "resetLink");
    assert_int_equal(f->type, NGX_CAMPAIGN_FIELD_STRING);
    assert_true(f->required);
    assert_int_equal(f->max_length, 2048);
    assert_string_equal(f->pattern_src, "^https://\\S+$");
    assert_non_null(f->pattern);
    assert_non_null(f->match_data);

    rc = pcre2_match(f->pattern, (PCRE2_SPTR) "https://example.com/r?t=1",
                     PCRE2_ZERO_TERMINATED, 0, 0, f->match_data, NULL);
    assert_true(rc > 0);

    rc = pcre2_match(f->pattern, (PCRE2_SPTR) "http://example.com/",
                     PCRE2_ZERO_TERMINATED, 0, 0, f->match_data, NULL);
    assert_int_equal(rc, PCRE2_ERROR_NOMATCH);

#ifdef PCRE2_MATCH_INVALID_UTF
    /* a subject that is not UTF-8 does not match, it is no error */

    rc = pcre2_match(f->pattern, (PCRE2_SPTR) "https://\xff\xfe",
                     PCRE2_ZERO_TERMINATED, 0, 0, f->match_data, NULL);
    assert_int_equal(rc, PCRE2_ERROR_NOMATCH);
#endif

    f = &c->fields[1];
    assert_string_equal(f->name, "minutes");
    assert_int_equal(f->type, NGX_CAMPAIGN_FIELD_INTEGER);
    assert_false(f->required);
    assert_int_equal(f->max_length, 0);
    assert_null(f->pattern_src);
    assert_null(f->pattern);

    f = &c->fields[2];
    assert_string_equal(f->name, "extra");
    assert_int_equal(f->type, NGX_CAMPAIGN_FIELD_ANY);
    assert_false(f->required);

    /* content in payload order, whatever the order in the file */

    assert_int_equal(c->ncontent, 5);
    assert_content(&c->content[0], "from", NULL);
    assert_content(&c->content[1], "replyTo", NULL);
    assert_content(&c->content[2], "subject", NULL);
    assert_content(&c->content[3], "html", NULL);
    assert_content(&c->content[4], "text", NULL);

    /* "html" is HTML-escaped, the rest is not */

    assert_string_equal(render(&c->content[3],
                               "{'profile': {'name': 'Tom & <Jerry>'}}"),
                        "<p>Hello Tom &amp; &lt;Jerry&gt;</p>");
    assert_string_equal(render(&c->content[4],
                               "{'context': {'resetLink': 'https://x/?a&b'}}"),
                        "Reset: https://x/?a&b");
}


static void
test_email_text_only(void **state)
{
    ngx_campaign_t  *c;

    (void) state;

    /* no optional field: no namespace, schedule, throttle nor schema */

    c = parse_valid("{'id': 'digest', 'name': 'Digest',"
                    " 'type': 'marketing', 'status': 'draft',"
                    " 'channel': 'email',"
                    " 'content': {'from': 'news@example.com',"
                    " 'subject': 'News', 'text': 'Hello'}}");

    assert_null(c->description);
    assert_null(c->namespace);
    assert_int_equal(c->type, NGX_CAMPAIGN_MARKETING);
    assert_int_equal(c->status, NGX_CAMPAIGN_DRAFT);
    assert_int_equal(c->start, 0);
    assert_int_equal(c->end, 0);
    assert_false(c->has_throttle);
    assert_int_equal(c->rate, 0);
    assert_int_equal(c->burst, 0);
    assert_false(c->cap_opt_out);
    assert_int_equal(c->nfields, 0);

    assert_int_equal(c->ncontent, 3);
    assert_content(&c->content[0], "from", NULL);
    assert_content(&c->content[1], "subject", NULL);
    assert_content(&c->content[2], "text", NULL);
}


static const char  sms_campaign[] =
    "{\n"
    "  'id': 'order_shipped.v2',\n"
    "  'name': 'Order shipped',\n"
    "  'type': 'transactional',\n"
    "  'status': 'stopped',\n"
    "  'channel': 'sms',\n"
    "  'namespace': 'phone',\n"
    "  'schedule': { 'end': '2026-06-30T23:59:59.999+02:00' },\n"
    "  'throttle': 2000,\n"
    "  'context': {\n"
    "    'orderId': { 'type': 'string', 'pattern': '^[0-9]{6,}$' },\n"
    "    'eta': { 'type': 'string', 'maxLength': 40 }\n"
    "  },\n"
    "  'content': {\n"
    "    'body': 'Order {{context.orderId}} ships <today>',\n"
    "    'from': 'SHOP'\n"
    "  }\n"
    "}\n";


static void
test_sms_campaign(void **state)
{
    ngx_campaign_t  *c;

    (void) state;

    c = parse_valid(sms_campaign);

    assert_string_equal(c->id, "order_shipped.v2");
    assert_int_equal(c->status, NGX_CAMPAIGN_STOPPED);
    assert_int_equal(c->channel, NGX_CAMPAIGN_CHANNEL_SMS);
    assert_string_equal(c->namespace, "phone");

    /* fractions of a second are dropped, offsets applied */

    assert_int_equal(c->start, 0);
    assert_int_equal(c->end, 1782856799);
    assert_int_equal(c->rate, 2000);
    assert_int_equal(c->burst, 2000);

    assert_int_equal(c->nfields, 2);
    assert_string_equal(c->fields[0].name, "orderId");
    assert_non_null(c->fields[0].pattern);
    assert_int_equal(c->fields[0].max_length, 0);
    assert_string_equal(c->fields[1].name, "eta");
    assert_null(c->fields[1].pattern);
    assert_int_equal(c->fields[1].max_length, 40);

    assert_int_equal(c->ncontent, 2);
    assert_content(&c->content[0], "from", NULL);
    assert_content(&c->content[1], "body", NULL);

    /* SMS text is not HTML-escaped */

    assert_string_equal(render(&c->content[1],
                               "{'context': {'orderId': '<1234567>'}}"),
                        "Order <1234567> ships <today>");
}


static const char  push_campaign[] =
    "{\n"
    "  'id': 'cart-reminder',\n"
    "  'name': 'Abandoned cart',\n"
    "  'type': 'marketing',\n"
    "  'status': 'archived',\n"
    "  'channel': 'push',\n"
    "  'schedule': { 'start': '2026-03-01T00:00:00-05:30' },\n"
    "  'content': {\n"
    "    'data': {\n"
    "      'cartId': '{{context.cartId}}',\n"
    "      'deepLink': 'shop://cart/{{context.cartId}}',\n"
    "      '_comment': 'data keys are the app\\u0027s: taken literally'\n"
    "    },\n"
    "    'body': '{{context.items}} items wait for you',\n"
    "    'title': 'Still thinking, {{profile.name}}?'\n"
    "  }\n"
    "}\n";


static void
test_push_campaign(void **state)
{
    ngx_campaign_t  *c;

    (void) state;

    c = parse_valid(push_campaign);

    assert_string_equal(c->id, "cart-reminder");
    assert_int_equal(c->type, NGX_CAMPAIGN_MARKETING);
    assert_int_equal(c->status, NGX_CAMPAIGN_ARCHIVED);
    assert_int_equal(c->channel, NGX_CAMPAIGN_CHANNEL_PUSH);
    assert_null(c->namespace);
    assert_int_equal(c->start, 1772343000);
    assert_int_equal(c->end, 0);

    /* title, body, then the data entries in file order */

    assert_int_equal(c->ncontent, 5);
    assert_content(&c->content[0], "title", NULL);
    assert_content(&c->content[1], "body", NULL);
    assert_content(&c->content[2], "cartId", "data");
    assert_content(&c->content[3], "deepLink", "data");
    assert_content(&c->content[4], "_comment", "data");

    assert_string_equal(render(&c->content[0],
                               "{'profile': {'name': 'A&B'}}"),
                        "Still thinking, A&B?");
    assert_string_equal(render(&c->content[3],
                               "{'context': {'cartId': 'c-42'}}"),
                        "shop://cart/c-42");
}


static void
test_schedule_formats(void **state)
{
    size_t           i;
    char             buf[512];
    ngx_campaign_t  *c;

    static const struct {
        const char  *start;
        long long    expect;                  /* 0: refused */
    } tests[] = {
        { "2026-01-01T00:00:00Z", 1767225600 },
        { "2026-01-01t00:00:00z", 1767225600 },
        { "2026-01-01T01:00:00+01:00", 1767225600 },
        { "2025-12-31T19:00:00-05:00", 1767225600 },
        { "2026-01-01T00:00:00.123456Z", 1767225600 },
        { "2024-02-29T12:00:00Z", 1709208000 },
        { "2000-01-01T00:00:00Z", 946684800 },
        { "9999-12-31T23:59:59Z", 253402300799LL },
        { "2026-02-29T00:00:00Z", 0 },        /* not a leap year */
        { "2026-13-01T00:00:00Z", 0 },
        { "2026-04-31T00:00:00Z", 0 },
        { "2026-01-01T24:00:00Z", 0 },
        { "2026-01-01T00:60:00Z", 0 },
        { "2026-01-01T00:00:00", 0 },         /* no offset */
        { "2026-01-01 00:00:00Z", 0 },
        { "2026-01-01T00:00Z", 0 },
        { "2026-1-1T00:00:00Z", 0 },
        { "2026-01-01T00:00:00+0100", 0 },
        { "2026-01-01T00:00:00.Z", 0 },
        { "2026-01-01T00:00:00Z ", 0 },
        { "2026-01-01", 0 },
        { "1970-01-01T00:00:00Z", 0 },        /* 0 means "no bound" */
        { "1969-12-31T23:59:59Z", 0 },
        { "", 0 }
    };

    (void) state;

    for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        snprintf(buf, sizeof(buf),
                 "{'id': 'a', 'name': 'A', 'type': 'marketing',"
                 " 'status': 'live', 'channel': 'sms',"
                 " 'schedule': {'start': '%s'},"
                 " 'content': {'body': 'x'}}", tests[i].start);

        nproblems = 0;
        c = parse(buf);

        if (tests[i].expect) {
            if (c == NULL) {
                print_message("\"%s\" refused\n", tests[i].start);
                print_problems();
                fail();
            }

            assert_int_equal(c->start, tests[i].expect);

        } else {
            if (c != NULL) {
                print_message("\"%s\" accepted\n", tests[i].start);
                fail();
            }

            assert_int_equal(nproblems, 1);
            assert_string_equal(problems[0].field, "schedule.start");
        }
    }
}


/* mistakes */


static void
test_syntax_error(void **state)
{
    const problem_t  *p;

    (void) state;

    parse_invalid("{\n"
                  "  'id': 'a',\n"
                  "  'name' 'A'\n"
                  "}\n");

    assert_int_equal(nproblems, 1);
    p = problem("", "JSON syntax error");
    assert_string_equal(p->file, "test.json");
    assert_int_equal(p->line, 3);
    assert_int_equal(p->column, 10);

    /* columns count characters, not bytes */

    nproblems = 0;
    parse_invalid("{\n"
                  "  'name': 'caf\xc3\xa9' 'x'\n"
                  "}\n");

    p = problem("", "JSON syntax error near \"\\\"x\\\"\"");
    assert_int_equal(p->line, 2);
    assert_int_equal(p->column, 18);

    /* the commonest mistake of hand-written JSON */

    nproblems = 0;
    parse_invalid("{\n"
                  "  'id': 'a',\n"
                  "  'context': {'a': {}, 'b': {},},\n"
                  "}\n");

    assert_int_equal(nproblems, 1);
    p = problem("", "JSON syntax error: trailing comma before \"}\"");
    assert_int_equal(p->line, 3);
    assert_int_equal(p->column, 32);

    nproblems = 0;
    parse_invalid("{'id': ['a', 'b', ]}");
    p = problem("", "JSON syntax error: trailing comma before \"]\"");
    assert_int_equal(p->line, 1);
    assert_int_equal(p->column, 19);

    nproblems = 0;
    parse_invalid("{id: 'a'}");
    p = problem("", "JSON syntax error near \"id:");
    assert_int_equal(p->column, 2);
}


static void
test_truncated_file(void **state)
{
    const problem_t  *p;

    (void) state;

    parse_invalid("{\n  'id': 'a',\n  'name': 1");

    assert_int_equal(nproblems, 1);
    p = problem("", "unexpected end of file");
    assert_int_equal(p->line, 3);
    assert_int_equal(p->column, 12);

    nproblems = 0;
    parse_invalid("");
    problem("", "empty file");

    nproblems = 0;
    parse_invalid(" \n ");
    problem("", "unexpected end of file");
}


static void
test_not_an_object(void **state)
{
    const problem_t  *p;

    (void) state;

    parse_invalid("[{'id': 'a'}]");
    problem("", "must be a JSON object, found array");

    nproblems = 0;
    parse_invalid("{'id': 'a'}\n{'id': 'b'}\n");
    p = problem("", "unexpected data after the campaign object");
    assert_int_equal(p->line, 2);
    assert_int_equal(p->column, 1);
}


static void
test_missing_required(void **state)
{
    (void) state;

    parse_invalid("{}");

    assert_int_equal(nproblems, 6);
    problem("id", "required field is missing");
    problem("name", "required field is missing");
    problem("type", "required field is missing");
    problem("status", "required field is missing");
    problem("channel", "required field is missing");
    problem("content", "required field is missing");
}


static void
test_wrong_type(void **state)
{
    (void) state;

    parse_invalid("{'id': 7, 'name': ['A'], 'description': null,"
                  " 'type': 'marketing', 'status': 'live',"
                  " 'channel': 'sms', 'namespace': {},"
                  " 'schedule': '2026-01-01T00:00:00Z',"
                  " 'throttle': '100',"
                  " 'context': {'a': {'required': 'yes'}, 'b': 'string'},"
                  " 'content': {'body': 42}}");

    assert_int_equal(nproblems, 9);
    problem("id", "must be a string, found number");
    problem("name", "must be a string, found array");
    problem("description", "must be a string, found null");
    problem("namespace", "must be a string, found object");
    problem("schedule", "must be an object, found string");
    problem("throttle", "must be a number or an object, found string");
    problem("context.a.required", "must be a boolean, found string");
    problem("context.b", "must be an object (a field rule), found string");
    problem("content.body", "must be a string, found number");
}


static void
test_bad_enum(void **state)
{
    (void) state;

    parse_invalid("{'id': 'a', 'name': 'A', 'type': 'Marketing',"
                  " 'status': 'paused', 'channel': 'fax',"
                  " 'context': {'n': {'type': 'float'}},"
                  " 'content': {}}");

    assert_int_equal(nproblems, 4);
    problem("type", "must be one of \"transactional\", \"marketing\", "
                    "found \"Marketing\"");
    problem("status", "found \"paused\"");
    problem("channel", "must be one of \"email\", \"sms\", \"push\"");
    problem("context.n.type", "found \"float\"");
}


static void
test_bad_id(void **state)
{
    size_t       i;
    char         buf[512];

    static const char  *ids[] = {
        "",
        "password reset",
        "caf\xc3\xa9",
        "a/b",
        "x2345678901234567890123456789012345678901234567890123456789012345"
    };

    (void) state;

    for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        snprintf(buf, sizeof(buf),
                 "{'id': '%s', 'name': 'A', 'type': 'marketing',"
                 " 'status': 'live', 'channel': 'sms',"
                 " 'content': {'body': 'x'}}", ids[i]);

        nproblems = 0;
        parse_invalid(buf);

        assert_int_equal(nproblems, 1);
        problem("id", "must match [A-Za-z0-9._-]{1,64}");
    }

    /* 64 characters are fine */

    nproblems = 0;
    parse_valid("{'id': 'x23456789012345678901234567890123456789012345678901"
                "2345678901234', 'name': 'A', 'type': 'marketing',"
                " 'status': 'live', 'channel': 'sms',"
                " 'content': {'body': 'x'}}");

    nproblems = 0;
    parse_invalid("{'id': 'a', 'name': '', 'type': 'marketing',"
                  " 'status': 'live', 'channel': 'sms', 'namespace': '',"
                  " 'content': {'body': 'x'}}");
    assert_int_equal(nproblems, 2);
    problem("name", "must not be empty");
    problem("namespace", "must not be empty");
}


static void
test_unknown_keys(void **state)
{
    (void) state;

    parse_invalid("{'id': 'a', 'nmae': 'A', 'name': 'A',"
                  " 'type': 'marketing', 'status': 'live',"
                  " 'channel': 'email', 'audience': 'all',"
                  " 'schedule': {'stat': '2026-01-01T00:00:00Z'},"
                  " 'context': {'c': {'type': 'string', 'maxlength': 3,"
                  "  'Pattern': 'x', '_ok': 1}},"
                  " 'content': {'from': 'f', 'subject': 's', 'text': 't',"
                  "  'subjet': 's', 'body': 'b', '$ok': 1}}");

    assert_int_equal(nproblems, 7);
    problem("nmae", "unknown key (allowed: id, name, description");
    problem("audience", "unknown key");
    problem("schedule.stat", "unknown key (allowed: start, end)");
    problem("context.c.maxlength",
            "unknown key (allowed: type, required, pattern, maxLength)");
    problem("context.c.Pattern", "unknown key");
    problem("content.subjet", "unknown key for channel \"email\" "
                              "(allowed: from, replyTo, subject, html, text)");
    problem("content.body", "unknown key for channel \"email\"");

    /* a key of another channel */

    nproblems = 0;
    parse_invalid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                  " 'status': 'live', 'channel': 'push',"
                  " 'content': {'title': 't', 'body': 'b', 'html': 'h'}}");
    assert_int_equal(nproblems, 1);
    problem("content.html", "unknown key for channel \"push\"");
}


static void
test_duplicate_keys(void **state)
{
    (void) state;

    parse_invalid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                  " 'status': 'live', 'channel': 'push', 'id': 'b',"
                  " 'context': {'x': {}, 'x': {'type': 'string'}},"
                  " 'content': {'title': 't', 'body': 'b',"
                  "  'data': {'k': '1', 'k': '2'}}}");

    assert_int_equal(nproblems, 3);
    problem("id", "duplicate key");
    problem("context.x", "duplicate key");
    problem("content.data.k", "duplicate key");
}


static void
test_schedule_order(void **state)
{
    (void) state;

    parse_invalid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                  " 'status': 'live', 'channel': 'sms',"
                  " 'schedule': {'start': '2026-01-01T00:00:00Z',"
                  "              'end': '2026-01-01T01:00:00+01:00'},"
                  " 'content': {'body': 'x'}}");

    assert_int_equal(nproblems, 1);
    problem("schedule.end", "must be later than schedule.start");

    nproblems = 0;
    parse_invalid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                  " 'status': 'live', 'channel': 'sms',"
                  " 'schedule': {'start': '2027-01-01T00:00:00Z',"
                  "              'end': '2026-01-01T00:00:00Z'},"
                  " 'content': {'body': 'x'}}");
    problem("schedule.end", "must be later than schedule.start");

    nproblems = 0;
    parse_invalid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                  " 'status': 'live', 'channel': 'sms',"
                  " 'schedule': {'start': 'tomorrow',"
                  "              'end': '2026-01-01T00:00:00Z'},"
                  " 'content': {'body': 'x'}}");
    assert_int_equal(nproblems, 1);
    problem("schedule.start", "must be an RFC 3339 date and time");
}


static void
test_throttle_range(void **state)
{
    size_t           i;
    char             buf[512];
    ngx_campaign_t  *c;

    static const char  *values[] = { "0", "2001", "-5", "1.5", "1e9" };

    (void) state;

    for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        snprintf(buf, sizeof(buf),
                 "{'id': 'a', 'name': 'A', 'type': 'marketing',"
                 " 'status': 'live', 'channel': 'sms', 'throttle': %s,"
                 " 'content': {'body': 'x'}}", values[i]);

        nproblems = 0;
        parse_invalid(buf);

        assert_int_equal(nproblems, 1);
        problem("throttle", "must be an integer from 1 to 2000");
    }

    nproblems = 0;
    c = parse_valid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                    " 'status': 'live', 'channel': 'sms', 'throttle': 1,"
                    " 'content': {'body': 'x'}}");
    assert_true(c->has_throttle);
    assert_int_equal(c->rate, 1);
    assert_int_equal(c->burst, 1);
}


static void
test_throttle_object(void **state)
{
    ngx_campaign_t  *c;

    (void) state;

    c = parse_valid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                    " 'status': 'live', 'channel': 'sms',"
                    " 'throttle': {'rate': 50, 'burst': 500,"
                    "              '_why': 'absorb the morning peak'},"
                    " 'content': {'body': 'x'}}");
    assert_true(c->has_throttle);
    assert_int_equal(c->rate, 50);
    assert_int_equal(c->burst, 500);

    /* the burst defaults to the rate, and may be smaller than it */

    c = parse_valid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                    " 'status': 'live', 'channel': 'sms',"
                    " 'throttle': {'rate': 2000},"
                    " 'content': {'body': 'x'}}");
    assert_int_equal(c->rate, 2000);
    assert_int_equal(c->burst, 2000);

    c = parse_valid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                    " 'status': 'live', 'channel': 'sms',"
                    " 'throttle': {'rate': 10, 'burst': 1},"
                    " 'content': {'body': 'x'}}");
    assert_int_equal(c->rate, 10);
    assert_int_equal(c->burst, 1);

    c = parse_valid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                    " 'status': 'live', 'channel': 'sms',"
                    " 'throttle': {'rate': 1, 'burst': 100000},"
                    " 'content': {'body': 'x'}}");
    assert_int_equal(c->burst, 100000);
}


static void
test_throttle_object_errors(void **state)
{
    size_t  line, column;

    (void) state;

    parse_invalid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                  " 'status': 'live', 'channel': 'sms',"
                  " 'throttle': {'rate': 2001, 'burst': 0, 'brust': 5},"
                  " 'content': {'body': 'x'}}");

    /* a bad rate: the burst is not checked against nothing */

    assert_int_equal(nproblems, 2);
    problem("throttle.brust", "unknown key (allowed: rate, burst)");
    problem("throttle.rate", "must be an integer from 1 to 2000 "
            "(messages per second), found 2001");

    nproblems = 0;
    parse_invalid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                  " 'status': 'live', 'channel': 'sms',"
                  " 'throttle': {'rate': 5, 'burst': 100001},"
                  " 'content': {'body': 'x'}}");
    assert_int_equal(nproblems, 1);
    problem("throttle.burst", "must be an integer from 1 to 100000 "
            "(messages), found 100001");

    nproblems = 0;
    parse_invalid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                  " 'status': 'live', 'channel': 'sms',"
                  " 'throttle': {'burst': 1.5, 'rate': '5'},"
                  " 'content': {'body': 'x'}}");
    assert_int_equal(nproblems, 1);
    problem("throttle.rate", "must be a number, found string");

    nproblems = 0;
    parse_invalid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                  " 'status': 'live', 'channel': 'sms',"
                  " 'throttle': {'burst': 10},"
                  " 'content': {'body': 'x'}}");
    assert_int_equal(nproblems, 1);
    problem("throttle.rate", "required field is missing");

    nproblems = 0;
    parse_invalid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                  " 'status': 'live', 'channel': 'sms',"
                  " 'throttle': [100],"
                  " 'content': {'body': 'x'}}");
    assert_int_equal(nproblems, 1);
    problem("throttle", "must be a number or an object, found array");

    /* the field's position in the file, for the command-line tool */

    nproblems = 0;
    parse_invalid("{'id': 'a', 'name': 'A', 'type': 'marketing',\n"
                  " 'status': 'live', 'channel': 'sms',\n"
                  " 'throttle': {'rate': 5,\n"
                  "              'burst': -1},\n"
                  " 'content': {'body': 'x'}}");
    problem("throttle.burst", "found -1");
    assert_int_equal(ngx_campaign_definition_locate((const u_char *) text,
                         strlen(text), "throttle.burst", 0, 0, &line,
                         &column), 0);
    assert_int_equal(line, 4);
    assert_int_equal(column, 24);
}


static void
test_frequency_cap(void **state)
{
    ngx_campaign_t  *c;

    (void) state;

    c = parse_valid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                    " 'status': 'live', 'channel': 'sms',"
                    " 'frequencyCap': {'optOut': true},"
                    " 'content': {'body': 'x'}}");
    assert_true(c->cap_opt_out);

    c = parse_valid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                    " 'status': 'live', 'channel': 'sms',"
                    " 'frequencyCap': {'optOut': false, '_note': 'capped'},"
                    " 'content': {'body': 'x'}}");
    assert_false(c->cap_opt_out);

    c = parse_valid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                    " 'status': 'live', 'channel': 'sms',"
                    " 'frequencyCap': {},"
                    " 'content': {'body': 'x'}}");
    assert_false(c->cap_opt_out);
}


static void
test_frequency_cap_errors(void **state)
{
    (void) state;

    /* transactional messages are never capped: saying so is a mistake */

    parse_invalid("{'id': 'a', 'name': 'A', 'type': 'transactional',"
                  " 'status': 'live', 'channel': 'sms',"
                  " 'frequencyCap': {'optOut': true},"
                  " 'content': {'body': 'x'}}");
    assert_int_equal(nproblems, 1);
    problem("frequencyCap", "applies only to \"type\": \"marketing\": "
            "transactional messages are never capped");

    nproblems = 0;
    parse_invalid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                  " 'status': 'live', 'channel': 'sms',"
                  " 'frequencyCap': {'optOut': 'yes', 'max': 3},"
                  " 'content': {'body': 'x'}}");
    assert_int_equal(nproblems, 2);
    problem("frequencyCap.optOut", "must be a boolean, found string");
    problem("frequencyCap.max", "unknown key (allowed: optOut)");

    nproblems = 0;
    parse_invalid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                  " 'status': 'live', 'channel': 'sms',"
                  " 'frequencyCap': true,"
                  " 'content': {'body': 'x'}}");
    assert_int_equal(nproblems, 1);
    problem("frequencyCap", "must be an object, found boolean");
}


static void
test_context_rules(void **state)
{
    const problem_t  *p;

    (void) state;

    parse_invalid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                  " 'status': 'live', 'channel': 'sms',"
                  " 'context': {"
                  "  'code': {'type': 'string', 'pattern': '^(ab'},"
                  "  'utf': {'type': 'string', 'pattern': '\\\\xff\\\\x{zz}'},"
                  "  'count': {'type': 'integer', 'pattern': '^[0-9]+$'},"
                  "  'any': {'maxLength': 3},"
                  "  'zero': {'type': 'string', 'maxLength': 0},"
                  "  'half': {'type': 'string', 'maxLength': 2.5},"
                  "  'bad': {'type': 'int', 'pattern': 'ok'},"
                  "  '': {}"
                  " },"
                  " 'content': {'body': 'x'}}");

    assert_int_equal(nproblems, 8);

    /* PCRE2's message, with the offset into the pattern */

    p = problem("context.code.pattern",
                "invalid regular expression at offset 4: ");
    assert_non_null(strstr(p->message, "missing closing parenthesis"));
    problem("context.utf.pattern", "invalid regular expression at offset ");

    problem("context.count.pattern",
            "applies only to \"type\": \"string\", the type is \"integer\"");
    problem("context.any.maxLength",
            "applies only to \"type\": \"string\", the type is \"any\"");
    problem("context.zero.maxLength", "must be an integer from 1 to");
    problem("context.half.maxLength", "found 2.5");

    /* a bad type is reported once, not again by "pattern" */

    problem("context.bad.type", "found \"int\"");
    problem("context", "a context field name must not be empty");
}


static void
test_template_error(void **state)
{
    const problem_t  *p;

    (void) state;

    parse_invalid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                  " 'status': 'live', 'channel': 'email',"
                  " 'content': {'from': 'f', 'subject': 'Hi {{name',"
                  "  'html': '<p>\\n{{#items}}\\n  {{/itemz}}\\n</p>'}}");

    assert_int_equal(nproblems, 2);

    /* line and column in the template, the engine's message */

    p = problem("content.subject", "");
    assert_int_equal(p->line, 1);
    assert_int_equal(p->column, 4);

    p = problem("content.html", "itemz");
    assert_int_equal(p->line, 3);
    assert_int_equal(p->column, 3);

    nproblems = 0;
    parse_invalid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                  " 'status': 'live', 'channel': 'push',"
                  " 'content': {'title': 't', 'body': 'b',"
                  "  'data': {'link': '{{#a}}', 'n': 1}}}");

    assert_int_equal(nproblems, 2);
    problem("content.data.link", "");
    problem("content.data.n", "must be a string (a template), found number");
}


static void
test_missing_content(void **state)
{
    (void) state;

    parse_invalid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                  " 'status': 'live', 'channel': 'email',"
                  " 'content': {'replyTo': 'r'}}");

    assert_int_equal(nproblems, 3);
    problem("content.from", "required field is missing (channel \"email\")");
    problem("content.subject", "required field is missing");
    problem("content", "an e-mail needs \"html\", \"text\" or both");

    nproblems = 0;
    parse_invalid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                  " 'status': 'live', 'channel': 'sms',"
                  " 'content': {'from': 'SHOP'}}");
    assert_int_equal(nproblems, 1);
    problem("content.body", "required field is missing (channel \"sms\")");

    nproblems = 0;
    parse_invalid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                  " 'status': 'live', 'channel': 'push',"
                  " 'content': {'data': []}}");
    assert_int_equal(nproblems, 3);
    problem("content.title", "required field is missing (channel \"push\")");
    problem("content.body", "required field is missing (channel \"push\")");
    problem("content.data", "must be an object, found array");

    /* without a valid channel, content is checked only for its type */

    nproblems = 0;
    parse_invalid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                  " 'status': 'live', 'content': {'anything': 1}}");
    assert_int_equal(nproblems, 1);
    problem("channel", "required field is missing");
}


static void
test_every_mistake_reported(void **state)
{
    (void) state;

    parse_invalid("{\n"
                  "  'id': 'bad id',\n"
                  "  'name': 'Password reset',\n"
                  "  'type': 'transactionl',\n"
                  "  'status': 'live',\n"
                  "  'channel': 'email',\n"
                  "  'schedule': { 'start': '2026-01-01', 'end': 5 },\n"
                  "  'throttle': 5000,\n"
                  "  'frequencyCap': { 'optOut': true },\n"
                  "  'context': {\n"
                  "    'resetLink': { 'type': 'string', 'pattern': '[' }\n"
                  "  },\n"
                  "  'content': {\n"
                  "    'from': 'a@example.com',\n"
                  "    'subject': '{{#x}}',\n"
                  "    'html': '<p>{{context.resetLink}}</p>',\n"
                  "    'txt': 'typo'\n"
                  "  }\n"
                  "}\n");

    assert_int_equal(nproblems, 8);
    problem("id", "must match");
    problem("type", "found \"transactionl\"");
    problem("schedule.start", "RFC 3339");
    problem("schedule.end", "must be a string, found number");
    problem("throttle", "found 5000");
    problem("context.resetLink.pattern", "invalid regular expression");
    problem("content.subject", "");
    problem("content.txt", "unknown key");
}


static void
test_out_of_memory(void **state)
{
    size_t           i, j;
    ngx_campaign_t  *c;

    (void) state;

    /* every allocation failing in turn: a clean refusal, never a crash */

    for (i = 1; /* void */ ; i++) {
        ngx_campaign_arena_destroy(&arena);
        ngx_campaign_arena_init(&arena, 0);
        arena.fail_at = i;
        nproblems = 0;

        c = parse(email_campaign);

        if (c != NULL) {
            assert_int_equal(nproblems, 0);
            break;
        }

        assert_true(nproblems > 0);

        for (j = 0; j < nproblems; j++) {
            assert_non_null(strstr(problems[j].message, "out of memory"));
        }
    }

    assert_true(i > 10);
}


static void
test_names(void **state)
{
    (void) state;

    assert_string_equal(ngx_campaign_channel_name(NGX_CAMPAIGN_CHANNEL_EMAIL),
                        "email");
    assert_string_equal(ngx_campaign_channel_name(NGX_CAMPAIGN_CHANNEL_SMS),
                        "sms");
    assert_string_equal(ngx_campaign_channel_name(NGX_CAMPAIGN_CHANNEL_PUSH),
                        "push");
    assert_string_equal(ngx_campaign_status_name(NGX_CAMPAIGN_DRAFT),
                        "draft");
    assert_string_equal(ngx_campaign_status_name(NGX_CAMPAIGN_LIVE), "live");
    assert_string_equal(ngx_campaign_status_name(NGX_CAMPAIGN_STOPPED),
                        "stopped");
    assert_string_equal(ngx_campaign_status_name(NGX_CAMPAIGN_ARCHIVED),
                        "archived");
}


/* fragments: named pieces included as the partials {{> name}} */


static void
test_fragments(void **state)
{
    ngx_campaign_t  *c;

    (void) state;

    c = parse_valid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                    " 'status': 'live', 'channel': 'email',"
                    " 'fragments': {"
                    "  'greeting': 'Hello {{profile.name}}',"
                    "  'footer': '<p>{{> greeting}}, see you</p>',"
                    "  '_unused': 'a fragment needs no user'"
                    " },"
                    " 'content': {'from': 'f', 'subject': '{{> greeting}}!',"
                    "  'html': '<p>Hi</p>{{> footer}}'}}");

    assert_int_equal(c->ncontent, 3);

    /* a fragment takes the escaping of the template that includes it */

    assert_string_equal(render(&c->content[1],
                               "{'profile': {'name': 'Tom & Jerry'}}"),
                        "Hello Tom & Jerry!");
    assert_string_equal(render(&c->content[2],
                               "{'profile': {'name': 'Tom & Jerry'}}"),
                        "<p>Hi</p><p>Hello Tom &amp; Jerry, see you</p>");
}


static void
test_fragment_errors(void **state)
{
    const problem_t  *p;

    (void) state;

    /*
     * A mistake in a fragment is reported once, in the fragment, with its
     * line and column there; the templates that include it are not
     * reported again.
     */

    parse_invalid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                  " 'status': 'live', 'channel': 'sms',"
                  " 'fragments': {"
                  "  'footer': 'Bye\\n{{#x}}',"
                  "  'bad name': 'x',"
                  "  'n': 1"
                  " },"
                  " 'content': {'from': '{{> footer}}',"
                  "  'body': 'Hi {{> footer}}'}}");

    assert_int_equal(nproblems, 3);

    p = problem("fragments.footer", "");
    assert_int_equal(p->line, 2);
    assert_int_equal(p->column, 1);

    problem("fragments", "a fragment name must match [A-Za-z0-9._-]{1,64}, "
            "found \"bad name\"");
    problem("fragments.n", "must be a string (a template), found number");

    /* a template that is wrong on its own is reported all the same */

    nproblems = 0;
    parse_invalid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                  " 'status': 'live', 'channel': 'sms',"
                  " 'fragments': {'footer': '{{/x}}'},"
                  " 'content': {'body': '{{> footer}} {{#y}}'}}");

    assert_int_equal(nproblems, 2);
    problem("fragments.footer", "");
    problem("content.body", "");

    /* an unknown fragment is the including template's mistake */

    nproblems = 0;
    parse_invalid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                  " 'status': 'live', 'channel': 'sms',"
                  " 'content': {'body': 'Hi {{> nowhere}}'}}");

    assert_int_equal(nproblems, 1);
    p = problem("content.body", "nowhere");
    assert_int_equal(p->line, 1);
    assert_int_equal(p->column, 4);
}


/* languages: "content" is the default's, "languages" override fields */


static const char  languages_campaign[] =
    "{\n"
    "  'id': 'welcome',\n"
    "  'name': 'Welcome',\n"
    "  'type': 'transactional',\n"
    "  'status': 'live',\n"
    "  'channel': 'push',\n"
    "  'defaultLanguage': 'en-GB',\n"
    "  'content': {\n"
    "    'title': 'Welcome, {{profile.name}}',\n"
    "    'body': 'Tap to start',\n"
    "    'data': { 'link': 'app://home', 'kind': 'welcome' }\n"
    "  },\n"
    "  'languages': {\n"
    "    'fr': {\n"
    "      'title': 'Bienvenue, {{profile.name}}',\n"
    "      'data': { 'link': 'app://accueil' }\n"
    "    },\n"
    "    'pt-BR': { 'body': 'Toque para começar', '_note': 'comment' },\n"
    "    'de': {}\n"
    "  }\n"
    "}\n";


static void
test_languages(void **state)
{
    size_t                    i;
    ngx_campaign_t           *c;
    ngx_campaign_content_t   *fr, *pt, *de;

    (void) state;

    c = parse_valid(languages_campaign);

    assert_int_equal(c->ncontent, 4);
    assert_content(&c->content[0], "title", NULL);
    assert_content(&c->content[1], "body", NULL);
    assert_content(&c->content[2], "link", "data");
    assert_content(&c->content[3], "kind", "data");

    /* the default language first, with the campaign's content */

    assert_int_equal(c->nlanguages, 4);
    assert_string_equal(c->languages[0].tag, "en-GB");
    assert_ptr_equal(c->languages[0].content, c->content);
    assert_string_equal(c->languages[1].tag, "fr");
    assert_string_equal(c->languages[2].tag, "pt-BR");
    assert_string_equal(c->languages[3].tag, "de");

    fr = c->languages[1].content;
    pt = c->languages[2].content;
    de = c->languages[3].content;

    /* every language has the same entries, in the same order */

    for (i = 0; i < c->ncontent; i++) {
        assert_content(&fr[i], c->content[i].key, c->content[i].group);
        assert_content(&pt[i], c->content[i].key, c->content[i].group);
        assert_content(&de[i], c->content[i].key, c->content[i].group);
    }

    /* a field a language does not give is the default's, already there */

    assert_ptr_not_equal(fr[0].tpl, c->content[0].tpl);
    assert_ptr_equal(fr[1].tpl, c->content[1].tpl);
    assert_ptr_not_equal(fr[2].tpl, c->content[2].tpl);
    assert_ptr_equal(fr[3].tpl, c->content[3].tpl);

    assert_ptr_equal(pt[0].tpl, c->content[0].tpl);
    assert_ptr_not_equal(pt[1].tpl, c->content[1].tpl);

    for (i = 0; i < c->ncontent; i++) {
        assert_ptr_equal(de[i].tpl, c->content[i].tpl);
    }

    assert_string_equal(render(&fr[0], "{'profile': {'name': 'Zoé'}}"),
                        "Bienvenue, Zoé");
    assert_string_equal(render(&fr[2], "{}"), "app://accueil");
    assert_string_equal(render(&pt[1], "{}"), "Toque para começar");

    /* without "defaultLanguage" it is "en" */

    c = parse_valid(sms_campaign);

    assert_int_equal(c->nlanguages, 1);
    assert_string_equal(c->languages[0].tag, "en");
    assert_ptr_equal(c->languages[0].content, c->content);
}


static void
test_language_errors(void **state)
{
    const problem_t  *p;

    (void) state;

    parse_invalid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                  " 'status': 'live', 'channel': 'email',"
                  " 'defaultLanguage': 'english',"
                  " 'content': {'from': 'f', 'subject': 's', 'text': 't'}}");

    assert_int_equal(nproblems, 1);
    problem("defaultLanguage", "must be a language tag such as \"en\", "
            "\"fr\" or \"pt-BR\" ([A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*), "
            "found \"english\"");

    nproblems = 0;
    parse_invalid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                  " 'status': 'live', 'channel': 'email',"
                  " 'defaultLanguage': 'fr',"
                  " 'content': {'from': 'f', 'subject': 's', 'text': 't'},"
                  " 'languages': {"
                  "  'fr_CA': {},"
                  "  'x': {},"
                  "  'FR': {'subject': 'doublon'},"
                  "  'de': {'subject': 'S', 'subjet': 'typo',"
                  "         'html': '<p>not in content</p>'},"
                  "  'DE': {},"
                  "  'it': 'Oggetto',"
                  "  'es': {'subject': 1, 'text': 'Hola {{#x}}'},"
                  "  'nl': {'subject': 'Hoi'},"
                  "  'nl': {}"
                  " }}");

    assert_int_equal(nproblems, 10);
    problem("languages.fr_CA", "must be a language tag such as");
    problem("languages.x", "found \"x\"");
    problem("languages.FR", "is the default language "
            "(\"defaultLanguage\": \"fr\"), whose content is "
            "\"content\"");
    problem("languages.de.subjet",
            "unknown key for channel \"email\" (allowed: from, replyTo, "
            "subject, html, text)");
    problem("languages.de.html", "is not in \"content\": a language can "
            "only change the fields of the default content");
    problem("languages.DE", "the same language as \"de\"");
    problem("languages.it", "must be an object (the language's content), "
            "found string");
    problem("languages.es.subject", "must be a string, found number");
    p = problem("languages.es.text", "");
    assert_int_equal(p->line, 1);
    assert_int_equal(p->column, 6);
    problem("languages.nl", "duplicate key");

    /* push data: only the keys of the default's data */

    nproblems = 0;
    parse_invalid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                  " 'status': 'live', 'channel': 'push',"
                  " 'content': {'title': 't', 'body': 'b',"
                  "  'data': {'link': 'x'}},"
                  " 'languages': {"
                  "  'fr': {'data': {'link': 1, 'extra': 'y'}},"
                  "  'de': {'data': 'z'}"
                  " }}");

    assert_int_equal(nproblems, 3);
    problem("languages.fr.data.link",
            "must be a string (a template), found number");
    problem("languages.fr.data.extra", "is not in \"content.data\"");
    problem("languages.de.data", "must be an object, found string");

    /* a wrong channel: languages are checked only for their type */

    nproblems = 0;
    parse_invalid("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                  " 'status': 'live', 'channel': 'fax',"
                  " 'content': {'x': 'y'},"
                  " 'languages': {'fr': {'anything': 1}}}");

    assert_int_equal(nproblems, 1);
    problem("channel", "must be one of");
}


/* directories */


static void
write_file(const char *name, const char *content)
{
    int     fd;
    char    path[256];
    size_t  len;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);

    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);

    len = strlen(content);
    assert_int_equal(write(fd, content, len), (ssize_t) len);
    assert_int_equal(close(fd), 0);
}


static char *
sms_with_id(const char *id)
{
    static char  buf[512];

    snprintf(buf, sizeof(buf),
             "{\"id\": \"%s\", \"name\": \"A\", \"type\": \"marketing\","
             " \"status\": \"live\", \"channel\": \"sms\","
             " \"content\": {\"body\": \"x\"}}", id);

    return buf;
}


static int
setup_dir(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_definition.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));

    return setup(state);
}


static int
teardown_dir(void **state)
{
    char  cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);

    return teardown(state);
}


static void
test_load_dir(void **state)
{
    char              path[256];
    size_t            n, nerrors;
    ngx_campaign_t  **campaigns;

    (void) state;

    write_file("b.json", sms_with_id("second"));
    write_file("a.json", sms_with_id("first"));
    write_file("c.json", sms_with_id("third"));

    /* not campaign files: hidden, another suffix, a directory */

    write_file(".hidden.json", "not json");
    write_file("notes.txt", "not json");
    write_file("c.json.orig", "not json");
    snprintf(path, sizeof(path), "%s/dir.json", tmpdir);
    assert_int_equal(mkdir(path, 0755), 0);

    nerrors = ngx_campaign_definition_load_dir(&arena.alloc, tmpdir, NULL,
                                               &campaigns, &n, collect,
                                               NULL);
    if (nerrors) {
        print_problems();
    }

    assert_int_equal(nerrors, 0);
    assert_int_equal(nproblems, 0);

    /* sorted by file name */

    assert_int_equal(n, 3);
    assert_string_equal(campaigns[0]->id, "first");
    assert_string_equal(campaigns[1]->id, "second");
    assert_string_equal(campaigns[2]->id, "third");

    snprintf(path, sizeof(path), "%s/a.json", tmpdir);
    assert_string_equal(campaigns[0]->file, path);
}


static void
test_load_dir_errors(void **state)
{
    int                fd;
    char               a[256], b[256], path[256];
    size_t             n, nerrors;
    ngx_campaign_t   **campaigns;
    const problem_t   *p;

    (void) state;

    write_file("a.json", sms_with_id("reset"));
    write_file("b.json", sms_with_id("reset"));
    write_file("c.json", "{\n  \"id\": \"broken\",\n}\n");
    write_file("d.json", sms_with_id("fine"));
    write_file("e.json", "");

    snprintf(path, sizeof(path), "%s/f.json", tmpdir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 4 * 1024 * 1024 + 1), 0);
    assert_int_equal(close(fd), 0);

    nerrors = ngx_campaign_definition_load_dir(&arena.alloc, tmpdir, NULL,
                                               &campaigns, &n, collect,
                                               NULL);

    /* every file is read: the good ones are there, each problem reported */

    assert_int_equal(nerrors, 4);
    assert_int_equal(nproblems, 4);
    assert_int_equal(n, 2);
    assert_string_equal(campaigns[0]->id, "reset");
    assert_string_equal(campaigns[1]->id, "fine");

    snprintf(a, sizeof(a), "%s/a.json", tmpdir);
    snprintf(b, sizeof(b), "%s/b.json", tmpdir);

    p = problem("id", "duplicate id \"reset\", already defined in ");
    assert_string_equal(p->file, b);
    assert_non_null(strstr(p->message, a));

    p = problem("", "JSON syntax error");
    snprintf(path, sizeof(path), "%s/c.json", tmpdir);
    assert_string_equal(p->file, path);
    assert_int_equal(p->line, 3);
    assert_int_equal(p->column, 1);

    p = problem("", "empty file");
    snprintf(path, sizeof(path), "%s/e.json", tmpdir);
    assert_string_equal(p->file, path);

    p = problem("", "file is too large");
    snprintf(path, sizeof(path), "%s/f.json", tmpdir);
    assert_string_equal(p->file, path);
}


static void
test_load_dir_unreadable(void **state)
{
    char              path[256];
    size_t            n;
    ngx_campaign_t  **campaigns;
    const problem_t  *p;

    (void) state;

    snprintf(path, sizeof(path), "%s/missing", tmpdir);

    assert_int_equal(ngx_campaign_definition_load_dir(&arena.alloc, path,
                                                      NULL, &campaigns, &n,
                                                      collect, NULL),
                     1);
    assert_int_equal(n, 0);

    p = problem("", "opendir() failed: No such file or directory");
    assert_string_equal(p->file, path);

    /* an empty directory is no error */

    nproblems = 0;
    assert_int_equal(ngx_campaign_definition_load_dir(&arena.alloc, tmpdir,
                                                      NULL, &campaigns, &n,
                                                      collect, NULL),
                     0);
    assert_int_equal(n, 0);
}


static void
test_load_dir_fragments(void **state)
{
    char               fragments[128], path[256];
    size_t             n, nerrors;
    ngx_campaign_t   **campaigns;
    const problem_t   *p;

    (void) state;

    snprintf(fragments, sizeof(fragments), "%s/fragments", tmpdir);
    assert_int_equal(mkdir(fragments, 0755), 0);

    write_file("fragments/footer.mustache", "-- {{profile.name}}\n");
    write_file("fragments/sig.mustache", "ACME");
    write_file("fragments/notes.txt", "not a fragment");
    write_file("fragments/.hidden.mustache", "{{#not read}}");

    write_file("a.json",
               "{\"id\": \"a\", \"name\": \"A\", \"type\": \"marketing\","
               " \"status\": \"live\", \"channel\": \"sms\","
               " \"content\": {\"body\": \"Hi\\n{{> footer}}\"}}");

    /* a campaign's own fragment wins over a shared one */

    write_file("b.json",
               "{\"id\": \"b\", \"name\": \"B\", \"type\": \"marketing\","
               " \"status\": \"live\", \"channel\": \"sms\","
               " \"fragments\": {\"sig\": \"Team B\"},"
               " \"content\": {\"body\": \"{{> sig}}\"}}");

    nerrors = ngx_campaign_definition_load_dir(&arena.alloc, tmpdir,
                                               fragments, &campaigns, &n,
                                               collect, NULL);
    if (nerrors) {
        print_problems();
    }

    assert_int_equal(nerrors, 0);
    assert_int_equal(n, 2);

    assert_string_equal(render(&campaigns[0]->content[0],
                               "{'profile': {'name': 'Ann'}}"),
                        "Hi\n-- Ann\n");
    assert_string_equal(render(&campaigns[1]->content[0], "{}"), "Team B");

    /* without the directory, the fragment is unknown */

    nproblems = 0;
    nerrors = ngx_campaign_definition_load_dir(&arena.alloc, tmpdir, NULL,
                                               &campaigns, &n, collect,
                                               NULL);
    assert_int_equal(nerrors, 1);
    assert_int_equal(n, 1);
    problem("content.body", "footer");

    /*
     * A mistake in a shared fragment is reported once, with its path, line
     * and column, not in every campaign that includes it.
     */

    write_file("fragments/footer.mustache", "--\n  {{/profile}}\n");
    write_file("fragments/bad name.mustache", "x");
    write_file("c.json",
               "{\"id\": \"c\", \"name\": \"C\", \"type\": \"marketing\","
               " \"status\": \"live\", \"channel\": \"sms\","
               " \"content\": {\"body\": \"{{> footer}}\"}}");

    nproblems = 0;
    nerrors = ngx_campaign_definition_load_dir(&arena.alloc, tmpdir,
                                               fragments, &campaigns, &n,
                                               collect, NULL);
    if (nerrors != 2) {
        print_problems();
    }

    assert_int_equal(nerrors, 2);
    assert_int_equal(n, 1);
    assert_string_equal(campaigns[0]->id, "b");

    p = problem("", "a fragment name must match [A-Za-z0-9._-]{1,64}, "
                "found \"bad name\"");
    snprintf(path, sizeof(path), "%s/bad name.mustache", fragments);
    assert_string_equal(p->file, path);

    p = problem("", "profile");
    snprintf(path, sizeof(path), "%s/footer.mustache", fragments);
    assert_string_equal(p->file, path);
    assert_int_equal(p->line, 2);
    assert_int_equal(p->column, 3);

    /* a fragments directory that cannot be opened */

    nproblems = 0;
    snprintf(path, sizeof(path), "%s/missing", tmpdir);
    nerrors = ngx_campaign_definition_load_dir(&arena.alloc, tmpdir, path,
                                               &campaigns, &n, collect,
                                               NULL);
    assert_true(nerrors >= 1);
    p = problem("", "opendir() failed: No such file or directory");
    assert_string_equal(p->file, path);
}


/* file positions of fields and of places inside their templates */

static void
test_locate(void **state)
{
    size_t       line, column;
    const char  *text;

    (void) state;

    text = "{\n"
           "  \"id\": \"x\",\n"
           "  \"fragments\": {\"sig.v2\": \"-- {{#x}}\"},\n"
           "  \"content\": {\"a\": [1, {\"b\": \"}\"}], \"body\":\n"
           "      \"\\u00e9\\ud83d\\ude00\\n\\t\\\"{{/y}}\"}\n"
           "}\n";

    /* a field's value */

    assert_int_equal(ngx_campaign_definition_locate((const u_char *) text,
                         strlen(text), "id", 0, 0, &line, &column), 0);
    assert_int_equal(line, 2);
    assert_int_equal(column, 9);

    /* a key with a dot in it */

    assert_int_equal(ngx_campaign_definition_locate((const u_char *) text,
                         strlen(text), "fragments.sig.v2", 1, 4, &line,
                         &column), 0);
    assert_int_equal(line, 3);
    assert_int_equal(column, 31);

    /*
     * inside a template, past values to skip, escapes: \u00e9 and a
     * surrogate pair are a character each, \n starts line 2 of the
     * template, \t and \" are a character each
     */

    assert_int_equal(ngx_campaign_definition_locate((const u_char *) text,
                         strlen(text), "content.body", 2, 3, &line,
                         &column), 0);
    assert_int_equal(line, 5);
    assert_int_equal(column, 32);

    assert_int_equal(ngx_campaign_definition_locate((const u_char *) text,
                         strlen(text), "content.nope", 0, 0, &line,
                         &column), -1);
    assert_int_equal(ngx_campaign_definition_locate((const u_char *) text,
                         strlen(text), "content.body", 9, 1, &line,
                         &column), -1);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_locate),
        cmocka_unit_test_setup_teardown(test_email_campaign, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_email_text_only, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sms_campaign, setup, teardown),
        cmocka_unit_test_setup_teardown(test_push_campaign, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_schedule_formats, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_syntax_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_not_an_object, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_missing_required, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wrong_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_enum, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_keys, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_schedule_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_throttle_range, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_throttle_object, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_throttle_object_errors, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_frequency_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_frequency_cap_errors, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_context_rules, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_template_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_missing_content, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_every_mistake_reported, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_out_of_memory, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fragments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fragment_errors, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_languages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_language_errors, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_load_dir, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_load_dir_errors, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_load_dir_unreadable, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_load_dir_fragments, setup_dir,
                                        teardown_dir),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
