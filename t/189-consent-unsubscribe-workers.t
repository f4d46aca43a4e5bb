# One-click unsubscribes end to end, across worker processes and a
# restart: the link that a marketing e-mail's payload carries, taken
# from the outbox as a mailbox provider takes it from the headers,
# unsubscribes its address through whichever worker gets the POST; the
# next trigger, in either worker, is suppressed; two workers that take
# unsubscribes one after the other both land in campaign_unsubscribe_file;
# and after a restart the file suppresses them again.  This needs a
# master process, two workers and a restart, so it drives nginx itself.

use strict;
use warnings;

use FindBin;
use HTTP::Tiny;
use Test::More;

require "$FindBin::Bin/150-helpers.pl";

our ($BASE, $PREFIX);

my $port = $BASE + 89;
my $file = "$PREFIX/logs/unsubscribes.txt";

write_file('conf/unsubscribe.key', ('0123456789abcdef' x 4) . "\n");

my $conf = <<"EOF";
    campaign_zone                campaign 1m;
    campaign_unsubscribe_url     http://127.0.0.1:$port/u;
    campaign_unsubscribe_key     $PREFIX/conf/unsubscribe.key;
    campaign_unsubscribe_file    $file;

    server {
        listen 127.0.0.1:$port reuseport;

        campaign_gateway email /_gw;

        location /ajo/im/ {
            campaign_api;
        }

        location = /u {
            campaign_unsubscribe;
            add_header X-Worker \$pid always;
        }

        location = /_gw {
            internal;
            campaign_outbox logs/outbox.jsonl;
        }
    }
EOF

my $http = HTTP::Tiny->new(timeout => 10, keep_alive => 0);

sub marketing {
    my ($rid, @addresses) = @_;
    my $r = join ',', map {
        qq/{"type":"aep","userId":"$_","namespace":"email",/
        . qq/"channelData":{"emailAddress":"$_"},"profile":{}}/
    } @addresses;
    return $http->request('POST',
        "http://127.0.0.1:$port/ajo/im/executions/unitary", {
            headers => { 'Content-Type' => 'application/json' },
            content => qq/{"requestId":"$rid","campaignId":"marketing-email",/
                       . qq/"recipients":[$r]}/,
        });
}

# the links of the outbox's messages, by address

sub links {
    my %links;
    for (split /\n/, read_file('logs/outbox.jsonl')) {
        my ($addr) = /"address":"([^"]+)"/;
        my ($url) = /"List-Unsubscribe":"<([^>]+)>"/;
        $links{$addr} = $url if $url;
    }
    return %links;
}

# a test that dies leaves no nginx behind

END {
    local $?;
    my $pid = master_pid();
    stop_nginx() if $pid =~ /^\d+$/ && kill 0, $pid;
}

ok start_nginx($conf, $port), 'nginx starts, no unsubscribe file yet';

my @who = map { "user$_\@example.com" } 1 .. 6;

my $res = marketing('w1', @who);
is $res->{status}, 202, 'six marketing e-mails';
is scalar(() = $res->{content} =~ /"status":"accepted"/g), 6,
   '... all accepted';

my %links = links();
is scalar(keys %links), 6, 'each payload has its List-Unsubscribe link';
like read_file('logs/outbox.jsonl'),
     qr/"List-Unsubscribe-Post":"List-Unsubscribe=One-Click"/,
     '... and List-Unsubscribe-Post';

# the provider's one-click POST, one connection each: any worker answers

my %workers;

for my $addr (@who[0 .. 3]) {
    $res = $http->request('POST', $links{$addr}, {
        headers => { 'Content-Type' => 'application/x-www-form-urlencoded' },
        content => 'List-Unsubscribe=One-Click',
    });
    is $res->{status}, 200, "$addr unsubscribes with its own link";
    $workers{$res->{headers}{'x-worker'}}++;
}

SKIP: {
    skip 'one worker took every POST', 1 if keys %workers < 2;
    pass 'both workers took unsubscribes';
}

is join('', sort split /^/, read_file('logs/unsubscribes.txt')),
   join('', map { "email $_\n" } sort @who[0 .. 3]),
   'the file lists the four, whichever worker wrote it last';

# a link for one address does not unsubscribe another

(my $other = $links{$who[4]}) =~ s/user5%40/user6%40/;
$res = $http->request('POST', $other);
is $res->{status}, 403, 'a link with another address is refused';

$res = marketing('w2', @who);
like $res->{content},
     qr/\A(?:.*?"status":"suppressed"){4}(?:.*?"status":"accepted"){2}/,
     'the next trigger: four suppressed, two sent';

ok stop_nginx(), 'nginx stops';
ok start_nginx($conf, $port), 'nginx starts again, with the file';

$res = marketing('w3', @who);
like $res->{content},
     qr/\A(?:.*?"status":"suppressed"){4}(?:.*?"status":"accepted"){2}/,
     'after the restart: still four suppressed';

unlike read_file('logs/error.log'), qr/\[(?:alert|crit|emerg)\]/,
       'no alert, crit nor emerg in the log';
unlike read_file('logs/error.log'), qr/0123456789abcdef/,
       'the key is never logged';

ok stop_nginx(), 'nginx stops';

done_testing();
