# A reload swaps the campaign set atomically; a reload that fails on a
# broken definition keeps the old set serving.  This needs a master process
# and SIGHUP, so it drives nginx itself rather than through Test::Nginx.

use strict;
use warnings;

use Test::More;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use Time::HiRes qw(sleep);

my $nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
my $port = ($ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984) + 7;
my @modules = split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} || '');

my $prefix = tempdir(CLEANUP => 1);
mkdir "$prefix/$_" for qw(conf logs campaigns);

sub write_file {
    my ($name, $text) = @_;
    open my $fh, '>', "$prefix/$name" or die "$name: $!";
    print $fh $text;
    close $fh;
}

sub campaign {
    my ($id, $body) = @_;
    return qq/{"id": "$id", "name": "$id", "type": "transactional",
               "status": "live", "channel": "sms",
               "content": {"body": "$body"}}\n/;
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
    worker_connections 64;
}

http {
    access_log off;
    client_body_temp_path $prefix/logs/body;
    proxy_temp_path $prefix/logs/proxy;
    fastcgi_temp_path $prefix/logs/fastcgi;
    uwsgi_temp_path $prefix/logs/uwsgi;
    scgi_temp_path $prefix/logs/scgi;

    campaign_definitions $prefix/campaigns;

    server {
        listen 127.0.0.1:$port;

        campaign_gateway sms /_gw;

        location /ajo/im/ {
            campaign_api;
        }

        location = /_gw {
            internal;
            campaign_outbox logs/outbox.jsonl;
        }
    }
}
EOF

my $http = HTTP::Tiny->new(timeout => 5);
my $base = "http://127.0.0.1:$port/ajo/im";

sub campaigns_loaded {
    my $res = $http->get("$base/health");
    return $res->{content} =~ /"campaigns":(\d+)/ ? $1 : -1;
}

sub trigger {
    my ($id) = @_;
    my $res = $http->post("$base/executions/unitary", {
        headers => { 'Content-Type' => 'application/json' },
        content => qq/{"requestId":"r","campaignId":"$id","recipients":[/
                   . qq/{"type":"aep","userId":"u","namespace":"phone",/
                   . qq/"channelData":{"mobilePhoneNumber":"+14155550100"}}]}/,
    });
    return $res->{status};
}

sub master_pid {
    open my $fh, '<', "$prefix/logs/nginx.pid" or return;
    my $pid = <$fh>;
    chomp $pid;
    return $pid;
}

sub error_log {
    open my $fh, '<', "$prefix/logs/error.log" or return '';
    local $/;
    return <$fh>;
}

# a reload is asynchronous: poll until the new workers answer
sub wait_for {
    my ($cond) = @_;
    for (1 .. 50) {
        return 1 if $cond->();
        sleep 0.1;
    }
    return 0;
}

write_file('campaigns/first.json', campaign('first', 'one'));

is system($nginx, '-p', "$prefix/", '-c', "$prefix/conf/nginx.conf",
          '-e', "$prefix/logs/error.log"), 0, 'nginx starts';
ok wait_for(sub { campaigns_loaded() == 1 }), 'one campaign loaded';
is trigger('first'), 202, 'the first campaign triggers';
is trigger('second'), 404, 'the second does not exist yet';

write_file('campaigns/second.json', campaign('second', 'two'));
kill 'HUP', master_pid();

ok wait_for(sub { campaigns_loaded() == 2 }), 'reload: two campaigns';
is trigger('second'), 202, 'the new campaign triggers after the reload';

write_file('campaigns/third.json', '{"id": "third", "name": ');
kill 'HUP', master_pid();

ok wait_for(sub { error_log() =~ /third\.json", line \d+, column \d+:/ }),
   'the failed reload names the broken file, line and column';

sleep 0.3;
is campaigns_loaded(), 2, 'the old set keeps serving after a failed reload';
is trigger('first'), 202, 'old campaigns still trigger';
is trigger('second'), 202, 'and so does the one from the last good reload';

unlink "$prefix/campaigns/third.json";
unlink "$prefix/campaigns/first.json";
kill 'HUP', master_pid();

ok wait_for(sub { campaigns_loaded() == 1 }), 'a fixed reload swaps again';
is trigger('first'), 404, 'a removed campaign is gone';

my $pid = master_pid();
kill 'QUIT', $pid;
ok wait_for(sub { !kill 0, $pid }), 'nginx quits';

unlike error_log(), qr/\[(alert|crit)\]|exited on signal/,
       'no alert, crit or crash';

done_testing();
