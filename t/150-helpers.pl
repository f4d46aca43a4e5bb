# Shared by the t/150-*.t suites, which drive nginx themselves (a master
# process, two workers, signals) as t/140-executions.t does: an nginx from
# a temporary prefix with the module, small upstream servers that
# misbehave on purpose, and a raw HTTP/2 client that can reset a stream.

use strict;
use warnings;

use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes qw(sleep time);

our $NGINX = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $BASE = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
our @MODULES = split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} || '');
our $CAMPAIGNS = $ENV{TEST_NGINX_CAMPAIGNS} or die "TEST_NGINX_CAMPAIGNS";
our $PREFIX = tempdir(CLEANUP => 1);
our @SERVERS;

mkdir "$PREFIX/$_" for qw(conf logs);

# workers of an nginx started by root run as nobody
chmod 0755, $PREFIX;
chmod 0777, "$PREFIX/logs";

sub write_file {
    my ($name, $text) = @_;
    open my $fh, '>', "$PREFIX/$name" or die "$name: $!";
    print $fh $text;
    close $fh;
}

sub read_file {
    my ($name) = @_;
    open my $fh, '<', "$PREFIX/$name" or return '';
    local $/;
    return <$fh>;
}

sub wait_for {
    my ($cond, $tries) = @_;
    for (1 .. ($tries || 100)) {
        return 1 if $cond->();
        sleep 0.1;
    }
    return 0;
}

# nginx with the http{} body given, 2 workers (or $workers), 256
# connections each (or $connections), error_log at info

sub start_nginx {
    my ($http, $port, $workers, $connections) = @_;
    my $load = join '', map { "load_module $_;\n" } @MODULES;

    write_file('conf/nginx.conf', <<"EOF");
$load
master_process on;
worker_processes ${\ ($workers || 2)};
daemon on;
pid logs/nginx.pid;
error_log logs/error.log info;

events {
    worker_connections ${\ ($connections || 256)};
}

http {
    access_log off;
    client_body_temp_path $PREFIX/logs/body;
    proxy_temp_path $PREFIX/logs/proxy;
    fastcgi_temp_path $PREFIX/logs/fastcgi;
    uwsgi_temp_path $PREFIX/logs/uwsgi;
    scgi_temp_path $PREFIX/logs/scgi;

    campaign_definitions $CAMPAIGNS;

$http
}
EOF

    system($NGINX, '-p', "$PREFIX/", '-c', "$PREFIX/conf/nginx.conf",
           '-e', "$PREFIX/logs/error.log") == 0 or return 0;

    return wait_for(sub { IO::Socket::INET->new("127.0.0.1:$port") });
}

sub master_pid {
    my $pid = read_file('logs/nginx.pid');
    chomp $pid;
    return $pid;
}

sub worker_pids {
    my $m = master_pid();
    return grep { $_ } split /\s+/, `pgrep -P $m`;
}

sub stop_nginx {
    my $pid = master_pid();
    kill 'QUIT', $pid if $pid;
    my $ok = wait_for(sub { !kill 0, $pid }, 150);

    for my $s (@SERVERS) {
        kill 'TERM', $s;
        waitpid $s, 0;
    }

    return $ok;
}

# A server that forks a child per connection: $handler->($socket, $head,
# $body) answers (or not).  Returns once it listens.

sub start_server {
    my ($port, $handler) = @_;

    my $listen = IO::Socket::INET->new(LocalAddr => "127.0.0.1:$port",
                                       Listen => 128, ReuseAddr => 1)
        or die "server on $port: $!";

    my $pid = fork // die "fork: $!";

    if ($pid) {
        close $listen;
        push @SERVERS, $pid;
        return $pid;
    }

    $SIG{CHLD} = sub { 1 while waitpid(-1, WNOHANG) > 0 };
    $SIG{TERM} = sub { kill 'TERM', -$$; exit 0 };
    setpgrp(0, 0);

    while (1) {
        my $c = $listen->accept or next;

        if (fork) {
            close $c;
            next;
        }

        close $listen;
        my ($head, $len, $body) = ('', 0, '');

        while (my $line = <$c>) {
            $head .= $line;
            last if $line eq "\r\n";
        }

        $len = $1 if $head =~ /^Content-Length: (\d+)/mi;
        read $c, $body, $len if $len;

        $handler->($c, $head, $body);
        close $c;
        exit 0;
    }
}

sub append_line {
    my ($name, $line) = @_;
    open my $fh, '>>', "$PREFIX/$name" or die "$name: $!";
    syswrite $fh, "$line\n";
    close $fh;
}

sub answer {
    my ($c, $status, $body) = @_;
    $body //= '{}';
    print $c "HTTP/1.1 $status X\r\nContent-Type: application/json\r\n"
             . "Content-Length: " . length($body) . "\r\n"
             . "Connection: close\r\n\r\n$body";
}

# a reset, not a close: RST instead of FIN
sub reset_connection {
    my ($c) = @_;
    setsockopt($c, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
    close $c;
}

# one request on its own connection: (status, body)

sub request {
    my ($port, $method, $path, $body, $timeout) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                  Timeout => $timeout || 10)
        or return (0, "connect: $!");

    $body //= '';
    print $s "$method $path HTTP/1.1\r\nHost: localhost\r\n"
             . "Content-Type: application/json\r\nConnection: close\r\n"
             . "Content-Length: " . length($body) . "\r\n\r\n$body";

    my $res = '';
    my $rin = '';
    vec($rin, fileno($s), 1) = 1;
    my $deadline = time + ($timeout || 10);

    while (time < $deadline) {
        my $rout = $rin;
        last unless select($rout, undef, undef, $deadline - time);
        my $n = sysread $s, $res, 65536, length $res;
        last unless $n;
    }

    close $s;
    my ($st) = $res =~ m{^HTTP/1\.[01] (\d+)};
    my (undef, $b) = split /\r\n\r\n/, $res, 2;
    return ($st || 0, $b // '');
}

sub trigger {
    my ($rid, @users) = @_;
    my @r = map {
        my ($u, $inline) = ref $_ ? @$_ : ($_, 1);
        qq/{"type":"aep","userId":"$u","namespace":"phone",/
        . qq/"channelData":{"mobilePhoneNumber":"+14155550100"}/
        . ($inline ? qq/,"profile":{"firstName":"P"}}/ : '}')
    } @users;
    return qq/{"requestId":"$rid","campaignId":"order-sms",/
           . qq/"context":{"orderId":"$rid"},"recipients":[/
           . join(',', @r) . ']}';
}

# HTTP/2 with prior knowledge, frames by hand

sub h2_frame {
    my ($type, $flags, $sid, $payload) = @_;
    return substr(pack('N', length $payload), 1) . pack('CCN', $type,
                  $flags, $sid) . $payload;
}

sub h2_field {
    my ($name, $value) = @_;
    die "long field" if length($name) > 126 || length($value) > 126;
    return "\x00" . chr(length $name) . $name . chr(length $value) . $value;
}

sub h2_request {
    my ($sid, $path, $body) = @_;
    my $h = h2_field(':method', 'POST') . h2_field(':path', $path)
            . h2_field(':scheme', 'http') . h2_field(':authority', 'x')
            . h2_field('content-type', 'application/json')
            . h2_field('content-length', length $body);
    return h2_frame(1, 4, $sid, $h) . h2_frame(0, 1, $sid, $body);
}

sub h2_connect {
    my ($port) = @_;
    my $s = IO::Socket::INET->new("127.0.0.1:$port") or die "h2: $!";
    syswrite $s, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" . h2_frame(4, 0, 0, '');
    return $s;
}

# frames read until $done->(\@frames) or the time is up

sub h2_read {
    my ($s, $timeout, $done) = @_;
    my ($buf, @frames) = ('');
    my $deadline = time + $timeout;
    my $rin = '';
    vec($rin, fileno($s), 1) = 1;

    while (time < $deadline) {
        my $rout = $rin;
        last unless select($rout, undef, undef, $deadline - time);
        my $n = sysread $s, $buf, 65536, length $buf;
        last unless $n;

        while (length $buf >= 9) {
            my $len = unpack('N', "\0" . substr($buf, 0, 3));
            last if length $buf < 9 + $len;
            my ($type, $flags, $sid) = unpack('CCN', substr($buf, 3, 6));
            push @frames, { type => $type, flags => $flags,
                            sid => $sid & 0x7fffffff,
                            data => substr($buf, 9, $len) };
            substr($buf, 0, 9 + $len) = '';
        }

        last if $done && $done->(\@frames);
    }

    return \@frames;
}

1;
