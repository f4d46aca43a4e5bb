# What the push connector suites (t/210-apns.t, t/211-fcm.t) share, on
# top of 150-helpers.pl and audience-helpers.pl: keys and certificates
# made with the openssl command at test time, and a second nginx that
# plays Apple's or Google's endpoint over HTTP/2 with TLS, proxying to a
# plain server of canned answers and, for answers that depend on what
# came before, to a small Perl server.
#
#   make_certs()              ca.crt, server.crt/key (signed by the CA, for
#                             127.0.0.1), self.crt/key (self-signed)
#   start_endpoint(%ports, $backend)
#                             the endpoint nginx: tls (CA-signed), self
#                             (self-signed), h2c (cleartext HTTP/2) proxy
#                             to backend, whose server{} body is given
#   endpoint_log($until)      its access log, one hash per request
#   verify_jwt($jwt, $pub)    header, claims, and whether the signature is
#                             good for the public key file (not checked
#                             without one)

use strict;
use warnings;

use Fcntl;
use JSON::PP;
use MIME::Base64 qw(decode_base64);
use Test::More;

our ($PREFIX, $NGINX, @SERVERS);

my $EP = "$PREFIX/ep";
my $MAIN = $$;

# a suite that dies leaves no nginx or server behind (forked servers and
# clients exit too, and must not stop them)

END {
    if ($$ == $MAIN) {
        my $status = $?;
        stop_endpoint();

        if (-s "$PREFIX/logs/nginx.pid") {
            stop_nginx();

        } else {
            kill 'TERM', grep { kill 0, $_ } @SERVERS;
        }

        $? = $status;
    }
}

sub openssl {
    my (@args) = @_;
    my $out = `openssl @args 2>&1`;
    die "openssl @args: $out" if $?;
    return $out;
}

sub make_certs {
    mkdir $EP;
    mkdir "$EP/logs";
    chmod 0777, "$EP/logs";

    my $ec = '-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes';

    openssl("req -x509 $ec -keyout $EP/ca.key -out $EP/ca.crt"
            . " -subj /CN=campaign-test-ca -days 2");
    openssl("req $ec -keyout $EP/server.key -out $EP/server.csr"
            . " -subj /CN=localhost");
    write_file('ep/san.ext', "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    openssl("x509 -req -in $EP/server.csr -CA $EP/ca.crt -CAkey $EP/ca.key"
            . " -CAcreateserial -out $EP/server.crt -days 2"
            . " -extfile $EP/san.ext");
    openssl("req -x509 $ec -keyout $EP/self.key -out $EP/self.crt"
            . " -subj /CN=localhost -days 2"
            . " -addext subjectAltName=IP:127.0.0.1,DNS:localhost");

    chmod 0644, glob "$EP/*";
}

# the endpoint nginx; %p: tls, self, h2c, backend (ports)

sub start_endpoint {
    my ($p, $backend) = @_;

    write_file('ep/nginx.conf', <<"EOF");
worker_processes 1;
daemon on;
pid $EP/logs/nginx.pid;
error_log $EP/logs/error.log info;

events {
    worker_connections 1024;
}

http {
    client_body_temp_path $EP/logs/body;
    proxy_temp_path $EP/logs/proxy;
    fastcgi_temp_path $EP/logs/fastcgi;
    uwsgi_temp_path $EP/logs/uwsgi;
    scgi_temp_path $EP/logs/scgi;

    log_format ep escape=json '{"c":"\$connection","port":"\$server_port",'
        '"h2":"\$http2",'
        '"method":"\$request_method","uri":"\$uri","status":"\$status",'
        '"auth":"\$http_authorization","topic":"\$http_apns_topic",'
        '"type":"\$http_apns_push_type","priority":"\$http_apns_priority",'
        '"expiration":"\$http_apns_expiration",'
        '"collapse":"\$http_apns_collapse_id","id":"\$http_apns_id",'
        '"ctype":"\$http_content_type","msec":"\$msec",'
        '"body":"\$request_body"}';

    access_log off;
    client_body_buffer_size 64k;
    client_body_in_single_buffer on;
    keepalive_requests 100000;
    http2_max_concurrent_streams 256;

    server {
        listen 127.0.0.1:$p->{tls} ssl http2;
        listen 127.0.0.1:$p->{h2c} http2;
        ssl_certificate $EP/server.crt;
        ssl_certificate_key $EP/server.key;
        access_log $EP/logs/access.log ep;

        location / {
            proxy_pass http://127.0.0.1:$p->{backend};
        }
    }

    server {
        listen 127.0.0.1:$p->{self} ssl http2;
        ssl_certificate $EP/self.crt;
        ssl_certificate_key $EP/self.key;
        access_log $EP/logs/access.log ep;

        location / {
            proxy_pass http://127.0.0.1:$p->{backend};
        }
    }

    server {
        listen 127.0.0.1:$p->{backend};
        default_type application/json;

$backend
    }
}
EOF

    system($NGINX, '-p', "$EP/", '-c', "$EP/nginx.conf",
           '-e', "$EP/logs/error.log") == 0 or return 0;

    return wait_for(sub { IO::Socket::INET->new("127.0.0.1:$p->{tls}") });
}

sub stop_endpoint {
    open my $fh, '<', "$EP/logs/nginx.pid" or return;
    my $pid = <$fh>;
    chomp $pid;
    kill 'QUIT', $pid;
    wait_for(sub { !kill 0, $pid }, 100);
}

# The endpoint's requests so far, each a hash (see log_format ep).  nginx
# logs a request once it has answered it: the log may be behind the
# answer by a moment.  So it waits until there are $until requests, or
# until $until->(@requests) is true, at most 5 s; or for a moment.

sub endpoint_log {
    my ($until) = @_;
    my $json = JSON::PP->new;
    my @log;

    wait_for(sub {
        @log = map { $json->decode($_) } grep { /\S/ } split /\n/,
               read_file('ep/logs/access.log');
        return ref $until ? $until->(@log) : @log >= ($until // 1e9);
    }, defined $until ? 50 : 3);

    return @log;
}

sub clear_endpoint_log {
    write_file('ep/logs/access.log', '');
}

sub base64url_decode {
    my ($s) = @_;
    $s =~ tr{-_}{+/};
    $s .= '=' x ((4 - length($s) % 4) % 4);
    return decode_base64($s);
}

# a DER INTEGER of a big-endian unsigned number

sub der_integer {
    my ($n) = @_;
    $n =~ s/^\x00+//;
    $n = "\x00$n" if $n eq '' || ord($n) & 0x80;
    return "\x02" . chr(length $n) . $n;
}

# (header, claims, verified) of a JWT; ES256's R || S is made DER again
# for the openssl command

sub verify_jwt {
    my ($jwt, $pub) = @_;
    my ($h, $c, $s) = split /\./, $jwt;
    return ({}, {}, 0) unless defined $s;

    my $json = JSON::PP->new;
    my $header = eval { $json->decode(base64url_decode($h)) } || {};
    my $claims = eval { $json->decode(base64url_decode($c)) } || {};
    my $sig = base64url_decode($s);

    return ($header, $claims, 0) unless defined $pub;

    if (($header->{alg} // '') eq 'ES256') {
        return ($header, $claims, 0) unless length $sig == 64;
        my $seq = der_integer(substr $sig, 0, 32)
                  . der_integer(substr $sig, 32, 32);
        $sig = "\x30" . chr(length $seq) . $seq;
    }

    write_file("jwt-$$.data", "$h.$c");
    write_file("jwt-$$.sig", $sig);
    my $cmd = "openssl dgst -sha256 -verify $pub"
              . " -signature $PREFIX/jwt-$$.sig $PREFIX/jwt-$$.data 2>&1";
    my $out = `$cmd`;

    return ($header, $claims, $out =~ /Verified OK/ ? 1 : 0);
}

# a file made at most once, whoever asks first: for answers that change
# after the first request (the Perl servers fork per connection)

sub first_time {
    my ($name) = @_;
    return sysopen(my $fh, "$PREFIX/$name", Fcntl::O_CREAT() | Fcntl::O_EXCL()
                                            | Fcntl::O_WRONLY());
}

# the API nginx's error.log holds none of these strings

sub no_secret_in_log {
    my ($what, @secrets) = @_;
    my $log = read_file('logs/error.log');
    my @found = grep { index($log, $_) >= 0 } grep { length > 8 } @secrets;
    ok !@found, "no $what in error.log" or diag "found: @found";
}

1;
