# What a client sends cannot forge a line of the error log: a value of
# the client's logged by the module stands in double quotes, with quotes,
# backslashes, control and non-ASCII bytes as \xHH, cut at 256 bytes
# with "\..." when longer.

use Test::Nginx::Socket 'no_plan';

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("http_config", <<'_EOC_') unless defined $block->http_config;
    campaign_definitions $TEST_NGINX_CAMPAIGNS;
_EOC_

    $block->set_value("config", <<'_EOC_') unless defined $block->config;
    campaign_gateway          email  /_gw;
    campaign_gateway_retries  0;

    location /ajo/im/ {
        campaign_api;
    }

    location = /_gw {
        internal;
        return 500;
    }
_EOC_

    $block->set_value("more_headers", "Content-Type: application/json\n")
        unless defined $block->more_headers;
});

run_tests();

__DATA__

=== TEST 1: a requestId with quotes and a backslash cannot pass for another field
--- request
POST /ajo/im/executions/unitary
{"requestId":"r\" \\ x\", requestId \"forged","campaignId":"welcome-email","context":{"resetLink":"https://acme.example/"},"recipients":[{"type":"aep","userId":"u","namespace":"email","channelData":{"emailAddress":"u@example.com"}}]}
--- error_code: 502
--- response_body_like: "detail":"every recipient's dispatch failed"
--- error_log
campaign: 502 problem: every recipient's dispatch failed, requestId "r\x22 \x5C x\x22, requestId \x22forged"
--- no_error_log
requestId "forged
requestId "r"
[alert]
[crit]



=== TEST 2: control characters never reach the log: an id is refused with them
--- request
POST /ajo/im/executions/unitary
{"requestId":"r\nforged line","campaignId":"welcome-email","context":{"resetLink":"https://acme.example/"},"recipients":[{"type":"aep","userId":"u","namespace":"email","channelData":{"emailAddress":"u@example.com"}}]}
--- error_code: 400
--- response_body_like: "pointer":"/requestId","message":"must not contain control characters"
--- no_error_log eval
[qr/^forged/, "[alert]", "[crit]"]



=== TEST 3: non-ASCII bytes are escaped; a long value is cut and marked
--- request eval
"POST /ajo/im/executions/unitary\n"
. '{"requestId":"' . ("\xc3\xa9" x 100) . '","campaignId":"welcome-email","context":{"resetLink":"https://acme.example/"},"recipients":[{"type":"aep","userId":"u","namespace":"email","channelData":{"emailAddress":"u@example.com"}}]}'
--- error_code: 502
--- error_log eval
'requestId "' . ('\xC3\xA9' x 32) . '\..."' . "\n"
--- no_error_log eval
[qr/[\x80-\xff]/, qr/(\\xC3\\xA9){33}/]



=== TEST 4: a campaignId that names no campaign is not logged as it came
--- request
POST /ajo/im/executions/unitary
{"requestId":"r","campaignId":"c\", requestId \"forged","recipients":[{"type":"aep","userId":"u","namespace":"email","channelData":{"emailAddress":"u@example.com"}}]}
--- error_code: 404
--- response_body_like: "detail":"unknown campaign"
--- error_log
campaign: 404 problem: unknown campaign
--- no_error_log
requestId "forged
[alert]
[crit]
