# Frequency caps across worker processes and reloads: the counts live in
# campaign_zone, so that concurrent triggers in two workers never send a
# profile more than a rule's max, and a reload keeps them.  A place is
# reserved before a message is sent: with a gateway that takes its time,
# counting only the messages already accepted would let them all through.
# This needs a master process, two workers, a reload and a slow gateway,
# so it drives nginx and the gateway itself.

use strict;
use warnings;

use FindBin;
use HTTP::Tiny;
use Test::More;
use Time::HiRes qw(sleep);

require "$FindBin::Bin/150-helpers.pl";

our ($BASE, $PREFIX);

my $port = $BASE + 31;
my $gw_port = $BASE + 32;

# the gateway: answers 202 after 300 ms, and records each recipient

start_server($gw_port, sub {
    my ($c, $head, $body) = @_;
    my ($user) = $body =~ /"recipient":\{"userId":"([^"]+)"/;
    sleep 0.3;
    append_line('logs/gateway.log', $user // '-');
    answer($c, 202);
});

write_file('conf/rules.json', <<'EOF');
{
    "rules": [
        { "name": "email-3", "channel": "email", "max": 3, "window": "month" }
    ]
}
EOF

ok start_nginx(<<"EOF", $port), 'nginx starts';
    campaign_zone campaign 1m;
    campaign_frequency_rules $PREFIX/conf/rules.json;

    log_format worker '\$pid';

    server {
        listen 127.0.0.1:$port;
        access_log $PREFIX/logs/access.log worker;

        campaign_gateway email /_gw;

        location /ajo/im/ {
            campaign_api;
        }

        location = /_gw {
            internal;
            proxy_pass http://127.0.0.1:$gw_port/;
        }
    }
EOF

my $http = HTTP::Tiny->new(timeout => 10);

sub post {
    my ($rid, $user) = @_;
    return $http->post("http://127.0.0.1:$port/ajo/im/executions/unitary", {
        headers => { 'Content-Type' => 'application/json' },
        content => qq/{"requestId":"$rid","campaignId":"marketing-email",/
                   . qq/"recipients":[{"type":"aep","userId":"$user",/
                   . qq/"namespace":"email","channelData":/
                   . qq/{"emailAddress":"$user\@example.com"},/
                   . qq/"profile":{"firstName":"P"}}]}/,
    });
}

sub sent_to {
    my ($user) = @_;
    return scalar grep { $_ eq $user } split /\n/, read_file('logs/gateway.log');
}

# 1. 20 triggers for one profile at once, over 20 connections, 2 workers

my $dir = "$PREFIX/logs/answers";
mkdir $dir;
my @kids;

for my $i (1 .. 20) {
    my $pid = fork // die;

    if ($pid == 0) {
        my $res = post("hot-$i", 'hot');
        open my $fh, '>', "$dir/$i";
        print $fh "$res->{status}\n$res->{content}";
        close $fh;
        POSIX::_exit(0);
    }

    push @kids, $pid;
}

waitpid $_, 0 for @kids;

my %outcome;

for my $i (1 .. 20) {
    my ($status, $content) = split /\n/, read_file("logs/answers/$i"), 2;
    my ($o) = $content =~ /"status":"(\w+)"/;
    $outcome{"$status " . ($o // '-')}++;
}

is_deeply \%outcome, { '202 accepted' => 3, '202 capped' => 17 },
    '20 concurrent triggers: 3 accepted, 17 capped, all 202';
is sent_to('hot'), 3, 'the gateway got 3 messages, the max';

# which worker takes a connection is the kernel's choice: told, not tested
my %workers = map { $_ => 1 } split /\n/, read_file('logs/access.log');
note 'workers that answered: ' . scalar(keys %workers);

# 2. a reload keeps the counts

kill 'HUP', master_pid();
ok wait_for(sub { read_file('logs/error.log') =~ /gracefully shutting down/ }),
   'reloaded';
sleep 0.5;

my $res = post('hot-after', 'hot');
is $res->{status}, 202, 'after the reload, the profile is answered 202';
like $res->{content}, qr/"status":"capped","reason":"capped by frequency rule \\"email-3\\": at most 3 per month"/,
     '... capped: the count survived the reload';

$res = post('cold-after', 'cold');
like $res->{content}, qr/"status":"accepted"/, 'another profile is sent';
is sent_to('hot'), 3, 'the capped profile still got 3 messages';
is sent_to('cold'), 1, 'the other got its one';

ok stop_nginx(), 'nginx quits';

unlike read_file('logs/error.log'), qr/\[(alert|crit|emerg)\]|exited on signal/,
       'no alert, crit, emerg or crash';

done_testing();
