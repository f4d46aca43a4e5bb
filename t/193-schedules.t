# Scheduled audience executions: "POST executions/audience" with
# schedule.executeAt in the future keeps the call in campaign_journal and
# an execution starts at that time, once, in one worker.
#
# 1. a schedule: 202 with its scheduleId and status; GET tells it; it
#    fires at its time, GET then gives its executionId; every recipient
#    is sent once; DELETE after it fired: 409.
# 2. DELETE before it fires: 200 {}, Cancelled, it never fires; again: 409.
# 3. GET executions/schedules?campaignId= lists them, by time.
# 4. a repeated call (same requestId) is answered with the same schedule.
# 5. refusals: executeAt not a time, in the past, too far; not an object.
# 6. it survives a restart: one whose time passed while nginx was down
#    fires at start; one older than campaign_schedule_grace is Missed.

use strict;
use warnings;

use FindBin;
use POSIX qw(strftime);
use Test::More;
use Time::HiRes qw(sleep time);

require "$FindBin::Bin/150-helpers.pl";
require "$FindBin::Bin/audience-helpers.pl";

our ($BASE, $PREFIX, $CAMPAIGNS, $API_PORT);

my $port = $BASE + 55;
$API_PORT = $port;

$CAMPAIGNS = "$PREFIX/campaigns";
mkdir $CAMPAIGNS;
mkdir "$PREFIX/audiences";
mkdir "$PREFIX/journal";
chmod 0777, "$PREFIX/journal";

my $content = '"content": {"from": "a@acme.example", "subject": "Hi",'
              . ' "text": "Hello {{profile.name}} {{context.season}}"}';

write_file('campaigns/vip.json', <<"EOF");
{"id": "vip", "name": "VIP sale", "type": "marketing", "status": "live",
 "channel": "email", $content}
EOF

write_file('campaigns/other.json', <<"EOF");
{"id": "other", "name": "Other sale", "type": "marketing", "status": "live",
 "channel": "email", $content}
EOF

sub conf {
    my ($extra) = @_;
    $extra //= '';
    return <<"EOF";
    campaign_zone campaign 1m;
    campaign_audiences $PREFIX/audiences;
    campaign_journal $PREFIX/journal;
    $extra

    server {
        listen 127.0.0.1:$port reuseport;

        campaign_gateway email /_gw;

        location /ajo/im/ {
            campaign_api;
        }

        location = /_gw {
            internal;
            campaign_outbox logs/outbox.jsonl;
        }
    }
EOF
}

write_file('audiences/ten.jsonl', join '', map { recipient("t$_") . "\n" } 1 .. 10);

sub at {
    my ($seconds) = @_;
    return strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(int(time + $seconds)));
}

sub schedule {
    my ($campaign, $when, $extra) = @_;
    $extra //= '';
    return call('POST', 'executions/audience',
                qq/{"campaignId":"$campaign","audience":{"id":"ten"},/
                . qq/"context":{"season":"spring"},/
                . qq/"schedule":{"executeAt":"$when"}$extra}/);
}

sub schedule_id {
    my ($res) = @_;
    return $res->{content} =~ /"scheduleId":"([0-9a-f-]{36})"/ ? $1 : '';
}

sub wait_schedule {
    my ($id, $want, $tries) = @_;
    my $res;
    wait_for(sub { $res = call('GET', "executions/schedules/$id");
                   $res->{content} =~ /"scheduleStatus":"$want"/ },
             $tries || 100);
    return $res;
}

sub sent {
    my ($eid) = @_;
    my %users;
    for (split /\n/, read_file('logs/outbox.jsonl')) {
        next unless /"executionId":"$eid"/;
        $users{$1}++ if /"userId":"([^"]+)"/;
    }
    return \%users;
}

ok start_nginx(conf(), $port), 'nginx starts with campaign_journal';

# 1. a schedule that fires

my $when = at(3);
my $res = schedule('vip', $when, ',"requestId":"sched-1"');
is $res->{status}, 202, 'a scheduled audience execution: 202';
like $res->{content},
     qr/\A\{"scheduleId":"[0-9a-f-]{36}","campaignId":"vip","audience":\{"id":"ten"\},"executeAt":"\Q${\ substr($when, 0, 19)}\E\.000Z","scheduleStatus":"Scheduled"/,
     '... with its scheduleId, campaign, audience, time and status';
my $fires = schedule_id($res);

$res = call('GET', "executions/schedules/$fires");
is $res->{status}, 200, 'GET the schedule: 200';
like $res->{content}, qr/"scheduleStatus":"Scheduled"/, '... Scheduled';
unlike $res->{content}, qr/"executionId"/, '... with no execution yet';

# 4. the same call again: the same schedule

$res = schedule('vip', $when, ',"requestId":"sched-1"');
is $res->{status}, 202, 'the same call again: 202';
is $res->{headers}{'idempotent-replayed'}, 'true', '... a replay';
is schedule_id($res), $fires, '... of the same schedule';

# 2. cancelled before it fires

$res = schedule('vip', at(60));
my $cancelled = schedule_id($res);
ok $cancelled, 'another schedule, a minute ahead';

$res = schedule('other', at(120));
my $other = schedule_id($res);
ok $other, 'a schedule of another campaign';

$res = call('DELETE', "executions/schedules/$cancelled");
is $res->{status}, 200, 'DELETE before it fires: 200';
like $res->{content}, qr/\A\{\}\n?\z/, '... {}';

$res = call('GET', "executions/schedules/$cancelled");
like $res->{content}, qr/"scheduleStatus":"Cancelled"/, 'it is Cancelled';

$res = call('DELETE', "executions/schedules/$cancelled");
is $res->{status}, 409, 'DELETE again: 409';

# 3. the list

$res = call('GET', 'executions/schedules?campaignId=vip');
is $res->{status}, 200, 'the schedules of vip: 200';
my @ids = $res->{content} =~ /"scheduleId":"([0-9a-f-]{36})"/g;
is_deeply \@ids, [$fires, $cancelled], '... both of them, by time';

$res = call('GET', 'executions/schedules');
@ids = $res->{content} =~ /"scheduleId":"([0-9a-f-]{36})"/g;
is_deeply \@ids, [$fires, $cancelled, $other], 'all the schedules, by time';

$res = call('GET', 'executions/schedules?campaignId=nosuch');
like $res->{content}, qr/\A\{"schedules":\[\]\}\n?\z/, 'a campaign with none: an empty list';

$res = call('GET', 'executions/schedules?campaignId=a%22b');
is $res->{status}, 400, 'a campaignId that is not one: 400';

# 1. (cont.) it fires

$res = wait_schedule($fires, 'Triggered');
like $res->{content}, qr/"scheduleStatus":"Triggered","executionId":"[0-9a-f-]{36}"/,
     'at its time it is Triggered, with its executionId';
my ($eid) = $res->{content} =~ /"executionId":"([0-9a-f-]{36})"/;

ok wait_for(sub { call('GET', "executions/audience/$eid")->{content}
                  =~ /"status":"Succeeded"/ }, 100),
   'its execution succeeds';

my $users = sent($eid);
is scalar(keys %$users), 10, 'every recipient is sent';
ok !(grep { $_ != 1 } values %$users), '... once';
like read_file('logs/outbox.jsonl'), qr/Hello t1 spring/,
     'the call\'s context reached the messages';
like read_file('logs/outbox.jsonl'), qr/"executionId":"$eid","campaignId":"vip","requestId":"sched-1"/,
     '... and its requestId';

my @all = read_file('logs/outbox.jsonl') =~ /"executionId":"([0-9a-f-]{36})"/g;
my %executions = map { $_ => 1 } @all;
is scalar(keys %executions), 1, 'it fired once, in one worker';

$res = call('DELETE', "executions/schedules/$fires");
is $res->{status}, 409, 'DELETE after it fired: 409';

# 5. refusals

for my $bad ('tomorrow', '2026-13-01T00:00:00Z', '2026-02-30T00:00:00Z',
             '2026-12-01 09:00:00', '2026-12-01T09:00:00', '') {
    $res = schedule('vip', $bad);
    is $res->{status}, 400, "executeAt \"$bad\": 400";
    like $res->{content}, qr/"pointer":"\/schedule\/executeAt"/,
         '... at /schedule/executeAt';
}

$res = schedule('vip', '2020-01-01T00:00:00Z');
is $res->{status}, 400, 'executeAt in the past: 400';
like $res->{content}, qr/must be in the future/, '... must be in the future';

$res = schedule('vip', at(400 * 86400));
is $res->{status}, 400, 'executeAt more than a year ahead: 400';

$res = call('POST', 'executions/audience',
            '{"campaignId":"vip","audience":{"id":"ten"},"schedule":"soon"}');
is $res->{status}, 400, 'a schedule that is not an object: 400';

$res = schedule('vip', at(5) =~ s/Z$/+00:00/r);
is $res->{status}, 202, 'a time with an offset: 202';
call('DELETE', 'executions/schedules/' . schedule_id($res));

$res = call('GET', 'executions/schedules/00000000-0000-4000-8000-000000000000');
is $res->{status}, 404, 'an unknown schedule: 404';
$res = call('GET', 'executions/schedules/..%2F..%2Fetc');
is $res->{status}, 404, 'not a schedule id: 404';
$res = call('POST', 'executions/schedules');
is $res->{status}, 405, 'POST executions/schedules: 405';

# 6. a restart: the time of one passes while nginx is down, it fires at
# start

$res = schedule('vip', at(2));
my $late = schedule_id($res);
ok stop_nginx(), 'nginx stops before it fires';
sleep 3;
ok start_nginx(conf(), $port), 'nginx starts after its time';

$res = wait_schedule($late, 'Triggered');
like $res->{content}, qr/"scheduleStatus":"Triggered"/,
     'it fires when nginx starts';

$res = call('GET', "executions/schedules/$other");
like $res->{content}, qr/"scheduleStatus":"Scheduled"/,
     'a schedule ahead is still Scheduled after the restart';
$res = call('GET', "executions/schedules/$cancelled");
like $res->{content}, qr/"scheduleStatus":"Cancelled"/,
     '... a cancelled one still Cancelled';

# one older than campaign_schedule_grace is missed

$res = schedule('vip', at(2));
my $missed = schedule_id($res);
ok stop_nginx(), 'nginx stops before it fires';
sleep 4;
ok start_nginx(conf('campaign_schedule_grace 1s;'), $port),
   'nginx starts with campaign_schedule_grace 1s';

$res = wait_schedule($missed, 'Missed');
like $res->{content}, qr/"scheduleStatus":"Missed"/, 'it is Missed';
like read_file('logs/error.log'),
     qr/\[warn\] .*schedule $missed of "vip" is missed/, '... and says so';

unlike read_file('logs/error.log'), qr/\[(alert|crit|emerg)\]/,
       'no alert, crit or emerg in the log';

print STDERR read_file("logs/error.log") if $ENV{SHOWLOG};
ok stop_nginx(), "nginx quits";

done_testing;
