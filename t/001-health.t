# The API's entry points: health, unknown endpoints, wrong methods.

use Test::Nginx::Socket 'no_plan';

no_shuffle();
run_tests();

__DATA__

=== TEST 1: health answers UP with the number of campaigns loaded
--- http_config
    campaign_definitions $TEST_NGINX_CAMPAIGNS;
--- config
    location /ajo/im/ {
        campaign_api;
    }
--- request
GET /ajo/im/health
--- error_code: 200
--- response_headers
Content-Type: application/json
--- response_body
{"status":"UP","campaigns":8}
--- no_error_log
[error]
[alert]
[crit]



=== TEST 2: health without any campaign_definitions
--- config
    location /ajo/im/ {
        campaign_api;
    }
--- request
GET /ajo/im/health
--- error_code: 200
--- response_body
{"status":"UP","campaigns":0}
--- no_error_log
[alert]
[crit]



=== TEST 3: an unknown endpoint is a 404 problem
--- config
    location /ajo/im/ {
        campaign_api;
    }
--- request
GET /ajo/im/executions/nothing
--- error_code: 404
--- response_headers
Content-Type: application/problem+json
--- response_body_like: ^\{"type":"urn:ngx-campaign:problem:not-found","title":"Not found","status":404,"detail":"no such endpoint","instance":"/ajo/im/executions/nothing","errors":\[\]\}$
--- no_error_log
[alert]
[crit]



=== TEST 4: GET on executions/unitary is 405 with Allow
--- config
    location /ajo/im/ {
        campaign_api;
    }
--- request
GET /ajo/im/executions/unitary
--- error_code: 405
--- response_headers
Allow: POST
Content-Type: application/problem+json
--- response_body_like: "status":405
--- no_error_log
[alert]
[crit]



=== TEST 5: POST on health is 405 with Allow
--- config
    location /ajo/im/ {
        campaign_api;
    }
--- request
POST /ajo/im/health
{}
--- error_code: 405
--- response_headers
Allow: GET, HEAD
--- response_body_like: "status":405
--- no_error_log
[alert]
[crit]



=== TEST 6: the API works under any location prefix
--- config
    location /messaging/v2/ {
        campaign_api;
    }
--- request
GET /messaging/v2/health
--- error_code: 200
--- response_body_like: "status":"UP"



=== TEST 7: a prefix without a trailing slash still separates the endpoint
--- config
    location /ajo/im {
        campaign_api;
    }
--- request eval
["GET /ajo/im/health", "GET /ajo/imhealth"]
--- error_code eval
[200, 404]
--- response_body_like eval
[qr/"status":"UP"/, qr/"detail":"no such endpoint"/]



=== TEST 8: campaign_api needs a prefix location
--- config
    location = /ajo/im/health {
        campaign_api;
    }
--- must_die
--- suppress_stderr
--- error_log
[emerg]
"campaign_api" directive must be in a prefix location



=== TEST 9: campaign_api and campaign_outbox cannot share a location
--- config
    location /x/ {
        campaign_api;
        campaign_outbox logs/outbox.jsonl;
    }
--- must_die
--- suppress_stderr
--- error_log
[emerg]
"campaign_outbox" directive cannot share a location with "campaign_api"
