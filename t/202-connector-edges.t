# Connectors at their edges: a gateway that cuts its answer short,
# resets the connection in the middle of it, or answers a megabyte; an
# SMTP relay that drops the session in the middle of DATA; an execution
# whose timeout is shorter than its connector's, with attempts running
# and attempts waiting for a place; and a worker that exits with
# transfers running.  nginx is driven by hand (t/150-helpers.pl), one
# worker, so that the log says what that worker did.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use FindBin;

require "$FindBin::Bin/150-helpers.pl";

our ($BASE, $PREFIX, @SERVERS);

my $port = $BASE + 120;
my $gw_port = $BASE + 121;
my $smtp_port = $BASE + 122;

# the gateway: what it does is the recipient's userId, up to a "-"

start_server($gw_port, \&gateway);

sub gateway {
    my ($c, $head, $body) = @_;
    my ($user) = $body =~ /"user":"([^"]+)"/;
    my ($b) = ($user // '') =~ /^([a-z0-9]+)/;
    $b //= '';
    my ($n) = $head =~ /^X-Campaign-Attempt: (\d+)/mi;

    append_line('logs/gateway.log', join ' ', $user // '-', $n // 0);

    if ($b eq 'cut') {
        print $c "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n"
                 . "Connection: close\r\n\r\nabc";
        return;
    }

    if ($b eq 'reset') {
        syswrite $c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc";
        sleep 0.05;
        return reset_connection($c);
    }

    if ($b eq 'huge') {
        return answer($c, 400, '{"error":"' . ('x' x (1 << 20)) . '"}');
    }

    if ($b eq 'hugeok') {
        return answer($c, 200, '{"ok":"' . ('y' x (1 << 20)) . '"}');
    }

    if ($b eq 'stall') {
        sleep 5;
        return;
    }

    answer($c, 202);
}

# an SMTP relay that takes a message up to DATA's 354, reads a little of
# it, and goes

start_server_smtp($smtp_port);

sub start_server_smtp {
    my ($p) = @_;

    my $listen = IO::Socket::INET->new(LocalAddr => "127.0.0.1:$p",
                                       Listen => 16, ReuseAddr => 1)
        or die "smtp on $p: $!";

    my $pid = fork // die "fork: $!";

    if ($pid) {
        close $listen;
        push @SERVERS, $pid;
        return;
    }

    $SIG{CHLD} = sub { 1 while waitpid(-1, POSIX::WNOHANG()) > 0 };
    $SIG{TERM} = sub { kill 'TERM', -$$; exit 0 };
    setpgrp(0, 0);

    while (1) {
        my $c = $listen->accept or next;

        if (fork) {
            close $c;
            next;
        }

        close $listen;
        $c->autoflush(1);
        print $c "220 relay.test ESMTP\r\n";

        while (my $line = <$c>) {
            append_line('logs/smtp.log', $line =~ s/\r?\n\z//r);

            if ($line =~ /^EHLO/i) {
                print $c "250-relay.test\r\n250 8BITMIME\r\n";

            } elsif ($line =~ /^DATA/i) {
                print $c "354 go ahead\r\n";
                my $part;
                sysread $c, $part, 16;
                reset_connection($c);
                exit 0;

            } elsif ($line =~ /^QUIT/i) {
                print $c "221 bye\r\n";
                last;

            } else {
                print $c "250 OK\r\n";
            }
        }

        close $c;
        exit 0;
    }
}

my $conf = <<"EOF";
    campaign_connector gw http {
        url      http://127.0.0.1:$gw_port/send;
        body     json;
        field    user  "{{recipient.userId}}";
        field    to    "{{recipient.address}}";
        timeout  1s;
    }

    campaign_connector one http {
        url              http://127.0.0.1:$gw_port/send;
        body             json;
        field            user  "{{recipient.userId}}";
        timeout          1s;
        max_connections  1;
    }

    campaign_connector relay smtp {
        url       smtp://127.0.0.1:$smtp_port;
        starttls  off;
        timeout   2s;
    }

    server {
        listen 127.0.0.1:$port;

        location /gw/ {
            campaign_api;
            campaign_gateway sms connector=gw;
            campaign_gateway_retries 1;
            campaign_gateway_retry_delay 10ms;
        }

        location /short/ {
            campaign_api;
            campaign_gateway sms connector=gw;
            campaign_execution_timeout 300ms;
        }

        location /one/ {
            campaign_api;
            campaign_gateway sms connector=one;
            campaign_execution_timeout 300ms;
        }

        location /mail/ {
            campaign_api;
            campaign_gateway email connector=relay;
            campaign_gateway_retries 1;
            campaign_gateway_retry_delay 10ms;
        }
    }
EOF

ok start_nginx($conf, $port, 1), 'nginx starts';

sub send_sms {
    my ($path, $rid, @users) = @_;
    my $t0 = time;
    my ($st, $body) = request($port, 'POST', "/$path/executions/unitary",
                              trigger($rid, @users));
    return ($st, $body, time - $t0);
}

sub gateway_lines {
    my ($prefix) = @_;
    return grep { /^\Q$prefix\E/ } split /\n/, read_file('logs/gateway.log');
}

sub recipient {
    my ($body, $user) = @_;
    my ($r) = $body =~ /(\{"userId":"\Q$user\E",.*?"attempts":\d+\})/;
    return $r // '';
}


# an answer cut short is no answer: retried, and its status is 502, not
# the 200 of its status line (a recipient accepted with it, so that the
# answer has each recipient's outcome)

my ($st, $body) = send_sms('gw', 'r1', 'cut-1', 'ok-1');

is $st, 202, 'an answer cut short, and one accepted: 202';
like recipient($body, 'cut-1'),
    qr/"status":"failed","reason":"transfer closed with 97 bytes remaining to read","gatewayStatus":502,"attempts":2/,
    '... the cut one failed after a retry, as a 502, libcurl saying why';
is scalar(gateway_lines('cut-1 ')), 2, '... the gateway got both attempts';


# the connection reset in the middle of the answer: the same

($st, $body) = send_sms('gw', 'r2', 'reset-1', 'ok-2');

is $st, 202, 'a connection reset in the middle of the answer: 202';
like recipient($body, 'reset-1'),
    qr/"status":"failed","reason":"[^"]+","gatewayStatus":502,"attempts":2/,
    '... failed after a retry, as a 502';


# a megabyte: the reason is 200 bytes of it; an accepted one is accepted

($st, $body) = send_sms('gw', 'r3', 'huge-1', 'hugeok-1');

is $st, 202, 'a megabyte of 400 and one of 200: 202';
like recipient($body, 'huge-1'),
    qr/"status":"failed","reason":"\{\\"error\\":\\"x{190}","gatewayStatus":400,"attempts":1/,
    '... the 400 fails at once, its reason the first 200 bytes';
like recipient($body, 'hugeok-1'), qr/"status":"accepted","gatewayStatus":200/,
    '... the 200 is accepted';


# an execution whose timeout (300ms) is shorter than its connector's
# (1s): it answers at its own, the transfer runs on to its end, unheard

my $took;
($st, $body, $took) = send_sms('short', 'r4', 'stall-1');

is $st, 504, 'the execution times out before its transfer: 504';
like $body, qr/"message":"the execution timed out \(campaign_execution_timeout\)"/,
    '... a timeout';
ok $took < 0.9, "... at its own timeout (${\ sprintf '%.2f', $took}s)";

is scalar(gateway_lines('stall-1 ')), 1, '... its one attempt was sent';


# attempts waiting for the one place of a connector when their execution
# times out: dropped unsent once the place is free, and the connector
# then serves the next execution

($st, $body, $took) = send_sms('one', 'r5', 'stall-a', 'stall-b', 'stall-c');

is $st, 504, 'three attempts, one place, the execution times out: 504';
is scalar(() = $body =~ /"message":"the execution timed out/g), 3,
    '... three timeouts';

sleep 1.5;

is join(',', map { (split / /)[0] } gateway_lines('stall-')), 'stall-1,stall-a',
    '... only the running one reached the gateway';

($st, $body) = send_sms('one', 'r6', 'ok-1');

is $st, 202, 'the connector serves the next execution';
like recipient($body, 'ok-1'), qr/"status":"accepted","gatewayStatus":202/,
    '... accepted';


# an SMTP relay that drops the session in the middle of DATA: transient,
# retried, 502

my $mail = q/{"requestId":"m1","campaignId":"welcome-email",/
    . q/"context":{"resetLink":"https:\/\/acme.example\/r"},"recipients":[/
    . q/{"type":"aep","userId":"u1","namespace":"email",/
    . q/"channelData":{"emailAddress":"ada@example.com"},/
    . q/"profile":{"person":{"name":{"firstName":"Ada"}}}}]}/;

($st, $body) = request($port, 'POST', '/mail/executions/unitary', $mail);

is $st, 502, 'a relay that drops the session in DATA: 502';
like $body, qr/"pointer":"\/recipients\/0","message":"[^"]+"/,
    '... with libcurl\'s reason';
is scalar(grep { /^DATA/ } split /\n/, read_file('logs/smtp.log')), 2,
    '... the relay saw DATA twice';


# a worker that exits with a transfer running (nginx -s quit lets it
# finish; the transfer is bounded by its timeout)

my $pid = fork // die;

if ($pid == 0) {
    send_sms('gw', 'r7', 'stall-quit');
    exit 0;
}

ok wait_for(sub { scalar gateway_lines('stall-quit') }, 30),
    'a transfer is running';

ok stop_nginx(), 'nginx quits with a transfer running';
waitpid $pid, 0;

my $log = read_file('logs/error.log');

unlike $log, qr/\[(alert|crit|emerg)\]/, 'no alert in the log';
unlike $log, qr/AddressSanitizer|runtime error|exited on signal/,
    'no sanitizer report, no crash';


# a worker stopped at once (nginx -s stop) with a transfer running and
# two waiting for the connector's one place: each is dropped, and said so

unlink "$PREFIX/logs/error.log";
start_server($gw_port, \&gateway);

ok start_nginx($conf, $port, 1), 'nginx starts again';

$pid = fork // die;

if ($pid == 0) {
    send_sms('one', 'r10', 'stall-x', 'stall-y', 'stall-z');
    exit 0;
}

ok wait_for(sub { scalar gateway_lines('stall-x') }, 30),
    'a transfer is running, two are waiting';

my $master = master_pid();
kill 'TERM', $master;

ok wait_for(sub { !kill 0, $master }, 100), 'nginx stops at once';
waitpid $pid, 0;

$log = read_file('logs/error.log');

is scalar(() = $log =~ /campaign: connector "one" transfer dropped at exit/g),
   1, '... the running transfer dropped, and logged';
is scalar(gateway_lines('stall-y')) + scalar(gateway_lines('stall-z')), 0,
   '... the waiting ones never sent';
unlike $log, qr/AddressSanitizer|runtime error|exited on signal/,
    '... no sanitizer report, no crash';

for my $s (@SERVERS) {
    kill 'TERM', $s;
    waitpid $s, 0;
}

@SERVERS = ();


# worker_connections too few for libcurl's sockets: a socket that nginx
# cannot watch fails its own transfer (retried), not every transfer of
# the worker, and not the worker

unlink "$PREFIX/logs/error.log";
start_server($gw_port, \&gateway);

ok start_nginx(<<"EOF", $port, 1, 8), 'nginx with 8 worker_connections';
    campaign_connector gw http {
        url      http://127.0.0.1:$gw_port/send;
        body     json;
        field    user  "{{recipient.userId}}";
        timeout  5s;
    }

    server {
        listen 127.0.0.1:$port;

        location /gw/ {
            campaign_api;
            campaign_gateway sms connector=gw;
            campaign_gateway_retries 2;
            campaign_gateway_retry_delay 50ms;
        }
    }
EOF

($st, $body) = send_sms('gw', 'r8', map { "many-$_" } 1 .. 10);

is $st, 202, 'ten transfers at once, sockets for a few: 202';

my @outcomes = map { recipient($body, "many-$_") } 1 .. 10;

is scalar(grep { /"status":"accepted","gatewayStatus":202/ } @outcomes)
   + scalar(grep { /"status":"failed","reason":"no connection for the socket: worker_connections are not enough","gatewayStatus":502,"attempts":3/ } @outcomes),
   10, '... each accepted, or failed for want of a connection';

$log = read_file('logs/error.log');

like $log, qr/gateway answered 502 for message \S+ \(no connection for the socket: worker_connections are not enough\), retrying/,
    '... which is retried';

($st, $body) = send_sms('gw', 'r9', 'after-1');

like recipient($body, 'after-1'), qr/"status":"accepted"/,
    'the worker serves the next execution';

ok stop_nginx(), 'nginx quits';

$log = read_file('logs/error.log');

unlike $log, qr/curl_multi_socket_action\(\) failed/,
    'no transfer but those without a connection failed';
unlike $log, qr/AddressSanitizer|runtime error|exited on signal/,
    'no sanitizer report, no crash';


# nginx -t: a NUL byte in a value that goes into a header or a URL as it
# is (strchr() finds NUL in any alphabet)

our ($NGINX, @MODULES, $CAMPAIGNS);

system('openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256'
       . " -out $PREFIX/AuthKey.p8 2>/dev/null") == 0 or die 'openssl';
system('openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048'
       . " -out $PREFIX/rsa.pem 2>/dev/null") == 0 or die 'openssl';

my $pem = read_file('rsa.pem') =~ s/\n/\\n/gr;

write_file('account.json', qq/{"client_email":"a\@b.iam.example",/
                           . qq/"private_key":"$pem"}/);

sub nginx_t {
    my ($connector) = @_;
    my $load = join '', map { "load_module $_;\n" } @MODULES;

    write_file('conf/t.conf', <<"EOF");
$load
error_log logs/t.log;
events {}
http {
    campaign_definitions $CAMPAIGNS;
$connector
}
EOF

    return scalar `$NGINX -t -p $PREFIX/ -c $PREFIX/conf/t.conf 2>&1`;
}

like nginx_t(qq/campaign_connector a apns { key_file $PREFIX\/AuthKey.p8;/
             . qq/ key_id ABC; team_id DEF; topic "com.a\0b"; }/),
     qr/\[emerg\] .*invalid character in "topic"/,
     'nginx -t: an APNs topic with a NUL';

like nginx_t(qq/campaign_connector a apns { key_file $PREFIX\/AuthKey.p8;/
             . qq/ key_id "AB\0C"; team_id DEF; }/),
     qr/\[emerg\] .*invalid character in "key_id"/,
     'nginx -t: an APNs key_id with a NUL';

like nginx_t(qq/campaign_connector a apns { key_file $PREFIX\/AuthKey.p8;/
             . qq/ key_id ABC; team_id DEF; topic com.a.b; }/),
     qr/test is successful/, 'nginx -t: the same connector without';

like nginx_t(qq/campaign_connector f fcm { service_account /
             . qq/$PREFIX\/account.json; project "shop\0x"; }/),
     qr/\[emerg\] .*invalid FCM project/,
     'nginx -t: an FCM project with a NUL';

like nginx_t(qq/campaign_connector f fcm { service_account /
             . qq/$PREFIX\/account.json; project shop-1; }/),
     qr/test is successful/, 'nginx -t: the same connector without';


like nginx_t(qq/campaign_connector f fcm { service_account /
             . qq/$PREFIX\/account.json; project shop-1; url ftp:\/\/x\/; }/),
     qr/\[emerg\] .*fcm connector "f": the url must start with "http:\/\/" or "https:\/\/"/,
     'nginx -t: an fcm url of another scheme';


# nginx -t: a header line that would go out cut short (a long bearer
# token in a header_file)

write_file('long.key', 'Bearer ' . ('k' x 4078) . "\n");
write_file('short.key', 'Bearer ' . ('k' x 4068) . "\n");

like nginx_t(qq/campaign_connector h http { url http:\/\/127.0.0.1\/;/
             . qq/ field to "{{recipient.address}}";/
             . qq/ header_file Authorization $PREFIX\/long.key; }/),
     qr/\[emerg\] .*header "Authorization" is longer than 4095 bytes/,
     'nginx -t: a header line of 4100 bytes';

like nginx_t(qq/campaign_connector h http { url http:\/\/127.0.0.1\/;/
             . qq/ field to "{{recipient.address}}";/
             . qq/ header_file Authorization $PREFIX\/short.key; }/),
     qr/test is successful/, 'nginx -t: one of 4090 bytes';

done_testing();
