# The personalisation language through the module: fragments (a
# campaign's own and shared ones), Handlebars helpers and AJO expressions,
# compiled with the configuration and rendered per recipient.

use Test::Nginx::Socket 'no_plan';

# Test::Nginx does not set it: a test file that uses it must
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("http_config", <<'_EOC_') unless defined $block->http_config;
    campaign_definitions $TEST_NGINX_HTML_DIR/campaigns
                         fragments=$TEST_NGINX_HTML_DIR/fragments;
_EOC_

    $block->set_value("config", <<'_EOC_') unless defined $block->config;
    location /ajo/im/ {
        campaign_api;
    }
_EOC_

    $block->set_value("more_headers", "Content-Type: application/json\n")
        unless defined $block->more_headers;

    $block->set_value("no_error_log", "[alert]\n[crit]\n")
        unless defined $block->no_error_log;
});

run_tests();

__DATA__

=== TEST 1: helpers, expressions and fragments in one e-mail
--- user_files
>>> fragments/signature.mustache
-- {%= context.team ?: "Acme" %}
>>> campaigns/digest.json
{
    "id": "digest",
    "name": "Order digest",
    "type": "transactional",
    "status": "live",
    "channel": "email",
    "fragments": { "greeting": "Hi {%= capitalize(profile.firstName) ?: \"there\" %}" },
    "content": {
        "from": "a@acme.example",
        "subject": "{{> greeting}}: {%= length(context.items) %} item(s)",
        "text": "{{> greeting}},\n{{#each context.items}}{{@index}}. {{this.name}}{{#if this.gift}} (gift){{/if}}{{#unless @last}}, {{/unless}}{{/each}}\n{%#if length(context.items) > 2 %}Free shipping!{%else%}Add one more for free shipping.{%/if%}\n{{> signature}}",
        "html": "<p>{{#with profile}}{{firstName}} &amp; {{{lastName}}}{{/with}}</p>"
    }
}
--- request
POST /ajo/im/campaigns/digest/preview
{"profile":{"firstName":"ada","lastName":"<b>L</b>"},"context":{"items":[{"name":"Lamp"},{"name":"Book","gift":true},{"name":"Pen"}]}}
--- error_code: 200
--- response_body
{"campaignId":"digest","channel":"email","language":"en","content":{"from":"a@acme.example","subject":"Hi Ada: 3 item(s)","html":"<p>ada &amp; <b>L</b></p>","text":"Hi Ada,\n0. Lamp, 1. Book (gift), 2. Pen\nFree shipping!\n-- Acme\n"}}



=== TEST 2: fallbacks and mask() on missing data
--- user_files
>>> fragments/empty.mustache
>>> campaigns/mask.json
{
    "id": "mask",
    "name": "Masked card",
    "type": "transactional",
    "status": "live",
    "channel": "sms",
    "content": { "body": "{%= profile.firstName ?: \"Customer\" %}, card {%= mask(context.card, 0, 4) %} was charged {%= formatNumber(context.amount, 2) %} EUR" }
}
--- request
POST /ajo/im/campaigns/mask/preview
{"context":{"card":"4111111111111111","amount":12.5}}
--- error_code: 200
--- response_body
{"campaignId":"mask","channel":"sms","language":"en","content":{"body":"Customer, card XXXXXXXXXXXX1111 was charged 12.50 EUR"}}



=== TEST 3: an unknown function stops nginx with its line and column
--- user_files
>>> fragments/empty.mustache
>>> campaigns/typo.json
{ "id": "typo", "name": "Typo", "type": "transactional", "status": "live",
  "channel": "sms", "content": { "body": "Hi\n{%= lowercase(profile.firstName) %}" } }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*campaign ".*typo\.json", field "content\.body", line 2, column \d+: unknown function "lowercase"/



=== TEST 4: an unknown fragment stops nginx too
--- user_files
>>> fragments/empty.mustache
>>> campaigns/nofrag.json
{ "id": "nofrag", "name": "No fragment", "type": "transactional", "status": "live",
  "channel": "sms", "content": { "body": "{{> footer}}" } }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*field "content\.body", line 1, column 1: unknown fragment "footer"/



=== TEST 5: data is never a template, whatever it contains
--- user_files
>>> fragments/empty.mustache
>>> campaigns/echo.json
{ "id": "echo", "name": "Echo", "type": "transactional", "status": "live",
  "channel": "sms", "content": { "body": "[{{context.x}}] [{%= context.x %}]" } }
--- request
POST /ajo/im/campaigns/echo/preview
{"context":{"x":"{{> empty}}{%= 1 %}{{#each a}}"}}
--- error_code: 200
--- response_body
{"campaignId":"echo","channel":"sms","language":"en","content":{"body":"[{{> empty}}{%= 1 %}{{#each a}}] [{{> empty}}{%= 1 %}{{#each a}}]"}}



=== TEST 7: a render over its limits fails that recipient only
--- config
    campaign_gateway  email  /_gw;

    location /ajo/im/ {
        campaign_api;
    }

    location = /_gw {
        internal;
        return 202;
    }
--- user_files
>>> fragments/unused.mustache
-
>>> campaigns/nested.json
{
    "id": "nested",
    "name": "Nested loops",
    "type": "transactional",
    "status": "live",
    "channel": "email",
    "content": {
        "from": "a@acme.example",
        "subject": "Hi",
        "text": "{{#context.n}}{{#context.n}}{{#context.n}}x{{/context.n}}{{/context.n}}{{/context.n}}"
    }
}
--- request eval
"POST /ajo/im/executions/unitary
{\"requestId\":\"t9\",\"campaignId\":\"nested\",\"recipients\":["
. "{\"type\":\"aep\",\"userId\":\"big\",\"namespace\":\"email\",\"channelData\":{\"emailAddress\":\"big\@example.com\"},\"profile\":{},\"context\":{\"n\":[" . ("1," x 299) . "1" . "]}},"
. "{\"type\":\"aep\",\"userId\":\"small\",\"namespace\":\"email\",\"channelData\":{\"emailAddress\":\"small\@example.com\"},\"profile\":{},\"context\":{\"n\":[1,1]}}]}"
--- error_code: 202
--- response_body_like eval
qr/\{"userId":"big","messageId":"[0-9a-f-]{36}-0","status":"failed","reason":"the content could not be rendered","attempts":0\},\{"userId":"small","messageId":"[0-9a-f-]{36}-1","status":"accepted","gatewayStatus":202,"attempts":1\}/
--- error_log eval
qr/\[warn\] .*campaign: rendering message [0-9a-f-]{36}-0 failed: out of memory or over the limits/
