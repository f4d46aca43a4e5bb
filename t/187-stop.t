# The stop switch: POST campaigns/{id}/stop and /resume turn a flag in
# campaign_zone; a stopped campaign's trigger is 409 and sends nothing;
# GET campaigns and campaigns/{id} show each campaign's definition and
# runtime state.  campaign_state_file keeps the switches for a restart
# (t/187-stop-workers.t drives the workers, reloads and restarts).

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

no_shuffle();

# the log lines of a block's requests together: a line looked for comes
# from its first request
check_accum_error_log();

# the keys of these tests, and the SHA-256 of each:
#   ncm_ops-test-key-5a1e0c33     read stop
#   ncm_shop-test-key-4f1c9b27    trigger read
#   ncm_orders-test-key-77b2e9d0  read=order-* stop=order-*

our $Keys = <<'_EOK_';
ops     sha256:28c79f125ae586b3a2510af355de72dddf9bacae9d1fd56cf6f5678ec71446c4  read stop
shop    sha256:07c6f6578bd9e03721b2d15c9c7d84af97c22b48cdf0b13e853279b861cf9a37  trigger read
orders  sha256:805f932d713459a083175a27c4ca80a38f47ef53f8917b66bd6cd2bb08600461  read=order-* stop=order-*
_EOK_

our $Campaigns = <<'_EOF_';
>>> campaigns/order-sms.json
{
    "id": "order-sms",
    "name": "Order SMS",
    "type": "transactional",
    "status": "live",
    "channel": "sms",
    "schedule": { "start": "2020-01-01T00:00:00Z" },
    "throttle": { "rate": 10, "burst": 20 },
    "context": { "orderId": { "type": "string", "required": true } },
    "content": { "body": "Order {{context.orderId}} for {{profile.firstName}}" }
}
>>> campaigns/welcome-email.json
{
    "id": "welcome-email",
    "name": "Welcome",
    "type": "transactional",
    "status": "draft",
    "channel": "email",
    "content": { "from": "a@acme.example", "subject": "Hi", "text": "Hi" }
}
>>> campaigns/winter-sms.json
{
    "id": "winter-sms",
    "name": "Winter",
    "type": "transactional",
    "status": "live",
    "channel": "sms",
    "schedule": { "start": "2020-01-01T00:00:00Z", "end": "2021-01-01T00:00:00Z" },
    "content": { "body": "Winter" }
}
_EOF_

our $Files = "$Campaigns>>> api-keys\n$Keys";

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("http_config", <<'_EOC_') unless defined $block->http_config;
    campaign_definitions $TEST_NGINX_HTML_DIR/campaigns;
    campaign_zone campaign 1m;
    campaign_state_file logs/state.json;
_EOC_

    $block->set_value("config", <<'_EOC_') unless defined $block->config;
    campaign_gateway  sms  /_gw;

    location /ajo/im/ {
        campaign_api;
    }

    location /keyed/ {
        campaign_api;
        campaign_api_keys $TEST_NGINX_HTML_DIR/api-keys;
    }

    location = /_gw {
        internal;
        campaign_outbox logs/outbox.jsonl;
    }

    location = /outbox {
        default_type text/plain;
        alias logs/outbox.jsonl;
    }

    location /logs/ {
        default_type text/plain;
        alias logs/;
    }
_EOC_

    $block->set_value("user_files", $Files)
        unless defined $block->user_files;

    $block->set_value("no_error_log", "[alert]\n[crit]\n[emerg]\n")
        unless defined $block->no_error_log || defined $block->must_die;

    $block->set_value("log_level", "info") unless defined $block->log_level;
});

our $T = sub {
    my ($rid, $campaign) = @_;
    $campaign //= "order-sms";
    return qq/{"requestId":"$rid","campaignId":"$campaign",/
        . qq/"context":{"orderId":"$rid"},"recipients":[{"type":"aep",/
        . qq/"userId":"u1","namespace":"phone",/
        . qq/"channelData":{"mobilePhoneNumber":"+14155550100"},/
        . qq/"profile":{"firstName":"Ada"}}]}/;
};

our $Time = qr/"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ"/;

# a campaign's counters (metrics) while nothing has been counted
our $Zero = qr/"counters":\{"(?:sms|email|push)":\{"triggers":0,"recipients":0,/
    . qr/"messages":\{"accepted":0,"failed":0,"retried":0,"replayed":0,/
    . qr/"throttled":0,"capped":0,"stopped":0,"no_consent":0,"suppressed":0,"invalid_address":0\},/
    . qr/"gatewayLatency":\{"buckets":\{[^{}]*\},"count":0,"sum":0\.000\},/
    . qr/"triggerLatency":\{"buckets":\{[^{}]*\},"count":0,"sum":0\.000\}\}\}/;

run_tests();

__DATA__

=== TEST 1: GET campaigns lists every campaign: its definition, and its runtime status
--- request
GET /ajo/im/campaigns
--- error_code: 200
--- response_headers
Content-Type: application/json
--- response_body_like eval
qr/\A\{"campaigns":\[\{"id":"order-sms","name":"Order SMS","type":"transactional","channel":"sms","status":"live","schedule":\{"start":"2020-01-01T00:00:00Z","end":null\},"throttle":\{"rate":10,"burst":20\},"runtime":\{"status":"live","stopped":false,"since":null\},$::Zero\},\{"id":"welcome-email","name":"Welcome","type":"transactional","channel":"email","status":"draft","schedule":\{"start":null,"end":null\},"throttle":null,"runtime":\{"status":"draft","stopped":false,"since":null\},$::Zero\},\{"id":"winter-sms","name":"Winter","type":"transactional","channel":"sms","status":"live","schedule":\{"start":"2020-01-01T00:00:00Z","end":"2021-01-01T00:00:00Z"\},"throttle":null,"runtime":\{"status":"ended","stopped":false,"since":null\},$::Zero\}\]\}\n\z/



=== TEST 2: GET campaigns/{id} shows one; HEAD its headers only
--- request eval
["GET /ajo/im/campaigns/order-sms", "HEAD /ajo/im/campaigns/order-sms"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/\A\{"id":"order-sms","name":"Order SMS","type":"transactional","channel":"sms","status":"live","schedule":\{"start":"2020-01-01T00:00:00Z","end":null\},"throttle":\{"rate":10,"burst":20\},"runtime":\{"status":"live","stopped":false,"since":null\},$::Zero\}\n\z/,
 qr/\A\z/]



=== TEST 3: stop answers the campaign's state; its trigger is then 409 campaign-stopped, nothing is sent, and its message counts as stopped
--- request eval
["POST /ajo/im/campaigns/order-sms/stop",
 "GET /ajo/im/campaigns/order-sms",
 "POST /ajo/im/executions/unitary\n" . $::T->("st-3"),
 "GET /outbox",
 "GET /ajo/im/campaigns/order-sms/report"]
--- more_headers
Content-Type: application/json
--- error_code eval
[200, 200, 409, 200, 200]
--- response_headers eval
["Content-Type: application/json", "", "Content-Type: application/problem+json", "", ""]
--- response_body_like eval
[qr/\A\{"id":"order-sms",.*"runtime":\{"status":"stopped","stopped":true,"since":$::Time\},$::Zero\}\n\z/,
 qr/"runtime":\{"status":"stopped","stopped":true,"since":$::Time\}/,
 qr/\A\{"type":"urn:ngx-campaign:problem:campaign-stopped","title":"Campaign stopped","status":409,"detail":"the campaign is stopped","instance":"\/ajo\/im\/executions\/unitary","errors":\[\{"pointer":"\/campaignId","message":"campaign was stopped at 20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ"\}\]\}\n\z/,
 qr/\A\z/,
 qr/"sms":\{"triggers":1,"recipients":1,"messages":\{"accepted":0,"failed":0,"retried":0,"replayed":0,"throttled":0,"capped":0,"stopped":1,"no_consent":0,"suppressed":0,"invalid_address":0\}/]
--- error_log
campaign "order-sms" is stopped



=== TEST 4: resume lets triggers through again
--- request eval
["POST /ajo/im/campaigns/order-sms/stop",
 "POST /ajo/im/campaigns/order-sms/resume",
 "POST /ajo/im/executions/unitary\n" . $::T->("st-4"),
 "GET /outbox"]
--- more_headers
Content-Type: application/json
--- error_code eval
[200, 200, 202, 200]
--- response_body_like eval
[qr/"stopped":true/,
 qr/"runtime":\{"status":"live","stopped":false,"since":$::Time\}/,
 qr/"status":"accepted"/,
 qr/\A\{[^\n]*"requestId":"st-4"[^\n]*\}\n\z/]



=== TEST 5: a stopped campaign's trigger is not kept: after resume, the same trigger runs, not a replay
--- request eval
["POST /ajo/im/campaigns/order-sms/stop",
 "POST /ajo/im/executions/unitary\n" . $::T->("st-5"),
 "POST /ajo/im/campaigns/order-sms/resume",
 "POST /ajo/im/executions/unitary\n" . $::T->("st-5"),
 "GET /outbox"]
--- more_headers
Content-Type: application/json
--- error_code eval
[200, 409, 200, 202, 200]
--- response_headers eval
["", "!Idempotent-Replayed", "", "!Idempotent-Replayed", ""]
--- response_body_like eval
[qr/"stopped":true/, qr/campaign-stopped/, qr/"stopped":false/,
 qr/"status":"accepted"/,
 qr/\A\{[^\n]*"requestId":"st-5"[^\n]*\}\n\z/]



=== TEST 6: the trigger is checked first: a bad one is 400, an unknown campaign 404, even while stopped
--- request eval
["POST /ajo/im/campaigns/order-sms/stop",
 "POST /ajo/im/executions/unitary\n" . ($::T->("st-6") =~ s/"orderId":"st-6"/"orderId":6/r),
 "POST /ajo/im/executions/unitary\n" . $::T->("st-6", "nope")]
--- more_headers
Content-Type: application/json
--- error_code eval
[200, 400, 404]
--- response_body_like eval
[qr/"stopped":true/,
 qr/"pointer":"\/context\/orderId","message":"must be a string, found number"/,
 qr/"detail":"unknown campaign"/]



=== TEST 7: stopping twice is stopping once; a stopped campaign can still be previewed
--- request eval
["POST /ajo/im/campaigns/order-sms/stop",
 "POST /ajo/im/campaigns/order-sms/stop",
 "POST /ajo/im/campaigns/order-sms/preview\n{\"profile\":{\"firstName\":\"Ada\"},\"context\":{\"orderId\":\"A-7\"}}"]
--- more_headers
Content-Type: application/json
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/"stopped":true/, qr/"stopped":true/, qr/Order A-7 for Ada/]
--- grep_error_log eval
qr/campaign "order-sms" is stopped/
--- grep_error_log_out
campaign "order-sms" is stopped



=== TEST 8: an unknown campaign is 404; so is a path under it that is no endpoint
--- request eval
["POST /ajo/im/campaigns/nope/stop",
 "POST /ajo/im/campaigns/nope/resume",
 "GET /ajo/im/campaigns/nope",
 "POST /ajo/im/campaigns/order-sms/pause",
 "POST /ajo/im/campaigns/order-sms/stop/now",
 "GET /ajo/im/campaigns/"]
--- error_code eval
[404, 404, 404, 404, 404, 404]
--- response_body_like eval
[qr/"detail":"unknown campaign","instance":"\/ajo\/im\/campaigns\/nope\/stop","errors":\[\{"pointer":"","message":"no campaign has this id"\}\]/,
 qr/"detail":"unknown campaign"/,
 qr/"detail":"unknown campaign"/,
 qr/"detail":"no such endpoint"/,
 qr/"detail":"no such endpoint"/,
 qr/"detail":"no such endpoint"/]



=== TEST 9: another method is 405 with Allow
--- request eval
["GET /ajo/im/campaigns/order-sms/stop",
 "PUT /ajo/im/campaigns/order-sms/resume",
 "POST /ajo/im/campaigns",
 "DELETE /ajo/im/campaigns/order-sms"]
--- error_code eval
[405, 405, 405, 405]
--- response_headers eval
["Allow: POST", "Allow: POST", "Allow: GET, HEAD", "Allow: GET, HEAD"]
--- response_body_like eval
[qr/"type":"urn:ngx-campaign:problem:method-not-allowed"/,
 qr/"status":405/, qr/"status":405/, qr/"status":405/]



=== TEST 10: the state file holds every switch, written whole; no temporary file is left
--- request eval
["POST /ajo/im/campaigns/winter-sms/stop",
 "POST /ajo/im/campaigns/order-sms/stop",
 "POST /ajo/im/campaigns/winter-sms/resume",
 "GET /logs/state.json",
 "GET /logs/state.json.tmp"]
--- error_code eval
[200, 200, 200, 200, 404]
--- response_body_like eval
[qr/"stopped":true/, qr/"stopped":true/, qr/"stopped":false/,
 qr/\A\{"campaigns":\{\n"order-sms":\{"stopped":true,"since":1\d{9}\},\n"winter-sms":\{"stopped":false,"since":1\d{9}\}\n\}\}\n\z/,
 qr/404 Not Found/]


=== TEST 11: the state file seeds the zone at start: a campaign stopped there is stopped
--- http_config
    campaign_definitions $TEST_NGINX_HTML_DIR/campaigns;
    campaign_zone campaign 1m;
    campaign_state_file $TEST_NGINX_HTML_DIR/state.json;
--- user_files eval
$::Files . <<'_EOF_'
>>> state.json
{"campaigns":{
"order-sms":{"stopped":true,"since":1764000000},
"gone-sms":{"stopped":true,"since":1764000000},
"winter-sms":{"stopped":false,"since":1764000001}
}}
_EOF_
--- request eval
["GET /ajo/im/campaigns/order-sms",
 "GET /ajo/im/campaigns/winter-sms",
 "POST /ajo/im/executions/unitary\n" . $::T->("st-11")]
--- more_headers
Content-Type: application/json
--- error_code eval
[200, 200, 409]
--- response_body_like eval
[qr/"runtime":\{"status":"stopped","stopped":true,"since":"2025-11-24T16:00:00Z"\}/,
 qr/"runtime":\{"status":"ended","stopped":false,"since":"2025-11-24T16:00:01Z"\}/,
 qr/"message":"campaign was stopped at 2025-11-24T16:00:00Z"/]
--- error_log eval
qr/\[warn\] .*campaign_state_file "[^"]+state\.json": no campaign "gone-sms", skipped/



=== TEST 12: the refusal is logged at info, with the trigger's requestId
--- http_config
    campaign_definitions $TEST_NGINX_HTML_DIR/campaigns;
    campaign_zone campaign 1m;
    campaign_state_file $TEST_NGINX_HTML_DIR/state.json;
--- user_files eval
$::Files . <<'_EOF_'
>>> state.json
{"campaigns":{"order-sms":{"stopped":true,"since":1764000000}}}
_EOF_
--- request eval
"POST /ajo/im/executions/unitary\n" . $::T->("st-11")
--- more_headers
Content-Type: application/json
--- error_code: 409
--- error_log eval
qr/\[info\] .*campaign: 409 problem: the campaign is stopped, requestId "st-11"/



=== TEST 13: a switch is logged at notice when it changes
--- http_config
    campaign_definitions $TEST_NGINX_HTML_DIR/campaigns;
    campaign_zone campaign 1m;
    campaign_state_file $TEST_NGINX_HTML_DIR/state.json;
--- user_files eval
$::Files . <<'_EOF_'
>>> state.json
{"campaigns":{"order-sms":{"stopped":true,"since":1764000000}}}
_EOF_
--- request
POST /ajo/im/campaigns/order-sms/resume
--- error_code: 200
--- error_log eval
qr/\[notice\] .*campaign "order-sms" is resumed, client: /



=== TEST 14: a state file that is not JSON stops nginx from starting, with its line and column
--- http_config
    campaign_definitions $TEST_NGINX_HTML_DIR/campaigns;
    campaign_zone campaign 1m;
    campaign_state_file $TEST_NGINX_HTML_DIR/state.json;
--- user_files eval
$::Files . <<'_EOF_'
>>> state.json
{"campaigns":{
"order-sms":{"stopped":tru,"since":1}
}}
_EOF_
--- must_die
--- error_log eval
qr/\[emerg\] .*campaign_state_file "[^"]+state\.json", line 2, column \d+: /



=== TEST 15: a state file of another shape is refused too
--- http_config
    campaign_definitions $TEST_NGINX_HTML_DIR/campaigns;
    campaign_zone campaign 1m;
    campaign_state_file $TEST_NGINX_HTML_DIR/state.json;
--- user_files eval
$::Files . <<'_EOF_'
>>> state.json
{"campaigns":{"order-sms":{"stopped":"yes","since":1}}}
_EOF_
--- must_die
--- error_log
campaign "order-sms": {"stopped": true or false, "since": seconds} expected



=== TEST 16: the state file's directory must be there
--- http_config
    campaign_definitions $TEST_NGINX_HTML_DIR/campaigns;
    campaign_zone campaign 1m;
    campaign_state_file $TEST_NGINX_HTML_DIR/no/such/dir/state.json;
--- must_die
--- error_log eval
qr/\[emerg\] .*campaign_state_file "[^"]+state\.json": the directory "[^"]+\/no\/such\/dir" is not there/



=== TEST 17: a state file that cannot be written: the switch holds, the answer is 500 and says so
--- http_config
    campaign_definitions $TEST_NGINX_HTML_DIR/campaigns;
    campaign_zone campaign 1m;
    campaign_state_file $TEST_NGINX_HTML_DIR/state.json;
--- user_files eval
$::Files . ">>> state.json.tmp/in-the-way\nx\n"
--- request eval
["POST /ajo/im/campaigns/order-sms/stop",
 "POST /ajo/im/executions/unitary\n" . $::T->("st-15")]
--- more_headers
Content-Type: application/json
--- error_code eval
[500, 409]
--- response_body_like eval
[qr/"type":"urn:ngx-campaign:problem:internal-error",.*"detail":"the campaign is stopped, but campaign_state_file could not be written: a restart would resume it"/,
 qr/campaign-stopped/]
--- error_log eval
qr/\[crit\] .*open\(\) "[^"]+state\.json\.tmp" failed \(21: Is a directory\)/
--- no_error_log
[alert]
[emerg]



=== TEST 18: without campaign_zone nginx starts (with a warning for the state file); stop is 501, GET shows no switch
--- http_config
    campaign_definitions $TEST_NGINX_HTML_DIR/campaigns;
    campaign_state_file logs/state.json;
--- request eval
["POST /ajo/im/campaigns/order-sms/stop",
 "GET /ajo/im/campaigns/order-sms",
 "POST /ajo/im/executions/unitary\n" . $::T->("st-16")]
--- more_headers
Content-Type: application/json
--- error_code eval
[501, 200, 202]
--- response_body_like eval
[qr/\A\{"type":"urn:ngx-campaign:problem:not-implemented","title":"Not implemented","status":501,"detail":"the stop switch needs campaign_zone","instance":"\/ajo\/im\/campaigns\/order-sms\/stop","errors":\[\{"pointer":"","message":"no campaign_zone is configured"\}\]\}\n\z/,
 qr/"runtime":\{"status":"live","stopped":false,"since":null\}/,
 qr/"status":"accepted"/]
--- error_log eval
qr/\[warn\] .*campaign_state_file "[^"]+state\.json" needs "campaign_zone": it is not used/



=== TEST 19: with API keys, stop needs the "stop" scope: 401 without a key, 403 without the scope
--- request eval
["POST /keyed/campaigns/order-sms/stop",
 "POST /keyed/campaigns/order-sms/stop",
 "POST /keyed/campaigns/order-sms/stop",
 "POST /keyed/campaigns/order-sms/resume",
 "GET /keyed/campaigns/order-sms"]
--- more_headers eval
["",
 "X-API-Key: ncm_shop-test-key-4f1c9b27",
 "X-API-Key: ncm_ops-test-key-5a1e0c33",
 "X-API-Key: ncm_shop-test-key-4f1c9b27",
 "X-API-Key: ncm_shop-test-key-4f1c9b27"]
--- error_code eval
[401, 403, 200, 403, 200]
--- response_body_like eval
[qr/"detail":"an API key is required/,
 qr/"type":"urn:ngx-campaign:problem:forbidden",.*"detail":"API key \\"shop\\" has no \\"stop\\" scope"/,
 qr/"stopped":true/,
 qr/"detail":"API key \\"shop\\" has no \\"stop\\" scope"/,
 qr/"stopped":true/]
--- no_error_log
[alert]
[crit]
[emerg]
ncm_



=== TEST 20: a key's patterns: it stops its campaigns only, and lists only those
--- request eval
["POST /keyed/campaigns/winter-sms/stop",
 "POST /keyed/campaigns/order-sms/stop",
 "GET /keyed/campaigns/welcome-email",
 "GET /keyed/campaigns",
 "GET /keyed/campaigns"]
--- more_headers eval
["X-API-Key: ncm_orders-test-key-77b2e9d0",
 "X-API-Key: ncm_orders-test-key-77b2e9d0",
 "X-API-Key: ncm_orders-test-key-77b2e9d0",
 "X-API-Key: ncm_orders-test-key-77b2e9d0",
 "X-API-Key: ncm_ops-test-key-5a1e0c33"]
--- error_code eval
[403, 200, 403, 200, 200]
--- response_body_like eval
[qr/"detail":"API key \\"orders\\" has no \\"stop\\" scope for this campaign"/,
 qr/"stopped":true/,
 qr/"detail":"API key \\"orders\\" has no \\"read\\" scope for this campaign"/,
 qr/\A\{"campaigns":\[\{"id":"order-sms",[^\n]*"stopped":true[^\n]*\}\]\}\n\z/,
 qr/\A\{"campaigns":\[\{"id":"order-sms",.*\{"id":"welcome-email",.*\{"id":"winter-sms",/]



=== TEST 21: a stopped campaign without its "since" time is refused: nginx -t fails and says what is expected
--- http_config
    campaign_definitions $TEST_NGINX_HTML_DIR/campaigns;
    campaign_zone campaign 1m;
    campaign_state_file $TEST_NGINX_HTML_DIR/state.json;
--- user_files eval
$::Files . <<'_EOF_'
>>> state.json
{"campaigns":{"order-sms":{"stopped":true}}}
_EOF_
--- must_die
--- error_log eval
qr/\[emerg\] .*campaign_state_file "[^"]+state\.json": campaign "order-sms": \{"stopped": true or false, "since": seconds\} expected/



=== TEST 22: a stopped campaign with "since": 0 is refused: a stop has a time, so 0 is a hand edit (GET campaigns/{id} would show 1970)
--- http_config
    campaign_definitions $TEST_NGINX_HTML_DIR/campaigns;
    campaign_zone campaign 1m;
    campaign_state_file $TEST_NGINX_HTML_DIR/state.json;
--- user_files eval
$::Files . <<'_EOF_'
>>> state.json
{"campaigns":{"order-sms":{"stopped":true,"since":0}}}
_EOF_
--- must_die
--- error_log eval
qr/\[emerg\] .*campaign_state_file "[^"]+state\.json": campaign "order-sms": stopped with "since": 0; a stopped campaign needs the time it was stopped, in seconds since the epoch/



=== TEST 23: a running campaign may have "since": 0 (it was never stopped): nginx starts, the campaign runs
--- http_config
    campaign_definitions $TEST_NGINX_HTML_DIR/campaigns;
    campaign_zone campaign 1m;
    campaign_state_file $TEST_NGINX_HTML_DIR/state.json;
--- user_files eval
$::Files . <<'_EOF_'
>>> state.json
{"campaigns":{"order-sms":{"stopped":false,"since":0}}}
_EOF_
--- request
GET /ajo/im/campaigns/order-sms
--- error_code: 200
--- response_body_like: "runtime":\{"status":"live","stopped":false,"since":
