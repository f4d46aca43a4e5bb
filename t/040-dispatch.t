# Gateway dispatch: retries of 5xx answers and timeouts with backoff,
# per-recipient outcomes, and 502 when every recipient failed.

use Test::Nginx::Socket 'no_plan';

# Test::Nginx does not set it: a test file that uses it must
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("http_config", <<'_EOC_') unless defined $block->http_config;
    campaign_definitions $TEST_NGINX_CAMPAIGNS;
_EOC_

    $block->set_value("more_headers", "Content-Type: application/json\n")
        unless defined $block->more_headers;

    $block->set_value("no_error_log", "[alert]\n[crit]\nexited on signal\n")
        unless defined $block->no_error_log;
});

run_tests();

__DATA__

=== TEST 1: a 503 then a success: retried once, accepted
--- config
    campaign_gateway sms /_gw;
    campaign_gateway_retry_delay 10ms;

    location /ajo/im/ {
        campaign_api;
    }

    location = /_gw {
        internal;
        if ($http_x_campaign_attempt = "1") {
            return 503;
        }
        return 202;
    }
--- request
POST /ajo/im/executions/unitary
{"requestId":"r1","campaignId":"order-sms","recipients":[{"type":"aep","userId":"a","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"},"context":{"orderId":"X"}}]}
--- error_code: 202
--- response_body_like: "userId":"a","messageId":"[^"]+","status":"accepted","gatewayStatus":202,"attempts":2
--- error_log
gateway answered 503 for message
retrying in 10ms



=== TEST 2: retries back off: 10ms, then 20ms, then the message fails
--- config
    campaign_gateway sms /_gw;
    campaign_gateway_retries 2;
    campaign_gateway_retry_delay 10ms;

    location /ajo/im/ {
        campaign_api;
    }

    location = /_gw {
        internal;
        return 500;
    }
--- request
POST /ajo/im/executions/unitary
{"requestId":"r2","campaignId":"order-sms","recipients":[{"type":"aep","userId":"a","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"},"context":{"orderId":"X"}}]}
--- error_code: 502
--- response_headers
Content-Type: application/problem+json
--- response_body_like: "title":"Gateway failed","status":502,"detail":"every recipient's dispatch failed".*"errors":\[\{"pointer":"/recipients/0","message":"gateway answered 500 after 3 attempt\(s\)"\}\]
--- error_log
retrying in 10ms
retrying in 20ms
failed, gateway answered 500 after 3 attempt(s)



=== TEST 3: a 4xx from the gateway is final, not retried
--- config
    campaign_gateway sms /_gw;

    location /ajo/im/ {
        campaign_api;
    }

    location = /_gw {
        internal;
        return 422;
    }
--- request
POST /ajo/im/executions/unitary
{"requestId":"r3","campaignId":"order-sms","recipients":[{"type":"aep","userId":"a","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"},"context":{"orderId":"X"}}]}
--- error_code: 502
--- response_body_like: "message":"gateway answered 422 after 1 attempt\(s\)"
--- no_error_log
retrying



=== TEST 4: one recipient fails, the other is accepted: 202 with both outcomes
--- config
    campaign_gateway email /_gw;
    campaign_gateway_retries 0;

    location /ajo/im/ {
        campaign_api;
    }

    location = /_gw {
        internal;
        if ($http_idempotency_key ~ "-1$") {
            return 503;
        }
        return 202;
    }
--- request
POST /ajo/im/executions/unitary
{"requestId":"r4","campaignId":"welcome-email","context":{"resetLink":"https://acme.example/"},"recipients":[{"type":"aep","userId":"ok","namespace":"email","channelData":{"emailAddress":"ok@example.com"}},{"type":"aep","userId":"ko","namespace":"email","channelData":{"emailAddress":"ko@example.com"}}]}
--- error_code: 202
--- response_body_like: "userId":"ok","messageId":"[^"]+-0","status":"accepted","gatewayStatus":202,"attempts":1\},\{"userId":"ko","messageId":"[^"]+-1","status":"failed","gatewayStatus":503,"attempts":1\}



=== TEST 5: a gateway that times out is retried; when every message timed out the call is 504
--- config
    campaign_gateway sms /_gw;
    campaign_gateway_retries 1;
    campaign_gateway_retry_delay 10ms;

    location /ajo/im/ {
        campaign_api;
    }

    location = /_gw {
        internal;
        proxy_pass http://127.0.0.1:1986;
        proxy_read_timeout 200ms;
    }
--- tcp_listen: 1986
--- tcp_reply_delay: 2s
--- tcp_reply
HTTP/1.1 202 Accepted
Content-Length: 0


--- timeout: 5
--- request
POST /ajo/im/executions/unitary
{"requestId":"r5","campaignId":"order-sms","recipients":[{"type":"aep","userId":"a","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"},"context":{"orderId":"X"}}]}
--- error_code: 504
--- response_body_like: "title":"Gateway timeout","status":504,.*"message":"gateway answered 504 after 2 attempt\(s\)"
--- error_log
upstream timed out
retrying in 10ms



=== TEST 6: every gateway down: 502 for the call, no crash
--- config
    campaign_gateway email /_gw;
    campaign_gateway_retries 1;
    campaign_gateway_retry_delay 5ms;

    location /ajo/im/ {
        campaign_api;
    }

    location = /_gw {
        internal;
        proxy_pass http://127.0.0.1:1;
    }
--- request
POST /ajo/im/executions/unitary
{"requestId":"r6","campaignId":"welcome-email","context":{"resetLink":"https://acme.example/"},"recipients":[{"type":"aep","userId":"a","namespace":"email","channelData":{"emailAddress":"a@example.com"}},{"type":"aep","userId":"b","namespace":"email","channelData":{"emailAddress":"b@example.com"}},{"type":"aep","userId":"c","namespace":"email","channelData":{"emailAddress":"c@example.com"}}]}
--- error_code: 502
--- response_body_like: "pointer":"/recipients/0","message":"gateway answered 502 after 2 attempt\(s\)"\},\{"pointer":"/recipients/1",[^}]+\},\{"pointer":"/recipients/2","message":"gateway answered 502 after 2 attempt\(s\)"\}
--- error_log
Connection refused



=== TEST 7: a gateway behind an upstream with several peers is load-balanced like any proxy_pass
--- http_config
    campaign_definitions $TEST_NGINX_CAMPAIGNS;

    upstream sms_provider {
        server 127.0.0.1:1;
        server 127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
--- config
    campaign_gateway sms /_gw;

    location /ajo/im/ {
        campaign_api;
    }

    location = /_gw {
        internal;
        proxy_pass http://sms_provider/provider;
    }

    location = /provider {
        return 202 '{"queued":true}';
    }
--- request
POST /ajo/im/executions/unitary
{"requestId":"r7","campaignId":"order-sms","recipients":[{"type":"aep","userId":"a","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"},"context":{"orderId":"X"}}]}
--- error_code: 202
--- response_body_like: "status":"accepted","gatewayStatus":202,"attempts":1



=== TEST 8: the size of a gateway's answer does not matter: it is dropped
--- config
    campaign_gateway sms /_gw;
    campaign_gateway_retries 1;
    campaign_gateway_retry_delay 5ms;

    location /ajo/im/ {
        campaign_api;
    }

    location = /_gw {
        internal;
        subrequest_output_buffer_size 16;
        proxy_method GET;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/big;
    }

    location = /big {
        alias $TEST_NGINX_HTML_DIR/big.json;
    }
--- user_files eval
">>> big.json\n" . '{"padding":"' . ("x" x 200000) . '"}'
--- request
POST /ajo/im/executions/unitary
{"requestId":"r8","campaignId":"order-sms","recipients":[{"type":"aep","userId":"a","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"},"context":{"orderId":"X"}}]}
--- error_code: 202
--- response_body_like: "status":"accepted","gatewayStatus":200,"attempts":1\}\]\}$
--- no_error_log
[alert]
[crit]
too big



=== TEST 9: an error_page in the server does not keep a failed gateway subrequest alive
--- config
    error_page 500 502 503 504 /50x.html;

    campaign_gateway sms /_gw;
    campaign_gateway_retries 0;

    location /ajo/im/ {
        campaign_api;
    }

    location = /_gw {
        internal;
        proxy_pass http://127.0.0.1:1;
    }

    location = /50x.html {
        return 200 "sorry";
    }
--- request
POST /ajo/im/executions/unitary
{"requestId":"r9","campaignId":"order-sms","recipients":[{"type":"aep","userId":"a","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"},"context":{"orderId":"X"}}]}
--- error_code: 502
--- response_body_like: "message":"gateway answered 502 after 1 attempt\(s\)"



=== TEST 10: a gateway that fails over with error_page is counted once, by its final answer
--- config
    campaign_gateway sms /_gw;

    location /ajo/im/ {
        campaign_api;
    }

    location = /_gw {
        internal;
        proxy_pass http://127.0.0.1:1;
        proxy_intercept_errors on;
        error_page 502 = @secondary;
    }

    location @secondary {
        campaign_outbox logs/outbox.jsonl;
    }

    location = /lines {
        default_type text/plain;
        alias logs/outbox.jsonl;
    }
--- request eval
["POST /ajo/im/executions/unitary\n" . '{"requestId":"r10","campaignId":"order-sms","recipients":[{"type":"aep","userId":"a","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"},"context":{"orderId":"X"}}]}',
 "GET /lines"]
--- error_code eval
[202, 200]
--- response_body_like eval
[qr/"status":"accepted","gatewayStatus":202,"attempts":1/,
 qr/\A\{"messageId"[^\n]+\n\z/]



=== TEST 11: a gateway that closes the connection (444) fails its message only
--- config
    campaign_gateway email /_gw;
    campaign_gateway_retries 0;

    location /ajo/im/ {
        campaign_api;
    }

    location = /_gw {
        internal;
        if ($http_idempotency_key ~ "-1$") {
            return 444;
        }
        return 202;
    }
--- request
POST /ajo/im/executions/unitary
{"requestId":"r11","campaignId":"welcome-email","context":{"resetLink":"https://acme.example/"},"recipients":[{"type":"aep","userId":"ok","namespace":"email","channelData":{"emailAddress":"ok@example.com"}},{"type":"aep","userId":"closed","namespace":"email","channelData":{"emailAddress":"c@example.com"}}]}
--- error_code: 202
--- response_body_like: "userId":"ok",[^}]+"status":"accepted".*"userId":"closed",[^}]+"status":"failed","gatewayStatus":444
