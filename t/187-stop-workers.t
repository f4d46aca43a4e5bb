# The stop switch across worker processes, a reload and a restart: a
# campaign stopped through one worker is stopped in the other at once; a
# reload keeps the switch (the zone's, even when the state file says
# otherwise); a restart takes it from campaign_state_file.  This needs a
# master process, two workers and signals, so it drives nginx itself.

use strict;
use warnings;

use FindBin;
use HTTP::Tiny;
use Test::More;
use Time::HiRes qw(sleep);

require "$FindBin::Bin/150-helpers.pl";

our ($BASE, $PREFIX);

my $port = $BASE + 27;
my $state = "$PREFIX/logs/state.json";

# "reuseport": the kernel spreads the connections over both workers

my $conf = <<"EOF";
    campaign_zone campaign 1m;
    campaign_state_file $state;

    server {
        listen 127.0.0.1:$port reuseport;

        campaign_gateway sms /_gw;

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

# a connection of its own for each request: any worker may answer it

my $http = HTTP::Tiny->new(timeout => 10, keep_alive => 0);

sub call {
    my ($method, $path, $body) = @_;
    return $http->request($method, "http://127.0.0.1:$port/ajo/im/$path", {
        headers => { 'Content-Type' => 'application/json' },
        defined $body ? (content => $body) : (),
    });
}

sub since {
    my ($res) = @_;
    return $res->{content} =~ /"runtime":\{[^}]*"since":"([^"]+)"/ ? $1 : '';
}

sub outbox_lines {
    return scalar(() = read_file('logs/outbox.jsonl') =~ /\n/g);
}

ok start_nginx($conf, $port), 'nginx starts without a state file';

my $res = call('GET', 'campaigns/order-sms');
like $res->{content}, qr/"runtime":\{"status":"live","stopped":false,"since":null\}/,
     'order-sms runs';
ok !-e $state, 'no state file before a switch';

# 1. stopped through one worker, stopped in both

$res = call('POST', 'campaigns/order-sms/stop');
is $res->{status}, 200, 'stop: 200';
like $res->{content}, qr/"runtime":\{"status":"stopped","stopped":true,"since":"[^"]+"\}/,
     '... with the stopped state';

my $stopper = $res->{headers}{'x-worker'};
my $stopped_at = since($res);

like read_file('logs/state.json'),
     qr/\A\{"campaigns":\{\n"order-sms":\{"stopped":true,"since":\d+\}\n\}\}\n\z/,
     'the state file says so';
ok !-e "$state.tmp", 'no temporary file is left';

my (%workers, %status);

for (1 .. 40) {
    $res = call('POST', 'executions/unitary', trigger("w-$_", 'u1'));
    $status{$res->{status}}++;
    $workers{$res->{headers}{'x-worker'}}++;
    last if keys %workers == 2 && $_ >= 10;
}

is_deeply [keys %status], [409], 'every trigger is 409';
ok $workers{$stopper}, 'in the worker that stopped it';
is scalar(keys %workers), 2, '... and in the other one';
like $res->{content}, qr/"type":"urn:ngx-campaign:problem:campaign-stopped"/,
     'a campaign-stopped problem';
is outbox_lines(), 0, 'nothing was sent';

$res = call('POST', 'campaigns/order-sms/stop');
is since($res), $stopped_at, 'a second stop keeps the time of the first';

# 2. a reload keeps the switch: the zone's, whatever the file says

write_file('logs/state.json',
           qq/{"campaigns":{"order-sms":{"stopped":false,"since":1}}}\n/);

my @old = worker_pids();
kill 'HUP', master_pid();

ok wait_for(sub { my %o = map { $_ => 1 } @old;
                  my @new = worker_pids();
                  @new == 2 && !grep { $o{$_} } @new }),
   'reloaded: two new workers';

$res = call('GET', 'campaigns/order-sms');
like $res->{content}, qr/"stopped":true/, 'after the reload the campaign is stopped';
is since($res), $stopped_at, '... since the stop';
like read_file('logs/error.log'),
     qr/\[notice\] .*campaign "order-sms" is stopped in campaign_zone, running in campaign_state_file "[^"]+": the zone's state is kept/,
     'the file that disagrees is logged, and the zone wins';

$res = call('POST', 'executions/unitary', trigger('r-1', 'u1'));
is $res->{status}, 409, 'a trigger is still 409';

# the next switch writes the file again, from the zone

$res = call('POST', 'campaigns/order-sms/stop');
like read_file('logs/state.json'),
     qr/\A\{"campaigns":\{\n"order-sms":\{"stopped":true,"since":\d+\}\n\}\}\n\z/,
     'a stop writes the file again';

# 3. a restart takes the switch from the file

ok stop_nginx(), 'nginx quits';
ok start_nginx($conf, $port), 'and starts again';

$res = call('GET', 'campaigns/order-sms');
like $res->{content}, qr/"runtime":\{"status":"stopped","stopped":true,/,
     'after the restart the campaign is stopped';
is since($res), $stopped_at, '... since the stop';

$res = call('POST', 'executions/unitary', trigger('s-1', 'u1'));
is $res->{status}, 409, 'a trigger is 409';
is outbox_lines(), 0, 'nothing was sent';

# 4. resumed, and the restart keeps it running

$res = call('POST', 'campaigns/order-sms/resume');
is $res->{status}, 200, 'resume: 200';
my $resumed_at = since($res);

$res = call('POST', 'executions/unitary', trigger('s-2', 'u1'));
is $res->{status}, 202, 'a trigger runs again';
is outbox_lines(), 1, 'its message was sent';

ok stop_nginx(), 'nginx quits';
ok start_nginx($conf, $port), 'and starts again';

$res = call('GET', 'campaigns/order-sms');
like $res->{content}, qr/"runtime":\{"status":"live","stopped":false,/,
     'after the restart the campaign runs';
is since($res), $resumed_at, '... since the resume';

$res = call('POST', 'executions/unitary', trigger('s-3', 'u1'));
is $res->{status}, 202, 'a trigger runs';

ok stop_nginx(), 'nginx quits';

unlike read_file('logs/error.log'), qr/\[(alert|crit|emerg)\]|exited on signal/,
       'no alert, crit, emerg nor crash';

done_testing();
