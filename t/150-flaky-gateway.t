# A gateway that resets, stalls, closes in the middle of its status line,
# answers 503 then 202, 400, or 202 slowly, and a profile service that
# does the same: each recipient's outcome is what its gateway did to its
# last attempt, every attempt of a message carries its Idempotency-Key and
# the next X-Campaign-Attempt, a lookup is never retried, and the worker
# lives on.  The servers choose what to do from the recipient's userId.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use FindBin;

require "$FindBin::Bin/150-helpers.pl";

our ($BASE, $PREFIX);

my $port = $BASE + 14;
my $gw_port = $BASE + 15;
my $prof_port = $BASE + 16;

# the gateway: "<behaviour>-..." in recipient.userId

start_server($gw_port, sub {
    my ($c, $head, $body) = @_;
    my ($key) = $head =~ /^Idempotency-Key: (\S+)/mi;
    my ($n) = $head =~ /^X-Campaign-Attempt: (\d+)/mi;
    my ($user) = $body =~ /"recipient":\{"userId":"([^"]+)"/;
    my ($b) = ($user // '') =~ /^([a-z0-9]+)/;
    $n //= 0;

    append_line('logs/gateway.log', join ' ', $key // '-', $n, $user // '-');

    if ($b eq 'reset1') {
        return reset_connection($c) if $n == 1;
        return answer($c, 202);
    }

    if ($b eq 'e503x1') {
        return answer($c, $n == 1 ? 503 : 202);
    }

    if ($b eq 'stall') {
        sleep 3;
        return;
    }

    if ($b eq 'midhdr') {
        syswrite $c, "HTTP/1.1 202 Acc";
        sleep 0.05;
        return reset_connection($c);
    }

    if ($b eq 'closed') {
        return;
    }

    if ($b eq 'e400') {
        return answer($c, 400);
    }

    if ($b eq 'slowbody') {
        syswrite $c, "HTTP/1.1 202 Accepted\r\nContent-Length: 10\r\n"
                     . "Connection: close\r\n\r\n{";
        sleep 0.3;
        syswrite $c, '"a":"bcd"}';
        return;
    }

    answer($c, 202);
});

# the profile service: GET /<userId>

start_server($prof_port, sub {
    my ($c, $head) = @_;
    my ($user) = $head =~ m{^GET /(\S+) };
    my ($b) = ($user // '') =~ /^p([a-z0-9]+)/;

    append_line('logs/profiles.log', $user // '-');

    return answer($c, 200, '{"firstName":"Ok"}') if $b eq 'ok';
    return answer($c, 404) if $b eq '404';
    return answer($c, 500) if $b eq '500';
    return reset_connection($c) if $b eq 'reset';
    return answer($c, 200, '{"firstName":') if $b eq 'notjson';
    return answer($c, 200, '[1,2]') if $b eq 'array';
    return answer($c, 200, '{"x":"' . ('a' x 20000) . '"}') if $b eq 'huge';
    sleep 3 if $b eq 'stall';
});

ok start_nginx(<<"EOF", $port), 'nginx starts';
    server {
        listen 127.0.0.1:$port;

        campaign_gateway sms /_gw;
        campaign_gateway_retries 2;
        campaign_gateway_retry_delay 20ms;
        campaign_profile_max_size 8k;

        location /ajo/im/ {
            campaign_api;
        }

        location /lookup/ {
            campaign_api;
            campaign_profile_lookup /_profiles/\$campaign_user_id;
        }

        location /_profiles/ {
            internal;
            proxy_pass http://127.0.0.1:$prof_port/;
            proxy_read_timeout 1s;
        }

        location = /_gw {
            internal;
            proxy_pass http://127.0.0.1:$gw_port;
            proxy_read_timeout 1s;
        }
    }
EOF

# 1. the gateway

my @users = qw(reset1-a e503x1-a stall-a midhdr-a closed-a e400-a
               slowbody-a ok-a);

my $t0 = time;
my ($st, $body) = request($port, 'POST', '/ajo/im/executions/unitary',
                          trigger('flaky-gw', @users), 15);
my $took = time - $t0;

is $st, 202, 'a trigger whose gateway misbehaves for some recipients: 202';

my %out;
while ($body =~ /\{"userId":"([^"]+)","messageId":"([^"]+)",([^}]*)\}/g) {
    $out{$1} = { id => $2, rest => $3 };
}

my %want = (
    'reset1-a'   => '"status":"accepted","gatewayStatus":202,"attempts":2',
    'e503x1-a'   => '"status":"accepted","gatewayStatus":202,"attempts":2',
    'stall-a'    => '"status":"failed","gatewayStatus":504,"attempts":3',
    'midhdr-a'   => '"status":"failed","gatewayStatus":502,"attempts":3',
    'closed-a'   => '"status":"failed","gatewayStatus":502,"attempts":3',
    'e400-a'     => '"status":"failed","gatewayStatus":400,"attempts":1',
    'slowbody-a' => '"status":"accepted","gatewayStatus":202,"attempts":1',
    'ok-a'       => '"status":"accepted","gatewayStatus":202,"attempts":1',
);

for my $u (@users) {
    is $out{$u} && $out{$u}{rest}, $want{$u}, "$u: $want{$u}";
}

ok $took < 8, sprintf('answered once the last retry is over (%.1fs)', $took);

# what the gateway saw: per message, attempts 1..n with its own key

my %seen;
for (split /\n/, read_file('logs/gateway.log')) {
    my ($key, $n, $user) = split / /;
    push @{ $seen{$user} }, [$key, $n];
}

for my $u (@users) {
    my ($n) = $want{$u} =~ /"attempts":(\d+)/;
    my $a = $seen{$u} || [];
    is_deeply [sort map { $_->[1] } @$a], [1 .. $n],
              "$u: the gateway saw attempts 1..$n";
    is_deeply [grep { $_->[0] ne ($out{$u} ? $out{$u}{id} : '') } @$a], [],
              "$u: every attempt with the messageId as Idempotency-Key";
}

# 2. the profile service

my @lookups = qw(pok-1 p404-1 p500-1 preset-1 pnotjson-1 parray-1 phuge-1
                 pstall-1);

($st, $body) = request($port, 'POST', '/lookup/executions/unitary',
                       trigger('flaky-prof', map { [$_, 0] } @lookups), 15);

is $st, 202, 'a trigger whose profile service misbehaves: 202';

my %reason;
while ($body =~ /\{"userId":"([^"]+)","messageId":"[^"]+",([^}]*)\}/g) {
    $reason{$1} = $2;
}

like $reason{'pok-1'}, qr/"status":"accepted"/, 'a profile found: sent';
like $reason{'p404-1'}, qr/"reason":"no profile for this userId/,
     '404: no profile';

for my $u (qw(p500-1 preset-1 pnotjson-1 parray-1 phuge-1 pstall-1)) {
    is $reason{$u} // '',
       '"status":"failed","reason":"the profile lookup failed","attempts":0',
       "$u: the lookup failed, nothing sent";
}

my %looked;
$looked{$_}++ for split /\n/, read_file('logs/profiles.log');
is_deeply [sort grep { $looked{$_} != 1 } @lookups], [],
          'every profile looked up once, never retried';

my @sent = grep { /^\S+ \d+ p/ } split /\n/, read_file('logs/gateway.log');
is_deeply [map { (split / /)[2] } @sent], ['pok-1'],
          'only the recipient with a profile reached the gateway';

# 3. the workers live on

($st) = request($port, 'POST', '/ajo/im/executions/unitary',
                trigger('after', 'ok-b'));
is $st, 202, 'a trigger afterwards is sent';

ok stop_nginx(), 'nginx quits';

unlike read_file('logs/error.log'),
       qr/\[(alert|crit|emerg)\]|exited on signal|abandoned/,
       'no alert, crit, crash or abandoned message';

done_testing();
