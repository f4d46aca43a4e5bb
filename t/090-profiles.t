# Profile lookup: a recipient without an inline profile gets one from the
# location campaign_profile_lookup names, built from $campaign_namespace
# and $campaign_user_id.

use Test::Nginx::Socket 'no_plan';

# Test::Nginx does not set it: a test file that uses it must
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("http_config", <<'_EOC_') unless defined $block->http_config;
    campaign_definitions $TEST_NGINX_CAMPAIGNS;
_EOC_

    $block->set_value("config", <<'_EOC_') unless defined $block->config;
    campaign_gateway  sms  /_gw;
    campaign_profile_lookup /_profiles/$campaign_namespace/$campaign_user_id.json;

    location /ajo/im/ {
        campaign_api;
    }

    location /_profiles/ {
        internal;
        default_type application/json;
        alias $TEST_NGINX_HTML_DIR/profiles/;
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
>>> profiles/phone/+14155550100.json
{"firstName": "Grace", "lastName": "Hopper"}
>>> profiles/phone/+14155550101.json
{"firstName": "Alan"}
>>> profiles/phone/+14155550199.json
this is not JSON
_EOF_

    $block->set_value("more_headers", "Content-Type: application/json\n")
        unless defined $block->more_headers;

    $block->set_value("no_error_log", "[alert]\n[crit]\nexited on signal\n")
        unless defined $block->no_error_log;
});

our $R = sub {
    my ($id, $phone, $extra) = @_;
    $extra //= '';
    return qq/{"type":"aep","userId":"$id","namespace":"phone","channelData":{"mobilePhoneNumber":"$phone"}$extra}/;
};

run_tests();

__DATA__

=== TEST 1: the profile is fetched and rendered
--- request eval
["POST /ajo/im/executions/unitary\n"
 . '{"requestId":"p1","campaignId":"order-sms","context":{"orderId":"P-1"},"recipients":['
 . $::R->("+14155550100", "+14155550100") . ']}',
 "GET /outbox"]
--- error_code eval
[202, 200]
--- response_body_like eval
[qr/"status":"accepted","gatewayStatus":202,"attempts":1/,
 qr/"body":"Order P-1 for Grace & co"/]



=== TEST 2: an inline profile is used as it is: no lookup
--- config
    campaign_gateway  sms  /_gw;
    campaign_profile_lookup /_profiles/$campaign_user_id;

    location /ajo/im/ {
        campaign_api;
    }

    location /_profiles/ {
        return 500;
    }

    location = /_gw {
        internal;
        campaign_outbox logs/outbox.jsonl;
    }

    location = /outbox {
        default_type text/plain;
        alias logs/outbox.jsonl;
    }
--- request eval
["POST /ajo/im/executions/unitary\n"
 . '{"requestId":"p2","campaignId":"order-sms","context":{"orderId":"P-2"},"recipients":['
 . $::R->("+14155550100", "+14155550100", ',"profile":{"firstName":"Inline"}') . ']}',
 "GET /outbox"]
--- error_code eval
[202, 200]
--- response_body_like eval
[qr/"status":"accepted"/, qr/"body":"Order P-2 for Inline & co"/]



=== TEST 3: an unknown profile fails its recipient only
--- request
POST /ajo/im/executions/unitary
{"requestId":"p3","campaignId":"order-sms","context":{"orderId":"P-3"},"recipients":[{"type":"aep","userId":"+14155550101","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550101"}},{"type":"aep","userId":"+14155550102","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550102"}}]}
--- error_code: 202
--- response_body_like: "userId":"\+14155550101",[^}]*"status":"accepted","gatewayStatus":202,"attempts":1\},\{"userId":"\+14155550102","messageId":"[^"]+","status":"failed","reason":"no profile for this userId in its namespace","attempts":0\}



=== TEST 4: when no recipient has a profile the call is 404
--- request
POST /ajo/im/executions/unitary
{"requestId":"p4","campaignId":"order-sms","context":{"orderId":"P-4"},"recipients":[{"type":"aep","userId":"+14155550108","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550108"}},{"type":"aep","userId":"+14155550109","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550109"}}]}
--- error_code: 404
--- response_headers
Content-Type: application/problem+json
--- response_body_like: "detail":"no recipient has a profile".*"errors":\[\{"pointer":"/recipients/0/userId","message":"no profile for this userId in its namespace"\},\{"pointer":"/recipients/1/userId"



=== TEST 5: a profile that is not a JSON object fails its recipient
--- request
POST /ajo/im/executions/unitary
{"requestId":"p5","campaignId":"order-sms","context":{"orderId":"P-5"},"recipients":[{"type":"aep","userId":"+14155550199","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550199"}}]}
--- error_code: 502
--- response_body_like: "pointer":"/recipients/0/userId","message":"the profile lookup failed"
--- error_log
is not a JSON object



=== TEST 6: a userId or namespace that would leave the path is refused, never looked up
--- request
POST /ajo/im/executions/unitary
{"requestId":"p6","campaignId":"order-sms","context":{"orderId":"P-6"},"recipients":[{"type":"aep","userId":"../../../etc/passwd","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"}},{"type":"aep","userId":"+14155550100","namespace":"../secret","channelData":{"mobilePhoneNumber":"+14155550100"}}]}
--- error_code: 400
--- response_body_like: "errors":\[\{"pointer":"/recipients/0/userId","message":"must contain only the characters A-Z a-z 0-9 @ \. _ - \+ : = ~"\},\{"pointer":"/recipients/1/namespace","message":"must contain only the characters A-Z a-z 0-9 _ -"\}\]
--- no_error_log
/etc/passwd" failed
open()
[alert]



=== TEST 7: lookups through proxy_pass, with arguments, for every recipient in parallel
--- config
    campaign_gateway  sms  /_gw;
    campaign_profile_lookup /_profiles/$campaign_namespace/$campaign_user_id?fields=name;

    location /ajo/im/ {
        campaign_api;
    }

    location /_profiles/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/api/;
    }

    location /api/phone/ {
        if ($arg_fields != "name") {
            return 400;
        }
        default_type application/json;
        return 200 '{"firstName":"Proxied $uri"}';
    }

    location = /_gw {
        internal;
        campaign_outbox logs/outbox.jsonl;
    }

    location = /outbox {
        default_type text/plain;
        alias logs/outbox.jsonl;
    }
--- request eval
["POST /ajo/im/executions/unitary\n"
 . '{"requestId":"p7","campaignId":"order-sms","context":{"orderId":"P-7"},"recipients":['
 . $::R->("a1", "+14155550100") . ',' . $::R->("b2", "+14155550101") . ']}',
 "GET /outbox"]
--- error_code eval
[202, 200]
--- response_body_like eval
[qr/"userId":"a1",[^}]+"status":"accepted".*"userId":"b2",[^}]+"status":"accepted"/,
 qr/"body":"Order P-7 for Proxied \/api\/phone\/a1 & co".*\n.*"body":"Order P-7 for Proxied \/api\/phone\/b2 & co"/]



=== TEST 8: $campaign_user_id names the message's recipient in the gateway too
--- config
    campaign_gateway  sms  /_gw;

    location /ajo/im/ {
        campaign_api;
    }

    location = /_gw {
        internal;
        if ($campaign_user_id != "x9") {
            return 500;
        }
        return 202;
    }
--- request
POST /ajo/im/executions/unitary
{"requestId":"p8","campaignId":"order-sms","context":{"orderId":"P-8"},"recipients":[{"type":"aep","userId":"x9","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"}}]}
--- error_code: 202
--- response_body_like: "status":"accepted"



=== TEST 9: a profile over campaign_profile_max_size fails its recipient
--- config
    campaign_gateway  sms  /_gw;
    campaign_profile_lookup /_profiles/$campaign_namespace/$campaign_user_id.json;
    campaign_profile_max_size 16;

    location /ajo/im/ {
        campaign_api;
    }

    location /_profiles/ {
        internal;
        alias $TEST_NGINX_HTML_DIR/profiles/;
    }

    location = /_gw {
        internal;
        return 202;
    }
--- request
POST /ajo/im/executions/unitary
{"requestId":"p9","campaignId":"order-sms","context":{"orderId":"P-9"},"recipients":[{"type":"aep","userId":"+14155550100","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"}}]}
--- error_code: 502
--- response_body_like: "message":"the profile lookup failed"
--- error_log
is larger than campaign_profile_max_size



=== TEST 10: profiles served with sendfile are read from their file
--- config
    campaign_gateway  sms  /_gw;
    campaign_profile_lookup /_profiles/$campaign_namespace/$campaign_user_id.json;

    location /ajo/im/ {
        campaign_api;
    }

    location /_profiles/ {
        internal;
        sendfile on;
        alias $TEST_NGINX_HTML_DIR/profiles/;
    }

    location = /_gw {
        internal;
        campaign_outbox logs/outbox.jsonl;
    }

    location = /outbox {
        default_type text/plain;
        alias logs/outbox.jsonl;
    }
--- request eval
["POST /ajo/im/executions/unitary\n"
 . '{"requestId":"p10","campaignId":"order-sms","context":{"orderId":"P-10"},"recipients":['
 . $::R->("+14155550100", "+14155550100") . ']}',
 "GET /outbox"]
--- error_code eval
[202, 200]
--- response_body_like eval
[qr/"status":"accepted"/, qr/"body":"Order P-10 for Grace & co"/]



=== TEST 11: a profile is checked as strictly as a request: nothing after the object
--- user_files
>>> profiles/phone/+14155550100.json
{"firstName": "Grace"} and more
--- request
POST /ajo/im/executions/unitary
{"requestId":"p11","campaignId":"order-sms","context":{"orderId":"P-11"},"recipients":[{"type":"aep","userId":"+14155550100","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"}}]}
--- error_code: 502
--- response_body_like: "message":"the profile lookup failed"
--- error_log
is not a JSON object: malformed JSON at line 1, column 24



=== TEST 11b: a profile with a duplicate member name fails its recipient (I-JSON)
--- user_files
>>> profiles/phone/+14155550100.json
{"person": {"firstName": "Grace", "firstName": "Mallory"}}
--- request
POST /ajo/im/executions/unitary
{"requestId":"p11b","campaignId":"order-sms","context":{"orderId":"P-11"},"recipients":[{"type":"aep","userId":"+14155550100","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"}}]}
--- error_code: 502
--- response_body_like: "message":"the profile lookup failed"
--- error_log
is not a JSON object: duplicate member name "firstName"



=== TEST 12: a client that leaves while profiles are fetched does not stop the execution
--- config
    campaign_gateway  sms  /_gw;
    campaign_profile_lookup /_profiles/$campaign_user_id;

    location /ajo/im/ {
        campaign_api;
    }

    location /_profiles/ {
        internal;
        proxy_pass http://127.0.0.1:1987;
    }

    location = /_gw {
        internal;
        campaign_outbox logs/outbox.jsonl;
    }
--- tcp_listen: 1987
--- tcp_reply_delay: 800ms
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 20\r\nConnection: close\r\n\r\n{\"firstName\":\"Gone\"}"
--- timeout: 0.3
--- abort
--- wait: 1.2
--- ignore_response
--- request
POST /ajo/im/executions/unitary
{"requestId":"p12","campaignId":"order-sms","context":{"orderId":"P-12"},"recipients":[{"type":"aep","userId":"gone","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"}}]}
--- error_log eval
[qr/\[info\] .*campaign: the client left, execution [0-9a-f-]{36} goes on/,
 qr/campaign: message [0-9a-f-]{36}-0 attempt 1 to "\/_gw"/]
--- no_error_log
abandoned
[alert]
[error]
