# Connectors across a worker's life: transfers in flight when nginx
# reloads end in the old worker and their answers are heard; a worker
# that shuts down past worker_shutdown_timeout drops them and leaves no
# socket of libcurl's to nginx; a worker killed mid-send is replaced and
# the new one sends; an audience through a connector, reloaded in the
# middle, reaches the provider once per recipient.
#
# Reloads and kills need signals, so this suite drives nginx (two
# workers) itself; the provider is a forking HTTP server that records
# each request's Idempotency-Key and answers after a delay.

use strict;
use warnings;

use FindBin;
use Test::More;
use Time::HiRes qw(sleep time);

require "$FindBin::Bin/150-helpers.pl";
require "$FindBin::Bin/audience-helpers.pl";

our ($BASE, $PREFIX, $CAMPAIGNS, $API_PORT, @SERVERS);

my $port = $BASE + 60;
my $provider = $BASE + 61;
$API_PORT = $port;

$CAMPAIGNS = "$PREFIX/campaigns";
mkdir $CAMPAIGNS;
mkdir "$PREFIX/audiences";
mkdir "$PREFIX/journal";
chmod 0777, "$PREFIX/journal";

write_file('campaigns/order.json', <<'EOC');
{"id": "order-sms", "name": "Order", "type": "transactional",
 "status": "live", "channel": "sms",
 "content": {"from": "ACME", "body": "Order {{context.orderId}}"}}
EOC

write_file('campaigns/vip.json', <<'EOC');
{"id": "vip", "name": "VIP sale", "type": "marketing", "status": "live",
 "channel": "email",
 "content": {"from": "a@acme.example", "subject": "Hi",
             "text": "Hello {{profile.name}}"}}
EOC

write_file('provider.log', '');

# the provider: /fast answers in 0.3 s, /stall in 6 s

start_server($provider, sub {
    my ($c, $head, $body) = @_;
    my ($key) = $head =~ /^Idempotency-Key: (\S+)/mi;
    my $stall = $head =~ m{^POST /stall};

    # /picky: a number it does not know is an invalid address
    if ($head =~ m{^POST /picky} && $body =~ /bad/) {
        return answer($c, 400, '{"code": 21211}');
    }

    append_line('provider.log', "got $key");
    sleep($stall ? 6 : 0.3);
    append_line('provider.log', "answered $key");
    answer($c, 201, '{"sid":"SM1"}');
});

my $conf = <<"EOC";
    campaign_zone campaign 1m;
    campaign_audiences $PREFIX/audiences;
    campaign_journal $PREFIX/journal;

    campaign_connector fast http {
        url              http://127.0.0.1:$provider/fast;
        body             json;
        field            to    "{{recipient.address}}";
        field            text  "{{content.body}}{{content.text}}";
        max_connections  4;
    }

    campaign_connector picky http {
        url             http://127.0.0.1:$provider/picky;
        body            json;
        field           to  "{{recipient.address}}";
        invalid_answer  400  '"code": 21211';
    }

    campaign_connector stall http {
        url      http://127.0.0.1:$provider/stall;
        field    to  "{{recipient.address}}";
        timeout  20s;
    }

    server {
        listen 127.0.0.1:$port reuseport;

        campaign_gateway sms connector=fast;
        campaign_gateway email connector=fast;
        campaign_execution_timeout 30s;

        location /ajo/im/ {
            campaign_api;
        }

        location /picky/ {
            campaign_api;
            campaign_gateway email connector=picky;
        }

        location /stall/ {
            campaign_api;
            campaign_gateway sms connector=stall;
        }
    }
EOC

# a trigger of two recipients from curl in the background: its status

sub unitary {
    my ($path, $rid) = @_;
    my $body = trigger($rid, 'u1', 'u2');
    open my $bg, '-|', 'curl', '-s', '-o', "$PREFIX/$rid.out",
         '-w', '%{http_code}', '-H', 'Content-Type: application/json',
         '--data-binary', $body, "http://127.0.0.1:$port$path"
        or die "curl: $!";
    return $bg;
}

sub alive {
    return scalar grep { kill 0, $_ } @_;
}

ok start_nginx($conf, $port), 'nginx starts with two connectors';

# 1. a reload while a trigger's transfers are in flight

my $bg = unitary('/ajo/im/executions/unitary', 'r1');
ok wait_for(sub { read_file('provider.log') =~ /got \S+-1$/m }),
   'both attempts reached the provider';

my @old = worker_pids();
kill 'HUP', master_pid();

my $code = <$bg>;
close $bg;
is $code, '202', 'the trigger in flight at the reload: 202';
like read_file('r1.out'),
     qr/("status":"accepted","gatewayStatus":201.*){2}/,
     '... both messages accepted: the old worker heard the answers';
ok wait_for(sub { !alive(@old) }), 'the old workers exit once done';

# 2. past worker_shutdown_timeout the client is let go, but a transfer
#    is not cut: the worker waits for its answer (as for an upstream's)

my $main = read_file('conf/nginx.conf');
$main =~ s/^(worker_processes .*)$/$1\nworker_shutdown_timeout 1s;/m;
write_file('conf/nginx.conf', $main);
@old = worker_pids();
kill 'HUP', master_pid();
ok wait_for(sub { !alive(@old) }), 'reloaded with worker_shutdown_timeout';

$bg = unitary('/stall/executions/unitary', 'r2');
ok wait_for(sub { (() = read_file('provider.log') =~ /^got/mg) >= 4 }),
   'a stalled trigger is in flight';

my $t0 = time;
@old = worker_pids();
kill 'HUP', master_pid();
$code = <$bg>;
close $bg;
ok time - $t0 < 3, 'the client is let go at worker_shutdown_timeout';
ok wait_for(sub { !alive(@old) }, 100), 'the old worker exits ...';
ok time - $t0 > 4, '... once the stalled answers came';
is((() = read_file('provider.log') =~ /^answered/mg), 4,
   'every attempt was answered');

my $log = read_file('logs/error.log');
unlike $log, qr/open socket #\d+ left in connection/,
       'no socket of libcurl is left to nginx';

# 3. kill -9 of the workers mid-send: new ones take their place

my @w = worker_pids();
$bg = unitary('/ajo/im/executions/unitary', 'r3');
sleep 0.15;
kill 'KILL', @w;
close $bg;
ok wait_for(sub { my @n = worker_pids(); @n == 2 && !alive(@w) }),
   'the killed workers are replaced';

my ($st, $body) = request($port, 'POST', '/ajo/im/executions/unitary',
                          trigger('r4', 'u1'));
is $st, 202, 'after the kill, a trigger goes through the connector';
like $body, qr/"status":"accepted","gatewayStatus":201/, '... accepted';

# 4. an audience through the connector, a reload in the middle

audience('forty', map { recipient("a$_") } 1 .. 40);
write_file('provider.log', '');

my $res = start('vip', 'forty');
is $res->{status}, 202, 'an audience of 40 through the connector: 202';
my $id = execution_id($res);

ok wait_for(sub { read_file('provider.log') =~ /answered/ }),
   'it is sending';
kill 'HUP', master_pid();

$res = wait_status($id, 'Succeeded', 300);
like $res->{content}, qr/"sent":40,"failed":0/, 'all 40 sent';

my %got;
$got{$_}++ for read_file('provider.log') =~ /^answered (\S+)$/mg;
is scalar(keys %got), 40, 'the provider answered 40 messages'
    or diag read_file('provider.log');
ok !(grep { $_ != 1 } values %got), '... each once'
    or diag join ' ', grep { $got{$_} != 1 } sort keys %got;

$log = read_file('logs/error.log');
my @bad = grep { !/exited on signal 9/ }
          $log =~ /^.*\[(?:alert|crit|emerg)\].*$/mg;
is "@bad", '', 'no alert but the killed workers';

# 5. an audience with addresses the provider refuses: invalid_address

audience('picky', (map { recipient("ok$_") } 1 .. 6),
         (map { recipient("bad$_") } 1 .. 3));
$API_PORT = $port;
$res = call('POST', '/picky/executions/audience',
            '{"campaignId":"vip","audience":{"id":"picky"}}');
is $res->{status}, 202, 'an audience of 9, 3 of them refused: 202';
$id = execution_id($res);
$res = call('GET', "/picky/executions/audience/$id");
wait_for(sub { $res = call('GET', "/picky/executions/audience/$id");
               $res->{content} =~ /"status":"Succeeded"/ }, 100);
like $res->{content}, qr/"sent":6,"failed":0,/, 'the 6 others are sent';
like $res->{content}, qr/"invalid_address":3\}/,
     '... the 3 refused are skipped as invalid_address';

# 6. nginx -s stop (SIGTERM) with a transfer in flight: it is dropped

my $before = () = read_file('provider.log') =~ /^got \S+$/mg;
$bg = unitary('/stall/executions/unitary', 'r5');
ok wait_for(sub { (() = read_file('provider.log') =~ /^got \S+$/mg)
                  >= $before + 2 }),
   'a stalled trigger is in flight';
my $master = master_pid();
kill 'TERM', $master;
ok wait_for(sub { !kill 0, $master }, 50), 'nginx stops at once';
close $bg;

$log = read_file('logs/error.log');
like $log, qr/connector "stall" transfer dropped at exit/,
     'the dropped transfer is logged';
unlike $log, qr/open socket #\d+ left in connection/,
       'no socket of libcurl is left to nginx';

# the provider
kill 'TERM', @SERVERS;
waitpid $_, 0 for @SERVERS;
@SERVERS = ();

done_testing();
