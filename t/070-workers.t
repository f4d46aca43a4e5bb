# Several worker processes: every trigger is answered and every message
# lands in the outbox exactly once, lines never interleave, no worker dies.

use Test::Nginx::Socket 'no_plan';

master_on();
workers(2);
no_shuffle();

our $Trigger = '{"requestId":"w","campaignId":"order-sms","recipients":['
    . CORE::join(",", map {
        qq/{"type":"aep","userId":"u$_","namespace":"phone",/
        . qq/"channelData":{"mobilePhoneNumber":"+1415555010$_"},/
        . qq/"context":{"orderId":"W-$_"}}/
    } 0 .. 4)
    . ']}';

run_tests();

__DATA__

=== TEST 1: twelve triggers of five recipients each across two workers
--- http_config
    campaign_definitions $TEST_NGINX_CAMPAIGNS;
--- config
    campaign_gateway sms /_gw;

    location /ajo/im/ {
        campaign_api;
    }

    location = /_gw {
        internal;
        campaign_outbox logs/outbox.jsonl;
    }

    location = /count {
        default_type text/plain;
        alias logs/outbox.jsonl;
    }
--- more_headers
Content-Type: application/json
--- request eval
[ (map { "POST /ajo/im/executions/unitary\n$::Trigger" } 1 .. 12), "GET /count" ]
--- error_code eval
[ (202) x 12, 200 ]
--- response_body_like eval
[ (qr/^\{"executionId".*("status":"accepted".*){5}\]\}$/s) x 12,
  qr/\A(\{"messageId":"[^"]+","executionId"[^\n]*"body":"Order W-\d for  & co"\}\}\n){60}\z/ ]
--- no_error_log
[alert]
[crit]
exited on signal
