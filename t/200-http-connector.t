# The http connector: a request per attempt through libcurl, its body
# built from field templates (form or JSON), its answers mapped to
# outcomes; and what nginx -t says of a connector block.

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    my $http = $block->http_config // '';

    $block->set_value("http_config", <<'_EOC_' . $http);
    campaign_definitions $TEST_NGINX_CAMPAIGNS;

    log_format sink '$http_content_type|$http_idempotency_key|'
                    '$http_x_campaign_attempt|$http_authorization|'
                    '$http_x_api_key|$request_body';
_EOC_

    $block->set_value("more_headers", "Content-Type: application/json\n")
        unless defined $block->more_headers;

    $block->set_value("no_error_log", "[alert]\n[crit]\nexited on signal\n")
        unless defined $block->no_error_log;
});

run_tests();

__DATA__

=== TEST 1: a form body from field templates, escaped, with basic auth and a secret header
--- http_config
    campaign_connector sms-api http {
        url              http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/sink;
        field            To    "{{recipient.address}}";
        field            From  "{{content.from}}";
        field            Body  "{{content.body}}";
        field            Ref   "{{message.campaignId}}/{{message.id}}";
        basic_auth_file  $TEST_NGINX_HTML_DIR/auth;
        header_file      X-Api-Key  $TEST_NGINX_HTML_DIR/key;
        timeout          5s;
    }

    # the provider: its own log, as it sees the credentials
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        error_log logs/provider.log info;

        location = /sink {
            access_log logs/sink.log sink;
            proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/created;
        }

        location = /created {
            access_log off;
            return 201;
        }
    }
--- config
    campaign_gateway sms connector=sms-api;

    location /ajo/im/ {
        campaign_api;
    }

    location = /sink.log {
        default_type text/plain;
        alias logs/sink.log;
    }
--- user_files
>>> auth
AC123:s3cret-Pa55
>>> key
k-0123456789
--- request eval
["POST /ajo/im/executions/unitary
{\"requestId\":\"r1\",\"campaignId\":\"order-sms\",\"recipients\":[{\"type\":\"aep\",\"userId\":\"a\",\"namespace\":\"phone\",\"channelData\":{\"mobilePhoneNumber\":\"+14155550100\"},\"profile\":{\"firstName\":\"Zoë & Bob=1\"},\"context\":{\"orderId\":\"X-1\"}}]}",
"GET /sink.log"]
--- error_code eval
[202, 200]
--- response_body_like eval
[qr/"userId":"a","messageId":"[^"]+-0","status":"accepted","gatewayStatus":201,"attempts":1/,
qr/^application\/x-www-form-urlencoded\|[0-9a-f-]+-0\|1\|Basic QUMxMjM6czNjcmV0LVBhNTU=\|k-0123456789\|To=%2B14155550100&From=ACME&Body=Order\+X-1\+for\+Zo%C3%AB\+%26\+Bob%3D1\+%26\+co&Ref=order-sms%2F[0-9a-f-]+-0\n\z/]
--- no_error_log
s3cret
k-0123456789
[alert]
[crit]



=== TEST 2: a JSON body: values are JSON strings, whatever they hold
--- http_config
    campaign_connector sms-json http {
        url    http://127.0.0.1:$TEST_NGINX_SERVER_PORT/outbox;
        body   json;
        field  to    "{{recipient.address}}";
        field  text  "{{content.body}}";
        field  "a\"b"  "{{context.orderId}}";
    }
--- config
    campaign_gateway sms connector=sms-json;

    location /ajo/im/ {
        campaign_api;
    }

    location = /outbox {
        campaign_outbox logs/outbox.jsonl;
    }

    location = /lines {
        default_type text/plain;
        alias logs/outbox.jsonl;
    }
--- request eval
["POST /ajo/im/executions/unitary
{\"requestId\":\"r2\",\"campaignId\":\"order-sms\",\"recipients\":[{\"type\":\"aep\",\"userId\":\"a\",\"namespace\":\"phone\",\"channelData\":{\"mobilePhoneNumber\":\"+14155550100\"},\"profile\":{\"firstName\":\"E\\\"ve\\r\\n}\"},\"context\":{\"orderId\":\"X\\\",\\\"x\\\":\\\"1\"}}]}",
"GET /lines"]
--- error_code eval
[202, 200]
--- response_body_like eval
[qr/"status":"accepted","gatewayStatus":202/,
qr/^\{"to":"\+14155550100","text":"Order X\\",\\"x\\":\\"1 for E\\"ve\\r\\n\} & co","a\\"b":"X\\",\\"x\\":\\"1"\}\n\z/]



=== TEST 3: 5xx is retried with backoff, 4xx fails at once with the answer as the reason
--- http_config
    campaign_connector flaky http {
        url    http://127.0.0.1:$TEST_NGINX_SERVER_PORT/gw;
        field  to  "{{recipient.address}}";
    }
--- config
    campaign_gateway sms connector=flaky;
    campaign_gateway_retries 2;
    campaign_gateway_retry_delay 10ms;

    location /ajo/im/ {
        campaign_api;
    }

    location = /gw {
        if ($http_idempotency_key ~ "-0$") {
            return 503 "busy\n";
        }
        return 403 '{"code":20003,"message":"Authenticate\r\nX-Injected: 1"}';
    }
--- request
POST /ajo/im/executions/unitary
{"requestId":"r3","campaignId":"order-sms","recipients":[{"type":"aep","userId":"a","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"},"context":{"orderId":"X"}},{"type":"aep","userId":"b","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550199"},"context":{"orderId":"X"}}]}
--- error_code: 502
--- response_body_like: "/recipients/0","message":"busy"}.*"/recipients/1","message":"\{\\"code\\":20003,\\"message\\":\\"Authenticate  X-Injected: 1\\"\}"
--- error_log
gateway answered 503 for message
(busy), retrying in 10ms
(busy), retrying in 20ms
failed, gateway answered 503 (busy) after 3 attempt(s)
failed, gateway answered 403
after 1 attempt(s)



=== TEST 4: invalid_answer: a 400 whose body names a bad number is an invalid address
--- http_config
    campaign_connector twilio http {
        url             http://127.0.0.1:$TEST_NGINX_SERVER_PORT/gw;
        field           To  "{{recipient.address}}";
        invalid_answer  400  '"code": 21211';
    }

    campaign_zone campaign 1m;
--- config
    campaign_gateway sms connector=twilio;

    location /ajo/im/ {
        campaign_api;
    }

    location = /gw {
        return 400 '{"code": 21211, "message": "The \'To\' number is not a valid phone number."}';
    }

    location = /metrics {
        campaign_metrics;
    }
--- request
POST /ajo/im/executions/unitary
{"requestId":"r4","campaignId":"order-sms","recipients":[{"type":"aep","userId":"a","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550111"},"context":{"orderId":"X"}},{"type":"aep","userId":"b","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550112"},"context":{"orderId":"X"}}]}
--- error_code: 502
--- response_body_like eval
qr/"message":"\{\\"code\\": 21211, \\"message\\": \\"The 'To' number is not a valid phone number.\\"\}"/
--- error_log
not delivered, invalid address: 400



=== TEST 5: invalid addresses have their own outcome in the metrics
--- http_config
    campaign_connector twilio http {
        url             http://127.0.0.1:$TEST_NGINX_SERVER_PORT/gw;
        field           To  "{{recipient.address}}";
        invalid_answer  400  '"code": 21211';
    }

    campaign_zone campaign 1m;
--- config
    campaign_gateway sms connector=twilio;

    location /ajo/im/ {
        campaign_api;
    }

    location = /gw {
        return 400 '{"code": 21211, "message": "The \'To\' number is not a valid phone number."}';
    }

    location = /metrics {
        campaign_metrics;
    }
--- request eval
["POST /ajo/im/executions/unitary
{\"requestId\":\"r4\",\"campaignId\":\"order-sms\",\"recipients\":[{\"type\":\"aep\",\"userId\":\"a\",\"namespace\":\"phone\",\"channelData\":{\"mobilePhoneNumber\":\"+14155550111\"},\"context\":{\"orderId\":\"X\"}},{\"type\":\"aep\",\"userId\":\"b\",\"namespace\":\"phone\",\"channelData\":{\"mobilePhoneNumber\":\"+14155550112\"},\"context\":{\"orderId\":\"X\"}}]}",
"GET /metrics"]
--- error_code eval
[502, 200]
--- response_body_like eval
[qr/"message":"\{\\"code\\": 21211, \\"message\\": \\"The 'To' number is not a valid phone number.\\"\}"/,
qr/ngx_campaign_messages_total\{campaign="order-sms",channel="sms",outcome="invalid_address"\} 2\n/]



=== TEST 6: a connection refused is transient: retried, then 502 with libcurl's reason
--- http_config
    campaign_connector down http {
        url    http://127.0.0.1:1/gw;
        field  to  "{{recipient.address}}";
    }
--- config
    campaign_gateway sms connector=down;
    campaign_gateway_retries 1;
    campaign_gateway_retry_delay 10ms;

    location /ajo/im/ {
        campaign_api;
    }
--- request
POST /ajo/im/executions/unitary
{"requestId":"r5","campaignId":"order-sms","recipients":[{"type":"aep","userId":"a","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"},"context":{"orderId":"X"}}]}
--- error_code: 502
--- response_body_like: "message":"Failed to connect to 127\.0\.0\.1 port 1
--- error_log
failed, gateway answered 502 (Failed to connect
after 2 attempt(s)



=== TEST 7: a gateway slower than the connector's timeout: 504, retried
--- http_config
    campaign_connector slow http {
        url      http://127.0.0.1:$TEST_NGINX_SERVER_PORT/slow;
        field    to  "{{recipient.address}}";
        timeout  200ms;
    }
--- config
    campaign_gateway sms connector=slow;
    campaign_gateway_retries 1;
    campaign_gateway_retry_delay 10ms;

    location /ajo/im/ {
        campaign_api;
    }

    location = /slow {
        limit_rate 1;
        return 200 "a long answer";
    }
--- request
POST /ajo/im/executions/unitary
{"requestId":"r6","campaignId":"order-sms","recipients":[{"type":"aep","userId":"a","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"},"context":{"orderId":"X"}}]}
--- error_code: 504
--- response_body_like: "message":"Operation timed out after 2\d\d milliseconds
--- error_log
gateway answered 504 for message
after 2 attempt(s)



=== TEST 8: nginx -t: a gateway naming a connector that is not defined
--- config
    campaign_gateway sms connector=nowhere;
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown connector "nowhere" in .*nginx\.conf:\d+/



=== TEST 9: nginx -t: an unknown connector type
--- http_config
    campaign_connector a smtp2 {
        url http://127.0.0.1/;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown connector type "smtp2", it must be "smtp", "apns", "fcm" or "http"/



=== TEST 10: nginx -t: an unknown line in a connector block
--- http_config
    campaign_connector a http {
        url    http://127.0.0.1/;
        field  to  "{{recipient.address}}";
        feild  to  "x";
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown directive "feild" or wrong number of arguments in http connector "a" in .*nginx\.conf:\d+/



=== TEST 11: nginx -t: a template that does not compile names its field and place
--- http_config
    campaign_connector a http {
        url    http://127.0.0.1/;
        field  to  "{{#recipient}}";
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*field "to": line 1, column \d+: .* in .*nginx\.conf:\d+/



=== TEST 12: nginx -t: a credentials file that is missing is named, never read out
--- http_config
    campaign_connector a http {
        url              http://127.0.0.1/;
        field            to  "{{recipient.address}}";
        basic_auth_file  /nonexistent/twilio.auth;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*open\(\) "\/nonexistent\/twilio\.auth" failed/



=== TEST 13: nginx -t: a basic auth file without "user:password"
--- http_config
    campaign_connector a http {
        url              http://127.0.0.1/;
        field            to  "{{recipient.address}}";
        basic_auth_file  $TEST_NGINX_HTML_DIR/auth;
    }
--- user_files
>>> auth
justapassword
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*credentials file ".*auth" must hold "user:password" on one line/
--- no_error_log
justapassword



=== TEST 14: nginx -t: a duplicate connector names the first one
--- http_config
    campaign_connector a http {
        url    http://127.0.0.1/;
        field  to  "{{recipient.address}}";
    }
    campaign_connector a http {
        url    http://127.0.0.1/;
        field  to  "{{recipient.address}}";
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*duplicate connector "a", first defined in .*nginx\.conf:\d+/



=== TEST 15: nginx -t: an http connector without url
--- http_config
    campaign_connector a http {
        field  to  "{{recipient.address}}";
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*http connector "a" has no "url"/



=== TEST 16: nginx -t: a header with a CR in its value
--- http_config
    campaign_connector a http {
        url     http://127.0.0.1/;
        field   to  "{{recipient.address}}";
        header  X-A  "a\rb";
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*the value of header "X-A" has a control character/




=== TEST 17: connections are reused: five messages, one connection at a time, one TCP connection
--- http_config
    campaign_connector one http {
        url              http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/sink;
        field            to  "{{recipient.address}}";
        max_connections  1;
    }

    log_format conn '$connection $connection_requests';

    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        keepalive_requests 100;

        location = /sink {
            access_log logs/conn.log conn;
            return 202;
        }
    }
--- config
    campaign_gateway sms connector=one;

    location /ajo/im/ {
        campaign_api;
    }

    location = /conn.log {
        default_type text/plain;
        alias logs/conn.log;
    }
--- request eval
["POST /ajo/im/executions/unitary
{\"requestId\":\"r17\",\"campaignId\":\"order-sms\",\"context\":{\"orderId\":\"X\"},\"recipients\":[" . join(",", map { "{\"type\":\"aep\",\"userId\":\"u$_\",\"namespace\":\"phone\",\"channelData\":{\"mobilePhoneNumber\":\"+1415555010$_\"}}" } 1 .. 5) . "]}",
"GET /conn.log"]
--- error_code eval
[202, 200]
--- response_body_like eval
[qr/("status":"accepted".*){5}/,
qr/\A(\d+) 1\n\1 2\n\1 3\n\1 4\n\1 5\n\z/]
