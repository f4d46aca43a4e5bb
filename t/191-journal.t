# The journal of audience executions (campaign_journal DIR): each one's
# snapshot of its audience, its cursor and counts, so that it outlives
# the worker that runs it.
#
# 1. nginx -t refuses a journal without campaign_zone, or that is not a
#    directory.
# 2. an execution ends with its journal saying so, and its snapshot gone;
#    the snapshot, not the audience file, is what it reads.
# 3. a reload in the middle: the old worker leaves it at a batch boundary,
#    a new one goes on; every recipient is in the outbox exactly once.
# 4. kill -9 of the worker that runs it: another goes on from the cursor;
#    every recipient exactly once (the outbox drops a repeated key).
# 5. nginx stopped in the middle and started again: it goes on.
# 6. after the restart, the status of an ended execution comes from its
#    journal.
#
# Background executions, reloads and kills need polling and signals, so
# this suite drives nginx (two workers) itself.

use strict;
use warnings;

use FindBin;
use Test::More;
use Time::HiRes qw(sleep time);

require "$FindBin::Bin/150-helpers.pl";
require "$FindBin::Bin/audience-helpers.pl";

our ($BASE, $PREFIX, $CAMPAIGNS, $API_PORT);

my $port = $BASE + 51;
$API_PORT = $port;

my $winter = ',"context":{"season":"winter"}';

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

write_file('campaigns/paced.json', <<"EOF");
{"id": "paced", "name": "Paced sale", "type": "marketing", "status": "live",
 "channel": "email", "throttle": {"rate": 25, "burst": 10}, $content}
EOF

my $conf = <<"EOF";
    campaign_zone campaign 1m;
    campaign_audiences $PREFIX/audiences;
    campaign_journal $PREFIX/journal;

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

# 1. configuration mistakes

like nginx_t("campaign_journal $PREFIX/journal;"),
     qr/\[emerg\] "campaign_journal" needs "campaign_zone"/,
     'nginx -t: a journal without campaign_zone';

write_file('not-a-dir', '');
like nginx_t("campaign_zone z 1m; campaign_journal $PREFIX/not-a-dir;"),
     qr/\[emerg\] campaign_journal "[^"]*not-a-dir" is not a directory/,
     'nginx -t: a journal that is not a directory';

like nginx_t("campaign_zone z 1m; campaign_journal $PREFIX/nowhere;"),
     qr/\[emerg\] campaign_journal "[^"]*nowhere": stat\(\) failed/,
     'nginx -t: a journal that is not there';

like nginx_t("campaign_audience_batches 0;"),
     qr/\[emerg\] value must be between 1 and 1000 in \S+test.conf:/,
     'nginx -t: campaign_audience_batches 0';

# 2. an execution, journaled from start to end

audience('small', map { recipient("a$_") } 1 .. 30);

ok start_nginx($conf, $port), 'nginx starts with campaign_journal';

my $res = start('vip', 'small', $winter);
is $res->{status}, 202, 'an audience execution: 202';
my $done = execution_id($res);

# the audience is replaced under it (a new file renamed over the old
# one, as an export does): the one it opened is what is sent

write_file('audiences/small.new', join '', map { recipient("zz$_") . "\n" } 1 .. 5);
rename "$PREFIX/audiences/small.new", "$PREFIX/audiences/small.jsonl";

$res = wait_status($done, 'Succeeded');
like $res->{content}, qr/"sent":30,/, 'all 30 sent';
exactly_once($done, 30, 'a');

# the zone says Succeeded first, then the journal is written

my $journal;
ok wait_for(sub { $journal = read_file("journal/$done.json");
                  $journal =~ /"status":"Succeeded"/ }, 20),
   'its journal says it succeeded';
like $journal, qr/"executionId":"$done","campaignId":"vip","audienceId":"small"/,
     '... names it, its campaign and audience';
like $journal, qr/"context":\{"season":"winter"\}/, '... keeps its context';
# the status says Succeeded a moment before the worker removes the file

ok wait_for(sub { !-e "$PREFIX/journal/$done.jsonl"
                  && !-e "$PREFIX/journal/$done.jsonl.part" }, 20),
   'its snapshot is removed once it ended';
like read_file('logs/outbox.jsonl'), qr/Hello a1 winter/,
     'the context reached the messages';

# 3. a reload in the middle: every recipient exactly once

audience('reload', map { recipient("r$_") } 1 .. 80);

$res = start('paced', 'reload', $winter);
is $res->{status}, 202, 'a paced audience of 80: 202';
my $id = execution_id($res);

sleep 1.2;
like read_file("journal/$id.json"), qr/"status":"InProgress"/,
     'in progress, its journal says so';
ok -e "$PREFIX/journal/$id.jsonl", '... with its snapshot';

my @old = worker_pids();
kill 'HUP', master_pid();

ok wait_for(sub { my %o = map { $_ => 1 } @old;
                  my @new = worker_pids();
                  @new == 2 && !grep { $o{$_} } @new }, 150),
   'reloaded: two new workers';

$res = wait_status($id, 'Succeeded', 300);
like $res->{content}, qr/"status":"Succeeded"/, 'it succeeds after the reload';
like $res->{content}, qr/"targetedProfileCount":80,/, '... 80 targeted';
like $res->{content}, qr/"sent":80,"failed":0,/, '... 80 sent';
exactly_once($id, 80, 'r');

my $log = read_file('logs/error.log');
like $log, qr/\[notice\] .*audience execution $id is left in the journal at recipient \d+/,
     'the old worker left it in the journal';
like $log, qr/\[notice\] .*audience execution $id of "paced" goes on from the journal/,
     'a new worker went on with it';

# 4. kill -9 of the worker that runs it

audience('kill', map { recipient("k$_") } 1 .. 80);

$res = start('paced', 'kill', $winter);
is $res->{status}, 202, 'another paced audience of 80: 202';
$id = execution_id($res);
my $owner = $res->{headers}{'x-worker'};

sleep 1.5;
ok kill('KILL', $owner), "the worker that runs it ($owner) is killed";

$res = wait_status($id, 'Succeeded', 300);
like $res->{content}, qr/"status":"Succeeded"/,
     'it succeeds after the kill';
like $res->{content}, qr/"targetedProfileCount":80,/, '... 80 targeted';
like $res->{content}, qr/"sent":80,"failed":0,/, '... 80 sent';
exactly_once($id, 80, 'k');

like read_file('logs/error.log'),
     qr/\[notice\] .*audience execution $id of "paced" goes on from the journal/,
     'another worker went on with it';

# 5. nginx stopped in the middle, then started again

audience('restart', map { recipient("s$_") } 1 .. 80);

$res = start('paced', 'restart', $winter);
is $res->{status}, 202, 'a third paced audience of 80: 202';
$id = execution_id($res);

sleep 1.2;
ok stop_nginx(), 'nginx quits in the middle of it';
like read_file("journal/$id.json"), qr/"status":"InProgress"/,
     '... its journal says it is in progress';

ok start_nginx($conf, $port), 'nginx starts again';

$res = wait_status($id, 'Succeeded', 300);
like $res->{content}, qr/"status":"Succeeded"/, 'it succeeds after the restart';
like $res->{content}, qr/"sent":80,"failed":0,/, '... 80 sent';
exactly_once($id, 80, 's');

# 6. an execution that ended before the restart

$res = call('GET', "executions/audience/$done");
is $res->{status}, 200, 'an execution that ended before the restart: 200';
like $res->{content}, qr/"status":"Succeeded".*"sent":30,/,
     '... its status, from its journal';

$res = call('GET', 'executions/audience/00000000-0000-4000-8000-000000000000');
is $res->{status}, 404, 'an unknown execution: 404';

# a file in the journal that is not a journal is left alone

write_file('journal/00000000-0000-4000-8000-000000000001.json', '{"nope":');
sleep 1.5;
like read_file('logs/error.log'),
     qr/\[error\] .*00000000-0000-4000-8000-000000000001\.json" cannot be read as the journal/,
     'a corrupt journal is logged';

# 7. campaign_journal_keep: what ended long enough ago is removed; what
# is in progress, or not ours, stays

ok stop_nginx(), 'nginx stops';
my @ended = ($done, $id);
ok !(grep { !-e "$PREFIX/journal/$_.json" } @ended),
   'the journals of ended executions are there';
write_file('journal/stray.json.tmp', 'left by a crash');
write_file('journal/notes.txt', 'an operator\'s');
utime time - 10, time - 10, map { "$PREFIX/journal/$_" }
      'stray.json.tmp', 'notes.txt', '00000000-0000-4000-8000-000000000001.json',
      map { "$_.json" } @ended;

ok start_nginx($conf =~ s/(campaign_journal [^;]+;)/$1\n    campaign_journal_keep 5s;/r,
               $port),
   'nginx starts with campaign_journal_keep 5s';
ok wait_for(sub { !grep { -e "$PREFIX/journal/$_.json" } @ended }, 50),
   'the journals of ended executions older than that are removed';
ok !-e "$PREFIX/journal/stray.json.tmp", '... and a temporary file';
ok -e "$PREFIX/journal/notes.txt", 'a file that is not the journal\'s stays';
ok -e "$PREFIX/journal/00000000-0000-4000-8000-000000000001.json",
   '... and one that is not a journal';
# the worker logs once it has removed them all: a moment after the last

ok wait_for(sub { read_file('logs/error.log') =~
                  /\[info\] .*campaign_journal: \d+ file\(s\) of ended executions and schedules removed/ },
            20),
   'the removal is logged';

unlike read_file('logs/error.log'),
       qr/\[(?:crit|emerg)\]|\[alert\](?!.*exited on signal 9$)/m,
       'no alert (but the kill), crit or emerg in the log';
unlike read_file('logs/error.log'), qr/exited on signal (?!9)/,
       'no worker crashed';

print STDERR read_file("logs/error.log") if $ENV{SHOWLOG};
ok stop_nginx(), "nginx quits";

done_testing;
