# Metrics across worker processes and reloads: the counters live in
# campaign_zone, so every worker adds to the same ones and any worker
# answers a scrape with all of them; a reload keeps them.  The text passes
# `promtool check metrics` (Debian's package prometheus ships promtool).
# This needs a master process, two workers and a signal, so it drives
# nginx itself.

use strict;
use warnings;

use FindBin;
use Test::More;
use Time::HiRes qw(sleep);

require "$FindBin::Bin/150-helpers.pl";

our ($BASE, $PREFIX);

my $port = $BASE + 88;
my $promtool = '/usr/bin/promtool';

# "reuseport": the kernel spreads the connections over both workers.  The
# zone's name holds a quote and a backslash, which a label value escapes.

ok start_nginx(<<"EOF", $port), 'nginx starts';
    campaign_zone "cz\\"q\\\\w" 1m;

    log_format metrics '\$pid \$uri \$campaign_outcome';

    server {
        listen 127.0.0.1:$port reuseport;

        campaign_gateway sms /_gw;
        campaign_gateway email /_fail;
        campaign_gateway_retries 0;

        access_log logs/access.log metrics;

        location /ajo/im/ {
            campaign_api;
        }

        location = /metrics {
            campaign_metrics;
        }

        location = /_gw {
            internal;
            campaign_outbox logs/outbox.jsonl;
        }

        location = /_fail {
            internal;
            return 503;
        }
    }
EOF

sub email {
    my ($rid) = @_;
    return qq/{"requestId":"$rid","campaignId":"welcome-email",/
           . qq/"recipients":[{"type":"aep","userId":"a\@example.com",/
           . qq/"namespace":"email",/
           . qq/"channelData":{"emailAddress":"a\@example.com"},/
           . qq/"profile":{"person":{"name":{"firstName":"A"}}},/
           . qq/"context":{"resetLink":"https:\/\/x.example\/r"}}]}/;
}

sub value {
    my ($text, $metric) = @_;
    return $text =~ /^\Q$metric\E (\S+)$/m ? $1 : undef;
}

sub pids_of {
    my ($re) = @_;
    my %pids;
    for (split /\n/, read_file('logs/access.log')) {
        my ($pid, $uri) = split / /;
        $pids{$pid}++ if $uri =~ $re;
    }
    return scalar keys %pids;
}

my $triggers = 'ngx_campaign_triggers_total{campaign="order-sms",channel="sms"}';
my $accepted = 'ngx_campaign_messages_total{campaign="order-sms",'
               . 'channel="sms",outcome="accepted"}';

# 1. 20 triggers of 2 recipients at once, over 20 connections

my @kids;

for my $i (1 .. 20) {
    my $pid = fork // die;

    if ($pid == 0) {
        request($port, 'POST', '/ajo/im/executions/unitary',
                trigger("w$i", 'u1', 'u2'));
        POSIX::_exit(0);
    }

    push @kids, $pid;
}

waitpid $_, 0 for @kids;

my ($st) = request($port, 'POST', '/ajo/im/executions/unitary', email('e1'));
is $st, 502, 'a trigger whose gateway fails is 502';

is pids_of(qr{^/ajo/im/}), 2, 'both workers ran triggers';

# 2. whichever worker answers a scrape, it sees every worker's counts

my (%seen, $text);

for (1 .. 20) {
    ($st, $text) = request($port, 'GET', '/metrics');
    $seen{ (value($text, $triggers) // '?') . ' '
           . (value($text, $accepted) // '?') }++;
}

is_deeply \%seen, { '20 40' => 20 },
          'every scrape counts 20 triggers and 40 accepted messages';
is pids_of(qr{^/metrics$}), 2, 'both workers answered scrapes';

is value($text, 'ngx_campaign_messages_total{campaign="welcome-email",'
                . 'channel="email",outcome="failed"}'), 1,
   'the failed e-mail is counted under its own campaign and channel';
is value($text, 'ngx_campaign_gateway_latency_seconds_count'
                . '{campaign="order-sms",channel="sms"}'), 40,
   'one gateway latency per attempt';
is value($text, 'ngx_campaign_zone_size_bytes{zone="cz\"q\\\\w"}'), 1048576,
   'the zone name is escaped in its label';

# 3. the text format passes promtool

SKIP: {
    skip "promtool is not installed (Debian package prometheus)", 2
        unless -x $promtool;

    write_file('logs/metrics.txt', $text);

    my $out = `$promtool check metrics < $PREFIX/logs/metrics.txt 2>&1`;
    is $?, 0, 'promtool check metrics passes';
    is $out, '', '... without a lint problem';
}

# 4. a reload keeps the counters, and the new workers add to them

kill 'HUP', master_pid();
ok wait_for(sub { read_file('logs/error.log') =~ /gracefully shutting down/ }),
   'reloaded';
sleep 0.5;

($st) = request($port, 'POST', '/ajo/im/executions/unitary',
                trigger('after', 'u1'));
is $st, 202, 'a trigger after the reload';

($st, $text) = request($port, 'GET', '/metrics');
is value($text, $triggers), 21, 'the counters survived the reload';
is value($text, $accepted), 41, '... and count on';

ok stop_nginx(), 'nginx quits';

unlike read_file('logs/error.log'), qr/\[(alert|crit|emerg)\]|exited on signal/,
       'no alert, crit, emerg or crash';

done_testing();
