# Clients that leave at every stage of a trigger: during the body's upload
# (no execution starts, nothing is sent), during the profile lookups,
# during the sending, during a retry's delay; over HTTP/1.1 (the
# connection closed) and HTTP/2 (the stream reset while the connection
# stays and another stream on it waits for its answer, or the connection
# closed).  Every execution that started completes: each message reaches
# the gateway with the attempts it would have had, and nginx logs once per
# execution "the client left, execution ... goes on".

use strict;
use warnings;

use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use FindBin;

require "$FindBin::Bin/150-helpers.pl";

our ($BASE, $PREFIX);

my $port = $BASE + 17;
my $h2_port = $BASE + 18;
my $gw_port = $BASE + 19;
my $prof_port = $BASE + 20;

# /slow: 202 after 600 ms; /fail1: 503 to a first attempt, 202 after

start_server($gw_port, sub {
    my ($c, $head, $body) = @_;
    my ($key) = $head =~ /^Idempotency-Key: (\S+)/mi;
    my ($n) = $head =~ /^X-Campaign-Attempt: (\d+)/mi;
    my ($rid) = $body =~ /"requestId":"([^"]+)"/;

    append_line('logs/gateway.log', join ' ', $rid, $key, $n);

    if ($head =~ m{^POST /fail1} && $n == 1) {
        return answer($c, 503);
    }

    sleep 0.6;
    answer($c, 202);
});

start_server($prof_port, sub {
    my ($c) = @_;
    sleep 0.6;
    answer($c, 200, '{"firstName":"Slow"}');
});

ok start_nginx(<<"EOF", $port), 'nginx starts';
    server {
        listen 127.0.0.1:$port;
        listen 127.0.0.1:$h2_port http2;

        campaign_gateway sms /_gw/slow;
        campaign_gateway_retry_delay 500ms;

        location /send/ {
            campaign_api;
        }

        location /retry/ {
            campaign_api;
            campaign_gateway sms /_gw/fail1;
        }

        location /lookup/ {
            campaign_api;
            campaign_profile_lookup /_profiles/\$campaign_user_id;
        }

        location /_profiles/ {
            internal;
            proxy_pass http://127.0.0.1:$prof_port/;
        }

        location /_gw/ {
            internal;
            proxy_pass http://127.0.0.1:$gw_port/;
        }
    }
EOF

sub h1_leave {
    my ($path, $body, $after, $partial) = @_;
    my $s = IO::Socket::INET->new("127.0.0.1:$port") or die "$!";
    my $sent = $partial ? substr($body, 0, length($body) / 2) : $body;
    syswrite $s, "POST $path HTTP/1.1\r\nHost: x\r\n"
                 . "Content-Type: application/json\r\n"
                 . "Content-Length: " . length($body) . "\r\n\r\n$sent";
    sleep $after;
    close $s;
}

my %leaves;   # requestId => the attempts each of its messages must have

h1_leave('/send/executions/unitary', trigger('h1-upload', 'u0', 'u1'),
         0.2, 1);

h1_leave('/lookup/executions/unitary',
         trigger('h1-lookup', ['u0', 0], ['u1', 0]), 0.2);
$leaves{'h1-lookup'} = [1];

h1_leave('/send/executions/unitary', trigger('h1-send', 'u0', 'u1'), 0.2);
$leaves{'h1-send'} = [1];

h1_leave('/retry/executions/unitary', trigger('h1-retry', 'u0', 'u1'), 0.3);
$leaves{'h1-retry'} = [1, 2];

# HTTP/2: stream 1 is reset while stream 3 of the same connection waits

my $s = h2_connect($h2_port);
syswrite $s, h2_request(1, '/send/executions/unitary',
                        trigger('h2-rst', 'u0', 'u1'))
             . h2_request(3, '/send/executions/unitary',
                          trigger('h2-other', 'u0'));
sleep 0.2;
syswrite $s, h2_frame(3, 0, 1, pack('N', 8));        # RST_STREAM, CANCEL
$leaves{'h2-rst'} = [1];

my $frames = h2_read($s, 5, sub {
    grep { $_->{type} == 0 && $_->{sid} == 3 && $_->{flags} & 1 } @{$_[0]}
});
close $s;

my $other = join '', map { $_->{data} }
                     grep { $_->{type} == 0 && $_->{sid} == 3 } @$frames;
like $other, qr/"status":"accepted"/,
     'HTTP/2: the other stream of the connection gets its answer';
is scalar(grep { $_->{type} == 0 && $_->{sid} == 1 } @$frames), 0,
   'HTTP/2: the reset stream gets nothing more';

# HTTP/2: the connection closed during the lookups

$s = h2_connect($h2_port);
syswrite $s, h2_request(1, '/lookup/executions/unitary',
                        trigger('h2-close', ['u0', 0], ['u1', 0]));
sleep 0.2;
close $s;
$leaves{'h2-close'} = [1];

# every execution settles: at most a lookup, 600 ms, a retry's delay and
# another 600 ms

my %att;

ok wait_for(sub {
    %att = ();
    for (split /\n/, read_file('logs/gateway.log')) {
        my ($rid, $key, $n) = split / /;
        push @{ $att{$rid}{$key} }, $n;
    }
    my $n = 0;
    for my $rid (keys %leaves) {
        $n += scalar(grep { @{ $att{$rid}{$_} } == @{ $leaves{$rid} } }
                     keys %{ $att{$rid} || {} });
    }
    return $n == 2 * keys %leaves;
}, 40), 'every execution whose client left has sent its messages';

for my $rid (sort keys %leaves) {
    my $keys = $att{$rid} || {};
    is scalar(keys %$keys), 2, "$rid: both messages reached the gateway";
    for my $key (sort keys %$keys) {
        my ($i) = $key =~ /-(\d+)$/;
        is_deeply [sort @{ $keys->{$key} }], $leaves{$rid},
                  "$rid: message $i, attempts @{ $leaves{$rid} }";
    }
}

ok !exists $att{'h1-upload'}, 'a body never uploaded starts nothing';

sleep 0.5;

my $log = read_file('logs/error.log');
my %left;
$left{$_}++ for $log =~ /the client left, execution ([0-9a-f-]{36}) goes on/g;

is scalar(keys %left), scalar(keys %leaves),
   'one execution per client that left';
is_deeply [grep { $left{$_} != 1 } keys %left], [], '... each logged once';

my %ex;
for my $rid (keys %leaves) {
    $ex{$rid} = { map { (/^(.{36})-/)[0] => 1 } keys %{ $att{$rid} || {} } };
}
is_deeply [sort grep { !$left{(keys %{ $ex{$_} })[0] // ''} } keys %leaves],
          [], 'the executionId logged is the one of the messages sent';

ok stop_nginx(), 'nginx quits';

unlike read_file('logs/error.log'),
       qr/\[(alert|crit|emerg)\]|exited on signal|abandoned/,
       'no alert, crit, crash or abandoned message';

done_testing();
