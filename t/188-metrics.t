# Metrics: with campaign_zone, every campaign counts its triggers,
# recipients and messages by outcome, per channel, with gateway and
# trigger latency histograms.  campaign_metrics serves them in the
# Prometheus text format, GET campaigns/{id}/report as JSON, and the
# access log of a trigger can say what became of it.
# (t/188-metrics-workers.t: two workers, a reload, promtool.)

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("http_config", <<'_EOC_') unless defined $block->http_config;
    campaign_definitions $TEST_NGINX_HTML_DIR/campaigns;
    campaign_zone campaign 1m;

    log_format campaign '$campaign_id $campaign_execution_id '
                        '$campaign_recipients $campaign_outcome $status';
_EOC_

    # sms goes to the outbox; e-mail to a gateway that always fails

    $block->set_value("config", <<'_EOC_') unless defined $block->config;
    campaign_gateway  sms    /_gw;
    campaign_gateway  email  /_fail;
    campaign_gateway_retries      1;
    campaign_gateway_retry_delay  1ms;

    location /ajo/im/ {
        campaign_api;
        access_log logs/campaign.log campaign;
    }

    location = /metrics {
        campaign_metrics;
    }

    location = /_gw {
        internal;
        campaign_outbox logs/outbox.jsonl;
    }

    location = /_fail {
        internal;
        return 503;
    }

    location = /log {
        default_type text/plain;
        alias logs/campaign.log;
    }
_EOC_

    $block->set_value("user_files", <<'_EOF_') unless defined $block->user_files;
>>> campaigns/sms.json
{
    "id": "m-sms",
    "name": "Metrics SMS",
    "type": "transactional",
    "status": "live",
    "channel": "sms",
    "content": { "body": "Hi {{profile.firstName}}" }
}
>>> campaigns/mail.json
{
    "id": "m-mail",
    "name": "Metrics e-mail",
    "type": "transactional",
    "status": "live",
    "channel": "email",
    "content": { "from": "a@example.com", "subject": "Hi", "text": "Hi" }
}
>>> campaigns/slow.json
{
    "id": "m-slow",
    "name": "Metrics throttled SMS",
    "type": "transactional",
    "status": "live",
    "channel": "sms",
    "throttle": { "rate": 1, "burst": 1 },
    "content": { "body": "Hi {{profile.firstName}}" }
}
>>> api-keys
reader  sha256:cdc1b8bf6af9e0cdd6ce8ac7804ad225a4c09dfd79922adbad315f51d8dc765a  read=m-sms
viewer  sha256:60e0f2239e8bfff4d8b571e990a5821e8d4763509468788f732febd401f3323a  preview
_EOF_

    $block->set_value("more_headers", "Content-Type: application/json\n")
        unless defined $block->more_headers;

    $block->set_value("no_error_log", "[alert]\n[crit]\n[emerg]\n")
        unless defined $block->no_error_log;
});

# a trigger of campaign $c with $n recipients (u0, u1, ...)

our $T = sub {
    my ($c, $rid, $n) = @_;
    my @r = map {
        qq/{"type":"aep","userId":"u$_","namespace":"email",/
        . qq/"channelData":{"emailAddress":"u$_\@example.com",/
        . qq/"mobilePhoneNumber":"+1415555010$_"},/
        . qq/"profile":{"firstName":"P$_"}}/
    } 0 .. $n - 1;
    return qq/{"requestId":"$rid","campaignId":"$c","recipients":[/
           . join(',', @r) . ']}';
};

our $POST = "POST /ajo/im/executions/unitary\n";

run_tests();

__DATA__

=== TEST 1: counters after an accepted, a replayed, a failed and a throttled trigger
--- request eval
[$::POST . $::T->("m-sms", "a1", 2),
 $::POST . $::T->("m-sms", "a1", 2),
 $::POST . $::T->("m-mail", "f1", 1),
 $::POST . $::T->("m-slow", "t1", 1),
 $::POST . $::T->("m-slow", "t2", 1),
 "GET /metrics"]
--- error_code eval
[202, 202, 502, 202, 429, 200]
--- response_headers eval
["", "Idempotent-Replayed: true", "", "", "", "Content-Type: text/plain; version=0.0.4; charset=utf-8"]
--- response_body_like eval
[qr/accepted/, qr/accepted/, qr/gateway-failed/, qr/accepted/, qr/throttled/,
 qr/\A# HELP ngx_campaign_triggers_total .+\n# TYPE ngx_campaign_triggers_total counter
ngx_campaign_triggers_total\{campaign="m-mail",channel="email"\} 1
ngx_campaign_triggers_total\{campaign="m-slow",channel="sms"\} 2
ngx_campaign_triggers_total\{campaign="m-sms",channel="sms"\} 2
# HELP ngx_campaign_recipients_total .+\n# TYPE ngx_campaign_recipients_total counter
ngx_campaign_recipients_total\{campaign="m-mail",channel="email"\} 1
ngx_campaign_recipients_total\{campaign="m-slow",channel="sms"\} 2
ngx_campaign_recipients_total\{campaign="m-sms",channel="sms"\} 4
# HELP ngx_campaign_messages_total .+\n# TYPE ngx_campaign_messages_total counter
ngx_campaign_messages_total\{campaign="m-mail",channel="email",outcome="accepted"\} 0
ngx_campaign_messages_total\{campaign="m-mail",channel="email",outcome="failed"\} 1
ngx_campaign_messages_total\{campaign="m-mail",channel="email",outcome="retried"\} 1
ngx_campaign_messages_total\{campaign="m-mail",channel="email",outcome="replayed"\} 0
ngx_campaign_messages_total\{campaign="m-mail",channel="email",outcome="throttled"\} 0
ngx_campaign_messages_total\{campaign="m-mail",channel="email",outcome="capped"\} 0
ngx_campaign_messages_total\{campaign="m-mail",channel="email",outcome="stopped"\} 0
ngx_campaign_messages_total\{campaign="m-mail",channel="email",outcome="no_consent"\} 0
ngx_campaign_messages_total\{campaign="m-mail",channel="email",outcome="suppressed"\} 0
ngx_campaign_messages_total\{campaign="m-mail",channel="email",outcome="invalid_address"\} 0
ngx_campaign_messages_total\{campaign="m-slow",channel="sms",outcome="accepted"\} 1
ngx_campaign_messages_total\{campaign="m-slow",channel="sms",outcome="failed"\} 0
ngx_campaign_messages_total\{campaign="m-slow",channel="sms",outcome="retried"\} 0
ngx_campaign_messages_total\{campaign="m-slow",channel="sms",outcome="replayed"\} 0
ngx_campaign_messages_total\{campaign="m-slow",channel="sms",outcome="throttled"\} 1
ngx_campaign_messages_total\{campaign="m-slow",channel="sms",outcome="capped"\} 0
ngx_campaign_messages_total\{campaign="m-slow",channel="sms",outcome="stopped"\} 0
ngx_campaign_messages_total\{campaign="m-slow",channel="sms",outcome="no_consent"\} 0
ngx_campaign_messages_total\{campaign="m-slow",channel="sms",outcome="suppressed"\} 0
ngx_campaign_messages_total\{campaign="m-slow",channel="sms",outcome="invalid_address"\} 0
ngx_campaign_messages_total\{campaign="m-sms",channel="sms",outcome="accepted"\} 2
ngx_campaign_messages_total\{campaign="m-sms",channel="sms",outcome="failed"\} 0
ngx_campaign_messages_total\{campaign="m-sms",channel="sms",outcome="retried"\} 0
ngx_campaign_messages_total\{campaign="m-sms",channel="sms",outcome="replayed"\} 2
ngx_campaign_messages_total\{campaign="m-sms",channel="sms",outcome="throttled"\} 0
ngx_campaign_messages_total\{campaign="m-sms",channel="sms",outcome="capped"\} 0
ngx_campaign_messages_total\{campaign="m-sms",channel="sms",outcome="stopped"\} 0
ngx_campaign_messages_total\{campaign="m-sms",channel="sms",outcome="no_consent"\} 0
ngx_campaign_messages_total\{campaign="m-sms",channel="sms",outcome="suppressed"\} 0
ngx_campaign_messages_total\{campaign="m-sms",channel="sms",outcome="invalid_address"\} 0
# HELP ngx_campaign_gateway_latency_seconds .+\n# TYPE ngx_campaign_gateway_latency_seconds histogram
ngx_campaign_gateway_latency_seconds_bucket\{campaign="m-mail",channel="email",le="0.001"\} \d
(?:.+\n){11}ngx_campaign_gateway_latency_seconds_bucket\{campaign="m-mail",channel="email",le="\+Inf"\} 2
ngx_campaign_gateway_latency_seconds_sum\{campaign="m-mail",channel="email"\} \d+\.\d{3}
ngx_campaign_gateway_latency_seconds_count\{campaign="m-mail",channel="email"\} 2
(?:.+\n){14}ngx_campaign_gateway_latency_seconds_count\{campaign="m-slow",channel="sms"\} 1
(?:.+\n){14}ngx_campaign_gateway_latency_seconds_count\{campaign="m-sms",channel="sms"\} 2
# HELP ngx_campaign_trigger_latency_seconds .+\n# TYPE ngx_campaign_trigger_latency_seconds histogram
(?:.+\n){14}ngx_campaign_trigger_latency_seconds_count\{campaign="m-mail",channel="email"\} 1
(?:.+\n){14}ngx_campaign_trigger_latency_seconds_count\{campaign="m-slow",channel="sms"\} 2
(?:.+\n){14}ngx_campaign_trigger_latency_seconds_count\{campaign="m-sms",channel="sms"\} 2
# HELP ngx_campaign_zone_size_bytes .+\n# TYPE ngx_campaign_zone_size_bytes gauge
ngx_campaign_zone_size_bytes\{zone="campaign"\} 1048576
# HELP ngx_campaign_zone_used_bytes .+\n# TYPE ngx_campaign_zone_used_bytes gauge
ngx_campaign_zone_used_bytes\{zone="campaign"\} [1-9]\d+
# HELP ngx_campaign_zone_evictions_total .+\n# TYPE ngx_campaign_zone_evictions_total counter
ngx_campaign_zone_evictions_total\{zone="campaign"\} 0\n\z/]



=== TEST 2: a campaign's report: the same counters as JSON
--- request eval
[$::POST . $::T->("m-sms", "r1", 2),
 $::POST . $::T->("m-sms", "r1", 2),
 "GET /ajo/im/campaigns/m-sms/report",
 "GET /ajo/im/campaigns/m-mail/report"]
--- error_code eval
[202, 202, 200, 200]
--- response_headers eval
["", "", "Content-Type: application/json", "Content-Type: application/json"]
--- response_body_like eval
[qr/accepted/, qr/accepted/,
 qr/\A\{"campaignId":"m-sms","channel":"sms","counters":\{"sms":\{"triggers":2,"recipients":4,"messages":\{"accepted":2,"failed":0,"retried":0,"replayed":2,"throttled":0,"capped":0,"stopped":0,"no_consent":0,"suppressed":0,"invalid_address":0\},"gatewayLatency":\{"buckets":\{"0\.001":\d,"0\.005":\d,"0\.01":\d,"0\.025":\d,"0\.05":\d,"0\.1":\d,"0\.25":\d,"0\.5":\d,"1":\d,"2\.5":\d,"5":\d,"10":\d,"\+Inf":2\},"count":2,"sum":\d+\.\d{3}\},"triggerLatency":\{"buckets":\{[^}]*"\+Inf":2\},"count":2,"sum":\d+\.\d{3}\}\}\}\}\n\z/,
 qr/\A\{"campaignId":"m-mail","channel":"email","counters":\{"email":\{"triggers":0,"recipients":0,"messages":\{"accepted":0,"failed":0,"retried":0,"replayed":0,"throttled":0,"capped":0,"stopped":0,"no_consent":0,"suppressed":0,"invalid_address":0\},"gatewayLatency":\{"buckets":\{[^}]*"\+Inf":0\},"count":0,"sum":0\.000\},"triggerLatency":\{"buckets":\{[^}]*"\+Inf":0\},"count":0,"sum":0\.000\}\}\}\}\n\z/]



=== TEST 3: the report of an unknown campaign is 404; only GET and HEAD
--- request eval
["GET /ajo/im/campaigns/nope/report",
 "POST /ajo/im/campaigns/m-sms/report\n{}",
 "HEAD /ajo/im/campaigns/m-sms/report"]
--- error_code eval
[404, 405, 200]
--- response_headers eval
["Content-Type: application/problem+json", "Allow: GET, HEAD", "Content-Type: application/json"]
--- response_body_like eval
[qr/\A\{"type":"urn:ngx-campaign:problem:not-found","title":"Not found","status":404,"detail":"unknown campaign","instance":"\/ajo\/im\/campaigns\/nope\/report","errors":\[\{"pointer":"","message":"no campaign has this id"\}\]\}\n\z/,
 qr/method-not-allowed/, qr/\A\z/]



=== TEST 4: with API keys, a report needs the "read" scope for its campaign
--- config
    campaign_api_keys $TEST_NGINX_HTML_DIR/api-keys;

    location /ajo/im/ {
        campaign_api;
    }
--- request eval
["GET /ajo/im/campaigns/m-sms/report",
 "GET /ajo/im/campaigns/m-sms/report",
 "GET /ajo/im/campaigns/m-mail/report",
 "GET /ajo/im/campaigns/m-sms/report",
 "GET /ajo/im/campaigns/m-sms/report"]
--- more_headers eval
["", "X-API-Key: ncm_reader-test-key-5a6b7c8d", "X-API-Key: ncm_reader-test-key-5a6b7c8d",
 "X-API-Key: ncm_viewer-test-key-8e0d22a1", "X-API-Key: ncm_unknown"]
--- error_code eval
[401, 200, 403, 403, 401]
--- response_body_like eval
[qr/unauthorized/, qr/"campaignId":"m-sms"/,
 qr/API key \\"reader\\" has no \\"read\\" scope for this campaign/,
 qr/API key \\"viewer\\" has no \\"read\\" scope/, qr/unknown API key/]



=== TEST 5: without campaign_zone, no counters: the report says so
--- http_config
    campaign_definitions $TEST_NGINX_HTML_DIR/campaigns;
--- config
    location /ajo/im/ {
        campaign_api;
    }
--- request
GET /ajo/im/campaigns/m-sms/report
--- error_code: 404
--- response_body_like: "detail":"no counters are kept without campaign_zone"



=== TEST 6: campaign_metrics without campaign_zone: nginx refuses the configuration
--- http_config
    campaign_definitions $TEST_NGINX_HTML_DIR/campaigns;
--- config
    location = /metrics {
        campaign_metrics;
    }
--- must_die
--- suppress_stderr
--- no_error_log
[alert]
--- error_log eval
qr/\[emerg\] .*"campaign_metrics" needs "campaign_zone", which holds the counters, in .*nginx\.conf:\d+/



=== TEST 7: campaign_metrics answers GET and HEAD only
--- request eval
["POST /metrics\n{}", "HEAD /metrics"]
--- error_code eval
[405, 200]
--- response_headers eval
["Content-Type: application/problem+json\nAllow: GET, HEAD",
 "Content-Type: text/plain; version=0.0.4; charset=utf-8"]



=== TEST 8: access log variables: campaign, execution, recipients, outcome
--- request eval
[$::POST . $::T->("m-sms", "l1", 2),
 $::POST . $::T->("m-sms", "l1", 2),
 $::POST . $::T->("m-sms", "l1", 3),
 $::POST . $::T->("m-mail", "l2", 1),
 $::POST . $::T->("m-slow", "l3", 1),
 $::POST . $::T->("m-slow", "l4", 1),
 $::POST . $::T->("nope", "l5", 1),
 $::POST . '{"requestId":',
 "GET /ajo/im/campaigns/m-sms/report",
 "GET /log"]
--- error_code eval
[202, 202, 422, 502, 202, 429, 404, 400, 200, 200]
--- response_body_like eval
[qr/"executionId":"([0-9a-f-]{36})"/, qr/accepted/, qr/reused/, qr/failed/,
 qr/accepted/, qr/throttled/, qr/unknown campaign/, qr/invalid/, qr/m-sms/,
 qr/\Am-sms ([0-9a-f-]{36}) 2 accepted 202
m-sms \1 2 replayed 202
m-sms - 3 key_reused 422
m-mail [0-9a-f-]{36} 1 failed 502
m-slow [0-9a-f-]{36} 1 accepted 202
m-slow - 1 throttled 429
- - - not_found 404
- - - invalid 400
m-sms - - - 200\n\z/]



=== TEST 9: a trigger with some recipients sent and some not is "partial"
--- config
    campaign_gateway  sms  /_gw;
    campaign_profile_lookup /_profiles/$campaign_user_id;

    location /ajo/im/ {
        campaign_api;
        access_log logs/campaign.log campaign;
    }

    location /_profiles/ {
        internal;
        return 404;
    }

    location = /_gw {
        internal;
        campaign_outbox logs/outbox.jsonl;
    }

    location = /log {
        default_type text/plain;
        alias logs/campaign.log;
    }
--- request eval
["POST /ajo/im/executions/unitary\n"
 . '{"requestId":"p1","campaignId":"m-sms","recipients":['
 . '{"type":"aep","userId":"u0","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"},"profile":{"firstName":"A"}},'
 . '{"type":"aep","userId":"u1","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550101"}}]}',
 "GET /log"]
--- error_code eval
[202, 200]
--- response_body_like eval
[qr/"status":"accepted".*"status":"failed"/,
 qr/\Am-sms [0-9a-f-]{36} 2 partial 202\n\z/]
