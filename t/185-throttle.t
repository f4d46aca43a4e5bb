# Throttles: a campaign's "throttle" is a token bucket in campaign_zone.
# A unitary trigger takes as many tokens as it has recipients, all or
# none; without them it is 429 with Retry-After, and nothing is sent.

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("http_config", <<'_EOC_') unless defined $block->http_config;
    campaign_definitions $TEST_NGINX_HTML_DIR/campaigns;
    campaign_zone campaign 1m;
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
>>> campaigns/slow.json
{
    "id": "slow-sms",
    "name": "Throttled SMS",
    "type": "transactional",
    "status": "live",
    "channel": "sms",
    "throttle": { "rate": 1, "burst": 2 },
    "content": { "body": "Hi {{profile.firstName}}" }
}
_EOF_

    $block->set_value("more_headers", "Content-Type: application/json\n")
        unless defined $block->more_headers;

    $block->set_value("no_error_log", "[alert]\n[crit]\n[emerg]\n")
        unless defined $block->no_error_log;
});

our $T = sub {
    my ($rid, $n) = @_;
    my @r = map {
        qq/{"type":"aep","userId":"u$_","namespace":"phone",/
        . qq/"channelData":{"mobilePhoneNumber":"+1415555010$_"},/
        . qq/"profile":{"firstName":"P$_"}}/
    } 0 .. $n - 1;
    return qq/{"requestId":"$rid","campaignId":"slow-sms","recipients":[/
           . join(',', @r) . ']}';
};

run_tests();

__DATA__

=== TEST 1: the burst goes through, the next trigger waits: 429 with Retry-After
--- request eval
["POST /ajo/im/executions/unitary\n" . $::T->("s1", 2),
 "POST /ajo/im/executions/unitary\n" . $::T->("s2", 1),
 "GET /outbox"]
--- error_code eval
[202, 429, 200]
--- response_headers eval
["!Retry-After", "Retry-After: 1\nContent-Type: application/problem+json", ""]
--- response_body_like eval
[qr/"status":"accepted".*"status":"accepted"/,
 qr/\{"type":"urn:ngx-campaign:problem:throttled","title":"Throttled","status":429,"detail":"the campaign's throttle is exhausted for now"/,
 qr/\A\{[^\n]*"s1"[^\n]*\}\n\{[^\n]*"s1"[^\n]*\}\n\z/]



=== TEST 2: a throttled trigger is not kept: repeated, it is throttled again, not replayed
--- request eval
["POST /ajo/im/executions/unitary\n" . $::T->("s3", 2),
 "POST /ajo/im/executions/unitary\n" . $::T->("s4", 1),
 "POST /ajo/im/executions/unitary\n" . $::T->("s4", 1)]
--- error_code eval
[202, 429, 429]
--- response_headers eval
["", "!Idempotent-Replayed", "!Idempotent-Replayed\nRetry-After: 1"]



=== TEST 3: a replay takes no tokens
--- request eval
["POST /ajo/im/executions/unitary\n" . $::T->("s5", 2),
 "POST /ajo/im/executions/unitary\n" . $::T->("s5", 2)]
--- error_code eval
[202, 202]
--- response_headers eval
["!Idempotent-Replayed", "Idempotent-Replayed: true"]



=== TEST 4: more recipients than the burst can never pass
--- request eval
"POST /ajo/im/executions/unitary\n" . $::T->("s6", 3)
--- error_code: 429
--- response_headers
!Retry-After
--- response_body_like: "errors":\[\{"pointer":"\/recipients","message":"more recipients than the throttle's burst"\}\]



=== TEST 5: without campaign_zone a throttle is not applied, and nginx says so
--- http_config
    campaign_definitions $TEST_NGINX_HTML_DIR/campaigns;
--- request eval
"POST /ajo/im/executions/unitary\n" . $::T->("s7", 3)
--- error_code: 202
--- error_log
campaign "slow-sms" has a throttle, which needs "campaign_zone": it is not applied
