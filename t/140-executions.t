# Executions outlive their request: a client that leaves (HTTP/1.1 or
# HTTP/2) does not stop them, a reload lets the old workers finish what
# they have started (every message reaches the gateway exactly once), and
# campaign_execution_timeout bounds an execution.  This needs a master
# process, SIGHUP and a gateway that takes its time, so it drives nginx
# and a small gateway server itself rather than through Test::Nginx.

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
my $port = $base_port + 11;
my $h2_port = $base_port + 12;
my $gw_port = $base_port + 13;
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

    server {
        listen 127.0.0.1:$port;
        listen 127.0.0.1:$h2_port http2;

        campaign_gateway sms /_gw;

        location /ajo/im/ {
            campaign_api;
        }

        location /bounded/ {
            campaign_api;
            campaign_execution_timeout 300ms;
        }

        location = /_gw {
            internal;
            proxy_pass http://127.0.0.1:$gw_port/delay/800;
        }
    }
}
EOF

my $http = HTTP::Tiny->new(timeout => 10);
my $url = "http://127.0.0.1:$port/ajo/im/executions/unitary";

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

# 1. triggers in flight across a reload

my @kids;

for my $i (1 .. 6) {
    my $pid = fork // die;

    if ($pid == 0) {
        my $res = $http->post($url, {
            headers => { 'Content-Type' => 'application/json' },
            content => body("reload-$i", 3),
        });
        my $ok = $res->{status} == 202
                 && scalar(() = $res->{content} =~ /"accepted"/g) == 3;
        exit($ok ? 0 : 1);
    }

    push @kids, $pid;
}

sleep 0.3;
kill 'HUP', master_pid();

my $answered = 0;
for my $pid (@kids) {
    waitpid $pid, 0;
    $answered++ if $? == 0;
}

is $answered, 6, 'every trigger sent before the reload is answered 202, '
                 . 'every message accepted';

my $seen = keys_seen();
is scalar(keys %$seen), 18, 'the gateway got the 18 messages';
is scalar(grep { $_ != 1 } values %$seen), 0, '... each exactly once';

ok wait_for(sub { read_file('logs/error.log') =~ /gracefully shutting down/ }),
   'the old workers were told to quit';

my $res = $http->post($url, {
    headers => { 'Content-Type' => 'application/json' },
    content => body('after-reload', 1),
});
is $res->{status}, 202, 'a trigger after the reload goes to a new worker';

ok wait_for(sub { read_file('logs/error.log') =~ /exit(ed|ing)/ }),
   'the old workers exit once their executions have settled';

# 2. a client that leaves while its messages are being sent (HTTP/1.1)

truncate "$prefix/logs/gateway.log", 0;

my $s = IO::Socket::INET->new("127.0.0.1:$port") or die;
my $b = body('leave-h1', 2);
print $s "POST /ajo/im/executions/unitary HTTP/1.1\r\nHost: localhost\r\n"
         . "Content-Type: application/json\r\nContent-Length: "
         . length($b) . "\r\n\r\n$b";
sleep 0.2;
close $s;

ok wait_for(sub { scalar(keys %{ keys_seen() }) == 2 }),
   'HTTP/1.1: the messages reach the gateway after the client left';
like read_file('logs/error.log'),
     qr/\[info\] .*the client left, execution [0-9a-f-]{36} goes on/,
     'HTTP/1.1: the client leaving is logged at info with the executionId';

# 3. the same over HTTP/2

SKIP: {
    skip 'curl without HTTP/2', 2 unless `curl -V` =~ /HTTP2/;

    truncate "$prefix/logs/gateway.log", 0;
    my $before = () = read_file('logs/error.log') =~ /the client left/g;

    system('curl', '-s', '-o', '/dev/null', '--http2-prior-knowledge',
           '--max-time', '0.3', '-H', 'Content-Type: application/json',
           '--data-binary', body('leave-h2', 2),
           "http://127.0.0.1:$h2_port/ajo/im/executions/unitary");

    ok wait_for(sub { scalar(keys %{ keys_seen() }) == 2 }),
       'HTTP/2: the messages reach the gateway after the client left';

    my $after = () = read_file('logs/error.log') =~ /the client left/g;
    is $after - $before, 1, 'HTTP/2: the client leaving is logged once';
}

# 4. campaign_execution_timeout

my $t0 = time;
$res = $http->post("http://127.0.0.1:$port/bounded/executions/unitary", {
    headers => { 'Content-Type' => 'application/json' },
    content => body('bounded', 1),
});
my $took = time - $t0;

is $res->{status}, 504, 'an execution over its time answers 504';
like $res->{content}, qr/"the execution timed out"/, '... and says why';
ok $took < 0.75, "... when its time is up, not when the gateway answers"
                 . sprintf(' (%.2fs)', $took);
like read_file('logs/error.log'),
     qr/\[warn\] .*execution timed out after \d+ms .*1 message\(s\) unsettled/,
     'the timeout is logged once, at warn';

my $pid = master_pid();
kill 'QUIT', $pid;
ok wait_for(sub { !kill 0, $pid }), 'nginx quits';

kill 'TERM', $gateway;
waitpid $gateway, 0;
$gateway = 0;

unlike read_file('logs/error.log'),
       qr/\[(alert|crit|emerg)\]|exited on signal|abandoned/,
       'no alert, crit, crash or abandoned message';

done_testing();
