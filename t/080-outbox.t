# The built-in outbox gateway: one JSON object per POST, appended as one
# compact line, answered 202.

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
