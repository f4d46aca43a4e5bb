# Languages: a campaign carries content per language; the trigger's
# context.language or the profile's preferredLanguage picks one, with the
# campaign's default language as the fallback.

use Test::Nginx::Socket 'no_plan';

# Test::Nginx does not set it: a test file that uses it must
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("http_config", <<'_EOC_') unless defined $block->http_config;
    campaign_definitions $TEST_NGINX_HTML_DIR/campaigns;
_EOC_

    $block->set_value("config", <<'_EOC_') unless defined $block->config;
    campaign_gateway  sms  /_gw;

    location /ajo/im/ {
        campaign_api;
    }

    location = /_gw {
        internal;
        campaign_outbox logs/outbox.jsonl;
    }

    location = /outbox {
        default_type text/plain;
        alias logs/outbox.jsonl;
    }
_EOC_

    $block->set_value("user_files", <<'_EOF_') unless defined $block->user_files;
>>> campaigns/hello.json
{
    "id": "hello",
    "name": "Hello in several languages",
    "type": "transactional",
    "status": "live",
    "channel": "sms",
    "defaultLanguage": "en",
    "content": { "from": "ACME", "body": "Hello {{profile.firstName}}" },
    "languages": {
        "fr": { "body": "Bonjour {{profile.firstName}}" },
        "pt-BR": { "body": "Olá {{profile.firstName}}" }
    }
}
_EOF_

    $block->set_value("more_headers", "Content-Type: application/json\n")
        unless defined $block->more_headers;

    $block->set_value("no_error_log", "[alert]\n[crit]\n")
        unless defined $block->no_error_log;
});

our $R = sub {
    my ($id, $profile, $context) = @_;
    return qq/{"type":"aep","userId":"$id","namespace":"phone",/
         . qq/"channelData":{"mobilePhoneNumber":"+14155550100"},/
         . qq/"profile":$profile,"context":$context}/;
};

run_tests();

__DATA__

=== TEST 1: the profile's preferred language picks the content; other fields fall back
--- request eval
["POST /ajo/im/executions/unitary\n"
 . '{"requestId":"l1","campaignId":"hello","recipients":['
 . $::R->("a", '{"firstName":"Ada","preferredLanguage":"fr"}', '{}') . ','
 . $::R->("b", '{"firstName":"Bob"}', '{}') . ']}',
 "GET /outbox"]
--- error_code eval
[202, 200]
--- response_body_like eval
[qr/"userId":"a".*"status":"accepted".*"userId":"b".*"status":"accepted"/,
 qr/"userId":"a".*"language":"fr".*"content":\{"from":"ACME","body":"Bonjour Ada"\}.*\n.*"userId":"b".*"language":"en".*"content":\{"from":"ACME","body":"Hello Bob"\}/]



=== TEST 2: the trigger's context.language wins over the profile's
--- request eval
["POST /ajo/im/executions/unitary\n"
 . '{"requestId":"l2","campaignId":"hello","recipients":['
 . $::R->("c", '{"firstName":"Chloé","preferredLanguage":"fr"}', '{"language":"pt-BR"}') . ']}',
 "GET /outbox"]
--- error_code eval
[202, 200]
--- response_body_like eval
[qr/"status":"accepted"/, qr/"language":"pt-BR".*"body":"Olá Chloé"/]



=== TEST 3: a regional tag falls back to its language, an unknown one to the default
--- request eval
["POST /ajo/im/campaigns/hello/preview\n" . '{"profile":{"firstName":"Élise","preferredLanguage":"fr-CA"}}',
 "POST /ajo/im/campaigns/hello/preview\n" . '{"profile":{"firstName":"Jan","preferredLanguage":"nl"}}']
--- error_code eval
[200, 200]
--- response_body eval
["{\"campaignId\":\"hello\",\"channel\":\"sms\",\"language\":\"fr\",\"content\":{\"from\":\"ACME\",\"body\":\"Bonjour Élise\"}}\n",
 "{\"campaignId\":\"hello\",\"channel\":\"sms\",\"language\":\"en\",\"content\":{\"from\":\"ACME\",\"body\":\"Hello Jan\"}}\n"]



=== TEST 4: an invalid language tag stops nginx with the field
--- user_files
>>> campaigns/bad.json
{ "id": "bad", "name": "Bad", "type": "transactional", "status": "live",
  "channel": "sms", "content": { "body": "x" },
  "languages": { "français": { "body": "y" } } }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*campaign ".*bad\.json", field "languages\./
