
/*
 * Copyright (C) ngx_campaign developers
 */


/*
 * A campaign's content for one recipient: which language is chosen from
 * the trigger's context and the profile, how the fields a language does not
 * translate fall back to the default content, and the JSON that gateways
 * and the preview get, every rendered value escaped.  The JSON below is
 * written with single quotes for readability; json() turns them into
 * double quotes.
 */


#include <sys/types.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ngx_campaign_content.h"
#include "ngx_campaign_arena.h"


static ngx_campaign_arena_t  arena;
static char                  text[8192];


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


static void
fail_on_problem(void *data, const char *file, const char *field,
    size_t line, size_t column, const char *message)
{
    (void) data;

    print_message("%s: %s: %zu:%zu: %s\n", file, field ? field : "", line,
                  column, message);
    fail();
}


static ngx_campaign_t *
campaign(const char *s)
{
    const char      *t;
    ngx_campaign_t  *c;

    t = json(s);

    c = ngx_campaign_definition_parse(&arena.alloc, "test.json",
                                      (const u_char *) t, strlen(t),
                                      fail_on_problem, NULL);
    assert_non_null(c);

    return c;
}


/* the data cJSON tree lives until the arena goes */

static void
delete_json(void *data)
{
    cJSON_Delete(data);
}


static cJSON *
data(const char *s)
{
    cJSON  *root;

    root = cJSON_Parse(json(s));
    assert_non_null(root);
    assert_int_equal(ngx_campaign_cleanup(&arena.alloc, delete_json, root),
                     0);

    return root;
}


static const char *
language(const ngx_campaign_t *c, const char *s)
{
    return ngx_campaign_content_language(c, data(s));
}


static const char *
preview(const ngx_campaign_t *c, const char *s)
{
    size_t   len;
    u_char  *out;

    assert_int_equal(ngx_campaign_content_preview(&arena.alloc, c, data(s),
                                                  &out, &len),
                     0);
    assert_int_equal(strlen((char *) out), len);

    return (const char *) out;
}


static int
setup(void **state)
{
    (void) state;

    ngx_campaign_arena_init(&arena, NGX_CAMPAIGN_ARENA_CHUNK_SIZE);

    return 0;
}


static int
teardown(void **state)
{
    (void) state;

    ngx_campaign_arena_destroy(&arena);

    return 0;
}


static const char  sms[] =
    "{'id': 'shipped', 'name': 'Shipped', 'type': 'transactional',"
    " 'status': 'live', 'channel': 'sms',"
    " 'content': {'from': 'SHOP', 'body': 'Order {{context.id}} shipped'},"
    " 'languages': {"
    "  'fr': {'body': 'Commande {{context.id}} expédiée'},"
    "  'pt-BR': {'body': 'Pedido {{context.id}} enviado'},"
    "  'pt': {'from': 'LOJA', 'body': 'Encomenda {{context.id}} enviada'}"
    " }}";


static void
test_language_choice(void **state)
{
    ngx_campaign_t  *c;

    (void) state;

    c = campaign(sms);

    /* nothing asked for: the default language */

    assert_string_equal(language(c, "{}"), "en");
    assert_string_equal(language(c, "{'profile': {}, 'context': {}}"), "en");

    /* the profile's preferred language, at the top or under person (XDM) */

    assert_string_equal(language(c, "{'profile':"
                                    " {'preferredLanguage': 'fr'}}"),
                        "fr");
    assert_string_equal(language(c, "{'profile': {'person':"
                                    " {'preferredLanguage': 'fr'}}}"),
                        "fr");
    assert_string_equal(language(c, "{'profile':"
                                    " {'preferredLanguage': 'pt',"
                                    "  'person':"
                                    "  {'preferredLanguage': 'fr'}}}"),
                        "pt");

    /* the trigger's context.language comes before the profile */

    assert_string_equal(language(c, "{'context': {'language': 'fr'},"
                                    " 'profile':"
                                    " {'preferredLanguage': 'pt'}}"),
                        "fr");

    /* and is the one asked for even when the campaign does not have it */

    assert_string_equal(language(c, "{'context': {'language': 'ja'},"
                                    " 'profile':"
                                    " {'preferredLanguage': 'fr'}}"),
                        "en");

    /* a value that is not a string is not asked for */

    assert_string_equal(language(c, "{'context': {'language': 7},"
                                    " 'profile':"
                                    " {'preferredLanguage': 'fr'}}"),
                        "fr");
    assert_string_equal(language(c, "{'profile': ['preferredLanguage']}"),
                        "en");

    /* any case; "_" as "-"; the whole tag, then its primary subtag */

    assert_string_equal(language(c, "{'context': {'language': 'FR'}}"),
                        "fr");
    assert_string_equal(language(c, "{'context': {'language': 'PT-br'}}"),
                        "pt-BR");
    assert_string_equal(language(c, "{'context': {'language': 'pt_BR'}}"),
                        "pt-BR");
    assert_string_equal(language(c, "{'context': {'language': 'pt-PT'}}"),
                        "pt");
    assert_string_equal(language(c, "{'context': {'language': 'fr-CA'}}"),
                        "fr");
    assert_string_equal(language(c, "{'context':"
                                    " {'language': 'fr-Latn-CA'}}"),
                        "fr");

    /* no match, not even a prefix that is not a whole subtag */

    assert_string_equal(language(c, "{'context': {'language': 'f'}}"), "en");
    assert_string_equal(language(c, "{'context': {'language': 'fra'}}"),
                        "en");
    assert_string_equal(language(c, "{'context': {'language': ''}}"), "en");
    assert_string_equal(language(c, "{'context': {'language': 'de-fr'}}"),
                        "en");
}


static void
test_default_language(void **state)
{
    ngx_campaign_t  *c;

    (void) state;

    c = campaign("{'id': 'a', 'name': 'A', 'type': 'marketing',"
                 " 'status': 'live', 'channel': 'sms',"
                 " 'defaultLanguage': 'de',"
                 " 'content': {'body': 'Hallo'},"
                 " 'languages': {'en': {'body': 'Hello'}}}");

    assert_string_equal(language(c, "{}"), "de");
    assert_string_equal(language(c, "{'context': {'language': 'de-AT'}}"),
                        "de");
    assert_string_equal(language(c, "{'context': {'language': 'en-US'}}"),
                        "en");
    assert_string_equal(language(c, "{'context': {'language': 'it'}}"),
                        "de");
}


static void
test_render_fallbacks(void **state)
{
    size_t                    n;
    const char               *lang;
    ngx_campaign_t           *c;
    ngx_campaign_rendered_t  *r;

    (void) state;

    c = campaign(sms);

    assert_int_equal(ngx_campaign_content_render(&arena.alloc, c,
                         data("{'context': {'id': 'A1', 'language': 'fr'}}"),
                         &lang, &r, &n),
                     0);

    assert_string_equal(lang, "fr");
    assert_int_equal(n, 2);

    /* "from" is not translated: the default's */

    assert_string_equal(r[0].key, "from");
    assert_null(r[0].group);
    assert_string_equal((char *) r[0].text, "SHOP");
    assert_int_equal(r[0].len, 4);

    assert_string_equal(r[1].key, "body");
    assert_string_equal((char *) r[1].text, "Commande A1 expédiée");

    /* language may be NULL */

    assert_int_equal(ngx_campaign_content_render(&arena.alloc, c,
                         data("{'context': {'id': 'A1', 'language': 'pt'}}"),
                         NULL, &r, &n),
                     0);

    assert_string_equal((char *) r[0].text, "LOJA");
    assert_string_equal((char *) r[1].text, "Encomenda A1 enviada");
}


static void
test_json_escaping(void **state)
{
    size_t                    len;
    u_char                   *out;
    ngx_campaign_rendered_t   r[3];

    (void) state;

    /* whatever a profile holds, it stays inside its JSON string */

    r[0].key = "subject";
    r[0].group = NULL;
    r[0].text = (u_char *) "\"quoted\" \\ back\\slash";
    r[0].len = strlen((char *) r[0].text);

    r[1].key = "text";
    r[1].group = NULL;
    r[1].text = (u_char *) "line\none\ttab\x01</script>é";
    r[1].len = strlen((char *) r[1].text);

    r[2].key = "k\"ey";
    r[2].group = NULL;
    r[2].text = (u_char *) "";
    r[2].len = 0;

    assert_int_equal(ngx_campaign_content_json(&arena.alloc, r, 3, &out,
                                               &len),
                     0);

    assert_string_equal((char *) out,
                        "{\"subject\":\"\\\"quoted\\\" \\\\ back\\\\slash\","
                        "\"text\":\"line\\none\\ttab\\u0001</script>é\","
                        "\"k\\\"ey\":\"\"}");
    assert_int_equal(len, strlen((char *) out));

    /* no entry: an empty object */

    assert_int_equal(ngx_campaign_content_json(&arena.alloc, r, 0, &out,
                                               &len),
                     0);
    assert_string_equal((char *) out, "{}");
    assert_int_equal(len, 2);
}


static void
test_push_data_group(void **state)
{
    ngx_campaign_t  *c;

    (void) state;

    c = campaign("{'id': 'cart', 'name': 'Cart', 'type': 'transactional',"
                 " 'status': 'live', 'channel': 'push',"
                 " 'content': {'title': 'Hi {{profile.name}}',"
                 "  'body': '{{context.n}} items',"
                 "  'data': {'link': 'app://cart/{{context.cart}}',"
                 "   'kind': 'cart'}},"
                 " 'languages': {'fr': {'body': '{{context.n}} articles',"
                 "  'data': {'kind': 'panier'}}}}");

    /* the data entries nested under "data", in file order */

    assert_string_equal(preview(c, "{'profile': {'name': 'Ann \\\"A\\\"'},"
                                   " 'context': {'n': 2, 'cart': 'c1'}}"),
                        "{\"campaignId\":\"cart\",\"channel\":\"push\","
                        "\"language\":\"en\",\"content\":{"
                        "\"title\":\"Hi Ann \\\"A\\\"\","
                        "\"body\":\"2 items\","
                        "\"data\":{\"link\":\"app://cart/c1\","
                        "\"kind\":\"cart\"}}}");

    assert_string_equal(preview(c, "{'profile': {'name': 'Ann',"
                                   "  'preferredLanguage': 'fr-FR'},"
                                   " 'context': {'n': 2, 'cart': 'c1'}}"),
                        "{\"campaignId\":\"cart\",\"channel\":\"push\","
                        "\"language\":\"fr\",\"content\":{"
                        "\"title\":\"Hi Ann\","
                        "\"body\":\"2 articles\","
                        "\"data\":{\"link\":\"app://cart/c1\","
                        "\"kind\":\"panier\"}}}");
}


/* sound and badge, for the push connectors: after body, before data */

static void
test_push_sound_badge(void **state)
{
    ngx_campaign_t  *c;

    (void) state;

    c = campaign("{'id': 'cart', 'name': 'Cart', 'type': 'transactional',"
                 " 'status': 'live', 'channel': 'push',"
                 " 'content': {'data': {'kind': 'cart'},"
                 "  'badge': '{{context.n}}', 'sound': 'chime.caf',"
                 "  'body': 'B', 'title': 'T'}}");

    assert_string_equal(preview(c, "{'context': {'n': 3}}"),
                        "{\"campaignId\":\"cart\",\"channel\":\"push\","
                        "\"language\":\"en\",\"content\":{"
                        "\"title\":\"T\",\"body\":\"B\","
                        "\"sound\":\"chime.caf\",\"badge\":\"3\","
                        "\"data\":{\"kind\":\"cart\"}}}");
}


static void
test_preview_email(void **state)
{
    ngx_campaign_t  *c;

    (void) state;

    /* HTML-escaped in "html" only, then JSON-escaped everywhere */

    c = campaign("{'id': 'reset', 'name': 'Reset', 'type': 'transactional',"
                 " 'status': 'live', 'channel': 'email',"
                 " 'content': {'from': 'A <a@example.com>',"
                 "  'subject': 'Hi {{profile.name}}',"
                 "  'html': '<p>Hi {{profile.name}}</p>',"
                 "  'text': 'Hi {{profile.name}}\\n'}}");

    assert_string_equal(preview(c, "{'profile': {'name': 'Tom & <Jerry>'}}"),
                        "{\"campaignId\":\"reset\",\"channel\":\"email\","
                        "\"language\":\"en\",\"content\":{"
                        "\"from\":\"A <a@example.com>\","
                        "\"subject\":\"Hi Tom & <Jerry>\","
                        "\"html\":\"<p>Hi Tom &amp; &lt;Jerry&gt;</p>\","
                        "\"text\":\"Hi Tom & <Jerry>\\n\"}}");
}


/* a gateway payload's content in one step: the same bytes as in two */

static void
same_content(const ngx_campaign_t *c, const char *s)
{
    size_t                    n, len, json_len;
    cJSON                    *d;
    u_char                   *out, *json;
    const char               *lang, *json_lang;
    ngx_campaign_rendered_t  *r;

    d = data(s);

    assert_int_equal(ngx_campaign_content_render(&arena.alloc, c, d, &lang,
                                                 &r, &n),
                     0);
    assert_int_equal(ngx_campaign_content_json(&arena.alloc, r, n, &out,
                                               &len),
                     0);
    assert_int_equal(ngx_campaign_content_render_json(&arena.alloc, c, d,
                                                      &json_lang, &json,
                                                      &json_len),
                     0);

    assert_string_equal(json_lang, lang);
    assert_int_equal(json_len, len);
    assert_string_equal((char *) json, (char *) out);
}


static void
test_render_json(void **state)
{
    ngx_campaign_t  *c;

    (void) state;

    c = campaign("{'id': 'cart', 'name': 'Cart', 'type': 'transactional',"
                 " 'status': 'live', 'channel': 'push',"
                 " 'content': {'title': 'Hi \\\\ {{profile.name}}\\t',"
                 "  'body': '{{context.n}} \\\"items\\\"',"
                 "  'data': {'link': 'app://cart/{{context.cart}}',"
                 "   'kind': 'cart'}},"
                 " 'languages': {'fr': {'body': '{{context.n}} articles',"
                 "  'data': {'kind': 'panier'}}}}");

    same_content(c, "{'profile': {'name': 'Ann \\\"A\\\" \\\\ \\n'},"
                    " 'context': {'n': 2.5, 'cart': '<c1>'}}");
    same_content(c, "{'profile': {'name': 'Ann', 'preferredLanguage': 'fr'},"
                    " 'context': {'n': 2, 'cart': '\\u0002'}}");

    c = campaign("{'id': 'reset', 'name': 'Reset', 'type': 'transactional',"
                 " 'status': 'live', 'channel': 'email',"
                 " 'content': {'from': 'A <a@example.com>',"
                 "  'subject': 'Hi {{profile.name}}',"
                 "  'html': '<p class=\\\"x\\\">Hi {{profile.name}}"
                 "{{#each context.l}}<i>{{.}}</i>\\n{{/each}}</p>',"
                 "  'text': 'Hi {{profile.name}}\\n\\t{{{context.raw}}}'}}");

    same_content(c, "{'profile': {'name': 'Tom & <\\\"Jerry\\\">\\r'},"
                    " 'context': {'l': ['a\\\\b', 1, true, null],"
                    "  'raw': '<b>\\u001f</b>'}}");
    same_content(c, "{}");
}


static void
test_out_of_memory(void **state)
{
    size_t           i, len;
    cJSON           *d;
    u_char          *out;
    ngx_campaign_t  *c;

    (void) state;

    /* every allocation failing in turn: -1, never a crash */

    for (i = 1; /* void */ ; i++) {
        ngx_campaign_arena_destroy(&arena);
        ngx_campaign_arena_init(&arena, 0);

        c = campaign(sms);
        d = data("{'context': {'id': 'A1', 'language': 'fr'}}");

        arena.fail_at = arena.nallocs + i;

        if (ngx_campaign_content_preview(&arena.alloc, c, d, &out, &len)
            == 0)
        {
            break;
        }
    }

    assert_true(i > 3);
    assert_string_equal((char *) out,
                        "{\"campaignId\":\"shipped\",\"channel\":\"sms\","
                        "\"language\":\"fr\",\"content\":{"
                        "\"from\":\"SHOP\","
                        "\"body\":\"Commande A1 expédiée\"}}");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test_setup_teardown(test_language_choice, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_default_language, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_render_fallbacks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_json_escaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_render_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_push_data_group, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_push_sound_badge, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_preview_email, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_memory, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
