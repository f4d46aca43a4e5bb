# What the audience suites (t/190-t/194) share, on top of 150-helpers.pl:
# recipients and audiences written to $PREFIX/audiences, calls to the API
# at /ajo/im/ on $API_PORT, and what the outbox got.  A suite sets
# $API_PORT before its first call.

use strict;
use warnings;

use HTTP::Tiny;
use Test::More;

our ($PREFIX, $CAMPAIGNS, $NGINX, @MODULES, $API_PORT);

my $http = HTTP::Tiny->new(timeout => 10, keep_alive => 0);

# an AJO recipient object, one line; consent => "n" declines marketing

sub recipient {
    my ($user, %o) = @_;
    my $address = $o{address} // "$user\@example.com";
    my $consent = $o{consent}
                  ? qq/,"consents":{"marketing":{"email":/
                    . qq/{"val":"$o{consent}"}}}/
                  : '';
    return qq/{"type":"aep","userId":"$user","namespace":"email",/
           . qq/"channelData":{"emailAddress":"$address"},/
           . qq/"profile":{"name":"$user"$consent}}/;
}

sub audience {
    my ($name, @lines) = @_;
    write_file("audiences/$name.jsonl", join('', map { "$_\n" } @lines));
}

# a path under /ajo/im/, or from the root when it starts with "/"

sub call {
    my ($method, $path, $body, $headers) = @_;
    $path = "/ajo/im/$path" unless $path =~ m{^/};
    return $http->request($method, "http://127.0.0.1:$API_PORT$path", {
        headers => { 'Content-Type' => 'application/json',
                     %{ $headers || {} } },
        defined $body ? (content => $body) : (),
    });
}

sub start {
    my ($campaign, $audience, $extra, $headers) = @_;
    $extra //= '';
    return call('POST', 'executions/audience',
                qq/{"campaignId":"$campaign","audience":{"id":"$audience"}/
                . qq/$extra}/, $headers);
}

sub execution_id {
    my ($res) = @_;
    return $res->{content} =~ /"executionId":"([0-9a-f-]{36})"/ ? $1 : '';
}

sub status {
    my ($id) = @_;
    return call('GET', "executions/audience/$id");
}

sub wait_status {
    my ($id, $want, $tries) = @_;
    my $res;
    wait_for(sub { $res = status($id);
                   $res->{content} =~ /"status":"$want"/ }, $tries || 200);
    return $res;
}

# the outbox's lines of an execution

sub outbox {
    my ($id) = @_;
    return grep { /"executionId":"$id"/ }
           split /\n/, read_file('logs/outbox.jsonl');
}

# each of $prefix1 .. $prefix$n in the execution's messages, once

sub exactly_once {
    my ($id, $n, $prefix) = @_;
    my %users;
    for (outbox($id)) {
        $users{$1}++ if /"userId":"([^"]+)"/;
    }
    is_deeply [sort keys %users], [sort map { "$prefix$_" } 1 .. $n],
              "every recipient of $prefix is in the outbox";
    ok !(grep { $_ != 1 } values %users), '... exactly once'
        or diag join ' ', map { "$_=$users{$_}" }
                          grep { $users{$_} != 1 } sort keys %users;
}

# nginx -t of an http{} body: what it says

sub nginx_t {
    my ($body) = @_;
    my $load = join '', map { "load_module $_;\n" } @MODULES;
    write_file('conf/test.conf', <<"CONF");
$load
events {}
http {
    campaign_definitions $CAMPAIGNS;
$body
}
CONF
    my $cmd = "$NGINX -t -p $PREFIX/ -c $PREFIX/conf/test.conf"
              . " -e $PREFIX/logs/test.log 2>&1";
    return scalar `$cmd`;
}

1;
