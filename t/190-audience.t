# Audience executions: "POST executions/audience" names a marketing
# campaign and an audience, a JSON Lines file in campaign_audiences; the
# answer is 202 at once and the worker fans the audience out in the
# background, in batches that go through the unitary path (consent,
# suppression lists, caps, gateway), at the campaign's throttle.
# "GET executions/audience/{id}" tells its progress from any worker.
# Waiting for a background execution needs polling, and any worker must
# answer for it, so this suite drives nginx (two workers) itself.

use strict;
use warnings;

use FindBin;
use Test::More;
use POSIX qw(strftime);
use Time::HiRes qw(sleep time);

require "$FindBin::Bin/150-helpers.pl";
require "$FindBin::Bin/audience-helpers.pl";

our ($BASE, $PREFIX, $CAMPAIGNS, $API_PORT);

my $port = $BASE + 41;
$API_PORT = $port;

# campaigns of this suite's own: a throttled one, a transactional one

$CAMPAIGNS = "$PREFIX/campaigns";
mkdir $CAMPAIGNS;
mkdir "$PREFIX/audiences";

my $content = '"content": {"from": "a@acme.example", "subject": "Hi",'
              . ' "text": "Hello {{profile.name}}"}';

write_file('campaigns/vip.json', <<"EOF");
{"id": "vip", "name": "VIP sale", "type": "marketing", "status": "live",
 "channel": "email", $content}
EOF

write_file('campaigns/paced.json', <<"EOF");
{"id": "paced", "name": "Paced sale", "type": "marketing", "status": "live",
 "channel": "email", "throttle": {"rate": 20, "burst": 20}, $content}
EOF

write_file('campaigns/slow.json', <<"EOF");
{"id": "slow", "name": "Slow sale", "type": "marketing", "status": "live",
 "channel": "email", "throttle": {"rate": 10, "burst": 10}, $content}
EOF

write_file('campaigns/reset.json', <<"EOF");
{"id": "reset", "name": "Password reset", "type": "transactional",
 "status": "live", "channel": "email", $content}
EOF

write_file('suppressed.txt', "gone\@example.com\n");

my $conf = <<"EOF";
    campaign_zone campaign 1m;
    campaign_audiences $PREFIX/audiences;
    campaign_suppression_list email $PREFIX/suppressed.txt;

    server {
        listen 127.0.0.1:$port reuseport;

        campaign_gateway email /_gw;

        location /ajo/im/ {
            campaign_api;
            add_header X-Worker \$pid always;
        }

        location = /_gw {
            internal;
            campaign_outbox logs/outbox.jsonl;
        }
    }
EOF

# 50 lines: 44 valid recipients (one without consent, one suppressed), 3
# that are not JSON, 2 with an invalid address, 1 repeated userId

my @lines;
push @lines, recipient("u$_") for 1 .. 42;
push @lines, recipient('nope', consent => 'n');
push @lines, recipient('gone', address => 'gone@example.com');
push @lines, '{"userId": "broken", ', 'not json at all', '[1, 2';
push @lines, recipient('bad1', address => 'not-an-address'),
             recipient('bad2', address => '@@');
push @lines, recipient('u7');
audience('vips', @lines);

ok start_nginx($conf, $port), 'nginx starts with campaign_audiences';

# 1. the whole audience, each valid recipient once

my $res = start('vip', 'vips', ',"requestId":"req-1"');
is $res->{status}, 202, 'an audience execution: 202';
like $res->{content},
     qr/\A\{"executionId":"[0-9a-f-]{36}","requestId":"req-1","campaignId":"vip","createdAt":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"\}\n?\z/,
     '... with its executionId, requestId, campaignId and createdAt';

my $id = execution_id($res);
my $first = $id;

$res = wait_status($id, 'Succeeded');
is $res->{status}, 200, 'its status: 200';
like $res->{content}, qr/"status":"Succeeded"/, 'it succeeds';
like $res->{content}, qr/"campaignId":"vip","audienceId":"vips"/,
     '... names its campaign and audience';
like $res->{content}, qr/"targetedProfileCount":44\b/, '44 recipients targeted';
like $res->{content},
     qr/"counters":\{"sent":42,"failed":0,"skipped":\{"no_consent":1,"suppressed":1,"capped":0,"invalid":2,"no_profile":0,"duplicate":1,"stopped":0,"timed_out":0,"invalid_address":0\},"malformedLines":3\},"rate":\d+\.\d\}/,
     'sent, skipped by reason, malformed lines, rate';

my @sent = outbox($id);
is scalar(@sent), 42, '42 messages in the outbox';

my (%users, %keys);
for (@sent) {
    $users{$1}++ if /"userId":"([^"]+)"/;
    $keys{$1}++ if /"messageId":"([^"]+)"/;
}

is_deeply [sort keys %users], [sort map { "u$_" } 1 .. 42],
          'each valid, consenting, unsuppressed recipient';
ok !(grep { $_ != 1 } values %users), '... exactly once';
is scalar(keys %keys), 42, 'every message has its own Idempotency-Key';
ok !(grep { !/\A$id-\d+\z/ } keys %keys), '... the executionId and a position';
like join('', @sent), qr/"requestId":"req-1"/, 'the messages carry the requestId';

like read_file('logs/error.log'),
     qr/\[info\] .*audience execution $id, "[^"]+vips.jsonl" line 45 skipped \(json\)/,
     'a malformed line is logged with its line number';

# every worker answers for it

my %workers;
for (1 .. 30) {
    $res = status($id);
    $workers{$res->{headers}{'x-worker'}} = $res->{content};
    last if keys %workers == 2;
}
is scalar(keys %workers), 2, 'both workers were asked';
ok !(grep { !/"status":"Succeeded".*"sent":42/ } values %workers),
   '... and both know the outcome';

# 2. the throttle paces it: 60 recipients at 20/s take 2 s

audience('sixty', map { recipient("p$_") } 1 .. 60);

my $t0 = time;
$res = start('paced', 'sixty');
is $res->{status}, 202, 'a throttled audience: 202 at once';
ok time - $t0 < 1, '... without waiting for the throttle';
$id = execution_id($res);

sleep 0.5;
$res = status($id);
like $res->{content}, qr/"status":"InProgress"/, 'InProgress while it waits';
like $res->{content}, qr/"endedAt":null/, '... with no end yet';

$res = wait_status($id, 'Succeeded');
my $took = time - $t0;
like $res->{content}, qr/"sent":60,/, 'all 60 sent';
cmp_ok $took, '>=', 1.8, "paced by the throttle (took ${\sprintf '%.1f', $took} s)";
cmp_ok $took, '<', 8, '... not much slower';
is scalar(outbox($id)), 60, '60 messages in the outbox';

# 3. stopping the campaign stops the execution

audience('hundred', map { recipient("s$_") } 1 .. 100);

$res = start('slow', 'hundred');
is $res->{status}, 202, 'a slow audience: 202';
$id = execution_id($res);

sleep 1.2;
$res = call('POST', 'campaigns/slow/stop');
is $res->{status}, 200, 'the campaign is stopped';

$res = wait_status($id, 'Stopped');
like $res->{content}, qr/"status":"Stopped"/, 'the execution says Stopped';
my ($sent) = $res->{content} =~ /"sent":(\d+)/;
ok $sent > 0 && $sent < 100, "some were sent, not all ($sent)";
like $res->{content}, qr/"endedAt":"\d{4}-/, '... and it ended';

sleep 1;
is scalar(outbox($id)), $sent, 'nothing more is sent after it stopped';

$res = start('slow', 'hundred');
is $res->{status}, 409, 'a stopped campaign takes no audience execution';
call('POST', 'campaigns/slow/resume');

# 4. a reload: the old worker starts no other batch, and says Failed
# (no journal yet: the rest of the audience is not sent)

$res = start('slow', 'hundred');
is $res->{status}, 202, 'after a resume, another slow audience: 202';
$id = execution_id($res);

sleep 1.2;
my @old = worker_pids();
kill 'HUP', master_pid();

ok wait_for(sub { my %o = map { $_ => 1 } @old;
                  my @new = worker_pids();
                  @new == 2 && !grep { $o{$_} } @new }, 150),
   'reloaded: two new workers';

$res = wait_status($id, 'Failed', 50);
like $res->{content}, qr/"status":"Failed"/,
     'the new workers tell the execution failed';
($sent) = $res->{content} =~ /"sent":(\d+)/;
ok $sent > 0 && $sent < 100, "some were sent, not all ($sent)";
is scalar(outbox($id)), $sent, '... as many as the outbox has';
like read_file('logs/error.log'),
     qr/\[warn\] .*worker exits, audience execution $id (?:starts no other batch|unfinished)/,
     'the old worker says so';

# 4b. who consent or the suppression lists hold back takes no throttle
# token: 60 of them and 20 others at 20/s (burst 20) take no 3 s (with
# tokens for them, 60 more at 20/s: 3 s)

audience('mostly-no', (map { recipient("n$_", consent => 'n') } 1 .. 60),
         map { recipient("y$_") } 1 .. 20);

sleep 1.1;                              # the bucket of "paced" is full
$t0 = time;
$res = start('paced', 'mostly-no');
$id = execution_id($res);
$res = wait_status($id, 'Succeeded');
$took = time - $t0;
like $res->{content}, qr/"sent":20,.*"no_consent":60,/,
     '20 sent, 60 held back by their consent';
cmp_ok $took, '<', 2.5,
       "... without waiting for tokens for them (took ${\sprintf '%.1f', $took} s)";

# 5. refusals

$res = start('vip', 'nobody');
is $res->{status}, 404, 'an unknown audience: 404';
like $res->{content}, qr/"pointer":"\/audience\/id"/, '... pointing at /audience/id';

for my $bad ('../campaigns/vip', '.hidden', 'a/b', 'x' x 65, '', 'a..b') {
    $res = start('vip', $bad);
    is $res->{status}, 400, "the audience id \"$bad\": 400";
    like $res->{content}, qr/"pointer":"\/audience\/id"/, '... at /audience/id';
}

$res = start('reset', 'vips');
is $res->{status}, 409, 'a transactional campaign: 409';
like $res->{content}, qr/only marketing campaigns take audience executions/,
     '... only marketing campaigns take audiences';

$res = start('nosuch', 'vips');
is $res->{status}, 404, 'an unknown campaign: 404';

$res = start('vip', 'vips', ',"schedule":{"executeAt":"' . strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(time + 3600)) . '"}');
is $res->{status}, 501, 'a schedule without campaign_journal: 501';
like $res->{content}, qr/schedules need campaign_journal/, '... says so';

$res = call('POST', 'executions/audience', '{"campaignId":"vip"}');
is $res->{status}, 400, 'no audience: 400';

$res = status('00000000-0000-4000-8000-000000000000');
is $res->{status}, 404, 'an unknown execution: 404';
$res = status('nope');
is $res->{status}, 404, 'not an execution id: 404';

$res = call('GET', 'executions/audience');
is $res->{status}, 405, 'GET executions/audience: 405';

# 7. what an audience line says reaches the log escaped: a member name
# with a line feed forges no log line

audience('evil', '{"a\\nFAKE LOG LINE":1,"a\\nFAKE LOG LINE":2}',
         recipient('fine'));
$res = start('vip', 'evil');
$id = execution_id($res);
$res = wait_status($id, 'Succeeded');
like $res->{content}, qr/"malformedLines":1\}/, 'the line is skipped';
my $log = read_file('logs/error.log');
unlike $log, qr/^FAKE LOG LINE/m, 'no forged line in the log';
like $log, qr/skipped \(json\): .*\\x0AFAKE LOG LINE/,
     'the skip is logged, its line feed escaped';

# 6. a repeated call is answered as the first was, and starts nothing

my $lines = () = read_file('logs/outbox.jsonl') =~ /\n/g;

$res = start('vip', 'vips', ',"requestId":"req-1"');
is $res->{status}, 202, 'the first call again: 202';
is $res->{headers}{'idempotent-replayed'}, 'true', '... a replay';
is execution_id($res), $first, '... of the first execution';

$res = call('POST', 'executions/audience',
            '{"requestId":"req-1","campaignId":"vip","audience":{"id":"vips"}}');
is $res->{status}, 422, 'the same requestId with another body: 422';
like $res->{content}, qr/"pointer":"\/requestId"/, '... at /requestId';

$res = call('POST', 'executions/audience',
            '{"campaignId":"vip","audience":{"id":"vips"}}');
my $again = execution_id($res);
ok $res->{status} == 202 && $again ne $first
   && !$res->{headers}{'idempotent-replayed'},
   'without a requestId a call runs each time';
wait_status($again, 'Succeeded');

is scalar(outbox($first)), 42, 'the replay sent nothing more';
is scalar(() = read_file('logs/outbox.jsonl') =~ /\n/g), $lines + 42,
   'only the call without a requestId sent';

unlike read_file('logs/error.log'), qr/\[(alert|crit|emerg)\]|\[error\]/,
       'no error in the log';

print STDERR read_file("logs/error.log") if $ENV{SHOWLOG};
ok stop_nginx(), "nginx quits";

done_testing;
