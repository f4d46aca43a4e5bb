# campaign_api_keys: a key in X-API-Key or Authorization: Bearer, its
# SHA-256 in a keys file, and scopes that name what it may do; health stays
# open, and the key is in no log line and reaches no gateway.

use Test::Nginx::Socket 'no_plan';
use File::Temp;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

no_shuffle();

# the keys of these tests, and the SHA-256 of each:
#   ncm_shop-test-key-4f1c9b27    trigger=order-*,password-reset
#   ncm_viewer-test-key-8e0d22a1  preview

our $Keys = <<'_EOK_';
# name   hash                                                                     scopes
shop     sha256:07c6f6578bd9e03721b2d15c9c7d84af97c22b48cdf0b13e853279b861cf9a37  trigger=order-*,password-reset
viewer   sha256:60E0F2239E8BFFF4D8B571E990A5821E8D4763509468788F732FEBD401F3323A  preview

_EOK_

# and one that ngx-campaign makes: the key on stdout, its line on stderr

my $cli = $ENV{NGX_CAMPAIGN_CLI} || 'build/ngx-campaign';
-x $cli or die "$cli is not built: run make cli\n";

my $tmp = File::Temp->new();
our $CliKey = `$cli key made-by-cli 'trigger=order-*' 2>$tmp`;
chomp $CliKey;
our $CliLine = do { local $/; <$tmp> };

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("http_config", <<'_EOC_') unless defined $block->http_config;
    campaign_definitions $TEST_NGINX_CAMPAIGNS;
_EOC_

    # a gateway that a key header reached would answer 418, not 202

    $block->set_value("config", <<'_EOC_') unless defined $block->config;
    campaign_gateway  email  /_gw/email;
    campaign_gateway  sms    /_gw/sms;
    campaign_api_keys $TEST_NGINX_HTML_DIR/api-keys;

    location /ajo/im/ {
        campaign_api;
    }

    location /_gw/ {
        internal;

        if ($http_x_api_key) {
            return 418;
        }

        if ($http_authorization) {
            return 418;
        }

        campaign_outbox logs/outbox.jsonl;
    }
_EOC_

    $block->set_value("user_files", ">>> api-keys\n$Keys")
        unless defined $block->user_files;

    $block->set_value("no_error_log",
                      "[alert]\n[crit]\n[emerg]\nncm_shop-test-key\n"
                      . "ncm_viewer-test-key\nncm_wrong\n")
        unless defined $block->no_error_log || defined $block->must_die;

    $block->set_value("log_level", "info") unless defined $block->log_level;
});

run_tests();

__DATA__

=== TEST 1: without a key, a trigger is refused 401 with WWW-Authenticate, before its body is read
--- request
POST /ajo/im/executions/unitary
{"requestId":"k-1","campaignId":"order-sms","recipients":[{"type":"external","userId":"+14155550100","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"},"context":{"orderId":"A-1"}}]}
--- more_headers
Content-Type: application/json
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
Content-Type: application/problem+json
--- response_body_like: ^\{"type":"urn:ngx-campaign:problem:unauthorized","title":"Unauthorized","status":401,"detail":"an API key is required \(X-API-Key or Authorization: Bearer\)"
--- error_log
campaign: 401 problem: an API key is required



=== TEST 2: an unknown key is refused 401, and the key is in no log line
--- request
POST /ajo/im/executions/unitary
{"requestId":"k-2","campaignId":"order-sms","recipients":[{"type":"external","userId":"+14155550100","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"},"context":{"orderId":"A-1"}}]}
--- more_headers
Content-Type: application/json
X-API-Key: ncm_wrong-key-0000
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
--- response_body_like: "detail":"unknown API key"
--- error_log
campaign: 401 problem: unknown API key



=== TEST 3: a key in X-API-Key triggers a campaign of its scope; the gateway never sees it
--- request
POST /ajo/im/executions/unitary
{"requestId":"k-3","campaignId":"order-sms","recipients":[{"type":"external","userId":"+14155550100","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"},"profile":{"firstName":"Grace"},"context":{"orderId":"A-1"}}]}
--- more_headers
Content-Type: application/json
x-api-key: ncm_shop-test-key-4f1c9b27
--- error_code: 202
--- response_body_like: "campaignId":"order-sms","createdAt":"[^"]+","recipients":\[\{"userId":"\+14155550100","messageId":"[0-9a-f-]+","status":"accepted","gatewayStatus":202,"attempts":1\}\]



=== TEST 4: the same key as "Authorization: Bearer"
--- request
POST /ajo/im/executions/unitary
{"requestId":"k-4","campaignId":"order-sms","recipients":[{"type":"external","userId":"+14155550100","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"},"profile":{"firstName":"Grace"},"context":{"orderId":"A-1"}}]}
--- more_headers
Content-Type: application/json
Authorization: Bearer ncm_shop-test-key-4f1c9b27
--- error_code: 202
--- response_body_like: "status":"accepted","gatewayStatus":202



=== TEST 5: a campaign outside the key's trigger patterns is refused 403
--- request
POST /ajo/im/executions/unitary
{"requestId":"k-5","campaignId":"welcome-email","recipients":[{"type":"aep","userId":"ada","namespace":"email","channelData":{"emailAddress":"ada@example.com"},"profile":{},"context":{"resetLink":"https://acme.example/r/1"}}]}
--- more_headers
Content-Type: application/json
X-API-Key: ncm_shop-test-key-4f1c9b27
--- error_code: 403
--- response_headers
Content-Type: application/problem+json
--- response_body_like: ^\{"type":"urn:ngx-campaign:problem:forbidden","title":"Forbidden","status":403,"detail":"API key \\"shop\\" has no \\"trigger\\" scope for this campaign".*"pointer":"/campaignId"
--- error_log
campaign: 403 problem: API key "shop" has no "trigger" scope for this campaign, requestId "k-5"



=== TEST 6: outside the patterns, whether a campaign exists is not told
--- request
POST /ajo/im/executions/unitary
{"requestId":"k-6","campaignId":"no-such-campaign","recipients":[{"type":"aep","userId":"ada","namespace":"email","channelData":{"emailAddress":"ada@example.com"}}]}
--- more_headers
Content-Type: application/json
X-API-Key: ncm_shop-test-key-4f1c9b27
--- error_code: 403



=== TEST 7: a key without the trigger scope is refused 403 whatever the campaign
--- request
POST /ajo/im/executions/unitary
{"requestId":"k-6","campaignId":"order-sms","recipients":[]}
--- more_headers
Content-Type: application/json
X-API-Key: ncm_viewer-test-key-8e0d22a1
--- error_code: 403
--- response_body_like: "detail":"API key \\"viewer\\" has no \\"trigger\\" scope"



=== TEST 8: preview needs the preview scope
--- request eval
[
'POST /ajo/im/campaigns/welcome-email/preview
{"profile":{"person":{"name":{"firstName":"Ada"}}},"context":{"resetLink":"x"}}',
'POST /ajo/im/campaigns/welcome-email/preview
{"profile":{"person":{"name":{"firstName":"Ada"}}},"context":{"resetLink":"x"}}'
]
--- more_headers eval
[
"Content-Type: application/json\nX-API-Key: ncm_shop-test-key-4f1c9b27",
"Content-Type: application/json\nAuthorization: bearer ncm_viewer-test-key-8e0d22a1"
]
--- error_code eval
[403, 200]
--- response_body_like eval
[
qr/"detail":"API key \\"shop\\" has no \\"preview\\" scope"/,
qr/"subject":"Welcome Ada"/
]



=== TEST 9: health stays open for load balancers; other endpoints are not told apart without a key
--- request eval
["GET /ajo/im/health", "GET /ajo/im/nothing-here"]
--- error_code eval
[200, 401]
--- response_body_like eval
[qr/"status":"UP"/, qr/"detail":"an API key is required/]



=== TEST 10: with a key, an unknown endpoint is 404
--- request
GET /ajo/im/nothing-here
--- more_headers
X-API-Key: ncm_viewer-test-key-8e0d22a1
--- error_code: 404



=== TEST 11: without campaign_api_keys, or with "off" inside, the API is open as before
--- config
    campaign_gateway  sms    /_gw/sms;
    campaign_api_keys $TEST_NGINX_HTML_DIR/api-keys;

    location /ajo/im/ {
        campaign_api_keys off;
        campaign_api;
    }

    location /_gw/ {
        internal;
        campaign_outbox logs/outbox.jsonl;
    }
--- request
POST /ajo/im/executions/unitary
{"requestId":"k-10","campaignId":"order-sms","recipients":[{"type":"external","userId":"+14155550100","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"},"profile":{"firstName":"Grace"},"context":{"orderId":"A-1"}}]}
--- more_headers
Content-Type: application/json
--- error_code: 202



=== TEST 12: profile lookups never see the key either
--- config
    campaign_gateway  sms    /_gw/sms;
    campaign_api_keys $TEST_NGINX_HTML_DIR/api-keys;
    campaign_profile_lookup /_profiles/$campaign_user_id;

    location /ajo/im/ {
        campaign_api;
    }

    location /_profiles/ {
        internal;
        default_type application/json;

        if ($http_x_api_key) {
            return 418;
        }

        if ($http_authorization) {
            return 418;
        }

        return 200 '{"firstName":"Grace"}';
    }

    location /_gw/ {
        internal;
        campaign_outbox logs/outbox.jsonl;
    }
--- request
POST /ajo/im/executions/unitary
{"requestId":"k-12","campaignId":"order-sms","recipients":[{"type":"external","userId":"grace","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"},"context":{"orderId":"A-1"}}]}
--- more_headers
Content-Type: application/json
X-API-Key: ncm_shop-test-key-4f1c9b27
Authorization: Bearer ncm_shop-test-key-4f1c9b27
--- error_code: 202
--- response_body_like: "status":"accepted","gatewayStatus":202



=== TEST 13: at debug level, only nginx's own request header lines carry the key
--- log_level: debug
--- request
POST /ajo/im/executions/unitary
{"requestId":"k-11","campaignId":"order-sms","recipients":[{"type":"external","userId":"+14155550100","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"},"profile":{"firstName":"Grace"},"context":{"orderId":"A-1"}}]}
--- more_headers
Content-Type: application/json
X-API-Key: ncm_shop-test-key-4f1c9b27
--- error_code: 202
--- no_error_log eval
[
qr/^(?!.*http header: "X-API-Key: ).*ncm_shop-test-key/,
"[alert]",
"[emerg]",
]



=== TEST 14: a key made by "ngx-campaign key" is accepted, and logged by its name only
--- user_files eval
">>> api-keys\n$::CliLine"
--- log_level: debug
--- request
POST /ajo/im/executions/unitary
{"requestId":"k-13","campaignId":"order-sms","recipients":[{"type":"external","userId":"+14155550100","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"},"profile":{"firstName":"Grace"},"context":{"orderId":"A-1"}}]}
--- more_headers eval
"Content-Type: application/json\nAuthorization: Bearer $::CliKey"
--- error_code: 202
--- error_log
campaign: API key "made-by-cli"
--- no_error_log eval
[
qr/^(?!.*http header: "Authorization: ).*\Q$::CliKey\E/,
"[alert]",
"[emerg]",
]



=== TEST 15: a malformed keys file stops nginx -t with its line
--- user_files
>>> api-keys
# comment
shop  sha256:07c6f6578bd9e03721b2d15c9c7d84af97c22b48cdf0b13e853279b861cf9a3  trigger
--- must_die
--- suppress_stderr
--- error_log
[emerg]
api-keys":2: invalid hash: "sha256:" and 64 hex digits expected



=== TEST 16: an unknown scope, with its line
--- user_files
>>> api-keys
shop  sha256:07c6f6578bd9e03721b2d15c9c7d84af97c22b48cdf0b13e853279b861cf9a37  trigger=order-*
shop2 sha256:07c6f6578bd9e03721b2d15c9c7d84af97c22b48cdf0b13e853279b861cf9a37  send
--- must_die
--- suppress_stderr
--- error_log
[emerg]
api-keys":2: invalid scope "send"



=== TEST 17: a key name twice
--- user_files
>>> api-keys
shop  sha256:07c6f6578bd9e03721b2d15c9c7d84af97c22b48cdf0b13e853279b861cf9a37  trigger
shop  sha256:60e0f2239e8bfff4d8b571e990a5821e8d4763509468788f732febd401f3323a  preview
--- must_die
--- suppress_stderr
--- error_log
[emerg]
api-keys":2: key "shop" is already defined



=== TEST 18: a missing keys file
--- config
    location /ajo/im/ {
        campaign_api_keys $TEST_NGINX_HTML_DIR/no-such-keys;
        campaign_api;
    }
--- must_die
--- suppress_stderr
--- error_log
[emerg]
no-such-keys" failed (2: No such file or directory)
