# HTTP-level oddities the fuzzer (t/soak/fuzz.py) sends, kept as
# regressions: a refused request's body is never read as the next request
# of a keep-alive connection; "Expect: 100-continue" gets "100 Continue"
# only when the body is wanted; HTTP/1.0; pipelined triggers are answered
# in order; over HTTP/2 an early refusal is a whole answer (HEADERS and
# DATA) before the stream is reset with NO_ERROR, and a body without
# content-length is 411.

use strict;
use warnings;

use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use FindBin;

require "$FindBin::Bin/150-helpers.pl";

our ($BASE, $PREFIX);

my $port = $BASE + 23;
my $h2_port = $BASE + 24;

ok start_nginx(<<"EOF", $port), 'nginx starts';
    server {
        listen 127.0.0.1:$port;
        listen 127.0.0.1:$h2_port http2;

        campaign_gateway sms /_gw;

        location /ajo/im/ {
            campaign_api;
        }

        location = /_gw {
            internal;
            campaign_outbox logs/outbox.jsonl;
        }
    }
EOF

# everything nginx sends on one connection, until it closes or is quiet

sub exchange {
    my (@parts) = @_;
    my $s = IO::Socket::INET->new("127.0.0.1:$port") or die "$!";
    my $res = '';

    for my $p (@parts) {
        if (ref $p) {
            sleep $$p;
            next;
        }
        syswrite $s, $p;
    }

    my $rin = '';
    vec($rin, fileno($s), 1) = 1;
    my $deadline = time + 3;

    while (time < $deadline) {
        my $rout = $rin;
        last unless select($rout, undef, undef, 0.5);
        my $n = sysread $s, $res, 65536, length $res;
        last unless $n;
    }

    close $s;
    return $res;
}

my $inner = "GET /ajo/im/smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
my $health = "GET /ajo/im/health HTTP/1.1\r\nHost: x\r\nConnection: close"
             . "\r\n\r\n";

for my $case (['text/plain', '/ajo/im/executions/unitary', 415],
              ['application/json', '/ajo/im/health', 405],
              ['application/json', '/ajo/im/nope', 404],
              ['application/json', '/ajo/im/campaigns/nope/preview', 404])
{
    my ($ct, $path, $status) = @$case;
    my $res = exchange("POST $path HTTP/1.1\r\nHost: x\r\n"
                       . "Content-Type: $ct\r\nContent-Length: "
                       . length($inner) . "\r\n\r\n$inner$health");
    my @st = $res =~ m{^HTTP/1\.1 (\d+)}mg;
    is "@st", "$status 200",
       "$path refused $status: its body is not a request, the next one is";
}

unlike read_file('logs/error.log'), qr/smuggled/,
       'nginx never saw the request inside a body';

# Expect: 100-continue

my $t = trigger('expect', 'u0');

my $res = exchange("POST /ajo/im/executions/unitary HTTP/1.1\r\nHost: x\r\n"
                   . "Content-Type: application/json\r\nExpect: 100-continue"
                   . "\r\nContent-Length: " . length($t) . "\r\n\r\n",
                   \0.2, $t);
like $res, qr{^HTTP/1\.1 100 Continue\r\n\r\nHTTP/1\.1 202 }s,
     'Expect: 100-continue: 100, then the trigger is answered 202';

$res = exchange("POST /ajo/im/executions/unitary HTTP/1.1\r\nHost: x\r\n"
                . "Content-Type: text/plain\r\nExpect: 100-continue\r\n"
                . "Connection: close\r\nContent-Length: " . length($t)
                . "\r\n\r\n");
like $res, qr{^HTTP/1\.1 415 }, '... a refused one: 415 without 100 Continue';

# HTTP/1.0

$res = exchange("POST /ajo/im/executions/unitary HTTP/1.0\r\n"
                . "Content-Type: application/json\r\nContent-Length: "
                . length($t) . "\r\n\r\n$t");
like $res, qr{^HTTP/1\.1 202 .*"status":"accepted"}s,
     'HTTP/1.0: the trigger is sent';
like $res, qr{\r\nConnection: close\r\n}, '... and the connection closed';

# pipelined triggers, answered in order

my @t = map { trigger("pipe-$_", 'u0') } 1 .. 3;
$res = exchange(join('', map {
    "POST /ajo/im/executions/unitary HTTP/1.1\r\nHost: x\r\n"
    . "Content-Type: application/json\r\nContent-Length: " . length($_)
    . "\r\n\r\n$_" } @t) . $health);

my @rid = $res =~ /"requestId":"(pipe-\d)"/g;
is "@rid", 'pipe-1 pipe-2 pipe-3', 'pipelined triggers answered in order';
like $res, qr/"status":"UP"/, '... and the request after them';

# HTTP/2

my $s = h2_connect($h2_port);
my $body = '{"a":1}';
my $h = h2_field(':method', 'POST')
        . h2_field(':path', '/ajo/im/executions/unitary')
        . h2_field(':scheme', 'http') . h2_field(':authority', 'x')
        . h2_field('content-type', 'text/plain')
        . h2_field('content-length', length $body);
syswrite $s, h2_frame(1, 4, 1, $h) . h2_frame(0, 1, 1, $body);

my $f = h2_read($s, 3, sub { grep { $_->{type} == 3 } @{$_[0]} });
close $s;

my @on1 = map { $_->{type} } grep { $_->{sid} == 1 } @$f;
like "@on1", qr/^1 0( 3)?$/,
     'HTTP/2 refusal: HEADERS and DATA, then at most RST_STREAM';
my ($data) = map { $_->{data} } grep { $_->{sid} == 1 && $_->{type} == 0 }
             @$f;
like $data // '', qr/"status":415/, '... the DATA is the 415 problem';
my ($rst) = map { unpack 'N', $_->{data} }
            grep { $_->{sid} == 1 && $_->{type} == 3 } @$f;
is $rst // 0, 0, '... which says NO_ERROR';

$s = h2_connect($h2_port);
$h = h2_field(':method', 'POST')
     . h2_field(':path', '/ajo/im/executions/unitary')
     . h2_field(':scheme', 'http') . h2_field(':authority', 'x')
     . h2_field('content-type', 'application/json');
syswrite $s, h2_frame(1, 4, 1, $h) . h2_frame(0, 1, 1, $t);
$f = h2_read($s, 3, sub {
    grep { $_->{type} == 0 && $_->{flags} & 1 || $_->{type} == 3 } @{$_[0]}
});
close $s;

($data) = map { $_->{data} } grep { $_->{sid} == 1 && $_->{type} == 0 } @$f;
like $data // '', qr/"status":411/,
     'HTTP/2 body without content-length: 411';

ok stop_nginx(), 'nginx quits';

unlike read_file('logs/error.log'),
       qr/\[(alert|crit|emerg)\]|exited on signal/,
       'no alert, crit or crash';

done_testing();
