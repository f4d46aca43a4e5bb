# The limits of audience executions: campaign_audience_max_duration (the
# time an execution has from its startedAt; out of time, the recipients
# not reached are counted as skipped "timed_out" and it ends Stopped), the
# status's "rate", and campaign_audience_max_running (a call beyond it is
# 429 and starts nothing).  Background executions need polling, so this
# suite drives nginx (two workers) itself.

use strict;
use warnings;

use FindBin;
use Test::More;
use Time::HiRes qw(sleep time);
use Time::Local qw(timegm);

require "$FindBin::Bin/150-helpers.pl";
require "$FindBin::Bin/audience-helpers.pl";

our ($BASE, $PREFIX, $CAMPAIGNS, $API_PORT);

my $port = $BASE + 46;
$API_PORT = $port;

$CAMPAIGNS = "$PREFIX/campaigns";
mkdir $CAMPAIGNS;
mkdir "$PREFIX/audiences";
mkdir "$PREFIX/journal";
chmod 0777, "$PREFIX/journal";

my $content = '"content": {"from": "a@acme.example", "subject": "Hi",'
              . ' "text": "Hello {{profile.name}}"}';

write_file('campaigns/vip.json', <<"EOF");
{"id": "vip", "name": "VIP sale", "type": "marketing", "status": "live",
 "channel": "email", $content}
EOF

write_file('campaigns/slow.json', <<"EOF");
{"id": "slow", "name": "Slow sale", "type": "marketing", "status": "live",
 "channel": "email", "throttle": {"rate": 10, "burst": 10}, $content}
EOF

my $conf = <<"EOF";
    campaign_zone campaign 1m;
    campaign_audiences $PREFIX/audiences;
    campaign_audience_max_duration 2s;

    server {
        listen 127.0.0.1:$port reuseport;

        campaign_gateway email /_gw;

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
    }
EOF

sub count {
    my ($res, $name) = @_;
    return $res->{content} =~ /"$name":(\d+)/ ? $1 : -1;
}

# "2026-11-30T11:03:46.123Z" in seconds

sub seconds {
    my ($res, $name) = @_;
    $res->{content} =~ /"$name":"(\d+)-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z"/
        or return -1;
    return timegm($6, $5, $4, $3, $2 - 1, $1) + $7 / 1000;
}

# 100 recipients at 10 a second: 10 s; then two lines that are not JSON

audience('hundred', (map { recipient("u$_") } 1 .. 100),
         'not json', '[1, 2');
audience('five', map { recipient("f$_") } 1 .. 5);

ok start_nginx($conf, $port), 'nginx starts, campaign_audience_max_duration 2s';

# 1. out of time: no other batch, the rest counted as timed_out, Stopped

my $t0 = time;
my $res = start('slow', 'hundred');
is $res->{status}, 202, 'a throttled audience execution of 10 s: 202';
my $id = execution_id($res);

sleep 0.7;
$res = status($id);
like $res->{content}, qr/"status":"InProgress"/, 'it is in progress';
like $res->{content}, qr/"rate":\d+\.\d\}\n?\z/, '... with a rate';

my $m = call('GET', '/metrics')->{content};
like $m, qr/^ngx_campaign_audience_executions_running\{campaign="slow"\} 1$/m,
     'metrics: one execution of "slow" running';
like $m, qr/^ngx_campaign_audience_executions_started_total\{campaign="slow"\} 1$/m,
     '... one started';

$res = wait_status($id, 'Stopped', 80);
my $waited = time - $t0;
like $res->{content}, qr/"status":"Stopped"/,
     'it is Stopped when its time is out';
ok $waited >= 1.8 && $waited < 5, "... after about 2 s ($waited s)";

my $sent = count($res, 'sent');
my $timed_out = count($res, 'timed_out');
ok $sent >= 10 && $sent <= 50, "some were sent ($sent)";
is $sent + $timed_out, 100, "the others are skipped as timed_out ($timed_out)";
is count($res, 'targetedProfileCount'), 100,
   'the rest of the audience was read: 100 recipients targeted';
is count($res, 'malformedLines'), 2,
   '... and its last, malformed lines counted';
is count($res, 'failed'), 0, 'none failed';

my $duration = seconds($res, 'endedAt') - seconds($res, 'startedAt');
ok $duration >= 2 && $duration < 3.5,
   "endedAt is 2 s after startedAt, and what was out settled ($duration s)";

is scalar(outbox($id)), $sent, 'the outbox has the messages sent, no other';

# 2. the rate: the messages sent a second from startedAt to endedAt

my ($rate) = $res->{content} =~ /"rate":(\d+\.\d)\}/;
ok defined $rate, 'the status of an ended execution has a rate';
ok defined $rate && abs($rate - $sent / $duration) <= 0.15,
   "... the messages sent a second (" . ($rate // '-') . ")";

like read_file('logs/error.log'),
     qr/\[info\] .*audience execution $id of "slow" ran for its campaign_audience_max_duration of 2000 ms/,
     'the timeout is logged at info';

# one that ends in time: Succeeded, nobody timed out

$res = start('vip', 'five');
$id = execution_id($res);
$res = wait_status($id, 'Succeeded');
like $res->{content}, qr/"status":"Succeeded"/, 'a short audience succeeds';
like $res->{content},
     qr/"stopped":0,"timed_out":0,"invalid_address":0\},"malformedLines":0\},"rate":\d+\.\d\}/,
     '... with timed_out 0, and a rate';

# 3. metrics of audience executions, per campaign, for every worker

sub metric {
    my ($text, $name, $labels) = @_;
    return $text =~ /^ngx_campaign_audience_$name\{$labels\} (\d+)$/m ? $1 : -1;
}

$m = call('GET', '/metrics')->{content};

is metric($m, 'executions_started_total', 'campaign="slow"'), 1,
   'metrics: "slow" started one execution';
is metric($m, 'executions_ended_total', 'campaign="slow",status="stopped"'), 1,
   '... which ended stopped';
is metric($m, 'executions_ended_total', 'campaign="slow",status="succeeded"'),
   0, '... not succeeded';
is metric($m, 'executions_running', 'campaign="slow"'), 0,
   '... and none is running';
is metric($m, 'recipients_total', 'campaign="slow",outcome="sent"'), $sent,
   "its recipients sent ($sent)";
is metric($m, 'recipients_total', 'campaign="slow",outcome="timed_out"'),
   $timed_out, "... timed out ($timed_out)";
is metric($m, 'recipients_total', 'campaign="slow",outcome="malformed"'), 2,
   '... and its malformed lines';
is metric($m, 'executions_ended_total', 'campaign="vip",status="succeeded"'),
   1, '"vip": one succeeded';
is metric($m, 'recipients_total', 'campaign="vip",outcome="sent"'), 5,
   '... 5 sent';
is metric($m, 'recipients_total', 'campaign="vip",outcome="no_consent"'), 0,
   '... and the other outcomes are there, at 0';

SKIP: {
    my $promtool = '/usr/bin/promtool';

    skip "promtool is not installed (Debian package prometheus)", 1
        unless -x $promtool;

    write_file('logs/metrics.txt', $m);
    my $out = `$promtool check metrics < $PREFIX/logs/metrics.txt 2>&1`;
    is $?, 0, 'promtool check metrics passes' or diag $out;
}

ok stop_nginx(), 'nginx quits';

# 4. campaign_audience_max_running 1, with a journal: a second execution
# is refused, even while the first is handed over by a reload; the first
# goes on in a new worker, and keeps its startedAt

(my $conf2 = $conf) =~ s{campaign_audience_max_duration 2s;}{
    campaign_audience_max_duration 3s;
    campaign_audience_max_running 1;
    campaign_journal $PREFIX/journal;};

unlink "$PREFIX/logs/outbox.jsonl";

ok start_nginx($conf2, $port),
   'nginx starts, campaign_audience_max_running 1, campaign_journal';

$t0 = time;
$res = start('slow', 'hundred', undef, { 'Idempotency-Key' => 'first' });
is $res->{status}, 202, 'an execution of 10 s starts';
$id = execution_id($res);

$res = start('vip', 'five', undef, { 'Idempotency-Key' => 'second' });
is $res->{status}, 429, 'a second one is refused: 429';
is $res->{headers}{'retry-after'}, 60, '... with Retry-After';
like $res->{headers}{'content-type'}, qr{^application/problem\+json},
     '... as problem+json';
like $res->{content}, qr/too many audience executions are running/,
     '... which says why';
unlike $res->{content}, qr/executionId/, '... and starts nothing';

$m = call('GET', '/metrics')->{content};
is metric($m, 'executions_started_total', 'campaign="vip"'), 0,
   'metrics: "vip" started none';

sleep 1;

my @old = worker_pids();
kill 'HUP', master_pid();

ok wait_for(sub { my %o = map { $_ => 1 } @old;
                  my @new = worker_pids();
                  @new == 2 && !grep { $o{$_} } @new }, 150),
   'reloaded: two new workers';

$res = start('vip', 'five', undef, { 'Idempotency-Key' => 'second' });
is $res->{status}, 429, 'after the reload, the one handed over still counts';

$res = wait_status($id, 'Stopped', 80);
like $res->{content}, qr/"status":"Stopped"/,
     'the first goes on in a new worker, and is Stopped in time';
$duration = seconds($res, 'endedAt') - seconds($res, 'startedAt');
ok $duration >= 3 && $duration < 4.5,
   "... 3 s after its startedAt, the reload's time included ($duration s)";
$sent = count($res, 'sent');
is $sent + count($res, 'timed_out'), 100, "sent ($sent) and timed_out: 100";

my @messages = outbox($id);
my %keys;
for (@messages) {
    $keys{$1}++ if /"messageId":"([^"]+)"/;
}
is scalar(@messages), $sent, '... the outbox has the messages sent';
is scalar(keys %keys), $sent, '... each once';

$m = call('GET', '/metrics')->{content};
is metric($m, 'executions_started_total', 'campaign="slow"'), 1,
   'metrics: started once, for all the reload';
is metric($m, 'executions_ended_total', 'campaign="slow",status="stopped"'), 1,
   '... ended once';
is metric($m, 'executions_running', 'campaign="slow"'), 0, '... not running';
is metric($m, 'recipients_total', 'campaign="slow",outcome="sent"'), $sent,
   '... its messages sent counted once';

$res = start('vip', 'five', undef, { 'Idempotency-Key' => 'second' });
is $res->{status}, 202,
   'now there is room: the refused call with the same key starts';
$res = wait_status(execution_id($res), 'Succeeded');
like $res->{content}, qr/"sent":5,/, '... and sends its audience';

like read_file('logs/error.log'),
     qr/\[info\] .*an audience execution of "vip" is refused: 1 are running/,
     'a refusal is logged at info';
like read_file('logs/error.log'),
     qr/audience execution $id of "slow" goes on from the journal/,
     'the first was resumed from the journal, not refused';

# 5. a reload that removes the campaign of a running execution: its
# journal cannot go on, it is Failed, and it gives its place back

write_file('campaigns/gone.json', <<"EOF");
{"id": "gone", "name": "Gone sale", "type": "marketing", "status": "live",
 "channel": "email", "throttle": {"rate": 10, "burst": 10}, $content}
EOF

@old = worker_pids();
kill 'HUP', master_pid();

ok wait_for(sub { my %o = map { $_ => 1 } @old;
                  my @new = worker_pids();
                  @new == 2 && !grep { $o{$_} } @new }, 150),
   'reloaded with the campaign "gone"';

$res = start('gone', 'hundred');
is $res->{status}, 202, 'an execution of a campaign about to go';
$id = execution_id($res);

$res = start('vip', 'five', undef, { 'Idempotency-Key' => 'third' });
is $res->{status}, 429, '... takes the only place';

unlink "$CAMPAIGNS/gone.json";
@old = worker_pids();
kill 'HUP', master_pid();

ok wait_for(sub { my %o = map { $_ => 1 } @old;
                  my @new = worker_pids();
                  @new == 2 && !grep { $o{$_} } @new }, 150),
   'reloaded without its campaign';

$res = wait_status($id, 'Failed', 80);
like $res->{content}, qr/"status":"Failed"/,
     'its journal cannot go on: Failed' or diag $res->{content};

ok wait_for(sub {
        $res = start('vip', 'five', undef, { 'Idempotency-Key' => 'third' });
        $res->{status} == 202 }, 50),
   '... and its place is given back: another one starts';

ok stop_nginx(), 'nginx quits';

done_testing;
