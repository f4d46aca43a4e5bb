# The APNs connector (campaign_connector NAME apns): push messages to an
# HTTP/2 endpoint with a provider token, as Apple's push service takes
# them.  The endpoint is a second nginx with TLS and HTTP/2, answering as
# APNs does for chosen device tokens (t/push-helpers.pl).
#
# 1. nginx -t: a block without its key, a key file that holds no key or
#    an RSA key, a bad push type or priority; no key bytes in the errors.
# 2. one message: the request (HTTP/2, /3/device/<token>, the apns-*
#    headers, the payload), and a provider token that Apple would take:
#    ES256, kid and iss, signed by the .p8 key; made once, reused.
# 3. every answer's outcome: 400 BadDeviceToken, 410 Unregistered and
#    DeviceTokenNotForTopic are invalid tokens, as is a token that is not
#    64 to 200 hex digits (never sent); 429 and 503 are retried; 413 is
#    not; a 503 then a 200 is accepted at the second attempt.
# 4. APNs refuses the provider token (ExpiredProviderToken): one new
#    token for the attempts that used it, and they are accepted.
# 5. TLS: a self-signed endpoint fails verification (tls_verify on, no
#    ca_file); with tls_verify off it is reached; ca_file is what made
#    the CA-signed endpoint of 2-4 good.
# 6. cleartext HTTP/2 (http://), push_type background, topic from the
#    recipient's appID (which must look like a bundle id).
# 7. 20 messages of one trigger and a 500-recipient audience: HTTP/2
#    streams on one connection.
# 8. a reload reads the key file again: a new key is used at once.
# 9. no key material and no provider token in error.log.
#
# The endpoint is a second nginx, so the suite drives both itself; the
# API nginx has one worker, so that provider tokens can be counted.

use strict;
use warnings;

use FindBin;
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);

require "$FindBin::Bin/150-helpers.pl";
require "$FindBin::Bin/audience-helpers.pl";
require "$FindBin::Bin/push-helpers.pl";

our ($BASE, $PREFIX, $CAMPAIGNS, $API_PORT);

my $port = $BASE + 100;
my %ep = (tls => $BASE + 101, self => $BASE + 102, h2c => $BASE + 103,
          backend => $BASE + 104);
my $stateful = $BASE + 105;

$API_PORT = $port;
$CAMPAIGNS = "$PREFIX/campaigns";
mkdir $CAMPAIGNS;
mkdir "$PREFIX/audiences";
mkdir "$PREFIX/journal";
chmod 0777, "$PREFIX/journal";

my $json = JSON::PP->new->utf8->canonical;

write_file('campaigns/cart.json', <<'EOF');
{"id": "cart", "name": "Cart", "type": "transactional", "status": "live",
 "channel": "push",
 "content": {"title": "Hi {{profile.firstName}}",
             "body": "{{context.itemCount}} item(s) wait",
             "sound": "chime.caf", "badge": "{{context.itemCount}}",
             "data": {"deepLink": "{{context.cartUrl}}", "aps": "dropped"}}}
EOF

write_file('campaigns/sale.json', <<'EOF');
{"id": "sale", "name": "Sale", "type": "marketing", "status": "live",
 "channel": "push",
 "content": {"title": "Sale", "body": "Hi {{profile.firstName}}",
             "data": {"deepLink": "{{context.cartUrl}}"}}}
EOF

write_file('campaigns/badge.json', <<'EOF');
{"id": "badge", "name": "Bad badge", "type": "transactional",
 "status": "live", "channel": "push",
 "content": {"title": "T", "body": "B", "badge": "{{profile.firstName}}"}}
EOF

# the keys: the team's .p8 (PKCS#8 EC P-256), and others for mistakes

make_certs();
openssl("genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256"
        . " -out $PREFIX/AuthKey.p8");
openssl("pkey -in $PREFIX/AuthKey.p8 -pubout -out $PREFIX/AuthKey.pub");
openssl("genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048"
        . " -out $PREFIX/rsa.pem");
write_file('garbage.p8', "NOT-A-KEY-c2VjcmV0LWtleS1ieXRlcw\n");
chmod 0644, "$PREFIX/AuthKey.p8", "$PREFIX/rsa.pem", "$PREFIX/garbage.p8";

my @key_lines = grep { !/^-----/ } split /\n/, read_file('AuthKey.p8');

# the stateful answers: e0e0... refuses provider tokens made before
# $PREFIX/revoked's time; 5e5e... answers 503 to a token's first request

start_server($stateful, sub {
    my ($c, $head, $body) = @_;
    my ($path) = $head =~ m{^POST (\S+)};
    my ($jwt) = $head =~ /^authorization: bearer (\S+)/mi;

    if ($path =~ m{/3/device/e0e0}) {
        my (undef, $claims) = verify_jwt($jwt // '');
        my $revoked = read_file('revoked') || 0;
        append_line('refused.log', ($claims->{iat} // 0) . " $jwt");

        if (($claims->{iat} // 0) < $revoked) {
            return answer($c, 403, '{"reason":"ExpiredProviderToken"}');
        }

        return answer($c, 200, '');
    }

    my ($token) = $path =~ m{/3/device/(\w+)};

    if (first_time("first-$token")) {
        return answer($c, 503, '{"reason":"ServiceUnavailable"}');
    }

    answer($c, 200, '');
});

my $jwt_re = '[\w-]+\.[\w-]+\.[\w-]+';

ok start_endpoint(\%ep, <<"EOF"), 'the APNs endpoint starts';
        location /3/device/ {
            if (\$http_authorization !~ "^bearer $jwt_re\$") {
                return 403 '{"reason":"MissingProviderToken"}';
            }

            if (\$http_apns_topic = "") {
                return 400 '{"reason":"MissingTopic"}';
            }

            return 200 '';
        }

        location ~ ^/3/device/bad0 {
            return 400 '{"reason":"BadDeviceToken"}';
        }

        location ~ ^/3/device/dead {
            return 410 '{"reason":"Unregistered","timestamp":1700000000000}';
        }

        location ~ ^/3/device/f0f0 {
            return 400 '{"reason":"DeviceTokenNotForTopic"}';
        }

        location ~ ^/3/device/4290 {
            return 429 '{"reason":"TooManyRequests"}';
        }

        location ~ ^/3/device/5030 {
            return 503 '{"reason":"ServiceUnavailable"}';
        }

        location ~ ^/3/device/4130 {
            return 413 '{"reason":"PayloadTooLarge"}';
        }

        location ~ ^/3/device/(e0e0|5e5e) {
            proxy_pass http://127.0.0.1:$stateful;
        }
EOF

# 1. configuration mistakes

my $key = "key_id ABC123DEFG; team_id DEF123GHIJ;";

like nginx_t("campaign_connector a apns { $key }"),
     qr/\[emerg\] apns connector "a" needs "key_file", "key_id" and/,
     'nginx -t: no key_file';

my $out = nginx_t("campaign_connector a apns {"
                  . " key_file $PREFIX/garbage.p8; $key }");
like $out, qr/\[emerg\] "[^"]*garbage.p8" holds no PEM private key/,
     'nginx -t: a file that holds no key';
unlike $out, qr/NOT-A-KEY|c2VjcmV0/, '... and not what it holds';

like nginx_t("campaign_connector a apns { key_file $PREFIX/rsa.pem; $key }"),
     qr/\[emerg\] "[^"]*rsa.pem" is not an EC P-256 private key/,
     'nginx -t: an RSA key for ES256';

like nginx_t("campaign_connector a apns { key_file $PREFIX/nowhere.p8;"
             . " $key }"),
     qr/\[emerg\].*nowhere\.p8/, 'nginx -t: no key file';

like nginx_t("campaign_connector a apns { key_file $PREFIX/AuthKey.p8;"
             . " $key push_type fax; }"),
     qr/\[emerg\] unknown APNs push type "fax"/, 'nginx -t: push_type fax';

like nginx_t("campaign_connector a apns { key_file $PREFIX/AuthKey.p8;"
             . " $key priority 7; }"),
     qr/\[emerg\] APNs priority must be 10, 5 or 1, not "7"/,
     'nginx -t: priority 7';

like nginx_t("campaign_connector a apns { key_file $PREFIX/AuthKey.p8;"
             . " key_id \"AB C\"; team_id T; }"),
     qr/\[emerg\] invalid character in "key_id"/, 'nginx -t: a bad key_id';

# the API, a connector for each endpoint

my $apple = "key_file $PREFIX/AuthKey.p8; key_id ABC123DEFG;"
            . " team_id DEF123GHIJ;";

ok start_nginx(<<"EOF", $port, 1), 'nginx starts with apns connectors';
    campaign_zone campaign 4m;
    campaign_audiences $PREFIX/audiences;
    campaign_journal $PREFIX/journal;

    campaign_connector apple apns {
        url https://127.0.0.1:$ep{tls};
        ca_file $PREFIX/ep/ca.crt;
        $apple
        topic com.example.shop;
        expiration 1h;
        collapse_id cart;
    }

    campaign_connector self apns {
        url https://127.0.0.1:$ep{self};
        $apple
        topic com.example.shop;
    }

    campaign_connector noverify apns {
        url https://127.0.0.1:$ep{self}/;
        tls_verify off;
        $apple
        topic com.example.shop;
    }

    campaign_connector cleartext apns {
        url http://127.0.0.1:$ep{h2c};
        $apple
        push_type background;
    }

    server {
        listen 127.0.0.1:$port reuseport;

        campaign_gateway push connector=apple;

        location /ajo/im/ {
            campaign_api;
        }

        location /self/ {
            campaign_api;
            campaign_gateway push connector=self;
        }

        location /noverify/ {
            campaign_api;
            campaign_gateway push connector=noverify;
        }

        location /cleartext/ {
            campaign_api;
            campaign_gateway push connector=cleartext;
        }
    }
EOF

sub push_recipient {
    my ($user, $token, %o) = @_;
    my $app = $o{app} ? qq/,"appID":"$o{app}"/ : '';
    my $name = $o{name} // $user;
    return qq/{"type":"aep","userId":"$user","namespace":"ecid",/
           . qq/"channelData":{"pushInfo":{"token":"$token",/
           . qq/"platform":"apns"$app}},/
           . qq/"profile":{"firstName":/ . $json->encode($name) . '}}';
}

sub unitary {
    my ($path, $rid, $campaign, $context, @recipients) = @_;
    my $res = call('POST', "$path/executions/unitary",
                   qq/{"requestId":"$rid","campaignId":"$campaign",/
                   . qq/"context":$context,"recipients":[/
                   . join(',', @recipients) . ']}');
    my $body = eval { decode_json($res->{content}) } || {};
    my %by = map { $_->{userId} => $_ } @{ $body->{recipients} || [] };
    return ($res, \%by);
}

sub hex_token {
    my ($prefix, $len) = @_;
    $len //= 64;
    return $prefix . ('a' x ($len - length $prefix));
}

my $context = '{"itemCount":3,"cartUrl":"https://shop.example/c?a=1&b=2"}';

# 2. one message, as Apple takes it

my $good = hex_token('a0');
my $name = "Ada \"A\"\n\x{e9}";

my ($res, $r) = unitary('/ajo/im', 'one', 'cart', $context,
                        push_recipient('ada', $good, name => $name));

is $res->{status}, 202, 'one message: 202' or diag $res->{content};
is $r->{ada}{status}, 'accepted', '... accepted';
is $r->{ada}{attempts}, 1, '... at the first attempt';

my @log = endpoint_log(1);
is scalar @log, 1, 'the endpoint got one request';
my $req = $log[0];

is $req->{h2}, 'h2', '... over HTTP/2 with TLS';
is $req->{port}, $ep{tls}, '... to the url of the connector';
is $req->{method}, 'POST', '... a POST';
is $req->{uri}, "/3/device/$good", '... to /3/device/<token>';
is $req->{topic}, 'com.example.shop', '... apns-topic';
is $req->{type}, 'alert', '... apns-push-type alert';
is $req->{priority}, '10', '... apns-priority 10';
ok abs($req->{expiration} - (time + 3600)) < 10,
   '... apns-expiration: an hour from now, in seconds since the epoch';
is $req->{collapse}, 'cart', '... apns-collapse-id';
like $req->{id},
     qr/^[0-9a-f]{8}-[0-9a-f]{4}-3[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
     '... apns-id, a UUID';

my $payload = eval { decode_json($req->{body}) } || {};
is_deeply $payload,
          { aps => { alert => { title => "Hi $name",
                                body => '3 item(s) wait' },
                     sound => 'chime.caf', badge => 3 },
            deepLink => 'https://shop.example/c?a=1&b=2' },
          '... the payload: aps (alert, sound, badge) and the custom data'
    or diag $req->{body};

my ($jwt) = $req->{auth} =~ /^bearer (\S+)$/;
my ($header, $claims, $verified) = verify_jwt($jwt // '',
                                              "$PREFIX/AuthKey.pub");
is_deeply $header, { alg => 'ES256', kid => 'ABC123DEFG' },
          'the provider token: ES256, kid';
is $claims->{iss}, 'DEF123GHIJ', '... iss: the team';
ok abs($claims->{iat} - time) < 10, '... iat: now';
ok $verified, '... signed by the .p8 key';

($res, $r) = unitary('/ajo/im', 'two', 'cart', $context,
                     push_recipient('bob', hex_token('a1')),
                     push_recipient('cy', hex_token('a2')));
is_deeply [map { $r->{$_}{status} } qw(bob cy)], [qw(accepted accepted)],
          'two more accepted';
@log = endpoint_log(3);
is scalar(grep { $_->{auth} eq $req->{auth} } @log), 3,
   '... with the same provider token'
    or diag join "\n", map { "$_->{uri} $_->{auth}" } @log;
isnt $log[1]{id}, $log[2]{id}, '... each its own apns-id';

# 3. every answer's outcome

clear_endpoint_log();

my $bad = 'invalid_address';

my %cases = (
    bad     => [hex_token('bad0'),    $bad,       1, 400, 'BadDeviceToken'],
    gone    => [hex_token('dead'),    $bad,       1, 410, 'Unregistered'],
    topic   => [hex_token('f0f0'),    $bad,       1, 400,
                'DeviceTokenNotForTopic'],
    busy    => [hex_token('4290'),    'failed',   3, 429, 'TooManyRequests'],
    down    => [hex_token('5030'),    'failed',   3, 503,
                'ServiceUnavailable'],
    large   => [hex_token('4130'),    'failed',   1, 413, 'PayloadTooLarge'],
    flaky   => [hex_token('5e5e'),    'accepted', 2, 200, undef],
    long    => [hex_token('a3', 200), 'accepted', 1, 200, undef],
    short   => [hex_token('a4', 63),  $bad,       0, undef,
                'not an APNs device token'],
    toolong => [hex_token('a5', 201), $bad,       0, undef, undef],
    nothex  => ['zz' . hex_token('', 62), $bad,   0, undef, undef],
);

($res, $r) = unitary('/ajo/im', 'outcomes', 'cart', $context,
                     map { push_recipient($_, $cases{$_}[0]) }
                     sort keys %cases);
is $res->{status}, 202, 'every answer: 202';

for my $u (sort keys %cases) {
    my ($token, $status, $attempts, $code, $reason) = @{ $cases{$u} };
    is $r->{$u}{status}, $status, "$u: $status";
    is $r->{$u}{attempts}, $attempts, "... $attempts attempt(s)";
    is $r->{$u}{gatewayStatus}, $code, "... status " . ($code // 'none');
    like $r->{$u}{reason} // '', qr/\Q$reason\E/, "... reason $reason"
        if $reason;
}

my %sent;
$sent{$_->{uri}}++ for endpoint_log(13);
ok !(grep { m{/3/device/(a4|a5|zz)} } keys %sent),
   'tokens that are not 64 to 200 hex digits are not sent';

clear_endpoint_log();
($res, $r) = unitary('/ajo/im', 'badge', 'badge', '{}',
                     push_recipient('dan', hex_token('a6')),
                     push_recipient('seven', hex_token('a7'), name => '7'));
is $r->{dan}{status}, 'failed', 'a badge that is not a number: failed';
is $r->{dan}{attempts}, 0, '... not sent';
is $r->{seven}{status}, 'accepted', 'a badge that is: accepted';
($req) = endpoint_log(1);
like $req->{body}, qr/"badge":7\b/, '... a number in the payload';

# 4. APNs refuses the provider token: it is made again, once

sleep 1.1;
write_file('revoked', int(time));
sleep 1.1;

($res, $r) = unitary('/ajo/im', 'refused', 'cart', $context,
                     map { push_recipient("e$_", hex_token("e0e0$_")) }
                     1 .. 5);
is_deeply [map { $r->{"e$_"}{status} } 1 .. 5], [('accepted') x 5],
          'a refused provider token: every message accepted';
is_deeply [map { $r->{"e$_"}{attempts} } 1 .. 5], [(2) x 5],
          '... at the second attempt';

my (%old, %new);
my $revoked = read_file('revoked');
for (split /\n/, read_file('refused.log')) {
    my ($iat, $t) = split / /;
    ($iat < $revoked ? \%old : \%new)->{$t}++;
}
is scalar(keys %old), 1, '... all had been sent with the one old token';
is scalar(keys %new), 1, '... one new token for all of them';
my @warn = read_file('logs/error.log')
           =~ /APNs refused the provider token \(403 ExpiredProviderToken\)/g;
is scalar @warn, 1, '... made once, and logged once';

# 5. TLS verification

($res, $r) = unitary('/self', 'self', 'cart', $context,
                     push_recipient('eve', hex_token('a7')));
is $res->{status}, 502, 'a self-signed endpoint: 502';
like $res->{content}, qr/"message":"[^"]*certificate/i,
     '... a certificate problem';
like read_file('logs/error.log'),
     qr/failed, gateway answered 502 \(SSL certificate problem[^\n]*after 1 /,
     '... not retried';
ok !(grep { $_->{port} == $ep{self} } endpoint_log()),
   '... and no request reached it';

($res, $r) = unitary('/noverify', 'noverify', 'cart', $context,
                     push_recipient('fay', hex_token('a8')));
is $r->{fay}{status}, 'accepted', 'tls_verify off: accepted';
ok((grep { $_->{port} == $ep{self} }
     endpoint_log(sub { grep { $_->{port} == $ep{self} } @_ })),
   '... by the self-signed endpoint');

# 6. cleartext HTTP/2, background, the recipient's appID as topic

clear_endpoint_log();
($res, $r) = unitary('/cleartext', 'h2c', 'cart', $context,
                     push_recipient('gus', hex_token('a9'),
                                    app => 'com.example.app'));
is $r->{gus}{status}, 'accepted', 'http://: accepted';
($req) = endpoint_log(1);
is $req->{h2}, 'h2c', '... HTTP/2 with prior knowledge';
is $req->{topic}, 'com.example.app', '... the topic: the appID';
is $req->{type}, 'background', '... apns-push-type background';
is $req->{priority}, '5', '... at priority 5';
is $req->{expiration}, '', '... no apns-expiration';
is $req->{collapse}, '', '... no apns-collapse-id';
is_deeply eval { decode_json($req->{body}) },
          { aps => { 'content-available' => 1 },
            deepLink => 'https://shop.example/c?a=1&b=2' },
          '... content-available, no alert';

($res, $r) = unitary('/cleartext', 'notopic', 'cart', $context,
                     push_recipient('hal', hex_token('aa')),
                     push_recipient('ivy', hex_token('aa'),
                                    app => 'com.example.app/x'),
                     push_recipient('ok', hex_token('aa'),
                                    app => 'com.example.app'));
is $r->{hal}{status}, 'failed', 'no topic and no appID: failed'
    or diag $res->{content};
is $r->{hal}{attempts}, 0, '... not sent';
is $r->{ivy}{status}, 'invalid_address',
   'an appID that is not a bundle id: invalid_address';
is $r->{ivy}{reason}, 'the appID is not an APNs topic', '... says why';

# 7. HTTP/2 streams on one connection

clear_endpoint_log();
($res, $r) = unitary('/ajo/im', 'twenty', 'cart', $context,
                     map { push_recipient("m$_", hex_token(sprintf 'b%03d',
                                                           $_)) }
                     1 .. 20);
is scalar(grep { $_->{status} eq 'accepted' } values %$r), 20,
   '20 messages of a trigger: accepted' or diag $res->{content};
my %conns;
$conns{$_->{c}}++ for endpoint_log(20);
is scalar(keys %conns), 1, '... on one connection'
    or diag join ' ', map { "$_=$conns{$_}" } keys %conns;

clear_endpoint_log();
audience('phones', map { push_recipient("p$_", hex_token(sprintf 'c%04d',
                                                          $_)) }
                   1 .. 500);
$res = start('sale', 'phones', ",\"context\":$context");
is $res->{status}, 202, 'a 500-recipient audience: 202'
    or diag $res->{content};
my $id = execution_id($res);
$res = wait_status($id, 'Succeeded', 300);
like $res->{content}, qr/"sent":500,/, '... 500 sent';

my @sent = endpoint_log(500);
is scalar @sent, 500, '... 500 requests to the endpoint';
my %tokens = map { $_->{uri} => 1 } @sent;
is scalar keys %tokens, 500, '... one per device';
%conns = ();
$conns{$_->{c}}++ for @sent;
is scalar(keys %conns), 1, '... HTTP/2 streams on one connection'
    or diag join ' ', map { "$_=$conns{$_}" } keys %conns;
ok !(grep { $_->{h2} ne 'h2' } @sent), '... all of them HTTP/2';

# 8. a new key, and a reload: the new worker signs with it

my @old_workers = worker_pids();
my @old_key_lines = @key_lines;
openssl("genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256"
        . " -out $PREFIX/AuthKey.new");
openssl("pkey -in $PREFIX/AuthKey.new -pubout -out $PREFIX/AuthKey.pub");
chmod 0644, "$PREFIX/AuthKey.new";
rename "$PREFIX/AuthKey.new", "$PREFIX/AuthKey.p8";
@key_lines = grep { !/^-----/ } split /\n/, read_file('AuthKey.p8');

kill 'HUP', master_pid();
ok wait_for(sub { my @w = worker_pids();
                  @w == 1 && $w[0] != $old_workers[0] }),
   'a reload with a new .p8 key: a new worker';

clear_endpoint_log();
($res, $r) = unitary('/ajo/im', 'rotated', 'cart', $context,
                     push_recipient('kim', hex_token('ab')));
is $r->{kim}{status}, 'accepted', '... accepted';
($req) = endpoint_log(1);
($jwt) = $req->{auth} =~ /^bearer (\S+)$/;
(undef, undef, $verified) = verify_jwt($jwt // '', "$PREFIX/AuthKey.pub");
ok $verified, '... signed with the new key';

# 9. no secret in the log

my %jwts = map { ($_->{auth} =~ /bearer (\S+)/ ? $1 : '') => 1 }
           endpoint_log();
no_secret_in_log('key material', @key_lines, @old_key_lines);
no_secret_in_log('provider token', keys %jwts,
                 map { (split / /)[1] } split /\n/, read_file('refused.log'));
unlike read_file('logs/error.log'), qr/\[(alert|crit|emerg)\]/,
       'no alert in error.log';

ok stop_nginx(), 'nginx stops';
stop_endpoint();

done_testing();
