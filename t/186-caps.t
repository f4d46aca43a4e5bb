# Frequency caps: campaign_frequency_rules names rules that cap how many
# marketing messages one profile (namespace + userId) receives per
# calendar window, on a channel or on any.  A capped recipient gets the
# outcome "capped" and is not sent, while the others are; transactional
# campaigns and campaigns that opt out are neither capped nor counted; a
# message counts once its gateway accepted it.  Reloads and concurrent
# workers: t/186-caps-workers.t.

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

# a gateway or profile service that answers too late (tcp_listen)
$ENV{TEST_NGINX_SLOW_PORT} ||= ($ENV{TEST_NGINX_SERVER_PORT}
                                || $ENV{TEST_NGINX_PORT} || 1984) + 50;

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("http_config", <<'_EOC_') unless defined $block->http_config;
    campaign_definitions      $TEST_NGINX_HTML_DIR/campaigns;
    campaign_zone             campaign 1m;
    campaign_frequency_rules  $TEST_NGINX_HTML_DIR/rules.json;
_EOC_

    $block->set_value("config", <<'_EOC_') unless defined $block->config;
    campaign_gateway  email  /_gw;
    campaign_gateway  sms    /_gw;
    campaign_gateway  push   /_gw;
    campaign_gateway_retries 0;

    location /ajo/im/ {
        campaign_api;
    }

    # the same API, with a gateway that refuses every message
    location /refused/ {
        campaign_api;
        campaign_gateway  email  /_refuse;
    }

    location = /_gw {
        internal;
        campaign_outbox logs/outbox.jsonl;
    }

    location = /_refuse {
        internal;
        return 400;
    }

    location = /outbox {
        default_type text/plain;
        alias logs/outbox.jsonl;
    }
_EOC_

    # at most 1 marketing e-mail per profile and month, 2 marketing
    # messages on any channel
    $block->set_value("user_files", <<'_EOF_' . ($block->user_files // ''));
>>> rules.json
{
    "_comment": "marketing pressure",
    "rules": [
        { "name": "email-monthly", "channel": "email", "max": 1,
          "window": "month" },
        { "name": "any-monthly", "channel": "any", "max": 2,
          "window": "month" }
    ]
}
>>> campaigns/news.json
{
    "id": "news", "name": "News", "type": "marketing", "status": "live",
    "channel": "email",
    "content": { "from": "news@acme.example", "subject": "News",
                 "text": "Hi {{profile.firstName}}" }
}
>>> campaigns/news-sms.json
{
    "id": "news-sms", "name": "News SMS", "type": "marketing",
    "status": "live", "channel": "sms",
    "content": { "body": "Hi {{profile.firstName}}" }
}
>>> campaigns/news-push.json
{
    "id": "news-push", "name": "News push", "type": "marketing",
    "status": "live", "channel": "push",
    "content": { "title": "News", "body": "Hi {{profile.firstName}}" }
}
>>> campaigns/recall.json
{
    "id": "recall", "name": "Product recall", "type": "marketing",
    "status": "live", "channel": "email",
    "frequencyCap": { "optOut": true },
    "content": { "from": "safety@acme.example", "subject": "Recall",
                 "text": "Hi {{profile.firstName}}" }
}
>>> campaigns/receipt.json
{
    "id": "receipt", "name": "Receipt", "type": "transactional",
    "status": "live", "channel": "email",
    "content": { "from": "shop@acme.example", "subject": "Receipt",
                 "text": "Hi {{profile.firstName}}" }
}
_EOF_

    $block->set_value("more_headers", "Content-Type: application/json\n")
        unless defined $block->more_headers;

    $block->set_value("no_error_log", "[alert]\n[crit]\n[emerg]\n")
        unless defined $block->no_error_log;
});

# a trigger of campaign $id, request $rid, to the userIds given

our $T = sub {
    my ($id, $rid, @users) = @_;
    my @r = map {
        qq/{"type":"aep","userId":"$_","namespace":"crm",/
        . qq/"channelData":{"emailAddress":"$_\@example.com",/
        . qq/"mobilePhoneNumber":"+14155550100",/
        . qq/"pushInfo":{"appID":"app","platform":"apns","token":"t-$_"}},/
        . qq/"profile":{"firstName":"P"}}/
    } @users;
    return qq/{"requestId":"$rid","campaignId":"$id","recipients":[/
           . join(',', @r) . ']}';
};

run_tests();

__DATA__

=== TEST 1: a marketing campaign is triggered through executions/unitary; its first e-mail is sent
--- request eval
["POST /ajo/im/executions/unitary\n" . $::T->("news", "n1", "ada"),
 "GET /outbox"]
--- error_code eval
[202, 200]
--- response_body_like eval
[qr/"recipients":\[\{"userId":"ada","messageId":"[^"]+","status":"accepted","gatewayStatus":202,"attempts":1\}\]/,
 qr/\A\{[^\n]*"campaignId":"news"[^\n]*"userId":"ada"[^\n]*\}\n\z/]



=== TEST 2: a mixed call: the capped recipient is answered "capped" and not sent, the other is sent; the report counts both
--- request eval
["POST /ajo/im/executions/unitary\n" . $::T->("news", "n2", "bob"),
 "POST /ajo/im/executions/unitary\n" . $::T->("news", "n3", "bob", "cy"),
 "GET /outbox",
 "GET /ajo/im/campaigns/news/report"]
--- error_code eval
[202, 202, 200, 200]
--- response_body_like eval
[qr/"userId":"bob"[^}]*"status":"accepted"/,
 qr/"recipients":\[\{"userId":"bob","messageId":"[^"]+-0","status":"capped","reason":"capped by frequency rule \\"email-monthly\\": at most 1 per month","attempts":0\},\{"userId":"cy","messageId":"[^"]+-1","status":"accepted","gatewayStatus":202,"attempts":1\}\]\}/,
 qr/\A\{[^\n]*"requestId":"n2"[^\n]*"userId":"bob"[^\n]*\}\n\{[^\n]*"requestId":"n3"[^\n]*"userId":"cy"[^\n]*\}\n\z/,
 qr/"email":\{"triggers":2,"recipients":3,"messages":\{"accepted":2,"failed":0,"retried":0,"replayed":0,"throttled":0,"capped":1,"stopped":0,"no_consent":0,"suppressed":0,"invalid_address":0\}/]



=== TEST 3: every recipient capped: still 202, each one "capped", nothing sent
--- request eval
["POST /ajo/im/executions/unitary\n" . $::T->("news", "n4", "dan", "eve"),
 "POST /ajo/im/executions/unitary\n" . $::T->("news", "n5", "dan", "eve"),
 "GET /outbox"]
--- error_code eval
[202, 202, 200]
--- response_headers eval
["Content-Type: application/json", "Content-Type: application/json", ""]
--- response_body_like eval
[qr/"accepted".*"accepted"/,
 qr/"recipients":\[\{"userId":"dan","messageId":"[^"]+","status":"capped","reason":"capped by[^}]+","attempts":0\},\{"userId":"eve","messageId":"[^"]+","status":"capped","reason":"capped by[^}]+","attempts":0\}\]/,
 qr/\A(\{[^\n]*"requestId":"n4"[^\n]*\}\n){2}\z/]



=== TEST 4: transactional campaigns are never capped, nor counted
--- request eval
["POST /ajo/im/executions/unitary\n" . $::T->("receipt", "r1", "fay"),
 "POST /ajo/im/executions/unitary\n" . $::T->("receipt", "r2", "fay"),
 "POST /ajo/im/executions/unitary\n" . $::T->("receipt", "r3", "fay"),
 "POST /ajo/im/executions/unitary\n" . $::T->("news", "n6", "fay"),
 "POST /ajo/im/executions/unitary\n" . $::T->("news", "n7", "fay")]
--- error_code eval
[202, 202, 202, 202, 202]
--- response_body_like eval
[qr/"status":"accepted"/, qr/"status":"accepted"/, qr/"status":"accepted"/,
 qr/"status":"accepted"/, qr/"status":"capped"/]



=== TEST 5: a marketing campaign with "frequencyCap": {"optOut": true} is neither capped nor counted
--- request eval
["POST /ajo/im/executions/unitary\n" . $::T->("recall", "c1", "gus"),
 "POST /ajo/im/executions/unitary\n" . $::T->("recall", "c2", "gus"),
 "POST /ajo/im/executions/unitary\n" . $::T->("recall", "c3", "gus"),
 "POST /ajo/im/executions/unitary\n" . $::T->("news", "n8", "gus"),
 "POST /ajo/im/executions/unitary\n" . $::T->("news", "n9", "gus"),
 "POST /ajo/im/executions/unitary\n" . $::T->("recall", "c4", "gus")]
--- error_code eval
[202, 202, 202, 202, 202, 202]
--- response_body_like eval
[qr/"status":"accepted"/, qr/"status":"accepted"/, qr/"status":"accepted"/,
 qr/"status":"accepted"/, qr/"status":"capped"/, qr/"status":"accepted"/]



=== TEST 6: a channel's rule counts its channel; an "any" rule counts them all
--- request eval
["POST /ajo/im/executions/unitary\n" . $::T->("news", "n10", "hal"),
 "POST /ajo/im/executions/unitary\n" . $::T->("news-sms", "s1", "hal"),
 "POST /ajo/im/executions/unitary\n" . $::T->("news-push", "p1", "hal"),
 "POST /ajo/im/executions/unitary\n" . $::T->("news-push", "p2", "ivy"),
 "POST /ajo/im/executions/unitary\n" . $::T->("news-sms", "s2", "ivy"),
 "POST /ajo/im/executions/unitary\n" . $::T->("news-sms", "s3", "ivy")]
--- error_code eval
[202, 202, 202, 202, 202, 202]
--- response_body_like eval
[qr/"status":"accepted"/,
 qr/"status":"accepted"/,
 qr/"status":"capped","reason":"capped by frequency rule \\"any-monthly\\": at most 2 per month"/,
 qr/"status":"accepted"/,
 qr/"status":"accepted"/,
 qr/"status":"capped","reason":"capped by frequency rule \\"any-monthly\\"/]



=== TEST 7: a message its gateway refused does not count
--- request eval
["POST /refused/executions/unitary\n" . $::T->("news", "n11", "jon"),
 "POST /refused/executions/unitary\n" . $::T->("news", "n12", "jon"),
 "POST /ajo/im/executions/unitary\n" . $::T->("news", "n13", "jon"),
 "POST /ajo/im/executions/unitary\n" . $::T->("news", "n14", "jon")]
--- error_code eval
[502, 502, 202, 202]
--- response_body_like eval
[qr/"message":"gateway answered 400 after 1 attempt\(s\)"/,
 qr/"message":"gateway answered 400 after 1 attempt\(s\)"/,
 qr/"status":"accepted"/,
 qr/"status":"capped"/]



=== TEST 8: a capped recipient takes no token from the campaign's throttle
--- user_files
>>> campaigns/paced.json
{
    "id": "paced", "name": "Paced", "type": "marketing", "status": "live",
    "channel": "email", "throttle": { "rate": 1, "burst": 1 },
    "content": { "from": "news@acme.example", "subject": "Paced",
                 "text": "Hi" }
}
--- request eval
["POST /ajo/im/executions/unitary\n" . $::T->("news", "n15", "kim"),
 "POST /ajo/im/executions/unitary\n" . $::T->("paced", "t1", "kim", "lea")]
--- error_code eval
[202, 202]
--- response_body_like eval
[qr/"status":"accepted"/,
 qr/"userId":"kim"[^}]*"status":"capped".*"userId":"lea"[^}]*"status":"accepted"/]



=== TEST 9: a replay answers the capped outcome again, and counts nothing more
--- request eval
["POST /ajo/im/executions/unitary\n" . $::T->("news", "n16", "max", "ned"),
 "POST /ajo/im/executions/unitary\n" . $::T->("news", "n16", "max", "ned"),
 "POST /ajo/im/executions/unitary\n" . $::T->("news", "n17", "ned")]
--- error_code eval
[202, 202, 202]
--- response_headers eval
["!Idempotent-Replayed", "Idempotent-Replayed: true", "!Idempotent-Replayed"]
--- response_body_like eval
[qr/"accepted".*"accepted"/, qr/"accepted".*"accepted"/,
 qr/"status":"capped"/]



=== TEST 10: a trigger refused by the throttle gives its places back
--- user_files
>>> campaigns/paced.json
{
    "id": "paced", "name": "Paced", "type": "marketing", "status": "live",
    "channel": "email", "throttle": { "rate": 1, "burst": 1 },
    "content": { "from": "news@acme.example", "subject": "Paced",
                 "text": "Hi" }
}
--- request eval
["POST /ajo/im/executions/unitary\n" . $::T->("paced", "t2", "ole", "pat"),
 "POST /ajo/im/executions/unitary\n" . $::T->("paced", "t3", "ole"),
 "GET /outbox",
 "GET /ajo/im/campaigns/paced/report"]
--- error_code eval
[429, 202, 200, 200]
--- response_body_like eval
[qr/"message":"more recipients than the throttle's burst"/,
 qr/"userId":"ole"[^}]*"status":"accepted"/,
 qr/\A\{[^\n]*"requestId":"t3"[^\n]*"userId":"ole"[^\n]*\}\n\z/,
 qr/"messages":\{"accepted":1,"failed":0,"retried":0,"replayed":0,"throttled":2,"capped":0,"stopped":0,"no_consent":0,"suppressed":0,"invalid_address":0\}/]



=== TEST 11: without campaign_zone, rules are a mistake that nginx -t reports
--- http_config
    campaign_definitions      $TEST_NGINX_HTML_DIR/campaigns;
    campaign_frequency_rules  $TEST_NGINX_HTML_DIR/rules.json;
--- config
--- must_die
--- suppress_stderr
--- error_log eval
qr{\[emerg\] .*"campaign_frequency_rules" needs "campaign_zone", where the counts are kept, in \S+nginx\.conf:\d+}
--- no_error_log



=== TEST 12: every mistake of a rules file is reported with its field and position, then their count
--- http_config
    campaign_definitions      $TEST_NGINX_HTML_DIR/campaigns;
    campaign_zone             campaign 1m;
    campaign_frequency_rules  $TEST_NGINX_HTML_DIR/bad-rules.json;
--- config
--- user_files
>>> bad-rules.json
{
    "rulez": [],
    "rules": [
        { "name": "daily", "channel": "fax", "max": 0, "window": "day" },
        { "channel": "email", "max": 1, "window": "week" },
        { "name": "daily", "max": 1, "window": "day" },
        { "name": "bad name", "max": 1, "window": "day", "every": 1.5 },
        { "name": "x", "name": "y", "max": 1, "window": "fortnight" },
        3
    ]
}
--- must_die
--- suppress_stderr
--- error_log eval
[qr{\[emerg\] .*frequency rules "\S+/bad-rules\.json", field "rulez", line 2, column 14: unknown key \(allowed: rules\)},
 qr{field "rules\.0\.channel", line 4, column 39: must be one of "email", "sms", "push", "any", found "fax"},
 qr{field "rules\.0\.max", line 4, column 53: must be an integer from 1 to 1000000, found 0},
 qr{field "rules\.1\.name": required field is missing},
 qr{field "rules\.2\.name", line 6, column 19: duplicate rule name "daily"},
 qr{field "rules\.3\.name", line 7, column 19: must match \[A-Za-z0-9\._-\]\{1,64\}, found "bad name"},
 qr{field "rules\.3\.every", line 7, column 67: must be an integer from 1 to 1000, found 1\.5},
 qr{field "rules\.4\.name", line 8, column 19: duplicate key},
 qr{field "rules\.4\.window", line 8, column 57: must be one of "hour", "day", "week", "month", found "fortnight"},
 qr{field "rules\.5", line 9, column 9: must be an object \(a frequency rule\), found number},
 qr{\[emerg\] .*10 mistake\(s\) in frequency rules "\S+/bad-rules\.json" in \S+nginx\.conf:\d+}]
--- no_error_log



=== TEST 13: a rules file that is not JSON, or not there
--- http_config
    campaign_definitions      $TEST_NGINX_HTML_DIR/campaigns;
    campaign_zone             campaign 1m;
    campaign_frequency_rules  $TEST_NGINX_HTML_DIR/broken.json;
--- config
--- user_files
>>> broken.json
{ "rules": [ { "name": "a", } ] }
--- must_die
--- suppress_stderr
--- error_log eval
qr{\[emerg\] .*frequency rules "\S+/broken\.json", line 1, column 29: JSON syntax error}
--- no_error_log



=== TEST 14: a rules file that is missing
--- http_config
    campaign_definitions      $TEST_NGINX_HTML_DIR/campaigns;
    campaign_zone             campaign 1m;
    campaign_frequency_rules  $TEST_NGINX_HTML_DIR/no-such-rules.json;
--- config
--- must_die
--- suppress_stderr
--- error_log eval
qr{\[emerg\] .*frequency rules "\S+/no-such-rules\.json": open\(\) failed}
--- no_error_log



=== TEST 15: "rules" is required, and an array
--- http_config
    campaign_definitions      $TEST_NGINX_HTML_DIR/campaigns;
    campaign_zone             campaign 1m;
    campaign_frequency_rules  $TEST_NGINX_HTML_DIR/empty.json;
--- config
--- user_files
>>> empty.json
{ "rules": {} }
--- must_die
--- suppress_stderr
--- error_log eval
qr{\[emerg\] .*frequency rules "\S+/empty\.json", field "rules", line 1, column 12: must be an array, found object}
--- no_error_log



=== TEST 16: the directive is given once
--- http_config
    campaign_definitions      $TEST_NGINX_HTML_DIR/campaigns;
    campaign_zone             campaign 1m;
    campaign_frequency_rules  $TEST_NGINX_HTML_DIR/rules.json;
    campaign_frequency_rules  $TEST_NGINX_HTML_DIR/rules.json;
--- config
--- must_die
--- suppress_stderr
--- error_log eval
qr{\[emerg\] .*"campaign_frequency_rules" directive is duplicate}
--- no_error_log



=== TEST 17: a message whose attempt was out when its execution timed out keeps its place: that attempt may still reach the gateway
--- config
    campaign_gateway  email  /_gw;
    campaign_gateway_retries 0;

    location /ajo/im/ {
        campaign_api;
    }

    # the same API, with a gateway that answers after the execution's end
    location /slow/ {
        campaign_api;
        campaign_execution_timeout 300ms;
        campaign_gateway  email  /_slow;
    }

    location = /_gw {
        internal;
        campaign_outbox logs/outbox.jsonl;
    }

    location = /_slow {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SLOW_PORT;
        proxy_read_timeout 10s;
    }

    location = /outbox {
        default_type text/plain;
        alias logs/outbox.jsonl;
    }
--- tcp_listen eval: $ENV{TEST_NGINX_SLOW_PORT}
--- tcp_reply_delay: 1s
--- tcp_reply
HTTP/1.1 202 Accepted
Content-Length: 0


--- timeout: 5
--- request eval
["POST /slow/executions/unitary\n" . $::T->("news", "t1", "kim"),
 "POST /ajo/im/executions/unitary\n" . $::T->("news", "t2", "kim"),
 "GET /outbox"]
--- error_code eval
[504, 202, 200]
--- response_body_like eval
[qr/"the execution timed out \(campaign_execution_timeout\)"/,
 qr/"userId":"kim","messageId":"[^"]+","status":"capped"/,
 qr/\A\z/]



=== TEST 18: a message whose profile lookup was out when its execution timed out had no attempt: it gives its place back
--- config
    campaign_gateway  email  /_gw;
    campaign_gateway_retries 0;

    location /ajo/im/ {
        campaign_api;
    }

    # the same API, with a profile service that answers after the end
    location /slow/ {
        campaign_api;
        campaign_execution_timeout 300ms;
        campaign_profile_lookup /_profiles/$campaign_user_id;
    }

    location /_profiles/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SLOW_PORT;
        proxy_read_timeout 10s;
    }

    location = /_gw {
        internal;
        campaign_outbox logs/outbox.jsonl;
    }

    location = /outbox {
        default_type text/plain;
        alias logs/outbox.jsonl;
    }
--- tcp_listen eval: $ENV{TEST_NGINX_SLOW_PORT}
--- tcp_reply_delay: 1s
--- tcp_reply
HTTP/1.1 200 OK
Content-Type: application/json
Content-Length: 19

{"firstName":"Lee"}
--- timeout: 5
--- request eval
["POST /slow/executions/unitary\n"
 . qq/{"requestId":"t3","campaignId":"news","recipients":[{"type":"aep","userId":"lee","namespace":"crm","channelData":{"emailAddress":"lee\@example.com"}}]}/,
 "POST /ajo/im/executions/unitary\n" . $::T->("news", "t4", "lee"),
 "GET /outbox"]
--- error_code eval
[504, 202, 200]
--- response_body_like eval
[qr/"the execution timed out \(campaign_execution_timeout\)"/,
 qr/"userId":"lee","messageId":"[^"]+","status":"accepted"/,
 qr/\A\{[^\n]*"requestId":"t4"[^\n]*\}\n\z/]
