# The outbox's memory of Idempotency-Keys is shared by the worker
# processes and kept across a reload: clients that send the same messages
# at the same time to two workers get one line per key, and so do messages
# sent again after a reload.  This needs a master process, concurrent
# clients and SIGHUP, so it drives nginx itself rather than through
# Test::Nginx.

use strict;
use warnings;

use Test::More;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use Time::HiRes qw(sleep);

my $nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
my $port = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
my @modules = split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} || '');

my $prefix = tempdir(CLEANUP => 1);
mkdir "$prefix/$_" for qw(conf logs);

my $nkeys = 50;
my $nclients = 4;

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

# the generation tells the new workers' answers from the old ones'
sub config {
    my ($generation) = @_;
    my $load = join '', map { "load_module $_;\n" } @modules;

    return <<"EOF";
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
    client_body_temp_path $prefix/logs/body;
    proxy_temp_path $prefix/logs/proxy;
    fastcgi_temp_path $prefix/logs/fastcgi;
    uwsgi_temp_path $prefix/logs/uwsgi;
    scgi_temp_path $prefix/logs/scgi;

    log_format worker '\$pid \$http_idempotency_key';

    server {
        listen 127.0.0.1:$port;
        access_log off;

        location = /outbox {
            access_log logs/access.log worker;
            campaign_outbox logs/outbox.jsonl;
        }

        location = /generation {
            return 200 "$generation";
        }
    }
}
EOF
}

sub master_pid {
    my $pid = read_file('logs/nginx.pid');
    chomp $pid;
    return $pid;
}

sub wait_for {
    my ($cond) = @_;
    for (1 .. 50) {
        return 1 if $cond->();
        sleep 0.1;
    }
    return 0;
}

sub generation {
    my $res = HTTP::Tiny->new(timeout => 2)
                        ->get("http://127.0.0.1:$port/generation");
    return $res->{success} ? $res->{content} : '';
}

# Each client sends every key once, starting at a key of its own, so that
# the clients send the same key at about the same time.  It reports one
# line per answer: "status key duplicate|written".
sub run_clients {
    my ($round) = @_;
    my @pids;

    for my $c (0 .. $nclients - 1) {
        my $pid = fork // die "fork: $!";

        if ($pid == 0) {
            my $http = HTTP::Tiny->new(timeout => 5, keep_alive => 0);
            open my $out, '>', "$prefix/client-$round-$c" or die $!;

            for my $i (0 .. $nkeys - 1) {
                my $k = "key-" . (($i + $c * 7) % $nkeys);
                my $res = $http->post("http://127.0.0.1:$port/outbox", {
                    headers => { 'Content-Type' => 'application/json',
                                 'Idempotency-Key' => $k },
                    content => qq/{"key":"$k","client":$c,"round":$round}/,
                });
                printf $out "%s %s %s\n", $res->{status}, $k,
                       $res->{content} =~ /"duplicate":true/
                       ? 'duplicate' : 'written';
            }

            close $out;
            exit 0;
        }

        push @pids, $pid;
    }

    waitpid $_, 0 for @pids;

    return join '', map { read_file("client-$round-$_") }
                    0 .. $nclients - 1;
}

sub lines_per_key {
    my %n;
    my $text = read_file('logs/outbox.jsonl');
    $n{$1}++ while $text =~ /^\{"key":"([^"]+)"/mg;
    return \%n;
}

write_file('conf/nginx.conf', config(1));

is system($nginx, '-p', "$prefix/", '-c', "$prefix/conf/nginx.conf",
          '-e', "$prefix/logs/error.log"), 0, 'nginx starts';
ok wait_for(sub { generation() eq '1' }), 'nginx answers';

# four clients, two workers, fifty keys

my $answers = run_clients(1);
my @answers = split /\n/, $answers;

is scalar @answers, $nclients * $nkeys, 'every request answered';
is scalar(grep { /^202 / } @answers), $nclients * $nkeys, 'all with 202';
is scalar(grep { / written$/ } @answers), $nkeys,
   'one answer per key says written, the others duplicate';

my $lines = lines_per_key();
is scalar keys %$lines, $nkeys, 'the outbox has every key';
is scalar(grep { $_ != 1 } values %$lines), 0, 'each key on one line only';
like read_file('logs/outbox.jsonl'),
     qr/\A(\{"key":"key-\d+","client":\d,"round":1\}\n){$nkeys}\z/,
     'whole lines only';

my %workers = map { (split ' ')[0] => 1 }
              split /\n/, read_file('logs/access.log');
cmp_ok scalar keys %workers, '>=', 2, 'both workers wrote to the outbox';

# a reload keeps the keys written

write_file('conf/nginx.conf', config(2));
kill 'HUP', master_pid();
ok wait_for(sub { generation() eq '2' }), 'the reload is done';

$answers = run_clients(2);
@answers = split /\n/, $answers;

is scalar(grep { /^202 key-\d+ duplicate$/ } @answers), $nclients * $nkeys,
   'after the reload, every key is still known: all duplicates';
is scalar keys %{ lines_per_key() }, $nkeys, 'and nothing more written';

my $res = HTTP::Tiny->new->post("http://127.0.0.1:$port/outbox", {
    headers => { 'Content-Type' => 'application/json',
                 'Idempotency-Key' => 'key-new' },
    content => '{"key":"key-new"}',
});
is $res->{content}, qq/{"status":"accepted"}\n/, 'a new key is written';
is scalar keys %{ lines_per_key() }, $nkeys + 1, 'on a line of its own';

my $pid = master_pid();
kill 'QUIT', $pid;
ok wait_for(sub { !kill 0, $pid }), 'nginx quits';

unlike read_file('logs/error.log'),
       qr/\[(alert|crit|emerg)\]|exited on signal/, 'no alert, crit or crash';

done_testing();
