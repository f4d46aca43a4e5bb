# POST executions/unitary: a valid trigger is rendered per recipient,
# dispatched to the channel's gateway and answered 202.

use Test::Nginx::Socket 'no_plan';

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("http_config", <<'_EOC_') unless defined $block->http_config;
    campaign_definitions $TEST_NGINX_CAMPAIGNS;
_EOC_

    $block->set_value("config", <<'_EOC_') unless defined $block->config;
    campaign_gateway  email  /_gw/email;
    campaign_gateway  sms    /_gw/sms;
    campaign_gateway  push   /_gw/push;

    location /ajo/im/ {
        campaign_api;
    }

    location /_gw/ {
        internal;
        campaign_outbox logs/outbox.jsonl;
    }

    location = /outbox {
        default_type text/plain;
        alias logs/outbox.jsonl;
    }
_EOC_

    $block->set_value("more_headers", "Content-Type: application/json\n")
        unless defined $block->more_headers;

    $block->set_value("no_error_log", "[alert]\n[crit]\n[emerg]\n")
        unless defined $block->no_error_log;
});

run_tests();

__DATA__

=== TEST 1: an e-mail trigger is accepted with the AJO answer and each recipient's outcome
--- request
POST /ajo/im/executions/unitary
{"requestId":"req-1","campaignId":"welcome-email","recipients":[{"type":"aep","userId":"ada","namespace":"email","channelData":{"emailAddress":"ada@example.com"},"profile":{"person":{"name":{"firstName":"Ada"}}},"context":{"resetLink":"https://acme.example/r/1"}}]}
--- error_code: 202
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"executionId":"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}","requestId":"req-1","campaignId":"welcome-email","createdAt":"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","recipients":\[\{"userId":"ada","messageId":"[0-9a-f-]{36}-0","status":"accepted","gatewayStatus":202,"attempts":1\}\]\}$



=== TEST 2: the rendered e-mail lands in the outbox, HTML-escaped only in html
--- request eval
[
'POST /ajo/im/executions/unitary
{"requestId":"req-2","campaignId":"welcome-email","recipients":[{"type":"aep","userId":"ada","namespace":"email","channelData":{"emailAddress":"ada@example.com"},"profile":{"person":{"name":{"firstName":"Ada <b>&"}}},"context":{"resetLink":"https://acme.example/r/2"}}]}',
'GET /outbox'
]
--- error_code eval
[202, 200]
--- response_body_like eval
[
qr/"status":"accepted"/,
qr/^\{"messageId":"[0-9a-f-]{36}-0","executionId":"[0-9a-f-]{36}","campaignId":"welcome-email","requestId":"req-2","channel":"email","createdAt":"[^"]+","recipient":\{"userId":"ada","namespace":"email","type":"aep","address":"ada\@example.com"\},"language":"en","content":\{"from":"Acme <hello\@acme.example>","subject":"Welcome Ada <b>&","html":"<p>Hi Ada &lt;b&gt;&amp;, go to https:\/\/acme.example\/r\/2<\/p>","text":"Hi Ada <b>&, go to https:\/\/acme.example\/r\/2"\}\}\n$/
]



=== TEST 3: an SMS trigger renders the body as plain text
--- request eval
[
'POST /ajo/im/executions/unitary
{"requestId":"req-3","campaignId":"order-sms","recipients":[{"type":"external","userId":"+14155550100","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"},"profile":{"firstName":"Grace"},"context":{"orderId":"A-1"}}]}',
'GET /outbox'
]
--- error_code eval
[202, 200]
--- response_body_like eval
[
qr/"status":"accepted"/,
qr/"channel":"sms".*"address":"\+14155550100".*"content":\{"from":"ACME","body":"Order A-1 for Grace & co"\}/
]



=== TEST 4: a push trigger carries token, platform and the data object
--- request eval
[
'POST /ajo/im/executions/unitary
{"requestId":"req-4","campaignId":"cart-push","recipients":[{"type":"aep","userId":"u4","namespace":"ecid","channelData":{"pushInfo":{"appID":"com.acme.app","platform":"fcm","token":"tok-123"}},"profile":{"firstName":"Linus"},"context":{"itemCount":3,"cartUrl":"acme://cart"}}]}',
'GET /outbox'
]
--- error_code eval
[202, 200]
--- response_body_like eval
[
qr/"status":"accepted"/,
qr/"address":"tok-123","platform":"fcm","appID":"com.acme.app"\},"language":"en","content":\{"title":"Hi Linus","body":"3 item\(s\) wait in your cart","data":\{"deepLink":"acme:\/\/cart"\}\}/
]



=== TEST 5: twenty recipients are dispatched in parallel, each with its own message id
--- request eval
my @r = map { qq/{"type":"aep","userId":"u$_","namespace":"email","channelData":{"emailAddress":"u$_\@example.com"},"context":{"resetLink":"https:\/\/x.example\/$_"}}/ } 1..20;
"POST /ajo/im/executions/unitary\n"
. qq/{"requestId":"req-5","campaignId":"welcome-email","recipients":[/ . CORE::join(",", @r) . "]}"
--- error_code: 202
--- response_body_like: ^\{"executionId".*"userId":"u1","messageId":"[0-9a-f-]{36}-0","status":"accepted".*"userId":"u20","messageId":"[0-9a-f-]{36}-19","status":"accepted","gatewayStatus":202,"attempts":1\}\]\}$



=== TEST 6: the top-level context is merged under each recipient's own
--- request eval
[
'POST /ajo/im/executions/unitary
{"requestId":"req-6","campaignId":"welcome-email","context":{"resetLink":"https://shared.example/"},"recipients":[{"type":"aep","userId":"a","namespace":"email","channelData":{"emailAddress":"a@example.com"}},{"type":"aep","userId":"b","namespace":"email","channelData":{"emailAddress":"b@example.com"},"context":{"resetLink":"https://own.example/"}}]}',
'GET /outbox'
]
--- error_code eval
[202, 200]
--- response_body_like eval
[
qr/"userId":"a".*"userId":"b"/,
qr/"userId":"a".*"text":"Hi , go to https:\/\/shared.example\/".*\n.*"userId":"b".*"text":"Hi , go to https:\/\/own.example\/"/
]



=== TEST 7: a value from the request is data, never a template
--- request eval
[
'POST /ajo/im/executions/unitary
{"requestId":"req-7","campaignId":"welcome-email","recipients":[{"type":"aep","userId":"m","namespace":"email","channelData":{"emailAddress":"m@example.com"},"profile":{"person":{"name":{"firstName":"{{context.resetLink}}{{#x}}"}}},"context":{"resetLink":"https://acme.example/"}}]}',
'GET /outbox'
]
--- error_code eval
[202, 200]
--- response_body_like eval
[
qr/"status":"accepted"/,
qr/"subject":"Welcome \{\{context.resetLink\}\}\{\{#x\}\}"/
]



=== TEST 8: the gateway gets an Idempotency-Key and the attempt number, not the client's headers
--- config
    campaign_gateway email /_gw;

    location /ajo/im/ {
        campaign_api;
    }

    location = /_gw {
        internal;
        if ($http_idempotency_key !~ "^[0-9a-f-]{36}-0$") {
            return 500;
        }
        if ($http_x_campaign_attempt != "1") {
            return 500;
        }
        if ($http_authorization) {
            return 500;
        }
        if ($http_content_type != "application/json") {
            return 500;
        }
        return 202;
    }
--- more_headers
Content-Type: application/json
Authorization: Bearer secret-of-the-caller
--- request
POST /ajo/im/executions/unitary
{"requestId":"req-8","campaignId":"welcome-email","recipients":[{"type":"aep","userId":"k","namespace":"email","channelData":{"emailAddress":"k@example.com"},"context":{"resetLink":"https://acme.example/"}}]}
--- error_code: 202
--- response_body_like: "status":"accepted","gatewayStatus":202,"attempts":1



=== TEST 9: Content-Type with a UTF-8 charset and a +json type are JSON
--- more_headers
Content-Type: application/vnd.ajo+json; charset=UTF-8
--- request
POST /ajo/im/executions/unitary
{"requestId":"req-9","campaignId":"order-sms","recipients":[{"type":"aep","userId":"p","namespace":"phone","channelData":{"mobilePhoneNumber":"+33612345678"},"context":{"orderId":"B-2"}}]}
--- error_code: 202
--- response_body_like: "status":"accepted"



=== TEST 10: a trigger through proxy_pass to an HTTP gateway
--- config
    campaign_gateway sms /_gw;

    location /ajo/im/ {
        campaign_api;
    }

    location = /_gw {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/provider;
    }

    location = /provider {
        if ($http_idempotency_key = "") {
            return 400;
        }
        return 201 '{"sid":"SM1"}';
    }
--- request
POST /ajo/im/executions/unitary
{"requestId":"req-10","campaignId":"order-sms","recipients":[{"type":"aep","userId":"p","namespace":"phone","channelData":{"mobilePhoneNumber":"+33612345678"},"context":{"orderId":"C-3"}}]}
--- error_code: 202
--- response_body_like: "status":"accepted","gatewayStatus":201,"attempts":1
