# Idempotency across worker processes, reloads and crashes: identical
# triggers sent at once run once; a reload keeps the records; the claim of
# a worker killed in the middle lapses, so that the client can retry.
# This needs a master process, two workers, signals and a gateway that
# takes its time, so it drives nginx and a small gateway itself.

use strict;
use warnings;

use Test::More;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

my $nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
my $base_port = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
my $port = $base_port + 25;
my $gw_port = $base_port + 26;
my @modules = split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} || '');
my $campaigns = $ENV{TEST_NGINX_CAMPAIGNS} or die "TEST_NGINX_CAMPAIGNS";

my $prefix = tempdir(CLEANUP => 1);
mkdir "$prefix/$_" for qw(conf logs);

sub write_file {
    my ($name, $text) = @_;
    open my $fh, '>', "$prefix/$name" or die "$name: $!";
    print $fh $text;
    close $fh;
}

sub read_file {
    my ($name) = @_;
    open my $fh, '<', "$prefix/$name" or return '';
    local $/;
    return <$fh>;
}

# The gateway: answers 202 after the delay in its path (/delay/MS), and
# records the Idempotency-Key of every message it has answered.

my $gateway = fork // die "fork: $!";

my $main = $$;

# whatever happens to the tests, the gateway and nginx go with them
END {
    if ($$ == $main) {
        my $pid = read_file('logs/nginx.pid');
        kill 'QUIT', $pid if $pid && $pid =~ /^(\d+)/;

        if ($gateway) {
            kill 'TERM', $gateway;
            waitpid $gateway, 0;
        }
    }
}

if ($gateway == 0) {
    my $listen = IO::Socket::INET->new(LocalAddr => "127.0.0.1:$gw_port",
                                       Listen => 64, ReuseAddr => 1)
        or die "gateway: $!";

    $SIG{CHLD} = sub { 1 while waitpid(-1, WNOHANG) > 0 };

    # never outlives a test run that was killed
    alarm 300;

    while (1) {
        my $c = $listen->accept or next;

        if (fork) {
            close $c;
            next;
        }

        my ($head, $key, $len, $delay) = ('', '', 0, 0);

        while (my $line = <$c>) {
            $head .= $line;
            last if $line eq "\r\n";
        }

        $delay = $1 if $head =~ m{^POST /delay/(\d+)};
        $key = $1 if $head =~ /^Idempotency-Key: (\S+)/mi;
        $len = $1 if $head =~ /^Content-Length: (\d+)/mi;
        my $body;
        read $c, $body, $len;

        sleep $delay / 1000;

        open my $fh, '>>', "$prefix/logs/gateway.log" or exit 0;
        syswrite $fh, "$key\n";
        close $fh;

        print $c "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n"
                 . "Connection: close\r\n\r\n{}";
        close $c;
        exit 0;
    }
}

my $load = join '', map { "load_module $_;\n" } @modules;

write_file('conf/nginx.conf', <<"EOF");
$load
master_process on;
worker_processes 2;
daemon on;
pid logs/nginx.pid;
error_log logs/error.log info;

events {
    worker_connections 256;
}

http {
    access_log off;
    client_body_temp_path $prefix/logs/body;
    proxy_temp_path $prefix/logs/proxy;
    fastcgi_temp_path $prefix/logs/fastcgi;
    uwsgi_temp_path $prefix/logs/uwsgi;
    scgi_temp_path $prefix/logs/scgi;

    campaign_definitions $campaigns;
    campaign_zone campaign 1m;

    server {
        listen 127.0.0.1:$port;

        campaign_gateway sms /_gw;

        location /ajo/im/ {
            campaign_api;
        }

        location /slow/ {
            campaign_api;
            campaign_gateway sms /_slow;
        }

        location = /_gw {
            internal;
            proxy_pass http://127.0.0.1:$gw_port/delay/300;
        }

        location = /_slow {
            internal;
            proxy_pass http://127.0.0.1:$gw_port/delay/3000;
        }
    }
}
EOF

my $http = HTTP::Tiny->new(timeout => 10);

sub body {
    my ($rid, $n) = @_;
    my @r = map {
        qq/{"type":"aep","userId":"u$_","namespace":"phone",/
        . qq/"channelData":{"mobilePhoneNumber":"+1415555010$_"},/
        . qq/"profile":{"firstName":"P$_"}}/
    } 0 .. $n - 1;
    return qq/{"requestId":"$rid","campaignId":"order-sms",/
           . qq/"context":{"orderId":"$rid"},"recipients":[/
           . join(',', @r) . ']}';
}

sub post {
    my ($path, $body) = @_;
    return $http->post("http://127.0.0.1:$port$path", {
        headers => { 'Content-Type' => 'application/json' },
        content => $body,
    });
}

sub master_pid {
    my $pid = read_file('logs/nginx.pid');
    chomp $pid;
    return $pid;
}

sub wait_for {
    my ($cond, $tries) = @_;
    for (1 .. ($tries || 100)) {
        return 1 if $cond->();
        sleep 0.1;
    }
    return 0;
}

sub keys_seen {
    my %n;
    $n{$_}++ for split /\n/, read_file('logs/gateway.log');
    return \%n;
}

is system($nginx, '-p', "$prefix/", '-c', "$prefix/conf/nginx.conf",
          '-e', "$prefix/logs/error.log"), 0, 'nginx starts';
ok wait_for(sub { IO::Socket::INET->new("127.0.0.1:$port") }), 'it listens';

# 1. 50 identical triggers at once, over 50 connections, 2 workers

my $dir = "$prefix/logs/answers";
mkdir $dir;
my @kids;

for my $i (1 .. 50) {
    my $pid = fork // die;

    if ($pid == 0) {
        my $res = post('/ajo/im/executions/unitary', body('same', 2));
        open my $fh, '>', "$dir/$i";
        print $fh "$res->{status}\n",
                  ($res->{headers}{'idempotent-replayed'} || '-'), "\n",
                  $res->{content};
        close $fh;
        POSIX::_exit(0);
    }

    push @kids, $pid;
}

waitpid $_, 0 for @kids;

my (%status, %ids, $replayed);

for my $i (1 .. 50) {
    my ($status, $replay, $content) = split /\n/, read_file("logs/answers/$i"), 3;
    $status{$status}++;
    $replayed++ if $replay eq 'true';
    $ids{$1}++ if $status == 202 && $content =~ /"executionId":"([^"]+)"/;
}

my $seen = keys_seen();
is scalar(keys %$seen), 2, '50 identical triggers: the gateway got 2 messages';
is scalar(grep { $_ != 1 } values %$seen), 0, '... one per recipient';
is scalar(keys %ids), 1, 'every 202 carries the same executionId';
is +($status{202} || 0) + ($status{409} || 0), 50,
   'each answer is the first one, a replay, or 409 while it ran';
ok $replayed || $status{409}, 'the repeats were replays or 409s';

my $first = (keys %ids)[0];

# 2. a reload keeps the records

kill 'HUP', master_pid();
ok wait_for(sub { read_file('logs/error.log') =~ /gracefully shutting down/ }),
   'reloaded';
sleep 0.5;

my $res = post('/ajo/im/executions/unitary', body('same', 2));
is $res->{status}, 202, 'after the reload the repeat is still answered';
is $res->{headers}{'idempotent-replayed'}, 'true', '... as a replay';
like $res->{content}, qr/"executionId":"$first"/, '... of the first execution';
is scalar(keys %{ keys_seen() }), 2, '... and sends nothing';

$res = post('/ajo/im/executions/unitary', body('same', 3));
is $res->{status}, 422, 'another body under the same requestId is 422';

# 3. a worker killed while it runs a claimed trigger

truncate "$prefix/logs/gateway.log", 0;

my $kid = fork // die;

if ($kid == 0) {
    post('/slow/executions/unitary', body('crash', 1));
    POSIX::_exit(0);
}

sleep 0.5;

$res = post('/slow/executions/unitary', body('crash', 1));
is $res->{status}, 409, 'a repeat while the first runs is 409';
ok $res->{headers}{'retry-after'} =~ /^\d+$/, '... with Retry-After';

my @workers = grep { $_ } map { /^\s*(\d+)/ ? $1 : () }
              `ps -o pid= --ppid @{[ master_pid() ]}`;
kill 'KILL', @workers;
waitpid $kid, 0;

ok wait_for(sub { () = read_file('logs/error.log') =~ /exited on signal 9/g;
                  1 }), 'the workers were killed';
sleep 0.5;

$res = post('/ajo/im/executions/unitary', body('crash', 1));
is $res->{status}, 202, 'after the crash the repeat runs: the claim lapsed';
like read_file('logs/error.log'), qr/the claim of worker \d+ on an idempotency key has lapsed/,
     'the lapse is logged';

my $pid = master_pid();
kill 'QUIT', $pid;
ok wait_for(sub { !kill 0, $pid }), 'nginx quits';

kill 'TERM', $gateway;
waitpid $gateway, 0;
$gateway = 0;

unlike read_file('logs/error.log'), qr/\[(crit|emerg)\]|exited on signal (?!9)/,
       'no crit, emerg or crash but the kills';

done_testing();
