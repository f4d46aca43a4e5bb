# Bad input: every mistake gets a 4xx application/problem+json answer that
# lists each problem with a JSON pointer, nothing is dispatched, and the
# worker never crashes.

use Test::Nginx::Socket 'no_plan';

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("http_config", <<'_EOC_') unless defined $block->http_config;
    campaign_definitions $TEST_NGINX_CAMPAIGNS;
_EOC_

    $block->set_value("config", <<'_EOC_') unless defined $block->config;
    campaign_gateway  email  /_gw;
    campaign_gateway  sms    /_gw;
    campaign_gateway  push   /_gw;

    location /ajo/im/ {
        campaign_api;
    }

    # anything reaching the gateway here is a bug: bad input is never sent
    location = /_gw {
        internal;
        return 500;
    }
_EOC_

    $block->set_value("more_headers", "Content-Type: application/json\n")
        unless defined $block->more_headers;

    $block->set_value("no_error_log", "[alert]\n[crit]\nexited on signal\ncampaign: message\n")
        unless defined $block->no_error_log;

    $block->set_value("response_headers", "Content-Type: application/problem+json\n")
        unless defined $block->response_headers;
});

run_tests();

__DATA__

=== TEST 1: malformed JSON names the line and column
--- request
POST /ajo/im/executions/unitary
{"requestId": "r",
 "campaignId": }
--- error_code: 400
--- response_body_like: "detail":"the request is invalid".*"errors":\[\{"pointer":"","message":"malformed JSON at line 2, column 1\d"\}\]



=== TEST 2: a body that is not an object
--- request
POST /ajo/im/executions/unitary
[1,2,3]
--- error_code: 400
--- response_body_like: "errors":\[\{"pointer":"","message":"[^"]*object



=== TEST 3: an empty body
--- request
POST /ajo/im/executions/unitary
--- error_code: 400
--- response_body_like: "detail":"the request body is empty"



=== TEST 4: missing requestId, campaignId and recipients are all reported
--- request
POST /ajo/im/executions/unitary
{}
--- error_code: 400
--- response_body_like: "pointer":"/requestId".*"pointer":"/campaignId".*"pointer":"/recipients"



=== TEST 5: wrong types are reported with their pointers
--- request
POST /ajo/im/executions/unitary
{"requestId":7,"campaignId":true,"recipients":{"a":1},"context":"x"}
--- error_code: 400
--- response_body_like: "pointer":"/requestId","message":"[^"]*string.*"pointer":"/campaignId","message":"[^"]*string.*"pointer":"/recipients","message":"[^"]*array.*"pointer":"/context","message":"[^"]*object



=== TEST 6: a recipient's missing and mistyped fields
--- request
POST /ajo/im/executions/unitary
{"requestId":"r","campaignId":"welcome-email","recipients":[{"type":"robot","namespace":5,"profile":[],"channelData":"x"}]}
--- error_code: 400
--- response_body_like: "pointer":"/recipients/0/type".*"pointer":"/recipients/0/userId","message":"[^"]*required.*"pointer":"/recipients/0/namespace".*



=== TEST 7: no recipients
--- request
POST /ajo/im/executions/unitary
{"requestId":"r","campaignId":"welcome-email","recipients":[]}
--- error_code: 400
--- response_body_like: "pointer":"/recipients","message":"[^"]*1 and 20



=== TEST 8: 21 recipients are refused
--- request eval
my @r = map { qq/{"type":"aep","userId":"u$_","namespace":"email","channelData":{"emailAddress":"u$_\@example.com"},"context":{"resetLink":"https:\/\/x.example\/"}}/ } 1..21;
"POST /ajo/im/executions/unitary\n"
. qq/{"requestId":"r","campaignId":"welcome-email","recipients":[/ . CORE::join(",", @r) . "]}"
--- error_code: 400
--- response_body_like: "pointer":"/recipients","message":"[^"]*20[^"]*21



=== TEST 9: duplicate userIds
--- request
POST /ajo/im/executions/unitary
{"requestId":"r","campaignId":"welcome-email","recipients":[{"type":"aep","userId":"same","namespace":"email","channelData":{"emailAddress":"a@example.com"}},{"type":"aep","userId":"same","namespace":"email","channelData":{"emailAddress":"b@example.com"}}]}
--- error_code: 400
--- response_body_like: "pointer":"/recipients/1/userId","message":"[^"]*duplicate



=== TEST 10: an unknown campaign is 404
--- request
POST /ajo/im/executions/unitary
{"requestId":"r","campaignId":"no-such-campaign","recipients":[{"type":"aep","userId":"u","namespace":"email","channelData":{"emailAddress":"a@example.com"}}]}
--- error_code: 404
--- response_body_like: "title":"Not found","status":404,"detail":"unknown campaign".*"pointer":"/campaignId"



=== TEST 11: a draft campaign is 409
--- request
POST /ajo/im/executions/unitary
{"requestId":"r","campaignId":"draft-email","recipients":[{"type":"aep","userId":"u","namespace":"email","channelData":{"emailAddress":"a@example.com"}}]}
--- error_code: 409
--- response_body_like: "status":409.*"pointer":"/campaignId","message":"campaign is draft, not live"



=== TEST 12: a stopped campaign is 409
--- request
POST /ajo/im/executions/unitary
{"requestId":"r","campaignId":"stopped-email","recipients":[{"type":"aep","userId":"u","namespace":"email","channelData":{"emailAddress":"a@example.com"}}]}
--- error_code: 409
--- response_body_like: "message":"campaign is stopped, not live"



=== TEST 13: a campaign whose schedule has ended is 409
--- request
POST /ajo/im/executions/unitary
{"requestId":"r","campaignId":"expired-email","recipients":[{"type":"aep","userId":"u","namespace":"email","channelData":{"emailAddress":"a@example.com"}}]}
--- error_code: 409
--- response_body_like: "message":"campaign ended at 2021-01-01T00:00:00Z"



=== TEST 14: a campaign whose schedule has not started is 409
--- request
POST /ajo/im/executions/unitary
{"requestId":"r","campaignId":"future-email","recipients":[{"type":"aep","userId":"u","namespace":"email","channelData":{"emailAddress":"a@example.com"}}]}
--- error_code: 409
--- response_body_like: "message":"campaign starts at 2099-01-01T00:00:00Z"



=== TEST 15: a marketing campaign's trigger is checked as any other (it is no longer refused as such)
--- request
POST /ajo/im/executions/unitary
{"requestId":"r","campaignId":"marketing-email","recipients":[{"type":"aep","userId":"u","namespace":"email","channelData":{"mobilePhoneNumber":"+14155550100"}}]}
--- error_code: 400
--- response_body_like: "pointer":"/recipients/0/channelData/emailAddress"



=== TEST 16: a missing Content-Type is 415
--- more_headers
--- request
POST /ajo/im/executions/unitary
{"requestId":"r"}
--- error_code: 415
--- response_body_like: "status":415



=== TEST 17: a non-JSON Content-Type is 415
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- request
POST /ajo/im/executions/unitary
requestId=r
--- error_code: 415
--- response_body_like: "title":"Unsupported media type"



=== TEST 18: JSON in another charset is 415
--- more_headers
Content-Type: application/json; charset=iso-8859-1
--- request
POST /ajo/im/executions/unitary
{"requestId":"r"}
--- error_code: 415
--- response_body_like: "status":415



=== TEST 19: a body over client_max_body_size is 413 before it is read
--- config
    location /ajo/im/ {
        client_max_body_size 1k;
        campaign_api;
    }
--- request eval
"POST /ajo/im/executions/unitary\n" . '{"requestId":"' . ("x" x 2000) . '"}'
--- error_code: 413
--- response_body_like: "status":413



=== TEST 20: context data over 200 KB is 413
--- request eval
"POST /ajo/im/executions/unitary\n"
. '{"requestId":"r","campaignId":"welcome-email","context":{"blob":"' . ("x" x (201 * 1024)) . '"},'
. '"recipients":[{"type":"aep","userId":"u","namespace":"email","channelData":{"emailAddress":"a@example.com"}}]}'
--- error_code: 413
--- response_body_like: "detail":"context data is too large".*"pointer":"/context"



=== TEST 21: nesting deeper than 32 levels is refused before parsing
--- request eval
"POST /ajo/im/executions/unitary\n" . '{"requestId":"r","context":{"a":' . ("[" x 40) . ("]" x 40) . '}}'
--- error_code: 400
--- response_body_like: "pointer":"","message":"[^"]*(deep|depth|nest)



=== TEST 22: invalid UTF-8 is refused with its byte offset (from 0)
--- request eval
"POST /ajo/im/executions/unitary\n" . '{"requestId":"r' . "\xC3\x28" . '"}'
--- error_code: 400
--- response_body_like: "pointer":"","message":"[^"]*UTF-8[^"]*15"



=== TEST 23: an overlong UTF-8 encoding is invalid too
--- request eval
"POST /ajo/im/executions/unitary\n" . '{"requestId":"' . "\xC0\xAF" . '"}'
--- error_code: 400
--- response_body_like: UTF-8



=== TEST 24: an invalid e-mail address and a missing one
--- request
POST /ajo/im/executions/unitary
{"requestId":"r","campaignId":"welcome-email","context":{"resetLink":"https://acme.example/"},"recipients":[{"type":"aep","userId":"a","namespace":"email","channelData":{"emailAddress":"not an address"}},{"type":"aep","userId":"b","namespace":"email"}]}
--- error_code: 400
--- response_body_like: "pointer":"/recipients/0/channelData/emailAddress".*"pointer":"/recipients/1/channelData/emailAddress"



=== TEST 25: an invalid phone number for an SMS campaign
--- request
POST /ajo/im/executions/unitary
{"requestId":"r","campaignId":"order-sms","context":{"orderId":"X"},"recipients":[{"type":"aep","userId":"a","namespace":"phone","channelData":{"mobilePhoneNumber":"0612345678"}}]}
--- error_code: 400
--- response_body_like: "pointer":"/recipients/0/channelData/mobilePhoneNumber","message":"[^"]*E.164



=== TEST 26: a push campaign needs a token and a platform
--- request
POST /ajo/im/executions/unitary
{"requestId":"r","campaignId":"cart-push","recipients":[{"type":"aep","userId":"a","namespace":"ecid","channelData":{"pushInfo":{"appID":"x"}}}]}
--- error_code: 400
--- response_body_like: "pointer":"/recipients/0/channelData/pushInfo/token".*"pointer":"/recipients/0/channelData/pushInfo/platform"



=== TEST 27: a missing required context field
--- request
POST /ajo/im/executions/unitary
{"requestId":"r","campaignId":"welcome-email","recipients":[{"type":"aep","userId":"a","namespace":"email","channelData":{"emailAddress":"a@example.com"}}]}
--- error_code: 400
--- response_body_like: "errors":\[\{"pointer":"/recipients/0/context/resetLink","message":"[^"]*required"\}\]



=== TEST 28: malformed context fields: pattern, type and maxLength, all reported
--- request
POST /ajo/im/executions/unitary
{"requestId":"r","campaignId":"welcome-email","recipients":[{"type":"aep","userId":"a","namespace":"email","channelData":{"emailAddress":"a@example.com"},"context":{"resetLink":"http://insecure.example/","count":"three","code":"ÄÖÜÄÖÜÄÖÜ"}}]}
--- error_code: 400
--- response_body_like: "pointer":"/recipients/0/context/resetLink","message":"[^"]*pattern.*"pointer":"/recipients/0/context/code","message":"[^"]*8.*"pointer":"/recipients/0/context/count","message":"[^"]*integer|"pointer":"/recipients/0/context/resetLink".*"pointer":"/recipients/0/context/count".*"pointer":"/recipients/0/context/code"



=== TEST 29: a maxLength counts characters, not bytes
--- request
POST /ajo/im/executions/unitary
{"requestId":"r","campaignId":"welcome-email","recipients":[{"type":"aep","userId":"a","namespace":"email","channelData":{"emailAddress":"a@example.com"},"context":{"resetLink":"https://acme.example/","code":"ÄÖÜÄÖÜÄÖ"}}]}
--- error_code: 502
--- response_body_like: "detail":"every recipient's dispatch failed"
--- no_error_log
[alert]
[crit]



=== TEST 30: a channel with no gateway configured is 503 and logged
--- config
    location /ajo/im/ {
        campaign_api;
    }
--- request
POST /ajo/im/executions/unitary
{"requestId":"r","campaignId":"order-sms","recipients":[{"type":"aep","userId":"a","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"},"context":{"orderId":"X"}}]}
--- error_code: 503
--- response_body_like: "status":503
--- error_log
no campaign_gateway for channel "sms"



=== TEST 31: a chunked body, whose length is unknown, is 411
--- raw_request eval
"POST /ajo/im/executions/unitary HTTP/1.1\r
Host: localhost\r
Connection: close\r
Content-Type: application/json\r
Transfer-Encoding: chunked\r
\r
2\r
{}\r
0\r
\r
"
--- error_code: 411
--- response_body_like: "title":"Length required","status":411




=== TEST 32: an over-size body announced with Expect: 100-continue is refused without inviting it
--- config
    location /ajo/im/ {
        client_max_body_size 1k;
        # as for nginx's own 413, the connection waits this long for the
        # body it will discard before closing
        lingering_timeout 100ms;
        campaign_api;
    }
--- raw_request eval
"POST /ajo/im/executions/unitary HTTP/1.1\r
Host: localhost\r
Connection: close\r
Content-Type: application/json\r
Content-Length: 5000\r
Expect: 100-continue\r
\r
"
--- error_code: 413
--- response_body_like: "title":"Request too large","status":413



=== TEST 33: "utf8" is a UTF-8 charset too
--- more_headers
Content-Type: application/json; charset=utf8
--- request
POST /ajo/im/executions/unitary
{}
--- error_code: 400
--- response_body_like: "pointer":"/requestId"



=== TEST 34: a charset that only starts like UTF-8 is not UTF-8
--- more_headers
Content-Type: application/json; charset=utf-80
--- request
POST /ajo/im/executions/unitary
{}
--- error_code: 415
--- response_body_like: "status":415



=== TEST 35: an "if" in the API location keeps the body limit
--- config
    location /ajo/im/ {
        client_max_body_size 1k;
        if ($http_x_debug) {
            set $debug 1;
        }
        campaign_api;
    }
--- more_headers
Content-Type: application/json
X-Debug: 1
--- request eval
"POST /ajo/im/executions/unitary\n" . '{"requestId":"' . ("x" x 2000) . '"}'
--- error_code: 413
--- response_body_like: "status":413



=== TEST 36: limit_except in the API location lets the API answer
--- config
    location /ajo/im/ {
        limit_except GET POST {
            deny all;
        }
        campaign_api;
    }
--- request
POST /ajo/im/executions/unitary
{}
--- error_code: 400
--- response_body_like: "pointer":"/requestId"



=== TEST 37: a duplicate member name anywhere is refused at its second occurrence (I-JSON)
--- request
POST /ajo/im/executions/unitary
{"requestId":"d1","campaignId":"password-reset","recipients":[{"type":"aep","userId":"u","namespace":"email","channelData":{"emailAddress":"u@example.com"},"context":{"a/b":1,"a/b":2}}],"context":{"resetLink":"https://x.example/"},"requestId":"d2"}
--- error_code: 400
--- response_body_like: "errors":\[\{"pointer":"/recipients/0/context/a~1b","message":"duplicate member name \\"a/b\\""\},\{"pointer":"/requestId","message":"duplicate member name \\"requestId\\""\}\]
