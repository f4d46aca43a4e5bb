# The built-in outbox gateway: one JSON object per POST, appended as one
# compact line, answered 202.  The body is taken from memory; a message
# whose Idempotency-Key was already written is answered 202 and dropped.

use Test::Nginx::Socket 'no_plan';

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("config", <<'_EOC_') unless defined $block->config;
    location = /outbox {
        campaign_outbox logs/outbox.jsonl;
    }

    location = /lines {
        default_type text/plain;
        alias logs/outbox.jsonl;
    }
_EOC_

    $block->set_value("no_error_log", "[alert]\n[crit]\n")
        unless defined $block->no_error_log;
});

run_tests();

__DATA__

=== TEST 1: a JSON object is appended as one compact line
--- more_headers
Content-Type: application/json
--- request eval
["POST /outbox\n{\n  \"to\": \"a\@example.com\",\n  \"text\": \"line one\\nline two\"\n}\n",
 "POST /outbox\n{\"to\":\"b\@example.com\"}",
 "GET /lines"]
--- error_code eval
[202, 202, 200]
--- response_body eval
["{\"status\":\"accepted\"}\n", "{\"status\":\"accepted\"}\n",
 "{\"to\":\"a\@example.com\",\"text\":\"line one\\nline two\"}\n{\"to\":\"b\@example.com\"}\n"]



=== TEST 2: the outbox takes POST only
--- request
GET /outbox
--- error_code: 405
--- response_headers
Allow: POST
Content-Type: application/problem+json



=== TEST 3: malformed JSON, trailing bytes and non-objects are refused, nothing is written
--- more_headers
Content-Type: application/json
--- request eval
["POST /outbox\n{\"a\":", "POST /outbox\n{\"a\":1} junk", "POST /outbox\n[1,2]", "GET /lines"]
--- error_code eval
[400, 400, 400, 200]
--- response_body_like eval
[qr/"detail":"the outbox takes one JSON object per message"/,
 qr/"status":400/, qr/"status":400/, qr/\A\z/]



=== TEST 4: a body that is not JSON is 415
--- more_headers
Content-Type: text/plain
--- request
POST /outbox
hello
--- error_code: 415
--- response_body_like: "title":"Unsupported media type"



=== TEST 5: an "if" in the outbox location keeps the outbox
--- config
    location = /outbox {
        if ($http_x_campaign_attempt) {
            set $retried 1;
        }
        campaign_outbox logs/outbox.jsonl;
    }
--- more_headers
Content-Type: application/json
X-Campaign-Attempt: 2
--- request
POST /outbox
{"to":"a@example.com"}
--- error_code: 202
--- no_error_log
[alert]
[crit]
exited on signal



=== TEST 6: a body larger than client_body_buffer_size is refused before it is read
--- config
    location = /outbox {
        client_body_buffer_size 16;
        campaign_outbox logs/outbox.jsonl;
    }

    location = /lines {
        default_type text/plain;
        alias logs/outbox.jsonl;
    }
--- more_headers
Content-Type: application/json
--- request eval
["POST /outbox\n{\"to\":\"a\@example.com\"}", "POST /outbox\n{\"to\":\"abcdefg\"}", "GET /lines"]
--- error_code eval
[413, 202, 200]
--- response_body_like eval
[qr/"title":"Request too large","status":413,"detail":"the outbox takes bodies of up to client_body_buffer_size"/,
 qr/\A\{"status":"accepted"\}\n\z/, qr/\A\{"to":"abcdefg"\}\n\z/]



=== TEST 7: a chunked body that nginx spools to a temporary file is refused, not read back
--- config
    location = /outbox {
        client_body_buffer_size 1k;
        campaign_outbox logs/outbox.jsonl;
    }
--- raw_request eval
my $body = '{"text":"' . ("x" x 4000) . '"}';
"POST /outbox HTTP/1.1\r
Host: localhost\r
Connection: close\r
Content-Type: application/json\r
Transfer-Encoding: chunked\r
\r
" . sprintf("%x", length $body) . "\r\n$body\r\n0\r\n\r\n"
--- error_code: 413
--- response_body_like: "status":413,"detail":"the outbox takes bodies of up to client_body_buffer_size"
--- error_log
a client request body is buffered to a temporary file



=== TEST 8: a chunked body that fits in client_body_buffer_size is written
--- config
    location = /outbox {
        client_body_buffer_size 16;
        campaign_outbox logs/outbox.jsonl;
    }

    location = /lines {
        default_type text/plain;
        alias logs/outbox.jsonl;
    }
--- raw_request eval
["POST /outbox HTTP/1.1\r
Host: localhost\r
Connection: close\r
Content-Type: application/json\r
Transfer-Encoding: chunked\r
\r
7\r
{\"to\":1\r
1\r
}\r
0\r
\r
"]
--- error_code: 202
--- response_body
{"status":"accepted"}



=== TEST 9: client_body_in_file_only does not make the outbox read a file
--- config
    location = /outbox {
        client_body_in_file_only on;
        campaign_outbox logs/outbox.jsonl;
    }

    location = /lines {
        default_type text/plain;
        alias logs/outbox.jsonl;
    }
--- more_headers
Content-Type: application/json
--- request eval
["POST /outbox\n{\"to\":\"a\@example.com\"}", "GET /lines"]
--- error_code eval
[202, 200]
--- response_body eval
["{\"status\":\"accepted\"}\n", "{\"to\":\"a\@example.com\"}\n"]



=== TEST 10: an Idempotency-Key already written is answered 202 and not written again
--- more_headers eval
["Content-Type: application/json\nIdempotency-Key: 3f1c-0",
 "Content-Type: application/json\nIdempotency-Key: 3f1c-0",
 "Content-Type: application/json\nIdempotency-Key: 3f1c-1",
 "Content-Type: application/json",
 "Content-Type: application/json",
 ""]
--- request eval
["POST /outbox\n{\"n\":1}", "POST /outbox\n{\"n\":2}", "POST /outbox\n{\"n\":3}",
 "POST /outbox\n{\"n\":4}", "POST /outbox\n{\"n\":4}", "GET /lines"]
--- error_code eval
[202, 202, 202, 202, 202, 200]
--- response_body eval
["{\"status\":\"accepted\"}\n", "{\"status\":\"accepted\",\"duplicate\":true}\n",
 "{\"status\":\"accepted\"}\n", "{\"status\":\"accepted\"}\n", "{\"status\":\"accepted\"}\n",
 "{\"n\":1}\n{\"n\":3}\n{\"n\":4}\n{\"n\":4}\n"]



=== TEST 11: an Idempotency-Key that is not a sane token is a 400, and nothing is written
--- more_headers eval
["Content-Type: application/json\nIdempotency-Key: ",
 "Content-Type: application/json\nIdempotency-Key: " . ("k" x 129),
 "Content-Type: application/json\nIdempotency-Key: a b",
 "Content-Type: application/json\nIdempotency-Key: \"abc\"",
 "Content-Type: application/json\nIdempotency-Key: a/b",
 "Content-Type: application/json\nIdempotency-Key: abc\nIdempotency-Key: abc",
 "Content-Type: application/json\nIdempotency-Key: " . ("k" x 128),
 "Content-Type: application/json\nIdempotency-Key: Az09-_.:~",
 ""]
--- request eval
[ (map { "POST /outbox\n{\"n\":$_}" } 1 .. 8), "GET /lines"]
--- error_code eval
[400, 400, 400, 400, 400, 400, 202, 202, 200]
--- response_body_like eval
[ (qr/"detail":"the Idempotency-Key is not valid".*"message":"Idempotency-Key must be 1 to 128 letters, digits/) x 5,
  qr/"message":"more than one Idempotency-Key"/,
  qr/accepted/, qr/accepted/, qr/\A\{"n":7\}\n\{"n":8\}\n\z/]



=== TEST 12: keys are forgotten after keys_valid
--- config
    location = /outbox {
        campaign_outbox logs/outbox.jsonl keys_valid=3s;
    }

    location = /lines {
        default_type text/plain;
        alias logs/outbox.jsonl;
    }
--- more_headers eval
[ ("Content-Type: application/json\nIdempotency-Key: k") x 3, "" ]
--- request eval
["POST /outbox\n{\"n\":1}", "POST /outbox\n{\"n\":2}",
 ["POST /outbox\n", { value => "{\"n\":3}", delay_before => 3.5 }], "GET /lines"]
--- error_code eval
[202, 202, 202, 200]
--- response_body eval
["{\"status\":\"accepted\"}\n", "{\"status\":\"accepted\",\"duplicate\":true}\n",
 "{\"status\":\"accepted\"}\n", "{\"n\":1}\n{\"n\":3}\n"]
--- timeout: 10



=== TEST 13: a full keys zone forgets its oldest keys first
--- config
    location = /outbox {
        campaign_outbox logs/outbox.jsonl keys=32k;
    }

    location = /lines {
        default_type text/plain;
        alias logs/outbox.jsonl;
    }
--- more_headers eval
[ (map { "Content-Type: application/json\nIdempotency-Key: " . sprintf("%064d", $_) }
       1 .. 120, 1, 120),
  "" ]
--- request eval
[ (map { "POST /outbox\n{\"n\":$_}" } 1 .. 120, 1, 120), "GET /lines" ]
--- error_code eval
[ (202) x 122, 200 ]
--- response_body_like eval
[ (qr/\A\{"status":"accepted"\}\n\z/) x 121,
  qr/\A\{"status":"accepted","duplicate":true\}\n\z/,
  qr/\A(\{"n":\d+\}\n){120}\{"n":1\}\n\z/ ]
--- timeout: 30



=== TEST 14: a write that fails is a 500 problem, logged once at crit
--- config
    location = /outbox {
        campaign_outbox /dev/full;
    }
--- more_headers
Content-Type: application/json
Idempotency-Key: full-0
--- request
POST /outbox
{"n":1}
--- error_code: 500
--- response_headers
Content-Type: application/problem+json
--- response_body_like: "title":"Internal error","status":500,"detail":"the outbox's disk is full"
--- error_log
[crit]
--- grep_error_log eval: qr/\[(?:crit|alert)\].*/
--- grep_error_log_out eval
qr/\A\[crit\] \d+#\d+: \*\d+ write\(\) to outbox "\/dev\/full" failed \(28: No space left on device\)[^\n]*\n\z/
--- no_error_log
[alert]



=== TEST 15: a message retried after its gateway's answer was lost is written once
--- http_config
    campaign_definitions $TEST_NGINX_CAMPAIGNS;
--- config
    campaign_gateway sms /_gw;
    campaign_gateway_retries 1;
    campaign_gateway_retry_delay 10ms;

    location /ajo/im/ {
        campaign_api;
    }

    location = /_gw {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/provider;
    }

    # a provider that writes the message and then loses its answer on the
    # first attempt, as a proxy that times out does
    location = /provider {
        mirror /_write;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/answer;
    }

    location = /_write {
        internal;
        campaign_outbox logs/outbox.jsonl;
    }

    location = /answer {
        if ($http_x_campaign_attempt = 1) {
            return 504;
        }

        return 202;
    }

    location = /lines {
        default_type text/plain;
        alias logs/outbox.jsonl;
    }
--- more_headers eval
["Content-Type: application/json", ""]
--- request eval
["POST /ajo/im/executions/unitary\n"
 . '{"requestId":"r","campaignId":"order-sms","recipients":[{"type":"aep","userId":"a","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"},"context":{"orderId":"X"}}]}',
 "GET /lines"]
--- error_code eval
[202, 200]
--- response_body_like eval
[qr/"status":"accepted","gatewayStatus":202,"attempts":2/,
 qr/\A\{"messageId":"[0-9a-f-]{36}-0",[^\n]*"body":"Order X[^\n]*\n\z/]



=== TEST 16: a keys zone smaller than 8 pages is refused at start
--- config
    location = /outbox {
        campaign_outbox logs/outbox.jsonl keys=16k;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"keys=16k" is too small: at least \d+/



=== TEST 17: a keys_valid= that is not a time is refused
--- config
    location = /outbox {
        campaign_outbox logs/outbox.jsonl keys_valid=soon;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*invalid parameter "keys_valid=soon"/



=== TEST 18: two locations that write the same file share its keys, and must size them alike
--- config
    location = /outbox {
        campaign_outbox logs/outbox.jsonl;
    }

    location = /outbox2 {
        campaign_outbox logs/outbox.jsonl keys=2m;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*the size 2097152 of shared memory zone "campaign_outbox:.*outbox\.jsonl" conflicts with already declared size 1048576/



=== TEST 19: two locations that write the same file know the same keys
--- config
    location = /outbox {
        campaign_outbox logs/outbox.jsonl;
    }

    location = /outbox2 {
        campaign_outbox logs/outbox.jsonl;
    }

    location = /lines {
        default_type text/plain;
        alias logs/outbox.jsonl;
    }
--- more_headers eval
[ ("Content-Type: application/json\nIdempotency-Key: shared") x 2, "" ]
--- request eval
["POST /outbox\n{\"n\":1}", "POST /outbox2\n{\"n\":2}", "GET /lines"]
--- error_code eval
[202, 202, 200]
--- response_body eval
["{\"status\":\"accepted\"}\n", "{\"status\":\"accepted\",\"duplicate\":true}\n",
 "{\"n\":1}\n"]
