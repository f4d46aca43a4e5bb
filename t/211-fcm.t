# The FCM connector (campaign_connector NAME fcm): Firebase Cloud
# Messaging's HTTP v1 API, with an OAuth2 access token that the worker
# gets from the service account's token endpoint with an RS256 JWT
# assertion.  The endpoints are a second nginx with TLS and HTTP/2 in
# front of a small Perl server that answers as Google does
# (t/push-helpers.pl).
#
# 1. nginx -t: no service_account, a key that is not JSON, has no
#    client_email or no RSA private_key, no project; nothing of the file
#    in the errors.
# 2. one message: the token request (the form, an assertion signed by the
#    account's key with iss, scope, aud, iat, exp) and the send request
#    (HTTP/2, /v1/projects/<project>/messages:send, the bearer token, the
#    payload).
# 3. every answer's outcome: UNREGISTERED, INVALID_ARGUMENT on
#    message.token and SENDER_ID_MISMATCH are invalid tokens, as is a
#    token outside [A-Za-z0-9_:.-]{1,4096} (never sent); 429 and 503 are
#    retried; another INVALID_ARGUMENT and PERMISSION_DENIED are not.
# 4. one token request at a time: many messages and triggers at once
#    wait for the same one.
# 5. renewal: a token is used until shortly before it expires, then
#    another is asked for; a 401 drops it at once.
# 6. a token endpoint that is down or refuses the assertion fails the
#    messages, with the reason; token_url and project override the key's.
# 7. no key material, assertion or access token in error.log.
#
# One worker, so that token requests can be counted.

use strict;
use warnings;

use FindBin;
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);
use URI::Escape qw(uri_unescape);

require "$FindBin::Bin/150-helpers.pl";
require "$FindBin::Bin/audience-helpers.pl";
require "$FindBin::Bin/push-helpers.pl";

our ($BASE, $PREFIX, $CAMPAIGNS, $API_PORT);

my $port = $BASE + 120;
my %ep = (tls => $BASE + 121, self => $BASE + 122, h2c => $BASE + 123,
          backend => $BASE + 124);
my $google = $BASE + 125;
my $closed = $BASE + 126;

$API_PORT = $port;
$CAMPAIGNS = "$PREFIX/campaigns";
mkdir $CAMPAIGNS;

my $json = JSON::PP->new->utf8->canonical;

write_file('campaigns/cart.json', <<'EOF');
{"id": "cart", "name": "Cart", "type": "transactional", "status": "live",
 "channel": "push",
 "content": {"title": "Hi {{profile.firstName}}",
             "body": "{{context.itemCount}} item(s) wait",
             "sound": "chime", "badge": "{{context.itemCount}}",
             "data": {"deepLink": "{{context.cartUrl}}"}}}
EOF

write_file('campaigns/plain.json', <<'EOF');
{"id": "plain", "name": "Plain", "type": "transactional", "status": "live",
 "channel": "push", "content": {"title": "T", "body": "B"}}
EOF

# the service account: an RSA key in a JSON file, as Google makes them

make_certs();
openssl("genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048"
        . " -out $PREFIX/sa.pem");
openssl("pkey -in $PREFIX/sa.pem -pubout -out $PREFIX/sa.pub");
openssl("genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256"
        . " -out $PREFIX/ec.pem");

my $email = 'campaign@shop-test.iam.gserviceaccount.com';
my $token_uri = "https://127.0.0.1:$ep{tls}/token";

sub account {
    my ($file, %o) = @_;
    my %sa = (type => 'service_account', project_id => 'shop-test',
              private_key_id => 'kid123', client_email => $email,
              private_key => read_file('sa.pem'), token_uri => $token_uri,
              %o);
    delete $sa{$_} for grep { !defined $sa{$_} } keys %sa;
    write_file($file, $json->encode(\%sa));
    chmod 0644, "$PREFIX/$file";
}

account('sa.json');
account('ec.json', private_key => read_file('ec.pem'));
account('noemail.json', client_email => undef);
account('noproject.json', project_id => undef);
account('badkey.json', private_key => "-----BEGIN PRIVATE KEY-----\n"
                                      . "U0VDUkVULU1BUktFUg==\n"
                                      . "-----END PRIVATE KEY-----\n");
write_file('notjson.json', "SECRET-MARKER, not JSON\n");

my @key_lines = grep { !/^-----/ } split /\n/, read_file('sa.pem');

# Google: /token gives access tokens (delay, expires_in and failures
# from files), /v1/.../messages:send answers by the message's token

sub form {
    my ($body) = @_;
    return map { uri_unescape($_) } map { split /=/, $_, 2 } split /&/,
           $body;
}

start_server($google, sub {
    my ($c, $head, $body) = @_;
    my ($path) = $head =~ m{^POST (\S+)};

    if ($path =~ m{^/token}) {
        my $start = time;
        my %f = form($body);
        sleep(read_file('token-delay') || 0.2);

        my ($header, $claims, $ok) = verify_jwt($f{assertion} // '',
                                                "$PREFIX/sa.pub");
        my $n = 1 + (() = read_file('token.log') =~ /\n/g);
        my $access = sprintf 'ya29.tok-%d-%s', $n, 'x' x 40;

        append_line('token.log', $json->encode({
            n => $n, path => $path, start => $start, end => time,
            grant => $f{grant_type}, verified => $ok, header => $header,
            claims => $claims, assertion => $f{assertion}, access => $access
        }));

        if ($path eq '/token-refuse') {
            return answer($c, 400, '{"error":"invalid_grant",'
                          . '"error_description":"Invalid JWT Signature."}');
        }

        return answer($c, 200, $json->encode({
            access_token => $access, token_type => 'Bearer',
            expires_in => 0 + (read_file('expires-in') || 3599) }));
    }

    my ($auth) = $head =~ /^Authorization: Bearer (\S+)/mi;
    my $revoked = read_file('revoked');

    if (!$auth || $auth !~ /^ya29\.tok-/
        || ($revoked && index($revoked, $auth) >= 0))
    {
        return answer($c, 401, '{"error":{"code":401,"message":"Request'
                      . ' had invalid authentication credentials.",'
                      . '"status":"UNAUTHENTICATED"}}');
    }

    my $m = eval { decode_json($body) } || {};
    my $token = $m->{message}{token} // '';
    my ($kind) = $token =~ /^([a-z]+)-/;
    $kind //= '';

    my %errors = (
        unreg => [404, 'NOT_FOUND', 'Requested entity was not found.',
                  [{ '@type' => 'type.googleapis.com/google.firebase.fcm'
                                . '.v1.FcmError',
                     errorCode => 'UNREGISTERED' }]],
        badtok => [400, 'INVALID_ARGUMENT', 'The registration token is not'
                   . ' a valid FCM registration token',
                   [{ '@type' => 'type.googleapis.com/google.firebase.fcm'
                                 . '.v1.FcmError',
                      errorCode => 'INVALID_ARGUMENT' },
                    { '@type' => 'type.googleapis.com/google.rpc.BadRequest',
                      fieldViolations => [{ field => 'message.token',
                          description => 'Invalid registration token' }] }]],
        badarg => [400, 'INVALID_ARGUMENT', 'Invalid data payload key',
                   [{ '@type' => 'type.googleapis.com/google.rpc.BadRequest',
                      fieldViolations => [{ field => 'message.data[0].key',
                          description => 'Invalid data payload key' }] }]],
        mismatch => [403, 'PERMISSION_DENIED', 'SenderId mismatch',
                     [{ '@type' => 'type.googleapis.com/google.firebase'
                                   . '.fcm.v1.FcmError',
                        errorCode => 'SENDER_ID_MISMATCH' }]],
        denied => [403, 'PERMISSION_DENIED', 'Permission denied', []],
        busy => [429, 'RESOURCE_EXHAUSTED', 'Quota exceeded', []],
        down => [503, 'UNAVAILABLE', 'The service is unavailable', []],
    );

    if ($kind eq 'flaky' && first_time("first-$token")) {
        $kind = 'down';
    }

    if (my $e = $errors{$kind}) {
        return answer($c, $e->[0], $json->encode({ error => {
            code => $e->[0], status => $e->[1], message => $e->[2],
            details => $e->[3] } }));
    }

    answer($c, 200, qq/{"name":"projects\/shop-test\/messages\/1"}/);
});

ok start_endpoint(\%ep, <<"EOF"), 'the FCM endpoint starts';
        location / {
            proxy_pass http://127.0.0.1:$google;
        }
EOF

sub tokens_asked {
    my $j = JSON::PP->new;
    return map { $j->decode($_) } split /\n/, read_file('token.log');
}

# 1. configuration mistakes

like nginx_t("campaign_connector f fcm { }"),
     qr/\[emerg\] fcm connector "f" needs "service_account"/,
     'nginx -t: no service_account';

my $out = nginx_t("campaign_connector f fcm {"
                  . " service_account $PREFIX/notjson.json; }");
like $out, qr/\[emerg\] service account "[^"]*notjson.json" is not a JSON/,
     'nginx -t: not JSON';
unlike $out, qr/SECRET-MARKER/, '... and not what it holds';

like nginx_t("campaign_connector f fcm {"
             . " service_account $PREFIX/noemail.json; }"),
     qr/\[emerg\] service account "[^"]*noemail.json" has no string "client/,
     'nginx -t: no client_email';

$out = nginx_t("campaign_connector f fcm {"
               . " service_account $PREFIX/badkey.json; }");
like $out, qr/\[emerg\] "[^"]*badkey.json" holds no PEM private key/,
     'nginx -t: a private_key that is no key';
unlike $out, qr/U0VDUkVU/, '... and not what it holds';

like nginx_t("campaign_connector f fcm {"
             . " service_account $PREFIX/ec.json; }"),
     qr/\[emerg\] "[^"]*ec.json" is not an RSA private key/,
     'nginx -t: an EC key for RS256';

like nginx_t("campaign_connector f fcm {"
             . " service_account $PREFIX/noproject.json; }"),
     qr/\[emerg\] fcm connector "f": "[^"]*noproject.json" has no "project_i/,
     'nginx -t: no project';

account('fileuri.json', token_uri => 'file:///etc/passwd');
like nginx_t("campaign_connector f fcm {"
             . " service_account $PREFIX/fileuri.json; }"),
     qr/\[emerg\] fcm connector "f": the token URL must be an http:\/\/ or/,
     'nginx -t: a token_uri that is not http(s)';

unlike nginx_t("campaign_connector f fcm {"
               . " service_account $PREFIX/noproject.json; project p-1; }"),
       qr/\[emerg\]/, 'nginx -t: ... unless "project" gives one';

# the API, one worker

my $sa = "ca_file $PREFIX/ep/ca.crt;"
         . " service_account $PREFIX/sa.json;";

ok start_nginx(<<"EOF", $port, 1), 'nginx starts with fcm connectors';
    campaign_connector firebase fcm {
        url https://127.0.0.1:$ep{tls};
        $sa
    }

    campaign_connector other fcm {
        url https://127.0.0.1:$ep{tls};
        $sa
        project other-project;
        token_url http://127.0.0.1:$google/token-other;
    }

    campaign_connector down fcm {
        url https://127.0.0.1:$ep{tls};
        $sa
        token_url http://127.0.0.1:$closed/token;
    }

    campaign_connector refused fcm {
        url https://127.0.0.1:$ep{tls};
        $sa
        token_url http://127.0.0.1:$google/token-refuse;
    }

    server {
        listen 127.0.0.1:$port;

        campaign_gateway push connector=firebase;

        location /ajo/im/ {
            campaign_api;
        }

        location /other/ {
            campaign_api;
            campaign_gateway push connector=other;
        }

        location /down/ {
            campaign_api;
            campaign_gateway push connector=down;
        }

        location /refused/ {
            campaign_api;
            campaign_gateway push connector=refused;
        }
    }
EOF

sub push_recipient {
    my ($user, $token, %o) = @_;
    my $name = $o{name} // $user;
    return qq/{"type":"aep","userId":"$user","namespace":"ecid",/
           . qq/"channelData":{"pushInfo":{"token":/ . $json->encode($token)
           . qq/,"platform":"fcm"}},/
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

my $context = '{"itemCount":3,"cartUrl":"https://shop.example/c?a=1&b=2"}';

# 2. one message

my $name = "Ada \"A\"\n\x{e9}";
my ($res, $r) = unitary('/ajo/im', 'one', 'cart', $context,
                        push_recipient('ada', 'ok-dev1:APA91b_x.y-z',
                                       name => $name));
is $res->{status}, 202, 'one message: 202';
is $r->{ada}{status}, 'accepted', '... accepted';
is $r->{ada}{attempts}, 1, '... at the first attempt';

my @asked = tokens_asked();
is scalar @asked, 1, 'one access token asked for';
my $t = $asked[0];
is $t->{path}, '/token', '... from the token_uri of the key';
is $t->{grant}, 'urn:ietf:params:oauth:grant-type:jwt-bearer',
   '... grant_type jwt-bearer';
ok $t->{verified}, '... an assertion signed by the account key';
is_deeply $t->{header}, { alg => 'RS256', typ => 'JWT', kid => 'kid123' },
          '... RS256, kid: private_key_id';
is $t->{claims}{iss}, $email, '... iss: client_email';
is $t->{claims}{scope}, 'https://www.googleapis.com/auth/firebase.messaging',
   '... scope: firebase.messaging';
is $t->{claims}{aud}, $token_uri, '... aud: token_uri';
ok abs($t->{claims}{iat} - time) < 10, '... iat: now';
is $t->{claims}{exp} - $t->{claims}{iat}, 3600, '... exp: an hour later';

my @log = grep { $_->{uri} =~ /messages:send/ } endpoint_log(2);
is scalar @log, 1, 'one message sent';
my $req = $log[0];
is $req->{h2}, 'h2', '... over HTTP/2';
is $req->{uri}, '/v1/projects/shop-test/messages:send',
   '... to the project of the key';
is $req->{auth}, "Bearer $t->{access}", '... with the access token';
like $req->{ctype}, qr{^application/json}, '... JSON';
is_deeply eval { decode_json($req->{body}) },
          { message => {
              token => 'ok-dev1:APA91b_x.y-z',
              notification => { title => "Hi $name",
                                body => '3 item(s) wait' },
              data => { deepLink => 'https://shop.example/c?a=1&b=2' },
              android => { notification => { sound => 'chime' } },
              apns => { payload => { aps => { sound => 'chime',
                                              badge => 3 } } } } },
          '... the message: token, notification, data, sound, badge'
    or diag $req->{body};

# 3. every answer's outcome

my $bad = 'invalid_address';

my %cases = (
    ok       => ['ok-2',       'accepted', 1, 200, undef],
    unreg    => ['unreg-1',    $bad,       1, 404, '404 NOT_FOUND: Requested'],
    badtok   => ['badtok-1',   $bad,       1, 400, 'INVALID_ARGUMENT'],
    mismatch => ['mismatch-1', $bad,       1, 403, 'PERMISSION_DENIED'],
    badarg   => ['badarg-1',   'failed',   1, 400, 'Invalid data payload'],
    denied   => ['denied-1',   'failed',   1, 403, 'Permission denied'],
    busy     => ['busy-1',     'failed',   3, 429, 'RESOURCE_EXHAUSTED'],
    down     => ['down-1',     'failed',   3, 503, 'UNAVAILABLE'],
    flaky    => ['flaky-1',    'accepted', 2, 200, undef],
    long     => ['ok-' . ('a' x 4093), 'accepted', 1, 200, undef],
    toolong  => ['ok-' . ('a' x 4094), $bad, 0, undef,
                 'not an FCM registration token'],
    space    => ['ok- 1',      $bad,       0, undef, undef],
    slash    => ['ok-1/2',     $bad,       0, undef, undef],
);

($res, $r) = unitary('/ajo/im', 'outcomes', 'plain', '{}',
                     map { push_recipient($_, $cases{$_}[0]) }
                     sort keys %cases);
is $res->{status}, 202, 'every answer: 202';

for my $u (sort keys %cases) {
    my (undef, $status, $attempts, $code, $reason) = @{ $cases{$u} };
    is $r->{$u}{status}, $status, "$u: $status";
    is $r->{$u}{attempts}, $attempts, "... $attempts attempt(s)";
    is $r->{$u}{gatewayStatus}, $code, "... status " . ($code // 'none');
    like $r->{$u}{reason} // '', qr/$reason/, "... reason $reason"
        if $reason;
}

ok !(grep { $_->{body} =~ /"ok-(1\/2| 1|a{4094})"/ } endpoint_log()),
   'tokens outside the alphabet are not sent';
is scalar(tokens_asked()), 1, 'still the one access token';

# 4. one token request at a time

write_file('token-delay', '1');
write_file('revoked', $t->{access});
clear_endpoint_log();

my @pids;
for my $i (1 .. 3) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my ($res, $r) = unitary('/ajo/im', "many-$i", 'plain', '{}',
                                map { push_recipient("u$i-$_", "ok-$i-$_") }
                                1 .. 10);
        my $n = grep { $_->{status} eq 'accepted' } values %$r;
        append_line('many.log', "$i $n "
                    . join(',', map { $_->{attempts} } values %$r));
        exit 0;
    }
    push @pids, $pid;
}
waitpid $_, 0 for @pids;

my @many = sort split /\n/, read_file('many.log');
is scalar(grep { /^\d 10 / } @many), 3,
   '3 triggers of 10 while the token is refused: every message accepted'
    or diag "@many";

@asked = tokens_asked();
is scalar @asked, 2, '... after one new token request';
my $auth = "Bearer $asked[1]{access}";
my @sent = endpoint_log(sub {
    30 == grep { $_->{auth} eq $auth } @_
});
is scalar(grep { $_->{auth} eq $auth } @sent), 30,
   '... every message sent again with the new token';

# many at once with no token at all: the first trigger asks, the others
# wait; the requests never overlap

@pids = ();
for my $i (1 .. 3) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my ($res, $r) = unitary('/other', "other-$i", 'plain', '{}',
                                map { push_recipient("o$i-$_", "ok-$i-$_") }
                                1 .. 5);
        exit((grep { $_->{status} eq 'accepted' } values %$r) == 5 ? 0 : 1);
    }
    push @pids, $pid;
}
my $failed = 0;
for (@pids) {
    waitpid $_, 0;
    $failed++ if $?;
}
is $failed, 0, 'a connector with no token yet: 3 triggers accepted';

@asked = tokens_asked();
my @other = grep { $_->{path} eq '/token-other' } @asked;
is scalar @other, 1, '... after one request to its token_url';
ok !(grep { $asked[$_]{start} < $asked[$_ - 1]{end} - 0.01 } 1 .. $#asked),
   'token requests never overlap';
my $other = '/v1/projects/other-project/messages:send';
is scalar(grep { $_->{uri} eq $other }
          endpoint_log(sub { 15 <= grep { $_->{uri} eq $other } @_ })),
   15,
   '... sent to its project';

# 5. renewal: a token of expires_in 6 is refreshed after 3 s.  Every
# token so far is revoked first: the 401 makes the first trigger get a
# new one, fresh from then

write_file('token-delay', '0.2');
write_file('expires-in', '6');
write_file('revoked', join ' ', map { $_->{access} } tokens_asked());

my $n = tokens_asked();
($res, $r) = unitary('/other', 'renew-0', 'plain', '{}',
                     push_recipient('r0', 'ok-r0'));
is $r->{r0}{status}, 'accepted', 'a revoked token: accepted';
is $r->{r0}{attempts}, 2, '... at the second attempt';
is scalar(tokens_asked()), $n + 1, '... with a new token';

($res, $r) = unitary('/other', 'renew-1', 'plain', '{}',
                     push_recipient('r1', 'ok-r1'));
is scalar(tokens_asked()), $n + 1, 'a token that is still good is used';

sleep 3.5;
($res, $r) = unitary('/other', 'renew-2', 'plain', '{}',
                     push_recipient('r2', 'ok-r2'));
is $r->{r2}{status}, 'accepted', 'after 3.5 s: accepted';
is $r->{r2}{attempts}, 1, '... at the first attempt';
@asked = tokens_asked();
is scalar @asked, $n + 2, '... with a new token';
my ($last) = grep { $_->{body} =~ /"ok-r2"/ }
             endpoint_log(sub { grep { $_->{body} =~ /"ok-r2"/ } @_ });
is $last->{auth}, "Bearer $asked[-1]{access}", '... which it was sent with';

# 6. token endpoints that fail

($res, $r) = unitary('/down', 'down', 'plain', '{}',
                     push_recipient('d1', 'ok-d1'));
is $res->{status}, 502, 'a token endpoint that is down: 502';
like $res->{content},
     qr{"/recipients/0","message":"token endpoint: [^"]*connect}i,
     '... says why';
like read_file('logs/error.log'),
     qr/\[error\] .*connector "down": no access token from/,
     '... and the log';

($res, $r) = unitary('/refused', 'refused', 'plain', '{}',
                     push_recipient('f1', 'ok-f1'));
is $res->{status}, 502, 'a refused assertion: 502';
like $res->{content}, qr/"message":"token endpoint: 400 invalid_grant"/,
     '... token endpoint: 400 invalid_grant';

# 7. no secret in the log

no_secret_in_log('key material', @key_lines);
no_secret_in_log('access token or assertion',
                 map { ($_->{access}, $_->{assertion}) } tokens_asked());
unlike read_file('logs/error.log'), qr/\[(alert|crit|emerg)\]/,
       'no alert in error.log';

ok stop_nginx(), 'nginx stops';
stop_endpoint();

done_testing();
