# Executions outlive their request: a client that leaves (HTTP/1.1 or
# HTTP/2) does not stop them, a reload lets the old workers finish what
# they have started (every message reaches the gateway exactly once), and
# campaign_execution_timeout bounds an execution.  This needs a master
# process, SIGHUP and a gateway that takes its time, so it drives nginx
# and a small gateway server itself rather than through Test::Nginx.

use strict;
use warnings;

use FindBin;
use HTTP::Tiny;
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(sleep time);

require "$FindBin::Bin/150-helpers.pl";

our ($BASE, $PREFIX);

my $port = $BASE + 11;
my $h2_port = $BASE + 12;
my $gw_port = $BASE + 13;

# the gateway: answers 202 after 800 ms, and records the Idempotency-Key
# of every message it answered

start_server($gw_port, sub {
    my ($c, $head, $body) = @_;
    my ($key) = $head =~ /^Idempotency-Key: (\S+)/mi;
    sleep 0.8;
    append_line('logs/gateway.log', $key);
    answer($c, 202);
});

ok start_nginx(<<"EOF", $port), 'nginx starts';
    server {
        listen 127.0.0.1:$port;
        listen 127.0.0.1:$h2_port http2;

        campaign_gateway sms /_gw;

        location /ajo/im/ {
            campaign_api;
        }

        location /bounded/ {
            campaign_api;
            campaign_execution_timeout 300ms;
        }

        location = /_gw {
            internal;
            proxy_pass http://127.0.0.1:$gw_port;
        }
    }
EOF

my $http = HTTP::Tiny->new(timeout => 10);
my $url = "http://127.0.0.1:$port/ajo/im/executions/unitary";

sub body {
    my ($rid, $n) = @_;
    my @r = map {
        qq/{"type":"aep","userId":"u$_","namespace":"phone",/
        . qq/"channelData":{"mobilePhoneNumber":"+1415555010$_"},/
        . qq/"profile":{"firstName":"P$_"}}/
    } 0 .. $n - 1;
    return qq/{"requestId":"$rid","campaignId":"order-sms",/
           . qq/"context":{"orderId":"$rid"},"recipients":[/
           . join(',', @r) . ']}';
}

sub keys_seen {
    my %n;
    $n{$_}++ for split /\n/, read_file('logs/gateway.log');
    return \%n;
}


# 1. triggers in flight across a reload

my @kids;

for my $i (1 .. 6) {
    my $pid = fork // die;

    if ($pid == 0) {
        my $res = $http->post($url, {
            headers => { 'Content-Type' => 'application/json' },
            content => body("reload-$i", 3),
        });
        my $ok = $res->{status} == 202
                 && scalar(() = $res->{content} =~ /"accepted"/g) == 3;
        POSIX::_exit($ok ? 0 : 1);
    }

    push @kids, $pid;
}

sleep 0.3;
kill 'HUP', master_pid();

my $answered = 0;
for my $pid (@kids) {
    waitpid $pid, 0;
    $answered++ if $? == 0;
}

is $answered, 6, 'every trigger sent before the reload is answered 202, '
                 . 'every message accepted';

my $seen = keys_seen();
is scalar(keys %$seen), 18, 'the gateway got the 18 messages';
is scalar(grep { $_ != 1 } values %$seen), 0, '... each exactly once';

ok wait_for(sub { read_file('logs/error.log') =~ /gracefully shutting down/ }),
   'the old workers were told to quit';

my $res = $http->post($url, {
    headers => { 'Content-Type' => 'application/json' },
    content => body('after-reload', 1),
});
is $res->{status}, 202, 'a trigger after the reload goes to a new worker';

ok wait_for(sub { read_file('logs/error.log') =~ /exit(ed|ing)/ }),
   'the old workers exit once their executions have settled';

# 2. a client that leaves while its messages are being sent (HTTP/1.1)

truncate "$PREFIX/logs/gateway.log", 0;

my $s = IO::Socket::INET->new("127.0.0.1:$port") or die;
my $b = body('leave-h1', 2);
print $s "POST /ajo/im/executions/unitary HTTP/1.1\r\nHost: localhost\r\n"
         . "Content-Type: application/json\r\nContent-Length: "
         . length($b) . "\r\n\r\n$b";
sleep 0.2;
close $s;

ok wait_for(sub { scalar(keys %{ keys_seen() }) == 2 }),
   'HTTP/1.1: the messages reach the gateway after the client left';
like read_file('logs/error.log'),
     qr/\[info\] .*the client left, execution [0-9a-f-]{36} goes on/,
     'HTTP/1.1: the client leaving is logged at info with the executionId';

# 3. the same over HTTP/2

SKIP: {
    skip 'curl without HTTP/2', 2 unless `curl -V` =~ /HTTP2/;

    truncate "$PREFIX/logs/gateway.log", 0;
    my $before = () = read_file('logs/error.log') =~ /the client left/g;

    system('curl', '-s', '-o', '/dev/null', '--http2-prior-knowledge',
           '--max-time', '0.3', '-H', 'Content-Type: application/json',
           '--data-binary', body('leave-h2', 2),
           "http://127.0.0.1:$h2_port/ajo/im/executions/unitary");

    ok wait_for(sub { scalar(keys %{ keys_seen() }) == 2 }),
       'HTTP/2: the messages reach the gateway after the client left';

    my $after = () = read_file('logs/error.log') =~ /the client left/g;
    is $after - $before, 1, 'HTTP/2: the client leaving is logged once';
}

# 4. campaign_execution_timeout

my $t0 = time;
$res = $http->post("http://127.0.0.1:$port/bounded/executions/unitary", {
    headers => { 'Content-Type' => 'application/json' },
    content => body('bounded', 1),
});
my $took = time - $t0;

is $res->{status}, 504, 'an execution over its time answers 504';
like $res->{content}, qr/"the execution timed out"/, '... and says why';
ok $took < 0.75, "... when its time is up, not when the gateway answers"
                 . sprintf(' (%.2fs)', $took);
like read_file('logs/error.log'),
     qr/\[warn\] .*execution timed out after \d+ms .*1 message\(s\) unsettled/,
     'the timeout is logged once, at warn';

ok stop_nginx(), 'nginx quits';

unlike read_file('logs/error.log'),
       qr/\[(alert|crit|emerg)\]|exited on signal|abandoned/,
       'no alert, crit, crash or abandoned message';

done_testing();
