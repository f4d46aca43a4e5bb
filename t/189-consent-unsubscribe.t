# Consent and unsubscribes, for marketing messages only.  A recipient
# whose profile says no to marketing (AEP's consent field group:
# consents.marketing.{channel,any}.val = "n", or the campaign's
# "consentField") gets the outcome "no_consent"; one whose address is in
# the channel's suppression list (campaign_suppression_list files, and
# the addresses that unsubscribed) gets "suppressed"; neither is sent.
# Transactional messages are never held back.  Marketing e-mails carry
# RFC 8058's List-Unsubscribe headers in the gateway payload, with a URL
# signed with HMAC-SHA256 over channel, address and expiry; the
# campaign_unsubscribe location takes the one-click POST and shows a
# confirmation page on GET.

use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64url);

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

no_shuffle();

our $KEY = 'k' x 40;

# a link as the module signs it: HMAC-SHA256 over "channel\naddress\nexpires"

our $LINK = sub {
    my ($channel, $address, $expires, %o) = @_;
    my $sig = encode_base64url(hmac_sha256("$channel\n$address\n$expires",
                                           $o{key} // $KEY));
    my $a = $o{as} // $address;
    $a =~ s/([^A-Za-z0-9._~-])/sprintf("%%%02X", ord $1)/ge;
    return "/unsubscribe?c=$channel&a=$a&e=$expires&s=$sig";
};

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("http_config", <<'_EOC_') unless defined $block->http_config;
    campaign_definitions         $TEST_NGINX_HTML_DIR/campaigns;
    campaign_zone                campaign 1m;
    campaign_suppression_list    email $TEST_NGINX_HTML_DIR/suppressed-email.txt;
    campaign_suppression_list    sms   $TEST_NGINX_HTML_DIR/suppressed-sms.txt;
    campaign_unsubscribe_file    $TEST_NGINX_HTML_DIR/unsubscribes.txt;
    campaign_unsubscribe_key     $TEST_NGINX_HTML_DIR/unsubscribe.key;
    campaign_unsubscribe_url     https://mail.acme.example/unsubscribe;
    campaign_unsubscribe_expiry  30d;

    log_format outcome '$campaign_id $campaign_outcome $status';
_EOC_

    $block->set_value("config", <<'_EOC_') unless defined $block->config;
    campaign_gateway  email  /_gw;
    campaign_gateway  sms    /_gw;
    campaign_gateway_retries 0;

    location /ajo/im/ {
        campaign_api;
        access_log logs/outcome.log outcome;
    }

    # profiles looked up: a JSON file per userId
    location /lookup/ {
        campaign_api;
        campaign_profile_lookup /_profiles/$campaign_user_id.json;
    }

    location /_profiles/ {
        internal;
        alias $TEST_NGINX_HTML_DIR/profiles/;
    }

    location = /outcomes {
        default_type text/plain;
        alias logs/outcome.log;
    }

    location = /unsubscribe {
        campaign_unsubscribe;
    }

    location = /_gw {
        internal;
        campaign_outbox logs/outbox.jsonl;
    }

    location = /outbox {
        default_type text/plain;
        alias logs/outbox.jsonl;
    }

    location = /unsubscribes {
        default_type text/plain;
        alias $TEST_NGINX_HTML_DIR/unsubscribes.txt;
    }

    location = /metrics {
        campaign_metrics;
    }
_EOC_

    $block->set_value("user_files", <<"_EOF_" . ($block->user_files // ''));
>>> unsubscribe.key
$::KEY
>>> suppressed-email.txt
# bounced or complained
  Blocked\@Example.COM
other\@example.com
>>> suppressed-sms.txt
+14155550199
>>> unsubscribes.txt
email gone\@example.com
>>> profiles/lu-no.json
{"firstName":"L","consents":{"marketing":{"any":{"val":"n"}}}}
>>> profiles/lu-yes.json
{"firstName":"L","consents":{"marketing":{"email":{"val":"y"}}}}
_EOF_

    $block->set_value("user_files", $block->user_files . <<'_EOF_');
>>> campaigns/news.json
{
    "id": "news", "name": "News", "type": "marketing", "status": "live",
    "channel": "email",
    "content": { "from": "news@acme.example", "subject": "News",
                 "text": "Hi {{profile.firstName}}. Unsubscribe: {{unsubscribeUrl}}" }
}
>>> campaigns/news-sms.json
{
    "id": "news-sms", "name": "News SMS", "type": "marketing",
    "status": "live", "channel": "sms",
    "content": { "body": "Hi {{profile.firstName}}" }
}
>>> campaigns/partner.json
{
    "id": "partner", "name": "Partner offers", "type": "marketing",
    "status": "live", "channel": "email",
    "consentField": "prefs.partnerOffers",
    "content": { "from": "news@acme.example", "subject": "Offers",
                 "text": "Hi {{profile.firstName}}" }
}
>>> campaigns/receipt.json
{
    "id": "receipt", "name": "Receipt", "type": "transactional",
    "status": "live", "channel": "email",
    "content": { "from": "shop@acme.example", "subject": "Receipt",
                 "text": "Hi {{profile.firstName}}[{{unsubscribeUrl}}]" }
}
_EOF_

    $block->set_value("more_headers", "Content-Type: application/json\n")
        unless defined $block->more_headers;

    $block->set_value("no_error_log", "[alert]\n[crit]\n[emerg]\n")
        unless defined $block->no_error_log;
});

# a trigger of campaign $id to [userId, address, profile JSON] recipients

our $T = sub {
    my ($id, $rid, @users) = @_;
    my @r = map {
        my ($u, $addr, $profile) = @$_;
        qq/{"type":"aep","userId":"$u","namespace":"crm",/
        . qq/"channelData":{"emailAddress":"$addr",/
        . qq/"mobilePhoneNumber":"$addr"},/
        . qq/"profile":$profile}/
    } @users;
    return qq/{"requestId":"$rid","campaignId":"$id","recipients":[/
           . join(',', @r) . ']}';
};

our $NO_EMAIL = '{"firstName":"N","consents":{"marketing":{"email":{"val":"n"}}}}';
our $NO_ANY = '{"firstName":"N","consents":{"marketing":{"any":{"val":"n"},"email":{"val":"y"}}}}';
our $YES = '{"firstName":"Y","consents":{"marketing":{"email":{"val":"y"}}}}';

run_tests();

__DATA__

=== TEST 1: consent "n" on the channel or on any is skipped as no_consent, the others are sent
--- request eval
["POST /ajo/im/executions/unitary\n" . $::T->("news", "c1",
    ["ada", "ada\@example.com", $::YES],
    ["bob", "bob\@example.com", $::NO_EMAIL],
    ["cy", "cy\@example.com", $::NO_ANY],
    ["dee", "dee\@example.com", '{"firstName":"D"}']),
 "GET /outbox"]
--- error_code eval
[202, 200]
--- response_body_like eval
[qr/"recipients":\[\{"userId":"ada","messageId":"[^"]+","status":"accepted","gatewayStatus":202,"attempts":1\},\{"userId":"bob","messageId":"[^"]+","status":"no_consent","reason":"the profile did not consent to marketing messages","attempts":0\},\{"userId":"cy","messageId":"[^"]+","status":"no_consent","reason":"[^"]+","attempts":0\},\{"userId":"dee","messageId":"[^"]+","status":"accepted","gatewayStatus":202,"attempts":1\}\]/,
 qr/\A\{[^\n]*"userId":"ada"[^\n]*\}\n\{[^\n]*"userId":"dee"[^\n]*\}\n\z/]



=== TEST 1b: AEP's "dn" (default no) is no as well; "dy" (default yes) is consent
--- request eval
["POST /ajo/im/executions/unitary\n" . $::T->("news", "c1b",
    ["eve", "eve\@example.com", '{"firstName":"E","consents":{"marketing":{"email":{"val":"dn"}}}}'],
    ["fay", "fay\@example.com", '{"firstName":"F","consents":{"marketing":{"email":{"val":"dy"}}}}']),
 "GET /outbox"]
--- error_code eval
[202, 200]
--- response_body_like eval
[qr/"recipients":\[\{"userId":"eve","messageId":"[^"]+","status":"no_consent",[^}]+\},\{"userId":"fay","messageId":"[^"]+","status":"accepted",/,
 qr/\A\{[^\n]*"userId":"fay"[^\n]*\}\n\z/]



=== TEST 2: a campaign's consentField replaces AEP's consent fields
--- request eval
["POST /ajo/im/executions/unitary\n" . $::T->("partner", "c2",
    ["ada", "ada\@example.com", '{"firstName":"A","prefs":{"partnerOffers":"n"}}'],
    ["bob", "bob\@example.com", $::NO_EMAIL])]
--- error_code: 202
--- response_body_like: "userId":"ada","messageId":"[^"]+","status":"no_consent".*"userId":"bob","messageId":"[^"]+","status":"accepted"



=== TEST 3: every recipient held back: 202 all the same, nothing sent
--- request eval
["POST /ajo/im/executions/unitary\n" . $::T->("news", "c3",
    ["bob", "bob\@example.com", $::NO_EMAIL]),
 "GET /outbox"]
--- error_code eval
[202, 200]
--- response_body_like eval
[qr/"status":"no_consent"/, qr/\A\z/]



=== TEST 4: transactional messages are never held back by consent nor suppression lists, and have no unsubscribe link
--- request eval
["POST /ajo/im/executions/unitary\n" . $::T->("receipt", "c4",
    ["bob", "bob\@example.com", $::NO_ANY],
    ["bl", "blocked\@example.com", '{"firstName":"B"}'],
    ["gone", "gone\@example.com", '{"firstName":"G"}']),
 "GET /outbox"]
--- error_code eval
[202, 200]
--- response_body_like eval
[qr/\A(?:.*?"status":"accepted"){3}/,
 qr/\A(?:\{(?:(?!"headers")[^\n])*"text":"Hi [NBG]\[\]"\}\}\n){3}\z/]



=== TEST 5: suppression lists: a file's addresses compare case-insensitively for e-mail; SMS has its own list
--- request eval
["POST /ajo/im/executions/unitary\n" . $::T->("news", "c5",
    ["bl", "BLOCKED\@example.com", $::YES],
    ["ot", "other\@Example.com", $::YES],
    ["ok", "ok\@example.com", $::YES]),
 "POST /ajo/im/executions/unitary\n" . $::T->("news-sms", "c5s",
    ["s1", "+14155550199", $::YES],
    ["s2", "+14155550100", $::YES])]
--- error_code eval
[202, 202]
--- response_body_like eval
[qr/"userId":"bl","messageId":"[^"]+","status":"suppressed","reason":"the address is in the channel's suppression list","attempts":0\},\{"userId":"ot","messageId":"[^"]+","status":"suppressed".*"userId":"ok","messageId":"[^"]+","status":"accepted"/,
 qr/"userId":"s1","messageId":"[^"]+","status":"suppressed".*"userId":"s2","messageId":"[^"]+","status":"accepted"/]



=== TEST 6: campaign_unsubscribe_file is read at start: its addresses are suppressed
--- request eval
["POST /ajo/im/executions/unitary\n" . $::T->("news", "c6",
    ["gone", "Gone\@example.com", $::YES])]
--- error_code: 202
--- response_body_like: "status":"suppressed"



=== TEST 7: a marketing e-mail carries the RFC 8058 headers and {{unsubscribeUrl}}; an SMS has no headers
--- request eval
["POST /ajo/im/executions/unitary\n" . $::T->("news", "c7",
    ["ada", "Ada.Lovelace+news\@example.com", $::YES]),
 "POST /ajo/im/executions/unitary\n" . $::T->("news-sms", "c7s",
    ["s2", "+14155550100", $::YES]),
 "GET /outbox"]
--- error_code eval
[202, 202, 200]
--- response_body_like eval
[qr/"status":"accepted"/, qr/"status":"accepted"/,
 qr{\A\{[^\n]*"text":"Hi Y\. Unsubscribe: https://mail\.acme\.example/unsubscribe\?c=email&a=ada\.lovelace%2Bnews%40example\.com&e=(\d+)&s=([A-Za-z0-9_-]{43})"\},"headers":\{"List-Unsubscribe":"<https://mail\.acme\.example/unsubscribe\?c=email&a=ada\.lovelace%2Bnews%40example\.com&e=\1&s=\2>","List-Unsubscribe-Post":"List-Unsubscribe=One-Click"\}\}\n\{(?:(?!"headers")[^\n])*"channel":"sms"(?:(?!"headers")[^\n])*\}\n\z}]



=== TEST 8: GET shows a confirmation page whose form posts the same link; the address is escaped
--- more_headers
--- request eval
"GET " . $::LINK->("email", "o'brien&co\@example.com", 4102444800)
--- error_code: 200
--- response_headers
Content-Type: text/html; charset=utf-8
Cache-Control: no-store
--- response_body_like: <strong>o&#39;brien&amp;co@example\.com</strong>\?</p>\n<form method="post" action="\?c=email&amp;a=o%27brien%26co%40example\.com&amp;e=4102444800&amp;s=[A-Za-z0-9_-]{43}">\n<input type="hidden" name="List-Unsubscribe" value="One-Click">



=== TEST 9: a one-click POST suppresses the address: the next marketing e-mail is not sent, a transactional one is; the file lists it
--- request eval
["POST " . $::LINK->("email", "ada\@example.com", 4102444800)
 . "\nList-Unsubscribe=One-Click",
 "POST " . $::LINK->("email", "ada\@example.com", 4102444800)
 . "\nList-Unsubscribe=One-Click",
 "POST /ajo/im/executions/unitary\n" . $::T->("news", "c9",
    ["ada", "ADA\@example.com", $::YES]),
 "POST /ajo/im/executions/unitary\n" . $::T->("receipt", "c9t",
    ["ada", "ada\@example.com", $::YES]),
 "GET /unsubscribes"]
--- error_code eval
[200, 200, 202, 202, 200]
--- response_body_like eval
[qr/You will receive no more marketing messages/,
 qr/You will receive no more marketing messages/,
 qr/"status":"suppressed"/, qr/"status":"accepted"/,
 qr/\Aemail gone\@example\.com\nemail ada\@example\.com\n\z/]



=== TEST 10: an unsubscribe is logged once, with the address escaped; the key never is
--- more_headers
--- request eval
"POST " . $::LINK->("email", "o'brien\@example.com", 4102444800)
--- error_code: 200
--- error_log
campaign: "o'brien@example.com" unsubscribed from email
--- no_error_log eval
["kkkkkkkkkkkkkkkk", "[alert]", "[crit]"]



=== TEST 11: an address nobody knows is answered the same: nothing tells whether it existed
--- more_headers
--- request eval
["POST " . $::LINK->("email", "nobody\@example.com", 4102444800),
 "POST " . $::LINK->("email", "gone\@example.com", 4102444800)]
--- error_code eval
[200, 200]
--- response_body eval
[qq{<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Unsubscribed</title></head><body>\n<p>You will receive no more marketing messages at this address.</p>\n</body></html>\n},
 qq{<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Unsubscribed</title></head><body>\n<p>You will receive no more marketing messages at this address.</p>\n</body></html>\n}]



=== TEST 12: a bad signature, a tampered address, another key, a tampered expiry: 403, nothing suppressed
--- request eval
my $good = $::LINK->("email", "eve\@example.com", 4102444800);
(my $badsig = $good) =~ s/s=(.)/"s=" . ($1 eq "A" ? "B" : "A")/e;
(my $later = $good) =~ s/e=4102444800/e=4102444801/;
["POST $badsig",
 "POST " . $::LINK->("email", "eve\@example.com", 4102444800, as => "mallory\@example.com"),
 "POST " . $::LINK->("email", "eve\@example.com", 4102444800, key => "x" x 40),
 "POST $later",
 "GET $badsig",
 "POST /ajo/im/executions/unitary\n" . $::T->("news", "c11",
    ["eve", "eve\@example.com", $::YES]),
 "POST /ajo/im/executions/unitary\n" . $::T->("news", "c11m",
    ["mal", "mallory\@example.com", $::YES])]
--- error_code eval
[403, 403, 403, 403, 403, 202, 202]
--- response_body_like eval
[qr/\A\{"type":"[^"]+","title":"[^"]+","status":403,"detail":"the unsubscribe link's signature does not verify"/,
 qr/"status":403/, qr/"status":403/, qr/"status":403/, qr/"status":403/,
 qr/"status":"accepted"/, qr/"status":"accepted"/]



=== TEST 13: an expired link: 403 (its signature verifies, its time is over)
--- more_headers
--- request eval
["POST " . $::LINK->("email", "eve\@example.com", 1000000000),
 "GET " . $::LINK->("email", "eve\@example.com", 1000000000)]
--- error_code eval
[403, 403]
--- response_body_like eval
[qr/"detail":"the unsubscribe link has expired"/,
 qr/"detail":"the unsubscribe link has expired"/]



=== TEST 14: not a link of ours: missing parameters, unknown channel, bad expiry or signature length: 400
--- more_headers
--- request eval
my $good = $::LINK->("email", "eve\@example.com", 4102444800);
(my $nochan = $good) =~ s/c=email/c=fax/;
(my $noexp = $good) =~ s/e=4102444800/e=soon/;
(my $short = $good) =~ s/&s=(.)/&s=/;
["POST /unsubscribe", "POST /unsubscribe?c=email&a=eve%40example.com",
 "POST $nochan", "POST $noexp", "POST $short"]
--- error_code eval
[400, 400, 400, 400, 400]
--- response_body_like eval
[qr/"status":400,"detail":"not an unsubscribe link: c, a, e and s are required"/,
 qr/"status":400/,
 qr/"detail":"not an unsubscribe link: unknown channel"/,
 qr/"detail":"not an unsubscribe link: bad expiry"/,
 qr/"detail":"not an unsubscribe link: bad signature"/]



=== TEST 15: header and markup injection in the address: refused by its alphabet, even when signed, never echoed nor logged raw
--- more_headers
--- request eval
[map { "GET " . $::LINK->("email", $_, 4102444800) }
    "eve\@example.com\r\nX-Injected: 1",
    "eve\@example.com\nBcc: all\@example.com",
    "<script>alert(1)</script>\@example.com",
    "eve \@example.com",
    "\"eve\"\@example.com",
    "\x{e9}ve\@example.com",
    "a" x 250 . "\@example.com"]
--- error_code eval
[400, 400, 400, 400, 400, 400, 400]
--- response_body_like eval
[(qr/\A\{[^<\r\n]*"detail":"not an unsubscribe link: bad address"[^<\r\n]*\}\n\z/) x 7]
--- raw_response_headers_unlike eval
[(qr/X-Injected|Bcc/) x 7]
--- no_error_log eval
[qr/^X-Injected|^Bcc: all|<script>|\[alert\]|\[crit\]/]



=== TEST 16: the unsubscribe location takes GET, HEAD and POST only; HEAD has no body
--- more_headers
--- request eval
["PUT " . $::LINK->("email", "eve\@example.com", 4102444800) . "\nx",
 "DELETE " . $::LINK->("email", "eve\@example.com", 4102444800),
 "HEAD " . $::LINK->("email", "eve\@example.com", 4102444800)]
--- error_code eval
[405, 405, 200]
--- response_headers eval
["Allow: GET, HEAD, POST", "Allow: GET, HEAD, POST",
 "Content-Type: text/html; charset=utf-8"]
--- response_body_like eval
[qr/"status":405/, qr/"status":405/, qr/\A\z/]



=== TEST 17: no_consent and suppressed are counted in the metrics
--- request eval
["POST /ajo/im/executions/unitary\n" . $::T->("news", "c16",
    ["bob", "bob\@example.com", $::NO_EMAIL],
    ["bl", "blocked\@example.com", $::YES],
    ["ot", "other\@example.com", $::YES],
    ["ok", "ok\@example.com", $::YES]),
 "GET /metrics",
 "GET /ajo/im/campaigns/news/report"]
--- error_code eval
[202, 200, 200]
--- response_body_like eval
[qr/"status":"no_consent"/,
 qr/ngx_campaign_messages_total\{campaign="news",channel="email",outcome="stopped"\} 0\nngx_campaign_messages_total\{campaign="news",channel="email",outcome="no_consent"\} 1\nngx_campaign_messages_total\{campaign="news",channel="email",outcome="suppressed"\} 2\n/,
 qr/"messages":\{"accepted":1,"failed":0,"retried":0,"replayed":0,"throttled":0,"capped":0,"stopped":0,"no_consent":1,"suppressed":2,"invalid_address":0\}/]



=== TEST 18: consent is checked on looked-up profiles too
--- request eval
my $t = qq/{"requestId":"lu1","campaignId":"news","recipients":[/
      . CORE::join(',', map { qq/{"type":"aep","userId":"$_","namespace":"crm","channelData":{"emailAddress":"$_\@example.com"}}/ } qw(lu-no lu-yes))
      . ']}';
["POST /lookup/executions/unitary\n$t"]
--- error_code: 202
--- response_body_like: "userId":"lu-no","messageId":"[^"]+","status":"no_consent".*"userId":"lu-yes","messageId":"[^"]+","status":"accepted"



=== TEST 19: $campaign_outcome: "held" when every recipient is held back by consent or a suppression list, "partial" when some are sent
--- request eval
["POST /ajo/im/executions/unitary\n" . $::T->("news", "h1",
    ["bob", "bob\@example.com", $::NO_EMAIL],
    ["bl", "blocked\@example.com", $::YES]),
 "POST /ajo/im/executions/unitary\n" . $::T->("news", "h2",
    ["bob", "bob\@example.com", $::NO_EMAIL],
    ["ok", "ok\@example.com", $::YES]),
 "GET /outcomes"]
--- error_code eval
[202, 202, 200]
--- response_body_like eval
[qr/"status":"no_consent".*"status":"suppressed"/,
 qr/"status":"no_consent".*"status":"accepted"/,
 qr/\Anews held 202\nnews partial 202\n\z/]



=== TEST 20: consentField on a transactional campaign is a configuration error
--- user_files
>>> campaigns/receipt2.json
{
    "id": "receipt2", "name": "Receipt", "type": "transactional",
    "status": "live", "channel": "email", "consentField": "a.b",
    "content": { "from": "shop@acme.example", "subject": "Receipt",
                 "text": "Hi" }
}
--- request
GET /t
--- must_die
--- error_log
field "consentField"
--- no_error_log
[alert]



=== TEST 21: a suppression list with a line that is no address is a configuration error
--- user_files
>>> suppressed-sms.txt
+14155550199
<bad address>
--- request
GET /t
--- must_die
--- error_log
suppression list
line 2: not an address
--- no_error_log
[alert]



=== TEST 22: the unsubscribe location needs its key and file
--- http_config
    campaign_definitions  $TEST_NGINX_HTML_DIR/campaigns;
    campaign_zone         campaign 1m;
--- config
    location = /unsubscribe {
        campaign_unsubscribe;
    }
--- request
GET /t
--- must_die
--- error_log
"campaign_unsubscribe" needs "campaign_unsubscribe_key" and "campaign_unsubscribe_file"
--- no_error_log
[alert]



=== TEST 23: a parameter given twice is refused, whichever comes first: 400, nothing suppressed
--- request eval
my $good = $::LINK->("email", "dup\@example.com", 4102444800);
(my $q = $good) =~ s/^[^?]*\?//;
my ($sig) = $q =~ /&s=([^&]+)/;
["POST $good&a=mallory%40example.com",
 "POST /unsubscribe?a=mallory%40example.com&$q",
 "POST $good&s=$sig",
 "POST $good&c=sms",
 "POST $good&e=4102444800",
 "POST $good&a",
 "GET $good&a=mallory%40example.com",
 "POST /ajo/im/executions/unitary\n" . $::T->("news", "c23",
    ["dup", "dup\@example.com", $::YES],
    ["mal", "mallory\@example.com", $::YES])]
--- error_code eval
[400, 400, 400, 400, 400, 400, 400, 202]
--- response_body_like eval
[(qr/\A\{"type":"[^"]+","title":"[^"]+","status":400,"detail":"not an unsubscribe link: c, a, e and s must each be given once"/) x 7,
 qr/"userId":"dup","messageId":"[^"]+","status":"accepted".*"userId":"mal","messageId":"[^"]+","status":"accepted"/]



=== TEST 24: parameter names are case-sensitive: "A", "C", "E" and "S" are not the link's, and are ignored as any other parameter is
--- request eval
my $good = $::LINK->("email", "case\@example.com", 4102444800);
(my $upper = $good) =~ s/([?&])([caes])=/$1\U$2\E=/g;
["POST $upper",
 "POST $good&A=mallory%40example.com&C=sms&utm_source=mail",
 "GET /unsubscribes",
 "POST /ajo/im/executions/unitary\n" . $::T->("news", "c24",
    ["case", "case\@example.com", $::YES],
    ["mal", "mallory\@example.com", $::YES])]
--- error_code eval
[400, 200, 200, 202]
--- response_body_like eval
[qr/"status":400,"detail":"not an unsubscribe link: c, a, e and s are required"/,
 qr/You will receive no more marketing messages/,
 qr/\Aemail gone\@example\.com\nemail case\@example\.com\n\z/,
 qr/"userId":"case","messageId":"[^"]+","status":"suppressed".*"userId":"mal","messageId":"[^"]+","status":"accepted"/]



=== TEST 25: a push token longer than 254 bytes, or with bytes outside the address alphabet, is found in the suppression list by its SHA-256; a raw "sha256:" token cannot pose as one
--- http_config
    campaign_definitions         $TEST_NGINX_HTML_DIR/campaigns;
    campaign_zone                campaign 1m;
    campaign_suppression_list    push $TEST_NGINX_HTML_DIR/suppressed-push.txt;
    campaign_unsubscribe_file    $TEST_NGINX_HTML_DIR/unsubscribes.txt;
    campaign_unsubscribe_key     $TEST_NGINX_HTML_DIR/unsubscribe.key;
    campaign_unsubscribe_url     https://mail.acme.example/unsubscribe;
--- config
    campaign_gateway  push  /_gw;
    campaign_gateway_retries 0;

    location /ajo/im/ {
        campaign_api;
    }

    location = /_gw {
        internal;
        campaign_outbox logs/outbox.jsonl;
    }

    location = /outbox {
        default_type text/plain;
        alias logs/outbox.jsonl;
    }
--- user_files eval
use Digest::SHA qw(sha256);
">>> suppressed-push.txt\n" . ("L" x 300) . "\nExponentPushToken[abc]\n"
. ">>> campaigns/news-push.json\n"
. '{"id": "news-push", "name": "News push", "type": "marketing", "status": "live", "channel": "push", "content": {"title": "News", "body": "Off: {{unsubscribeUrl}}"}}'
. "\n"
--- request eval
use Digest::SHA qw(sha256);
use MIME::Base64 qw(encode_base64url);
my $p = sub {
    my ($rid, @tokens) = @_;
    my $i = 0;
    "POST /ajo/im/executions/unitary\n"
    . qq/{"requestId":"$rid","campaignId":"news-push","recipients":[/
    . CORE::join(',', map { $i++; qq/{"type":"aep","userId":"u$i","namespace":"ecid","channelData":{"pushInfo":{"platform":"fcm","token":"$_"}},"profile":{"firstName":"P"}}/ } @tokens)
    . ']}';
};
[$p->("p1", "L" x 300, "ExponentPushToken[abc]", "L" x 299,
      "sha256:" . encode_base64url(sha256("L" x 300))),
 "GET /outbox"]
--- error_code eval
[202, 200]
--- response_body_like eval
[qr/"userId":"u1","messageId":"[^"]+","status":"suppressed".*"userId":"u2","messageId":"[^"]+","status":"suppressed".*"userId":"u3","messageId":"[^"]+","status":"accepted".*"userId":"u4","messageId":"[^"]+","status":"accepted"/,
 qr/\A\{[^\n]*"userId":"u3"[^\n]*\}\n\{[^\n]*"userId":"u4"[^\n]*\}\n\z/]



=== TEST 26: a long push token's unsubscribe link names its digest; posting it suppresses the token
--- http_config
    campaign_definitions         $TEST_NGINX_HTML_DIR/campaigns;
    campaign_zone                campaign 1m;
    campaign_unsubscribe_file    $TEST_NGINX_HTML_DIR/unsubscribes.txt;
    campaign_unsubscribe_key     $TEST_NGINX_HTML_DIR/unsubscribe.key;
    campaign_unsubscribe_url     https://mail.acme.example/unsubscribe;
--- config
    campaign_gateway  push  /_gw;
    campaign_gateway_retries 0;

    location /ajo/im/ {
        campaign_api;
    }

    location = /unsubscribe {
        campaign_unsubscribe;
    }

    location = /_gw {
        internal;
        campaign_outbox logs/outbox.jsonl;
    }

    location = /outbox {
        default_type text/plain;
        alias logs/outbox.jsonl;
    }

    location = /unsubscribes {
        default_type text/plain;
        alias $TEST_NGINX_HTML_DIR/unsubscribes.txt;
    }
--- user_files
>>> campaigns/news-push.json
{"id": "news-push", "name": "News push", "type": "marketing", "status": "live", "channel": "push", "content": {"title": "News", "body": "Off: {{unsubscribeUrl}}"}}
--- request eval
use Digest::SHA qw(sha256);
use MIME::Base64 qw(encode_base64url);
my $d = "sha256:" . encode_base64url(sha256("T" x 400));
my $p = sub {
    "POST /ajo/im/executions/unitary\n"
    . qq/{"requestId":"$_[0]","campaignId":"news-push","recipients":[{"type":"aep","userId":"u","namespace":"ecid","channelData":{"pushInfo":{"platform":"fcm","token":"/ . ("T" x 400) . qq/"}},"profile":{"firstName":"P"}}]}/;
};
[$p->("q1"), "GET /outbox",
 "POST " . $::LINK->("push", $d, 4102444800),
 $p->("q2"), "GET /unsubscribes"]
--- error_code eval
[202, 200, 200, 202, 200]
--- response_body_like eval
use Digest::SHA qw(sha256);
use MIME::Base64 qw(encode_base64url);
my $d = encode_base64url(sha256("T" x 400));
[qr/"status":"accepted"/,
 qr{"body":"Off: https://mail\.acme\.example/unsubscribe\?c=push&a=sha256%3A\Q$d\E&e=\d+&s=[A-Za-z0-9_-]{43}"},
 qr/You will receive no more marketing messages/,
 qr/"status":"suppressed"/,
 qr/\Aemail gone\@example\.com\npush sha256:\Q$d\E\n\z/]



=== TEST 27: campaign_unsubscribe_file in a directory that is not there: nginx starts, and warns at once, not at the first unsubscribe (t/189-files-writable.t: directories the workers cannot write)
--- http_config
    campaign_definitions       $TEST_NGINX_HTML_DIR/campaigns;
    campaign_zone              campaign 1m;
    campaign_unsubscribe_file  $TEST_NGINX_HTML_DIR/gone/unsubscribes.txt;
    campaign_unsubscribe_key   $TEST_NGINX_HTML_DIR/unsubscribe.key;
    campaign_unsubscribe_url   https://mail.acme.example/unsubscribe;
--- config
    location = /unsubscribe {
        campaign_unsubscribe;
    }
--- request eval
"GET " . $::LINK->("email", "eve\@example.com", 4102444800)
--- error_code: 200
--- error_log eval
qr/\[warn\] .*campaign_unsubscribe_file "[^"]*\/gone\/unsubscribes\.txt": the directory "[^"]*\/gone" cannot be found: an unsubscribe will not outlast a restart/
