# Workers that die or are replaced in the middle of their work.
#
# 1. kill -9 of a worker while its messages are at a slow gateway: the
#    master starts another one, the other worker's triggers are answered
#    with every message accepted, and nothing is logged beyond nginx's own
#    "exited on signal 9".  The listening socket has "reuseport", so the
#    kernel spreads the triggers over both workers.
# 2. reloads every 300 ms while triggers keep coming: every trigger is
#    answered 202, and every message reaches the gateway exactly once.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use POSIX qw(WNOHANG);
use FindBin;

require "$FindBin::Bin/150-helpers.pl";

our ($BASE, $PREFIX);

my $port = $BASE + 21;
my $gw_port = $BASE + 22;

start_server($gw_port, sub {
    my ($c, $head, $body) = @_;
    my ($key) = $head =~ /^Idempotency-Key: (\S+)/mi;
    my ($rid) = $body =~ /"requestId":"([^"]+)"/;
    sleep 0.5;
    append_line('logs/gateway.log', "$rid $key");
    answer($c, 202);
});

ok start_nginx(<<"EOF", $port), 'nginx starts';
    server {
        listen 127.0.0.1:$port reuseport;

        campaign_gateway sms /_gw;

        location /ajo/im/ {
            campaign_api;
        }

        location = /_gw {
            internal;
            proxy_pass http://127.0.0.1:$gw_port;
        }
    }
EOF

# clients in their own processes: each exits 0 when its trigger was
# answered 202 with both messages accepted, 2 when it got no answer

sub clients {
    my ($prefix, $n, $recipients) = @_;
    my @pids;

    for my $i (1 .. $n) {
        my $pid = fork // die;

        if ($pid == 0) {
            my ($st, $body) = request($port, 'POST',
                                      '/ajo/im/executions/unitary',
                                      trigger("$prefix-$i",
                                              map { "u$_" } 1 .. $recipients),
                                      10);
            my $acc = () = $body =~ /"status":"accepted"/g;
            exit($st == 202 && $acc == $recipients ? 0 : $st ? 1 : 2);
        }

        push @pids, $pid;
    }

    return @pids;
}

sub outcomes {
    my %n;
    for my $pid (@_) {
        waitpid $pid, 0;
        $n{$? >> 8}++;
    }
    return \%n;
}

# 1. kill -9

my @workers = worker_pids();
is scalar(@workers), 2, 'two workers';

my @pids = clients('kill', 16, 2);
sleep 0.25;
kill 'KILL', $workers[0];

my $n = outcomes(@pids);
my $answered = $n->{0} || 0;

ok $answered >= 1, "the other worker's triggers are answered, every "
                   . "message accepted ($answered of 16)";
is $n->{1} || 0, 0, 'no trigger got another answer: 202 or none';

ok wait_for(sub {
    my @w = worker_pids();
    @w == 2 && !grep { $_ == $workers[0] } @w
}), 'the master starts a new worker';

my ($st) = request($port, 'POST', '/ajo/im/executions/unitary',
                   trigger('after-kill', 'u1'));
is $st, 202, 'a trigger after the kill is sent';

# 2. reloads under load

truncate "$PREFIX/logs/gateway.log", 0;

my @batches;
for my $r (1 .. 5) {
    push @batches, clients("reload$r", 6, 2);
    sleep 0.3;
    kill 'HUP', master_pid();
}

$n = outcomes(@batches);
is $n->{0} || 0, 30, 'every trigger sent during 5 reloads is answered 202, '
                     . 'every message accepted';

my %seen;
$seen{$_}++ for split /\n/, read_file('logs/gateway.log');
is scalar(keys %seen), 60, 'the gateway got the 60 messages';
is_deeply [grep { $seen{$_} != 1 } keys %seen], [], '... each exactly once';

ok stop_nginx(), 'nginx quits';

my @bad = grep { !/exited on signal 9/ }
          grep { /\[(alert|crit|emerg)\]|exited on signal|abandoned/ }
          split /\n/, read_file('logs/error.log');
is_deeply \@bad, [], 'nothing in the log beyond the worker killed';

done_testing();
