# campaign_state_file and campaign_unsubscribe_file are written by the
# worker processes, as their user, long after nginx has started: a
# directory that user cannot write would only show at the first stop or
# unsubscribe.  nginx -t (and every start and reload) warns at once,
# naming the file, the user and what cannot be done; the configuration
# is still good.  nginx started by root runs its workers as "user"
# (nobody by default), so this drives nginx -t itself, without "user
# root".

use strict;
use warnings;

use FindBin;
use Test::More;

require "$FindBin::Bin/150-helpers.pl";

our ($NGINX, @MODULES, $PREFIX);

my $root = $> == 0;

# nobody, as root; as anyone else the workers run as that user, whom a
# directory of mode 0555 stops all the same

my $user = $root ? "user nobody nogroup;\n" : '';

mkdir "$PREFIX/$_" for qw(ro rw private private/rw);
chmod 0555, "$PREFIX/ro";
chmod 0777, "$PREFIX/rw";
chmod 0700, "$PREFIX/private";
chmod 0777, "$PREFIX/private/rw";

sub nginx_t {
    my ($http) = @_;
    my $load = join '', map { "load_module $_;\n" } @MODULES;

    write_file('conf/nginx.conf', <<"EOF");
$load
$user
pid logs/nginx.pid;
error_log logs/error.log info;

events {
    worker_connections 64;
}

http {
    campaign_zone campaign 1m;

$http
}
EOF

    my $out = `$NGINX -t -p $PREFIX/ -c $PREFIX/conf/nginx.conf -e $PREFIX/logs/error.log 2>&1`;
    return ($? >> 8, $out);
}

my ($rc, $out);

# 1. a directory the workers cannot write: warned, and still a good
#    configuration

($rc, $out) = nginx_t(<<"EOF");
    campaign_state_file $PREFIX/ro/state.json;
    campaign_unsubscribe_file $PREFIX/ro/unsubscribes.txt;
EOF

is $rc, 0, 'nginx -t passes with an unwritable directory';
like $out, qr/\[warn\] campaign_state_file "\Q$PREFIX\E\/ro\/state\.json": user "[^"]+" of the worker processes cannot create files in "\Q$PREFIX\E\/ro": a stop or resume will not outlast a restart/,
     'campaign_state_file: warned, with the user and the directory';
like $out, qr/\[warn\] campaign_unsubscribe_file "\Q$PREFIX\E\/ro\/unsubscribes\.txt": user "[^"]+" of the worker processes cannot create files in "\Q$PREFIX\E\/ro": an unsubscribe will not outlast a restart/,
     'campaign_unsubscribe_file: warned, with the user and the directory';
like $out, qr/user "nobody"/, '... the user is the workers\', nobody'
    if $root;
like $out, qr/test is successful/, 'the test is successful';

# 2. a directory they can write: nothing said

($rc, $out) = nginx_t(<<"EOF");
    campaign_state_file $PREFIX/rw/state.json;
    campaign_unsubscribe_file $PREFIX/rw/unsubscribes.txt;
EOF

is $rc, 0, 'nginx -t passes with a writable directory';
unlike $out, qr/\[warn\]/, '... and warns of nothing';

# 3. a lock file left by another user, which the workers cannot open

write_file('rw/state.json.lock', '');
chmod 0444, "$PREFIX/rw/state.json.lock";

($rc, $out) = nginx_t(<<"EOF");
    campaign_state_file $PREFIX/rw/state.json;
EOF

is $rc, 0, 'nginx -t passes with a read-only lock file';
like $out, qr/\[warn\] campaign_state_file "\Q$PREFIX\E\/rw\/state\.json": user "[^"]+" of the worker processes cannot open "\Q$PREFIX\E\/rw\/state\.json\.lock" to write/,
     'the lock file is named';

unlink "$PREFIX/rw/state.json.lock";

# 4. a directory the master may write, under one the workers cannot
#    enter (a checkout under /root)

SKIP: {
    skip 'the workers run as the master\'s user: they enter its own '
         . 'directories', 2 unless $root;

    ($rc, $out) = nginx_t(<<"EOF");
    campaign_unsubscribe_file $PREFIX/private/rw/unsubscribes.txt;
EOF

    is $rc, 0, 'nginx -t passes with a directory nobody can enter';
    like $out, qr/\[warn\] campaign_unsubscribe_file "\Q$PREFIX\E\/private\/rw\/unsubscribes\.txt": user "nobody" of the worker processes cannot enter "\Q$PREFIX\E\/private"/,
         'the directory that stops them is named';
}

# 5. a directory that is not there (the state file's is an error)

($rc, $out) = nginx_t(<<"EOF");
    campaign_unsubscribe_file $PREFIX/gone/unsubscribes.txt;
EOF

is $rc, 0, 'nginx -t passes with a missing directory';
like $out, qr/\[warn\] campaign_unsubscribe_file "\Q$PREFIX\E\/gone\/unsubscribes\.txt": the directory "\Q$PREFIX\E\/gone" cannot be found/,
     'the missing directory is named';

done_testing();
