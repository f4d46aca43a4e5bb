# Idempotency across worker processes, reloads and crashes: identical
# triggers sent at once run once; a reload keeps the records; the claim of
# a worker killed in the middle lapses, so that the client can retry.
# This needs a master process, two workers, signals and a gateway that
# takes its time, so it drives nginx and a small gateway itself.

use strict;
use warnings;

use FindBin;
use HTTP::Tiny;
use Test::More;
use Time::HiRes qw(sleep);

require "$FindBin::Bin/150-helpers.pl";

our ($BASE, $PREFIX);

my $port = $BASE + 25;
my $gw_port = $BASE + 26;

# the gateway: answers 202 after the delay in its path (/delay/MS), and
# records the Idempotency-Key of every message it answered

start_server($gw_port, sub {
    my ($c, $head, $body) = @_;
    my ($delay) = $head =~ m{^POST /delay/(\d+)};
    my ($key) = $head =~ /^Idempotency-Key: (\S+)/mi;
    sleep(($delay || 0) / 1000);
    append_line('logs/gateway.log', $key);
    answer($c, 202);
});

ok start_nginx(<<"EOF", $port), 'nginx starts';
    campaign_zone campaign 1m;

    server {
        listen 127.0.0.1:$port;

        campaign_gateway sms /_gw;

        location /ajo/im/ {
            campaign_api;
        }

        location /slow/ {
            campaign_api;
            campaign_gateway sms /_slow;
        }

        location = /_gw {
            internal;
            proxy_pass http://127.0.0.1:$gw_port/delay/300;
        }

        location = /_slow {
            internal;
            proxy_pass http://127.0.0.1:$gw_port/delay/3000;
        }
    }
EOF

my $http = HTTP::Tiny->new(timeout => 10);

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

sub post {
    my ($path, $body) = @_;
    return $http->post("http://127.0.0.1:$port$path", {
        headers => { 'Content-Type' => 'application/json' },
        content => $body,
    });
}

sub keys_seen {
    my %n;
    $n{$_}++ for split /\n/, read_file('logs/gateway.log');
    return \%n;
}

# 1. 50 identical triggers at once, over 50 connections, 2 workers

my $dir = "$PREFIX/logs/answers";
mkdir $dir;
my @kids;

for my $i (1 .. 50) {
    my $pid = fork // die;

    if ($pid == 0) {
        my $res = post('/ajo/im/executions/unitary', body('same', 2));
        open my $fh, '>', "$dir/$i";
        print $fh "$res->{status}\n",
                  ($res->{headers}{'idempotent-replayed'} || '-'), "\n",
                  $res->{content};
        close $fh;
        POSIX::_exit(0);
    }

    push @kids, $pid;
}

waitpid $_, 0 for @kids;

my (%status, %ids, $replayed);

for my $i (1 .. 50) {
    my ($status, $replay, $content) = split /\n/, read_file("logs/answers/$i"), 3;
    $status{$status}++;
    $replayed++ if $replay eq 'true';
    $ids{$1}++ if $status == 202 && $content =~ /"executionId":"([^"]+)"/;
}

my $seen = keys_seen();
is scalar(keys %$seen), 2, '50 identical triggers: the gateway got 2 messages';
is scalar(grep { $_ != 1 } values %$seen), 0, '... one per recipient';
is scalar(keys %ids), 1, 'every 202 carries the same executionId';
is +($status{202} || 0) + ($status{409} || 0), 50,
   'each answer is the first one, a replay, or 409 while it ran';
ok $replayed || $status{409}, 'the repeats were replays or 409s';

my $first = (keys %ids)[0];

# 2. a reload keeps the records

kill 'HUP', master_pid();
ok wait_for(sub { read_file('logs/error.log') =~ /gracefully shutting down/ }),
   'reloaded';
sleep 0.5;

my $res = post('/ajo/im/executions/unitary', body('same', 2));
is $res->{status}, 202, 'after the reload the repeat is still answered';
is $res->{headers}{'idempotent-replayed'}, 'true', '... as a replay';
like $res->{content}, qr/"executionId":"$first"/, '... of the first execution';
is scalar(keys %{ keys_seen() }), 2, '... and sends nothing';

$res = post('/ajo/im/executions/unitary', body('same', 3));
is $res->{status}, 422, 'another body under the same requestId is 422';

# 3. a worker killed while it runs a claimed trigger

truncate "$PREFIX/logs/gateway.log", 0;

my $kid = fork // die;

if ($kid == 0) {
    post('/slow/executions/unitary', body('crash', 1));
    POSIX::_exit(0);
}

sleep 0.5;

$res = post('/slow/executions/unitary', body('crash', 1));
is $res->{status}, 409, 'a repeat while the first runs is 409';
ok $res->{headers}{'retry-after'} =~ /^\d+$/, '... with Retry-After';

my @workers = worker_pids();
kill 'KILL', @workers;
waitpid $kid, 0;

ok wait_for(sub { my @n = read_file('logs/error.log') =~ /exited on signal 9/g;
                  @n == @workers }),
   'both workers were killed, and the master saw it';
ok wait_for(sub { worker_pids() == 2 }), 'and started two others';
sleep 0.5;

$res = post('/ajo/im/executions/unitary', body('crash', 1));
is $res->{status}, 202, 'after the crash the repeat runs: the claim lapsed';
like read_file('logs/error.log'), qr/the claim of worker \d+ on an idempotency key has lapsed/,
     'the lapse is logged';

ok stop_nginx(), 'nginx quits';

unlike read_file('logs/error.log'), qr/\[(crit|emerg)\]|exited on signal (?!9)/,
       'no crit, emerg or crash but the kills';

# 4. a full zone, in two workers: the least recently used records go, and
# the warning comes once a minute, not once a trigger

truncate "$PREFIX/logs/error.log", 0;

ok start_nginx(<<"EOF", $port), 'nginx starts with a 32k zone';
    campaign_zone campaign 32k;

    server {
        listen 127.0.0.1:$port;

        campaign_gateway sms /_gw;

        location /ajo/im/ {
            campaign_api;
        }

        location = /_gw {
            internal;
            return 202;
        }
    }
EOF

my $accepted = grep { post('/ajo/im/executions/unitary', body("full-$_", 1))
                          ->{status} == 202 } 1 .. 150;
is $accepted, 150, 'the zone fills up, and every trigger still runs';

$res = post('/ajo/im/executions/unitary', body('full-150', 1));
is $res->{headers}{'idempotent-replayed'}, 'true',
   'the most recent trigger is still replayed';

$res = post('/ajo/im/executions/unitary', body('full-1', 1));
ok $res->{status} == 202 && !$res->{headers}{'idempotent-replayed'},
   'the least recent one went: it runs again';

my @full = read_file('logs/error.log')
           =~ /\[warn\] .*campaign: zone is full, the least recently used idempotency records go before their window in campaign_zone "campaign"/g;
is scalar @full, 1, 'the zone is full: one warning for 150 triggers';

ok stop_nginx(), 'nginx quits';

unlike read_file('logs/error.log'), qr/\[(alert|crit|emerg)\]/,
       'no alert, crit or emerg with a full zone';

done_testing();
