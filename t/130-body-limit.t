# campaign_api_max_body_size: the API reads a trigger's body into memory
# whole, so it refuses a body over this limit (default 1m) with a 413
# problem before reading it, whatever client_max_body_size allows.  The
# smaller of the two limits holds.

use Test::Nginx::Socket 'no_plan';

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("http_config", <<'_EOC_') unless defined $block->http_config;
    campaign_definitions $TEST_NGINX_CAMPAIGNS;
_EOC_

    $block->set_value("more_headers", "Content-Type: application/json\n")
        unless defined $block->more_headers;

    $block->set_value("no_error_log", "[alert]\n[crit]\nexited on signal\na client request body is buffered\n")
        unless defined $block->no_error_log;
});

run_tests();

__DATA__

=== TEST 1: with client_max_body_size 0, a 300 MB body is refused before a byte of it is read
--- config
    location /ajo/im/ {
        client_max_body_size 0;
        lingering_timeout 100ms;
        campaign_api;
    }
--- raw_request eval
"POST /ajo/im/executions/unitary HTTP/1.1\r
Host: localhost\r
Connection: keep-alive\r
Content-Type: application/json\r
Content-Length: 314572800\r
\r
{\"requestId\":\"" . ("x" x 4096)
--- error_code: 413
--- response_headers
Content-Type: application/problem+json
Connection: close
--- response_body
{"type":"urn:ngx-campaign:problem:too-large","title":"Request too large","status":413,"detail":"the body exceeds campaign_api_max_body_size","instance":"/ajo/im/executions/unitary","errors":[{"pointer":"","message":"request body too large"}]}
--- error_log
campaign: 413 problem: the body exceeds campaign_api_max_body_size



=== TEST 2: the default is 1m: one byte more is refused
--- config
    location /ajo/im/ {
        client_max_body_size 0;
        lingering_timeout 100ms;
        campaign_api;
    }
--- raw_request eval
"POST /ajo/im/executions/unitary HTTP/1.1\r
Host: localhost\r
Connection: close\r
Content-Type: application/json\r
Content-Length: 1048577\r
\r
"
--- error_code: 413
--- response_body_like: "detail":"the body exceeds campaign_api_max_body_size"



=== TEST 3: the default is 1m: a body of exactly 1m is read
--- config
    location /ajo/im/ {
        client_max_body_size 0;
        client_body_buffer_size 2m;
        campaign_api;
    }
--- request eval
my $head = '{"requestId":"';
"POST /ajo/im/executions/unitary\n" . $head . ("x" x (1048576 - length($head) - 2)) . '"}'
--- error_code: 400
--- response_body_like: "pointer":"/requestId","message":"[^"]*256



=== TEST 4: a smaller campaign_api_max_body_size: the limit itself is allowed
--- config
    location /ajo/im/ {
        campaign_api_max_body_size 1k;
        campaign_api;
    }
--- request eval
"POST /ajo/im/executions/unitary\n" . '{"requestId":"' . ("x" x 1008) . '"}'
--- error_code: 400
--- response_body_like: "pointer":"/requestId"



=== TEST 5: a smaller campaign_api_max_body_size: one byte over is refused
--- config
    location /ajo/im/ {
        campaign_api_max_body_size 1k;
        campaign_api;
    }
--- request eval
"POST /ajo/im/executions/unitary\n" . '{"requestId":"' . ("x" x 1009) . '"}'
--- error_code: 413
--- response_headers
Content-Type: application/problem+json
--- response_body_like: "detail":"the body exceeds campaign_api_max_body_size"



=== TEST 6: client_max_body_size smaller than campaign_api_max_body_size: nginx refuses, as a problem
--- config
    location /ajo/im/ {
        client_max_body_size 2k;
        campaign_api_max_body_size 8k;
        campaign_api;
    }
--- request eval
"POST /ajo/im/executions/unitary\n" . '{"requestId":"' . ("x" x 3000) . '"}'
--- error_code: 413
--- response_headers
Content-Type: application/problem+json
--- response_body_like: "detail":"the body exceeds client_max_body_size"
--- error_log
client intended to send too large body



=== TEST 7: client_max_body_size larger than campaign_api_max_body_size: the API refuses
--- config
    location /ajo/im/ {
        client_max_body_size 8k;
        campaign_api_max_body_size 2k;
        campaign_api;
    }
--- request eval
"POST /ajo/im/executions/unitary\n" . '{"requestId":"' . ("x" x 3000) . '"}'
--- error_code: 413
--- response_body_like: "detail":"the body exceeds campaign_api_max_body_size"
--- no_error_log
client intended to send too large body



=== TEST 8: set at server level, inherited by the API location and its "if"
--- config
    campaign_api_max_body_size 1k;

    location /ajo/im/ {
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
--- response_body_like: "detail":"the body exceeds campaign_api_max_body_size"



=== TEST 9: the preview has the same limit
--- config
    location /ajo/im/ {
        campaign_api_max_body_size 1k;
        campaign_api;
    }
--- request eval
"POST /ajo/im/campaigns/welcome-email/preview\n" . '{"context":{"x":"' . ("x" x 2000) . '"}}'
--- error_code: 413
--- response_body_like: "detail":"the body exceeds campaign_api_max_body_size"



=== TEST 10: an over-size body announced with Expect: 100-continue is not invited
--- config
    location /ajo/im/ {
        client_max_body_size 0;
        lingering_timeout 100ms;
        campaign_api;
    }
--- raw_request eval
"POST /ajo/im/executions/unitary HTTP/1.1\r
Host: localhost\r
Connection: close\r
Content-Type: application/json\r
Content-Length: 314572800\r
Expect: 100-continue\r
\r
"
--- error_code: 413
--- raw_response_headers_unlike: 100 Continue
--- response_body_like: "status":413
