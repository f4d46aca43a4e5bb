# Every answer of an API location is JSON, also when nginx answers
# itself: a body over client_max_body_size, a body nginx cannot read or
# store, "deny", a status a handler returns.  nginx keeps its status, its
# headers and its choice of keeping the connection; the HTML page becomes
# a problem.  error_page set by the user for a status still wins, and
# other locations keep nginx's pages.

use Test::Nginx::Socket 'no_plan';

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

=== TEST 1: a body over client_max_body_size: nginx's 413, as a problem
--- config
    location /ajo/im/ {
        client_max_body_size 1k;
        campaign_api;
    }
--- request eval
"POST /ajo/im/executions/unitary\n" . '{"requestId":"' . ("x" x 2000) . '"}'
--- error_code: 413
--- response_headers
Content-Type: application/problem+json
Connection: close
--- response_body
{"type":"urn:ngx-campaign:problem:too-large","title":"Request too large","status":413,"detail":"the body exceeds client_max_body_size","instance":"/ajo/im/executions/unitary","errors":[]}
--- error_log
client intended to send too large body



=== TEST 2: a body nginx cannot store in its temporary file is a 500 problem
--- config
    location /ajo/im/ {
        client_body_buffer_size 1k;
        # every first-level directory is taken by a file
        client_body_temp_path html/body 1;
        campaign_api;
    }
--- user_files
>>> body/0
>>> body/1
>>> body/2
>>> body/3
>>> body/4
>>> body/5
>>> body/6
>>> body/7
>>> body/8
>>> body/9
--- request eval
"POST /ajo/im/executions/unitary\n" . '{"requestId":"' . ("x" x 8000) . '"}'
--- error_code: 500
--- response_headers
Content-Type: application/problem+json
--- response_body
{"type":"urn:ngx-campaign:problem:internal-error","title":"Internal error","status":500,"detail":"the request could not be processed","instance":"/ajo/im/executions/unitary","errors":[]}
--- error_log
[crit]
--- no_error_log
[alert]
exited on signal



=== TEST 3: a malformed chunked body, read by nginx for "mirror", is a 400 problem
--- config
    location /ajo/im/ {
        mirror /_mirror;
        campaign_api;
    }

    location = /_mirror {
        internal;
        return 204;
    }
--- raw_request eval
"POST /ajo/im/executions/unitary HTTP/1.1\r
Host: localhost\r
Connection: close\r
Content-Type: application/json\r
Transfer-Encoding: chunked\r
\r
zz\r
{}\r
0\r
\r
"
--- error_code: 400
--- response_headers
Content-Type: application/problem+json
--- response_body
{"type":"urn:ngx-campaign:problem:invalid-request","title":"Invalid request","status":400,"detail":"the request could not be read","instance":"/ajo/im/executions/unitary","errors":[]}
--- error_log
client sent invalid chunked body



=== TEST 4: a body that does not come in time is never answered with a page: nginx closes the connection
--- config
    location /ajo/im/ {
        client_body_timeout 200ms;
        campaign_api;
    }
--- raw_request eval
"POST /ajo/im/executions/unitary HTTP/1.1\r
Host: localhost\r
Connection: close\r
Content-Type: application/json\r
Content-Length: 100\r
\r
{\"requestId\":"
--- error_code:
--- response_body:
--- access_log
" 408 0 "



=== TEST 5: "deny" in an API location: a 403 problem
--- config
    location /ajo/im/ {
        deny all;
        campaign_api;
    }
--- request
GET /ajo/im/health
--- error_code: 403
--- response_headers
Content-Type: application/problem+json
--- response_body
{"type":"about:blank","title":"Forbidden","status":403,"detail":"access is denied","instance":"/ajo/im/health","errors":[]}



=== TEST 6: limit_except: a method it denies is a 403 problem
--- config
    location /ajo/im/ {
        limit_except GET {
            deny all;
        }
        campaign_api;
    }
--- request
PUT /ajo/im/executions/unitary
{}
--- error_code: 403
--- response_headers
Content-Type: application/problem+json
--- response_body_like: ^\{"type":"about:blank","title":"Forbidden","status":403,



=== TEST 7: a status returned in an "if" of the API location
--- config
    location /ajo/im/ {
        if ($http_x_closed) {
            return 503;
        }
        campaign_api;
    }
--- more_headers
X-Closed: 1
--- request
GET /ajo/im/health
--- error_code: 503
--- response_headers
Content-Type: application/problem+json
--- response_body
{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"the service is unavailable","instance":"/ajo/im/health","errors":[]}



=== TEST 8: a status nginx has no page for is a problem too
--- config
    location /ajo/im/ {
        return 422;
        campaign_api;
    }
--- request
GET /ajo/im/health
--- error_code: 422
--- response_headers
Content-Type: application/problem+json
--- response_body
{"type":"about:blank","title":"Error","status":422,"detail":"the request was refused","instance":"/ajo/im/health","errors":[]}



=== TEST 9: HEAD: the headers of the problem, no body
--- config
    location /ajo/im/ {
        if ($http_x_closed) {
            return 503;
        }
        campaign_api;
    }
--- request
HEAD /ajo/im/health
--- more_headers
X-Closed: 1
--- error_code: 503
--- response_headers
Content-Type: application/problem+json
Content-Length: 144
--- response_body



=== TEST 10: a kept connection goes on after a problem: its length is the body's
--- config
    location /ajo/im/ {
        if ($http_x_closed) {
            return 503;
        }
        campaign_api;
    }
--- pipelined_requests eval
["GET /ajo/im/health", "GET /ajo/im/health"]
--- more_headers eval
["X-Closed: 1", ""]
--- error_code eval
[503, 200]
--- response_headers eval
["Content-Type: application/problem+json\nConnection: keep-alive",
 "Content-Type: application/json"]
--- response_body eval
[qq/{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"the service is unavailable","instance":"\/ajo\/im\/health","errors":[]}\n/,
 qq/{"status":"UP","campaigns":8}\n/]



=== TEST 11: error_page set for the status wins over the problem
--- config
    location /ajo/im/ {
        deny all;
        error_page 403 /denied.txt;
        campaign_api;
    }

    location = /denied.txt {
        internal;
        default_type text/plain;
        return 200 "see the operator\n";
    }
--- request
GET /ajo/im/health
--- error_code: 403
--- response_headers
Content-Type: text/plain
--- response_body
see the operator



=== TEST 12: error_page for another status leaves the problem
--- config
    location /ajo/im/ {
        deny all;
        error_page 404 /missing.txt;
        campaign_api;
    }
--- request
GET /ajo/im/health
--- error_code: 403
--- response_headers
Content-Type: application/problem+json



=== TEST 13: other locations keep nginx's pages
--- config
    location /ajo/im/ {
        campaign_api;
    }

    location /other/ {
        deny all;
    }
--- request
GET /other/x
--- error_code: 403
--- response_headers
Content-Type: text/html
--- response_body_like: <h1>403 Forbidden</h1>



=== TEST 14: a location inside the API location is not the API
--- config
    location /ajo/im/ {
        campaign_api;

        location /ajo/im/static/ {
            deny all;
        }
    }
--- request
GET /ajo/im/static/x
--- error_code: 403
--- response_headers
Content-Type: text/html



=== TEST 15: the API's gateway subrequests keep their own answers: a gateway's 403 page is only its status
--- config
    campaign_gateway email /_gw;

    location /ajo/im/ {
        campaign_api;
    }

    location = /_gw {
        internal;
        return 403;
    }
--- request
POST /ajo/im/executions/unitary
{"requestId":"r","campaignId":"welcome-email","context":{"resetLink":"https://acme.example/"},"recipients":[{"type":"aep","userId":"u","namespace":"email","channelData":{"emailAddress":"a@example.com"}}]}
--- error_code: 502
--- response_headers
Content-Type: application/problem+json
--- response_body_like: "detail":"every recipient's dispatch failed",.*"message":"gateway answered 403 after 1 attempt\(s\)"
