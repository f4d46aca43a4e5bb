# Idempotency: with campaign_zone, a trigger is keyed by its campaignId and
# requestId, or by its Idempotency-Key header.  A repeat with the same
# body replays the first answer and sends nothing; another body is 422.

use Test::Nginx::Socket 'no_plan';

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("http_config", <<'_EOC_') unless defined $block->http_config;
    campaign_definitions $TEST_NGINX_CAMPAIGNS;
    campaign_zone campaign 1m;
_EOC_

    $block->set_value("config", <<'_EOC_') unless defined $block->config;
    campaign_gateway  sms  /_gw;

    location /ajo/im/ {
        campaign_api;
    }

    location /plain/ {
        campaign_api;
        campaign_idempotency off;
    }

    location = /_gw {
        internal;
        campaign_outbox logs/outbox.jsonl;
    }

    location = /_fail {
        internal;
        return 503;
    }

    location = /outbox {
        default_type text/plain;
        alias logs/outbox.jsonl;
    }
_EOC_

    $block->set_value("no_error_log", "[alert]\n[crit]\n[emerg]\n")
        unless defined $block->no_error_log;
});

our $T = sub {
    my ($rid, $order) = @_;
    return qq/{"requestId":"$rid","campaignId":"order-sms",/
        . qq/"context":{"orderId":"$order"},"recipients":[{"type":"aep",/
        . qq/"userId":"u1","namespace":"phone",/
        . qq/"channelData":{"mobilePhoneNumber":"+14155550100"},/
        . qq/"profile":{"firstName":"Ada"}}]}/;
};

run_tests();

__DATA__

=== TEST 1: a repeat with the same body replays the first answer and sends nothing
--- request eval
["POST /ajo/im/executions/unitary\n" . $::T->("i1", "A-1"),
 "POST /ajo/im/executions/unitary\n" . $::T->("i1", "A-1"),
 "GET /outbox"]
--- more_headers
Content-Type: application/json
--- error_code eval
[202, 202, 200]
--- response_headers eval
["!Idempotent-Replayed", "Idempotent-Replayed: true", ""]
--- response_body_like eval
[qr/^\{"executionId":"([0-9a-f-]{36})","requestId":"i1".*"status":"accepted"/,
 qr/^\{"executionId":"[0-9a-f-]{36}","requestId":"i1".*"status":"accepted"/,
 qr/\A\{"messageId":"[^\n]*"requestId":"i1"[^\n]*\}\n\z/]



=== TEST 2: the same requestId with another body is 422
--- request eval
["POST /ajo/im/executions/unitary\n" . $::T->("i3", "A-3"),
 "POST /ajo/im/executions/unitary\n" . $::T->("i3", "B-3"),
 "GET /outbox"]
--- more_headers
Content-Type: application/json
--- error_code eval
[202, 422, 200]
--- response_body_like eval
[qr/"status":"accepted"/,
 qr/\{"type":"urn:ngx-campaign:problem:idempotency-key-reused","title":"Idempotency key reused","status":422,"detail":"the key was used before with another body","instance":"\/ajo\/im\/executions\/unitary","errors":\[\{"pointer":"\/requestId","message":"an earlier request with this key had a different body"\}\]\}/,
 qr/\A\{[^\n]*Order A-3 [^\n]*\}\n\z/]



=== TEST 3: the same requestId in another campaign is another key
--- request eval
["POST /ajo/im/executions/unitary\n" . $::T->("i4", "A-4"),
 "POST /ajo/im/executions/unitary\n" . ($::T->("i4", "A-4") =~ s/order-sms/welcome-email/r)]
--- more_headers
Content-Type: application/json
--- error_code eval
[202, 400]
--- response_body_like eval
[qr/"status":"accepted"/, qr/"pointer":"\/recipients\/0\/namespace"/]



=== TEST 4: an Idempotency-Key header keys the request instead of its requestId
--- request eval
["POST /ajo/im/executions/unitary\n" . $::T->("i5a", "A-5"),
 "POST /ajo/im/executions/unitary\n" . $::T->("i5a", "A-5"),
 "POST /ajo/im/executions/unitary\n" . $::T->("i5b", "A-5"),
 "GET /outbox"]
--- more_headers eval
["Content-Type: application/json\nIdempotency-Key: \"k-5\"",
 "Content-Type: application/json\nIdempotency-Key: k-5",
 "Content-Type: application/json\nIdempotency-Key: k-5",
 ""]
--- error_code eval
[202, 202, 422, 200]
--- response_headers eval
["!Idempotent-Replayed", "Idempotent-Replayed: true", "!Idempotent-Replayed", ""]
--- response_body_like eval
[qr/"requestId":"i5a"/, qr/"requestId":"i5a"/,
 qr/"status":422,.*"errors":\[\{"pointer":"","message":"an earlier request with this key had a different body"\}\]/,
 qr/\A\{[^\n]*"i5a"[^\n]*\}\n\z/]



=== TEST 5: an Idempotency-Key that is not one is a 400, and nothing is sent
--- request eval
["POST /ajo/im/executions/unitary\n" . $::T->("i6", "A-6"),
 "GET /outbox"]
--- more_headers eval
["Content-Type: application/json\nIdempotency-Key: a b",
 ""]
--- error_code eval
[400, 200]
--- response_body_like eval
[qr/"detail":"the Idempotency-Key header is invalid"/, qr/\A\z/]



=== TEST 6: a refused trigger is not kept: corrected, it runs
--- request eval
["POST /ajo/im/executions/unitary\n" . ($::T->("i7", "A-7") =~ s/\+14155550100"/not-a-number"/r),
 "POST /ajo/im/executions/unitary\n" . $::T->("i7", "A-7")]
--- more_headers
Content-Type: application/json
--- error_code eval
[400, 202]
--- response_headers eval
["", "!Idempotent-Replayed"]



=== TEST 7: a failed trigger's problem is replayed too, and nothing is sent again
--- config
    campaign_gateway  sms  /_gw;
    campaign_gateway_retries 0;

    location /ajo/im/ {
        campaign_api;
    }

    location = /_gw {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/failing;
    }

    location = /failing {
        access_log logs/gateway.log;
        return 503;
    }

    location = /gateway {
        default_type text/plain;
        alias logs/gateway.log;
    }
--- request eval
["POST /ajo/im/executions/unitary\n" . $::T->("i7", "A-7"),
 "POST /ajo/im/executions/unitary\n" . $::T->("i7", "A-7"),
 "GET /gateway"]
--- more_headers
Content-Type: application/json
--- error_code eval
[502, 502, 200]
--- response_headers eval
["Content-Type: application/problem+json\n!Idempotent-Replayed",
 "Content-Type: application/problem+json\nIdempotent-Replayed: true",
 ""]
--- response_body_like eval
[qr/"detail":"every recipient's dispatch failed"/,
 qr/"detail":"every recipient's dispatch failed"/,
 qr/\A[^\n]*POST \/failing [^\n]*\n\z/]



=== TEST 8: campaign_idempotency off: each call runs
--- request eval
["POST /plain/executions/unitary\n" . $::T->("i9", "A-9"),
 "POST /plain/executions/unitary\n" . $::T->("i9", "A-9"),
 "GET /outbox"]
--- more_headers
Content-Type: application/json
--- error_code eval
[202, 202, 200]
--- response_headers eval
["!Idempotent-Replayed", "!Idempotent-Replayed", ""]
--- response_body_like eval
[qr/"status":"accepted"/, qr/"status":"accepted"/,
 qr/\A\{[^\n]*"i9"[^\n]*\}\n\{[^\n]*"i9"[^\n]*\}\n\z/]



=== TEST 9: a zone too small is refused at start
--- http_config
    campaign_definitions $TEST_NGINX_CAMPAIGNS;
    campaign_zone campaign 4k;
--- config
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*invalid zone size "4k", at least \d+/
--- no_error_log
[alert]



=== TEST 10: a full zone lets its least recently used answers go: the oldest runs again
--- http_config
    campaign_definitions $TEST_NGINX_CAMPAIGNS;
    campaign_zone campaign 32k;
--- config
    campaign_gateway  sms  /_gw;

    location /ajo/im/ {
        campaign_api;
    }

    location = /_gw {
        internal;
        return 202;
    }
--- request eval
[(map { "POST /ajo/im/executions/unitary\n" . $::T->("full-$_", "F-$_") } 1 .. 120),
 "POST /ajo/im/executions/unitary\n" . $::T->("full-120", "F-120"),
 "POST /ajo/im/executions/unitary\n" . $::T->("full-1", "F-1")]
--- more_headers
Content-Type: application/json
--- error_code eval
[(202) x 122]
--- response_headers eval
[("") x 120, "Idempotent-Replayed: true", "!Idempotent-Replayed"]




=== TEST 11: a body that differs from the first by one byte, or by a space, is 422
--- request eval
["POST /ajo/im/executions/unitary\n" . $::T->("i11", "A-11"),
 "POST /ajo/im/executions/unitary\n" . ($::T->("i11", "A-11") =~ s/^\{/{ /r),
 "POST /ajo/im/executions/unitary\n" . ($::T->("i11", "A-11") =~ s/Ada/Adb/r),
 "POST /ajo/im/executions/unitary\n" . $::T->("i11", "11-A"),
 "POST /ajo/im/executions/unitary\n" . $::T->("i11", "A-11"),
 "GET /outbox"]
--- more_headers eval
[("Content-Type: application/json\nIdempotency-Key: k-11") x 5, ""]
--- error_code eval
[202, 422, 422, 422, 202, 200]
--- response_headers eval
["!Idempotent-Replayed", "!Idempotent-Replayed", "!Idempotent-Replayed",
 "!Idempotent-Replayed", "Idempotent-Replayed: true", ""]
--- response_body_like eval
[qr/"status":"accepted"/,
 qr/"status":422,.*"message":"an earlier request with this key had a different body"/,
 qr/"status":422,.*"message":"an earlier request with this key had a different body"/,
 qr/"status":422,.*"message":"an earlier request with this key had a different body"/,
 qr/"status":"accepted"/,
 qr/\A\{[^\n]*Order A-11 [^\n]*\}\n\z/]



=== TEST 12: a full zone keeps the stop switches and the counters: only idempotency records go
--- http_config
    campaign_definitions $TEST_NGINX_CAMPAIGNS;
    campaign_zone campaign 32k;
--- config
    campaign_gateway  sms    /_gw;
    campaign_gateway  email  /_gw;

    location /ajo/im/ {
        campaign_api;
    }

    location = /_gw {
        internal;
        return 202;
    }

    location = /metrics {
        campaign_metrics;
    }
--- request eval
["POST /ajo/im/campaigns/welcome-email/stop",
 (map { "POST /ajo/im/executions/unitary\n" . $::T->("stop-full-$_", "S-$_") } 1 .. 120),
 "POST /ajo/im/executions/unitary\n"
 . qq/{"requestId":"w-1","campaignId":"welcome-email","recipients":[/
 . qq/{"type":"aep","userId":"ada\@example.com","namespace":"email",/
 . qq/"channelData":{"emailAddress":"ada\@example.com"},/
 . qq/"profile":{"firstName":"Ada"},/
 . qq/"context":{"resetLink":"https:\/\/acme.example\/r"}}]}/,
 "GET /ajo/im/campaigns/order-sms/report",
 "GET /metrics"]
--- more_headers
Content-Type: application/json
--- error_code eval
[200, (202) x 120, 409, 200, 200]
--- response_body_like eval
[qr/"stopped":true/,
 (qr/"status":"accepted"/) x 120,
 qr/"type":"urn:ngx-campaign:problem:campaign-stopped"/,
 qr/"sms":\{"triggers":120,"recipients":120,"messages":\{"accepted":120,/,
 qr/^ngx_campaign_zone_evictions_total\{zone="campaign"\} [1-9]\d*$/m]



=== TEST 13: after many records went to make room, each record kept is still found: the last ones replay, the first runs again
--- http_config
    campaign_definitions $TEST_NGINX_CAMPAIGNS;
    campaign_zone campaign 64k;
--- config
    campaign_gateway  sms  /_gw;

    location /ajo/im/ {
        campaign_api;
    }

    location = /_gw {
        internal;
        return 202;
    }

    location = /metrics {
        campaign_metrics;
    }
--- request eval
[(map { "POST /ajo/im/executions/unitary\n" . $::T->("many-$_", "M-$_") } 1 .. 250),
 (map { "POST /ajo/im/executions/unitary\n" . $::T->("many-$_", "M-$_") } sort { $b <=> $a } 231 .. 250),
 "POST /ajo/im/executions/unitary\n" . $::T->("many-1", "M-1"),
 "GET /metrics"]
--- more_headers
Content-Type: application/json
--- error_code eval
[(202) x 271, 200]
--- response_headers eval
[("!Idempotent-Replayed") x 250, ("Idempotent-Replayed: true") x 20,
 "!Idempotent-Replayed", ""]
--- response_body_like eval
[(qr/"status":"accepted"/) x 271,
 qr/^ngx_campaign_zone_evictions_total\{zone="campaign"\} (?:1[5-9]\d|2\d\d)$/m]
