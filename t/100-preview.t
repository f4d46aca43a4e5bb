# POST campaigns/{id}/preview: what every field of a campaign renders to
# for a profile and a context, as JSON; nothing is sent.

use Test::Nginx::Socket 'no_plan';

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("http_config", <<'_EOC_') unless defined $block->http_config;
    campaign_definitions $TEST_NGINX_CAMPAIGNS;
_EOC_

    $block->set_value("config", <<'_EOC_') unless defined $block->config;
    campaign_gateway  email  /_gw;
    campaign_gateway  push   /_gw;

    location /ajo/im/ {
        campaign_api;
    }

    # a preview never reaches a gateway
    location = /_gw {
        internal;
        return 500;
    }
_EOC_

    $block->set_value("more_headers", "Content-Type: application/json\n")
        unless defined $block->more_headers;

    $block->set_value("no_error_log", "[alert]\n[crit]\ncampaign: message\n")
        unless defined $block->no_error_log;
});

run_tests();

__DATA__

=== TEST 1: every field of an e-mail, HTML escaped only in html
--- request
POST /ajo/im/campaigns/welcome-email/preview
{"profile":{"person":{"name":{"firstName":"Ada <3"}}},"context":{"resetLink":"https://acme.example/r"}}
--- error_code: 200
--- response_headers
Content-Type: application/json
--- response_body
{"campaignId":"welcome-email","channel":"email","language":"en","content":{"from":"Acme <hello@acme.example>","subject":"Welcome Ada <3","html":"<p>Hi Ada &lt;3, go to https://acme.example/r</p>","text":"Hi Ada <3, go to https://acme.example/r"}}



=== TEST 2: a push campaign keeps its data object
--- request
POST /ajo/im/campaigns/cart-push/preview
{"profile":{"firstName":"Linus"},"context":{"itemCount":2,"cartUrl":"acme://cart"}}
--- error_code: 200
--- response_body
{"campaignId":"cart-push","channel":"push","language":"en","content":{"title":"Hi Linus","body":"2 item(s) wait in your cart","data":{"deepLink":"acme://cart"}}}



=== TEST 3: profile and context are optional; a draft can be previewed
--- request
POST /ajo/im/campaigns/draft-email/preview
{}
--- error_code: 200
--- response_body
{"campaignId":"draft-email","channel":"email","language":"en","content":{"from":"a@acme.example","subject":"s","text":"t"}}



=== TEST 4: an unknown campaign is 404
--- request
POST /ajo/im/campaigns/nope/preview
{}
--- error_code: 404
--- response_body_like: "detail":"unknown campaign"



=== TEST 5: profile and context must be objects
--- request
POST /ajo/im/campaigns/welcome-email/preview
{"profile":[1],"context":"x"}
--- error_code: 400
--- response_body_like: "pointer":"/profile","message":"must be an object, found array".*"pointer":"/context","message":"must be an object, found string"



=== TEST 6: malformed JSON is 400, GET is 405
--- request eval
["POST /ajo/im/campaigns/welcome-email/preview\n{\"profile\":", "GET /ajo/im/campaigns/welcome-email/preview"]
--- error_code eval
[400, 405]
--- response_body_like eval
[qr/malformed JSON/, qr/"status":405/]



=== TEST 7: $campaign_user_id outside a lookup or gateway is simply not found
--- config
    location /ajo/im/ {
        add_header X-User "[$campaign_user_id]" always;
        campaign_api;
    }
--- request
POST /ajo/im/campaigns/draft-email/preview
{}
--- error_code: 200
--- response_headers
X-User: []
--- no_error_log
[alert]
exited on signal
