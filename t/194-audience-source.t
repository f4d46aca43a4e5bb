# Audiences from a location (campaign_audience_source URI): an audience
# with no file in campaign_audiences is the answer of a GET to URI<id>,
# streamed into the execution's snapshot in campaign_journal as it comes,
# then sent as a file audience is.
#
# 1. nginx -t refuses campaign_audience_source without campaign_journal,
#    or with a URI that is not one.
# 2. a static location (alias): every recipient is sent once, the
#    snapshot is made, a file in campaign_audiences still comes first.
# 3. a proxy_pass to a server that sends the audience slowly, in pieces
#    (chunked, and with a Content-Length): the POST is answered at once,
#    the execution is InProgress while it streams, then every recipient
#    is sent once.
# 4. a source that answers 404 or 500, or closes before its
#    Content-Length: Failed, with the reason in the log.
# 5. a schedule: the audience is fetched when it fires.
# 6. kill -9 of the worker while the answer streams: another worker
#    fetches it again (nothing was sent yet) and sends every recipient
#    once.
# 7. without a file and without a source: 404, as before.
#
# Background executions and a slow upstream need polling, so this suite
# drives nginx (two workers) itself.

use strict;
use warnings;

use FindBin;
use Test::More;
use POSIX qw(strftime);
use Time::HiRes qw(sleep time);

require "$FindBin::Bin/150-helpers.pl";
require "$FindBin::Bin/audience-helpers.pl";

our ($BASE, $PREFIX, $CAMPAIGNS, $API_PORT);

my $port = $BASE + 52;
$API_PORT = $port;
my $slow = $BASE + 53;

$CAMPAIGNS = "$PREFIX/campaigns";
mkdir $CAMPAIGNS;
mkdir "$PREFIX/audiences";
mkdir "$PREFIX/segments";
mkdir "$PREFIX/journal";
chmod 0777, "$PREFIX/journal";
chmod 0755, "$PREFIX/segments";

write_file('campaigns/vip.json', <<"EOF");
{"id": "vip", "name": "VIP sale", "type": "marketing", "status": "live",
 "channel": "email",
 "content": {"from": "a\@acme.example", "subject": "Hi",
             "text": "Hello {{profile.name}}"}}
EOF

sub lines {
    my ($prefix, $n) = @_;
    return join '', map { recipient("$prefix$_") . "\n" } 1 .. $n;
}

# the segment export service: /slow/<id> sends 60 recipients in pieces,
# 0.2 s apart, chunked; /sized/<id> the same with a Content-Length;
# /short/<id> promises more than it sends, then closes

start_server($slow, sub {
    my ($c, $head) = @_;
    my ($kind, $id) = $head =~ m{^GET /(\w+)/([\w.-]+) } or return;
    my $body = lines($id, 60);
    my @pieces = unpack '(a700)*', $body;
    $c->autoflush(1);

    if ($kind eq 'slow') {
        print $c "HTTP/1.1 200 OK\r\nContent-Type: application/jsonl\r\n"
                 . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
        for (@pieces) {
            printf $c "%x\r\n%s\r\n", length, $_;
            sleep 0.2;
        }
        print $c "0\r\n\r\n";
        return;
    }

    my $len = length($body) + ($kind eq 'short' ? 100 : 0);
    print $c "HTTP/1.1 200 OK\r\nContent-Type: application/jsonl\r\n"
             . "Content-Length: $len\r\nConnection: close\r\n\r\n";
    for (@pieces) {
        print $c $_;
        sleep 0.1;
    }
});

my $conf = <<"EOF";
    campaign_zone campaign 1m;
    campaign_audiences $PREFIX/audiences;
    campaign_journal $PREFIX/journal;
    campaign_audience_source /_segments/;

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

        location /_segments/ {
            internal;
            alias $PREFIX/segments/;
        }

        location /_segments/slow- {
            internal;
            proxy_pass http://127.0.0.1:$slow/slow/;
            proxy_http_version 1.1;
            proxy_buffering off;
        }

        location /_segments/sized- {
            internal;
            proxy_pass http://127.0.0.1:$slow/sized/;
        }

        location /_segments/short- {
            internal;
            proxy_pass http://127.0.0.1:$slow/short/;
        }

        location = /_segments/broken {
            internal;
            return 500;
        }
    }
EOF

# 1. configuration mistakes

like nginx_t("campaign_zone z 1m; campaign_audience_source /_segments/;"),
     qr/\[emerg\] "campaign_audience_source" needs "campaign_journal"/,
     'nginx -t: a source without campaign_journal';

like nginx_t("campaign_zone z 1m; campaign_journal $PREFIX/journal;"
             . " campaign_audience_source segments;"),
     qr/\[emerg\] "campaign_audience_source" directive takes a URI that starts with "\/"/,
     'nginx -t: a source that is not a URI';

like nginx_t("campaign_zone z 1m; campaign_journal $PREFIX/journal;"
             . " campaign_audience_source /_segments/;"),
     qr/test is successful/, 'nginx -t: a source with a journal';

# 2. a static location

write_file('segments/static', lines('s', 45));
write_file('segments/both', lines('wrong', 3));
write_file('audiences/both.jsonl', lines('file', 4));

ok start_nginx($conf, $port), 'nginx starts with campaign_audience_source';

my $res = start('vip', 'static');
is $res->{status}, 202, 'an audience from a location: 202';
my $id = execution_id($res);

$res = wait_status($id, 'Succeeded');
like $res->{content}, qr/"status":"Succeeded"/, 'it succeeds';
like $res->{content}, qr/"targetedProfileCount":45,/, '... 45 targeted';
like $res->{content}, qr/"sent":45,"failed":0,/, '... 45 sent';
exactly_once($id, 45, 's');

my $log = read_file('logs/error.log');
like $log, qr/audience execution $id fetches its audience from "\/_segments\/static"/,
     'it was fetched from the location';
like $log, qr/audience execution $id: snapshot "[^"]*$id.jsonl" of \d+ bytes/,
     '... into its snapshot';
like read_file("journal/$id.json"), qr/"status":"Succeeded"/,
     'its journal says it succeeded';
ok wait_for(sub { !-e "$PREFIX/journal/$id.jsonl"
                  && !-e "$PREFIX/journal/$id.jsonl.part" }),
   '... and its snapshot is gone';

$res = start('vip', 'both');
$id = execution_id($res);
$res = wait_status($id, 'Succeeded');
like $res->{content}, qr/"sent":4,/, 'a file in campaign_audiences comes first';
exactly_once($id, 4, 'file');

# 3. a slow upstream, chunked and with a Content-Length; unbuffered, each
#    piece reaches the snapshot as it comes (buffered, a proxy_buffers
#    buffer at a time)

my $t0 = time;
$res = start('vip', 'slow-c');
my $took = time - $t0;
is $res->{status}, 202, 'an audience from a slow upstream: 202';
ok $took < 1, sprintf('... at once (%.3f s), not when it is whole', $took);
$id = execution_id($res);

sleep 0.5;
$res = call('GET', "executions/audience/$id");
like $res->{content}, qr/"status":"InProgress"/, '... InProgress while it streams';
my $part = -s "$PREFIX/journal/$id.jsonl.part" // -1;
ok $part > 0 && $part < length(lines('c', 60)),
   "... into its snapshot, piece by piece ($part bytes so far)";

$res = wait_status($id, 'Succeeded', 300);
like $res->{content}, qr/"targetedProfileCount":60,/, '... 60 targeted';
like $res->{content}, qr/"sent":60,"failed":0,/, '... 60 sent';
exactly_once($id, 60, 'c');

$res = start('vip', 'sized-d');
$id = execution_id($res);
$res = wait_status($id, 'Succeeded', 300);
like $res->{content}, qr/"sent":60,"failed":0,/,
     'with a Content-Length: 60 sent';
exactly_once($id, 60, 'd');

# 4. sources that fail

for my $case (['missing', 404], ['broken', 500]) {
    my ($name, $status) = @$case;

    $res = start('vip', $name);
    is $res->{status}, 202, "a source that answers $status: 202 first";
    $id = execution_id($res);

    $res = wait_status($id, 'Failed');
    like $res->{content}, qr/"status":"Failed"/, '... then Failed';
    like $res->{content}, qr/"targetedProfileCount":0,/, '... nothing read';
    like read_file('logs/error.log'),
         qr/\[error\] .*audience execution $id: its audience source "\/_segments\/$name" answered $status/,
         '... the reason is logged';
    ok wait_for(sub { !-e "$PREFIX/journal/$id.jsonl.part" }),
       '... its snapshot is gone';
}

$res = start('vip', 'short-x');
$id = execution_id($res);
$res = wait_status($id, 'Failed', 300);
like $res->{content}, qr/"status":"Failed"/,
     'a source that closes before its Content-Length: Failed';
like $res->{content}, qr/"targetedProfileCount":0,/, '... nothing sent';
like read_file('logs/error.log'),
     qr/\[error\] .*audience execution $id: (?:the answer of its audience source "\/_segments\/short-x" is cut short|its audience source "\/_segments\/short-x" answered 502)/,
     '... the reason is logged';

# 5. a schedule fetches its audience when it fires

my $when = strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(int(time + 2)));
$res = call('POST', 'executions/audience',
            qq/{"campaignId":"vip","audience":{"id":"static"},/
            . qq/"schedule":{"executeAt":"$when"}}/);
is $res->{status}, 202, 'a schedule of an audience from a location: 202';
my $sid = $res->{content} =~ /"scheduleId":"([0-9a-f-]{36})"/ ? $1 : '';

ok wait_for(sub { $res = call('GET', "executions/schedules/$sid");
                  $res->{content} =~ /"scheduleStatus":"Triggered"/ }, 100),
   '... it fires';
$id = $res->{content} =~ /"executionId":"([0-9a-f-]{36})"/ ? $1 : '';
$res = wait_status($id, 'Succeeded');
like $res->{content}, qr/"sent":45,"failed":0,/, '... and sends 45';
exactly_once($id, 45, 's');

# 6. kill -9 of the worker while the answer streams

$res = start('vip', 'slow-k');
is $res->{status}, 202, 'a slow audience again: 202';
$id = execution_id($res);
my $owner = $res->{headers}{'x-worker'};

sleep 0.6;
ok -e "$PREFIX/journal/$id.jsonl.part", '... streaming into its snapshot';
ok kill('KILL', $owner), "the worker that fetches it ($owner) is killed";

$res = wait_status($id, 'Succeeded', 300);
like $res->{content}, qr/"sent":60,"failed":0,/,
     '... another worker fetches it again and sends 60';
exactly_once($id, 60, 'k');
like read_file('logs/error.log'),
     qr/\[notice\] .*audience execution $id of "vip" goes on from the journal at recipient 0 \(line 0\), its snapshot made again/,
     '... its snapshot made again';

# 7. no file and no source

$log = read_file('logs/error.log');
ok stop_nginx(), 'nginx quits';

(my $nosource = $conf) =~ s/campaign_audience_source \S+;//;
ok start_nginx($nosource, $port), 'nginx starts without a source';

$res = start('vip', 'static');
is $res->{status}, 404, 'without a source, an audience with no file: 404';

unlike $log . read_file('logs/error.log'),
       qr/\[(?:crit|emerg)\]|\[alert\](?!.*exited on signal 9$)/m,
       'no alert (but the kill), crit or emerg in the log';
unlike $log, qr/exited on signal (?!9)/, 'no worker crashed';

print STDERR read_file("logs/error.log") if $ENV{SHOWLOG};
ok stop_nginx(), "nginx quits";

done_testing;
