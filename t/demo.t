#!/usr/bin/perl

# The demo, `make run`, from a copy of the tree in a directory only its
# owner may enter (as under /root): a 20 KB trigger and a profile lookup
# from conf/profiles/ work, and an unknown recipient is no [error] in the
# log.  Run as root, this is the case where nginx's default worker user
# ("nobody") could read and write nothing here.  A plain Test::More script:
# it runs the Makefile's own run target and stops the nginx it started.
#
# Port: TEST_NGINX_DEMO_PORT, else TEST_NGINX_SERVER_PORT + 16200.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Copy qw(copy);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use POSIX qw(:sys_wait_h);
use Test::More;
use Time::HiRes qw(sleep time);

my $top = dirname(dirname(abs_path($0)));
my $nginx = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
my @modules = split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} || '');
my $port = $ENV{TEST_NGINX_DEMO_PORT}
           || ($ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT}
               || 1984) + 16200;

# the demo loads the module from build/; an nginx with it built in cannot
plan skip_all => 'the demo needs the module as a dynamic module'
    unless @modules == 1 && -f $modules[0];

# tempdir() makes a directory of mode 0700: only we may enter it
my $dir = tempdir(CLEANUP => 1);
make_path("$dir/build");
symlink($modules[0], "$dir/build/ngx_http_campaign_module.so")
    or die "symlink: $!";
copy("$top/Makefile", "$dir/Makefile") or die "Makefile: $!";
system('cp', '-R', "$top/conf", "$dir/conf") == 0 or die "cp conf failed";

sub slurp {
    my ($path) = @_;
    open(my $fh, '<', $path) or return '';
    local $/;
    return scalar <$fh>;
}

# `make run` as it is, but with this nginx and the module given: an empty
# MODULE_SRCS makes the symlinked module up to date
my $make = fork;
die "fork: $!" unless defined $make;
if ($make == 0) {
    delete @ENV{qw(MAKEFLAGS MFLAGS MAKELEVEL)};
    open(STDIN, '<', '/dev/null');
    open(STDOUT, '>', "$dir/make.out");
    open(STDERR, '>&', \*STDOUT);
    exec('make', '-C', $dir, 'run', "PORT=$port", "NGINX=$nginx",
         "MODULE=$dir/build/ngx_http_campaign_module.so", 'MODULE_SRCS=');
    exit 127;
}

my $http = HTTP::Tiny->new(timeout => 10);
my $base = "http://127.0.0.1:$port/ajo/im";

my $up;
my $deadline = time + 30;
while (time < $deadline) {
    last if waitpid($make, WNOHANG) == $make;
    my $res = $http->get("$base/health");
    if ($res->{status} == 200) {
        $up = $res;
        last;
    }
    sleep 0.1;
}

sub stop_demo {
    my $pid = slurp("$dir/var/nginx.pid");
    kill('QUIT', $1) if $pid =~ /^(\d+)/;
    my $until = time + 10;
    while (waitpid($make, WNOHANG) == 0) {
        if (time > $until) {
            kill('KILL', $1) if $pid =~ /^(\d+)/;
            waitpid($make, 0);
            last;
        }
        sleep 0.05;
    }
}

if (!$up) {
    stop_demo();
    BAIL_OUT("the demo did not start on port $port:\n"
             . slurp("$dir/make.out") . slurp("$dir/var/error.log"));
}

like($up->{content}, qr/^\{"status":"UP","campaigns":5\}$/,
     'health: the five demo campaigns are loaded');

if ($> == 0) {
    like(slurp("$dir/var/nginx.conf"), qr/^user\s+root\s+\S+;$/m,
         'as root, the workers run as the invoking user');
}

sub trigger {
    my ($id, $user, $pad) = @_;
    my $body = qq/{"requestId": "$id", "campaignId": "password-reset",/
             . qq/ "recipients": [{"type": "aep", "userId": "$user",/
             . qq/ "namespace": "email",/
             . qq/ "channelData": {"emailAddress": "$user"},/
             . qq/ "context": {"resetLink": "https:\/\/acme.example\/r\/$id",/
             . qq/ "expiresInMinutes": 30, "pad": "$pad"}}]}/;
    return $http->post("$base/executions/unitary", {
        headers => { 'Content-Type' => 'application/json' },
        content => $body,
    });
}

# no inline profile: ada's is read from conf/profiles/email/ by a worker
my $res = trigger('big-1', 'ada@example.com', 'x' x 20000);
is($res->{status}, 202, 'a 20 KB trigger is accepted')
    or diag($res->{content});
like($res->{content}, qr/"userId":"ada\@example\.com","messageId":"[^"]+",
                         "status":"accepted"/x,
     'the recipient is accepted: her profile was found');

my @outbox = split /\n/, slurp("$dir/var/outbox.jsonl");
is(scalar @outbox, 1, 'one message in the outbox');
like($outbox[-1] // '',
     qr/"requestId":"big-1".*"subject":"Ada, here is your password reset link"/,
     'rendered with the first name from the profile file');

$res = trigger('nobody-1', 'nobody@example.com', '');
is($res->{status}, 404, 'a recipient without a profile file: 404');
like($res->{content}, qr/"detail":"no recipient has a profile"/,
     'no recipient has a profile');

# winter-sale: a marketing e-mail, at most 2 a day for a profile
sub sale {
    my ($id) = @_;
    return $http->post("$base/executions/unitary", {
        headers => { 'Content-Type' => 'application/json' },
        content => qq/{"requestId": "$id", "campaignId": "winter-sale",/
                 . qq/ "context": {"discount": 30},/
                 . qq/ "recipients": [{"type": "aep",/
                 . qq/ "userId": "marie\@example.fr", "namespace": "email",/
                 . qq/ "channelData": {"emailAddress": "marie\@example.fr"}}]}/,
    });
}

for my $i (1, 2) {
    $res = sale("sale-$i");
    like($res->{content}, qr/"status":"accepted"/,
         "winter-sale $i: accepted") or diag($res->{content});
}

$res = sale('sale-3');
is($res->{status}, 202, 'winter-sale 3: 202');
like($res->{content},
     qr/"status":"capped","reason":"capped by frequency rule \\"email-daily\\"/,
     'winter-sale 3: capped by the demo rule');

$res = $http->post("$base/campaigns/winter-sale/stop");
is($res->{status}, 200, 'winter-sale stopped');
$res = sale('sale-4');
is($res->{status}, 409, 'a stopped campaign: 409');
like($res->{content}, qr/campaign-stopped/, 'the problem says it is stopped');
$res = $http->post("$base/campaigns/winter-sale/resume");
like($res->{content}, qr/"stopped":false/, 'winter-sale resumed');
like(slurp("$dir/var/campaign-state.json"),
     qr/"winter-sale":\{"stopped":false,/, 'the switch is kept in var/');

# the winter sale's e-mail to Ada carries a one-click unsubscribe link
$res = $http->post("$base/executions/unitary", {
    headers => { 'Content-Type' => 'application/json' },
    content => qq/{"requestId": "sale-ada-1", "campaignId": "winter-sale",/
             . qq/ "context": {"discount": 30},/
             . qq/ "recipients": [{"type": "aep",/
             . qq/ "userId": "ada\@example.com", "namespace": "email",/
             . qq/ "channelData": {"emailAddress": "ada\@example.com"}}]}/,
});
like($res->{content}, qr/"status":"accepted"/, 'winter-sale to Ada: accepted');

my ($link) = slurp("$dir/var/outbox.jsonl")
    =~ /"requestId":"sale-ada-1".*"List-Unsubscribe":"<([^>"]+)>"/;
like($link // '', qr{^http://127\.0\.0\.1:$port/unsubscribe\?c=email&a=ada%40example\.com&e=\d+&s=[A-Za-z0-9_-]{43}$},
     'the outbox line has the signed link, on the demo port');

$res = $http->post($link // "http://127.0.0.1:$port/unsubscribe", {
    headers => { 'Content-Type' => 'application/x-www-form-urlencoded' },
    content => 'List-Unsubscribe=One-Click',
});
is($res->{status}, 200, 'one click unsubscribes');
like(slurp("$dir/var/unsubscribes.txt"), qr/^email ada\@example\.com$/m,
     'the address is kept in var/unsubscribes.txt');

$res = $http->post("$base/executions/unitary", {
    headers => { 'Content-Type' => 'application/json' },
    content => qq/{"requestId": "sale-ada-2", "campaignId": "winter-sale",/
             . qq/ "context": {"discount": 30},/
             . qq/ "recipients": [{"type": "aep",/
             . qq/ "userId": "ada\@example.com", "namespace": "email",/
             . qq/ "channelData": {"emailAddress": "ada\@example.com"}}]}/,
});
like($res->{content}, qr/"status":"suppressed"/,
     'the next winter-sale e-mail to Ada is not sent');

# the winter sale to the demo's audience of 1,000 profiles
$res = $http->post("$base/executions/audience", {
    headers => { 'Content-Type' => 'application/json' },
    content => '{"requestId": "vips-1", "campaignId": "winter-sale",'
             . ' "audience": {"id": "winter-sale-vips"},'
             . ' "context": {"discount": 30}}',
});
is($res->{status}, 202, 'the audience execution is accepted')
    or diag($res->{content});
my ($exec) = $res->{content} =~ /"executionId":"([0-9a-f-]{36})"/;

my $status = '';
for (1 .. 100) {
    $res = $http->get("$base/executions/audience/" . ($exec // 'none'));
    ($status) = $res->{content} =~ /"status":"(\w+)"/;
    last if ($status // '') ne 'InProgress';
    select(undef, undef, undef, 0.1);
}
is($status, 'Succeeded', 'the audience execution succeeds');
like($res->{content},
     qr/"targetedProfileCount":997,.*"counters":\{"sent":880,"failed":0,"skipped":\{"no_consent":97,"suppressed":20,/,
     '880 sent; 97 declined, 20 suppressed, 3 broken lines');
is(scalar(() = slurp("$dir/var/outbox.jsonl") =~ /"requestId":"vips-1"/g), 880,
   '880 winter-sale e-mails in the outbox');

like(slurp("$dir/var/journal/" . ($exec // 'none') . '.json'),
     qr/"status":"Succeeded"/, 'the execution is kept in var/journal/');

# a schedule two seconds ahead fires; one for tomorrow is cancelled
sub schedule_at {
    my ($t) = @_;
    my @g = gmtime(int $t);
    my $at = sprintf('%04d-%02d-%02dT%02d:%02d:%02dZ', $g[5] + 1900, $g[4] + 1,
                     @g[3, 2, 1, 0]);
    my $r = $http->post("$base/executions/audience", {
        headers => { 'Content-Type' => 'application/json' },
        content => '{"campaignId": "winter-sale",'
                 . ' "audience": {"id": "winter-sale-vips"},'
                 . qq/ "schedule": {"executeAt": "$at"}}/,
    });
    return $r->{content} =~ /"scheduleId":"([0-9a-f-]{36})"/ ? $1 : 'none';
}

my $soon = schedule_at(time + 2);
my $later = schedule_at(time + 86400);
$res = $http->request('DELETE', "$base/executions/schedules/$later");
is($res->{status}, 200, 'the schedule for tomorrow is cancelled');
$res = $http->get("$base/executions/schedules?campaignId=winter-sale");
like($res->{content}, qr/"scheduleId":"$soon".*"scheduleId":"$later".*"Cancelled"/,
     'both are listed, by time');

my $fired = '';
for (1 .. 100) {
    $res = $http->get("$base/executions/schedules/$soon");
    ($fired) = $res->{content} =~ /"scheduleStatus":"(\w+)"/;
    last if ($fired // '') ne 'Scheduled';
    select(undef, undef, undef, 0.1);
}
is($fired, 'Triggered', 'the schedule two seconds ahead fires');

$res = $http->get("http://127.0.0.1:$port/metrics");
is($res->{status}, 200, '/metrics answers');
like($res->{content},
     qr/^ngx_campaign_messages_total\{campaign="password-reset",channel="email",outcome="accepted"\} 1$/m,
     '/metrics counts the message accepted');

stop_demo();

my $log = slurp("$dir/var/error.log");
unlike($log, qr/\[(?:error|crit|alert|emerg)\]/,
       'no [error] or worse in the error log')
    or diag($log);
unlike($log, qr/open\(\) .* failed/, 'no open() failed line');
unlike($log, qr/buffered to a temporary file/,
       'the trigger was read in memory');
like($log, qr/\[notice\] \d+#\d+: exit$/m, 'nginx exited');

done_testing();
