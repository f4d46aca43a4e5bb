=pod

=head1 NAME

Test::Nginx::Socket - minimal, drop-in subset of OpenResty's Test::Nginx::Socket

=head1 DESCRIPTION

This module implements the subset of OpenResty's data-driven nginx test
scaffold (L<https://github.com/openresty/test-nginx>) that this project's
test suite uses.  It is written from scratch on top of Debian-packaged Perl
modules (L<Test::Base>, L<Test::More>, L<Test::LongString>, L<HTTP::Response>,
L<IO::Socket::INET>) because the real Test::Nginx is neither packaged by
Debian nor installable from CPAN in our build environment.

It lives in F<t/lib> and must only be put on C<@INC> (e.g. C<prove -It/lib>)
when the real Test::Nginx is B<not> installed; the test files are written
against the real framework and run unchanged under either implementation.

Supported: the exported configuration functions (C<repeat_each>,
C<workers>, C<master_on>, C<log_level>, C<no_shuffle>, C<env_to_nginx>,
C<add_block_preprocessor>, ...), the C<TEST_NGINX_*> environment variables,
and the block sections C<config>, C<http_config>, C<main_config>,
C<post_main_config>, C<user_files>, C<request>, C<raw_request>,
C<pipelined_requests>, C<more_headers>, C<error_code>, C<error_code_like>,
C<response_headers>, C<response_headers_like>, C<raw_response_headers_like>,
C<raw_response_headers_unlike>, C<response_body>, C<response_body_like>,
C<response_body_unlike>, C<response_body_filters>, C<error_log>,
C<no_error_log>, C<grep_error_log>, C<grep_error_log_out>, C<access_log>,
C<no_access_log>, C<shutdown_error_log>, C<no_shutdown_error_log>,
C<must_die>, C<suppress_stderr>, C<timeout>, C<abort>, C<wait>, C<log_level>, C<server_name>,
C<init>, C<ignore_response>, C<http09>, C<shutdown>,
C<raw_request_middle_delay>, C<tcp_listen>, C<tcp_reply>,
C<tcp_reply_delay>, C<tcp_no_close>, C<tcp_shutdown>, C<tcp_query>,
C<tcp_query_len>, C<skip_nginx>, C<skip_eval>, C<todo>, and the
Test::Base meta sections C<ONLY>, C<SKIP>, C<LAST>.

As in the real one, nginx's stderr goes to the terminal unless a block has
C<suppress_stderr>, only F<error.log> is checked, and of the variables a
configuration may name only C<TEST_NGINX_SERVER_PORT> gets a default: a test
file that uses C<$TEST_NGINX_HTML_DIR> sets it itself
(C<< $ENV{TEST_NGINX_HTML_DIR} ||= html_dir(); >>).

Not supported: HUP reload mode, valgrind, systemtap, check-leak, benchmark,
HTTP/2 and HTTP/3 modes, UDP servers.

=cut

package Test::Nginx::Socket;

use strict;
use warnings;

use Test::Base -base;

our $VERSION = '0.29_subset';

use Cwd ();
use Digest::MD5 ();
use Digest::SHA ();
use Errno qw( EAGAIN EWOULDBLOCK EINTR );
use File::Path qw( make_path remove_tree );
use File::Spec ();
use File::Temp ();
use HTTP::Response ();
use IO::Select ();
use IO::Socket::INET ();
use IO::Socket::UNIX ();
use List::Util qw( shuffle min );
use POSIX qw( :sys_wait_h SIGQUIT SIGTERM SIGKILL );
use Scalar::Util qw( looks_like_number );
use Socket qw( SOCK_STREAM );
use Test::LongString;
use Time::HiRes qw( sleep time );

our @EXPORT = qw(
    env_to_nginx is_str plan run_tests run_test
    repeat_each config_preamble worker_connections
    master_process_enabled
    no_long_string workers master_on master_off
    log_level no_shuffle no_root_location
    server_name server_addr server_root html_dir server_port
    server_port_for_client timeout check_accum_error_log
    add_block_preprocessor bail_out add_cleanup_handler
    add_response_body_check
);

# ---------------------------------------------------------------------------
# Global settings (same names and defaults as the real Test::Nginx::Util)
# ---------------------------------------------------------------------------

our $RepeatEach           = 1;
our $Workers              = 1;
our $WorkerConnections    = 64;
our $LogLevel             = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $NoShuffle            = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $NoRootLocation       = 0;
our $NoLongString;
our $CheckAccumErrLog     = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $ConfigPreamble       = '';
our $Timeout              = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $TestNginxSleep       = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $Verbose              = $ENV{TEST_NGINX_VERBOSE};
our $LoadModules          = $ENV{TEST_NGINX_LOAD_MODULES};
our $ServerAddr           = '127.0.0.1';
our $ServerName           = 'localhost';
our $ServerPort           = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT}
                            || 1984;
our $ServerPortForClient  = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;

our $NginxBinary = $ENV{TEST_NGINX_BINARY} || find_in_path('nginx')
                   || '/usr/sbin/nginx';
our ($NginxVersion, $NginxRawVersion, $NginxConfigureArgs);

our $ServRoot = $ENV{TEST_NGINX_SERVROOT}
                ? File::Spec->rel2abs($ENV{TEST_NGINX_SERVROOT})
                : File::Spec->rel2abs('t/servroot');
$ServRoot =~ s{/+$}{};
our $LogDir     = "$ServRoot/logs";
our $ErrLogFile = "$LogDir/error.log";
our $AccLogFile = "$LogDir/access.log";
our $HtmlDir    = "$ServRoot/html";
our $ConfDir    = "$ServRoot/conf";
our $ConfFile   = "$ConfDir/nginx.conf";
our $PidFile    = "$LogDir/nginx.pid";

$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our @EnvToNginx;
our @BlockPreprocessors;
our @CleanupHandlers;
our @ResponseBodyChecks;

# runtime state
our $ErrLogFilePos = 0;
our $NginxPid;            # pid of the running nginx (master or single process)
our $TcpServerPid;        # pid of the forked fake TCP server
our $PrevConfigBlock;     # last block that had a --- config section
my  $MainPid = $$;

# ---------------------------------------------------------------------------
# Exported configuration functions
# ---------------------------------------------------------------------------

sub repeat_each (@) { $RepeatEach = shift if @_; return $RepeatEach }
sub workers (@) { $Workers = shift if @_; return $Workers }
sub worker_connections (@) {
    $WorkerConnections = shift if @_;
    return $WorkerConnections;
}
sub log_level (@) { $LogLevel = shift if @_; return $LogLevel }
sub timeout (@) { $Timeout = shift if @_; return $Timeout }
sub server_addr (@) { $ServerAddr = shift if @_; return $ServerAddr }
sub server_name (@) { $ServerName = shift if @_; return $ServerName }
sub server_port (@) { $ServerPort = shift if @_; return $ServerPort }
sub server_port_for_client (@) {
    $ServerPortForClient = shift if @_;
    return $ServerPortForClient;
}
sub master_on ()  { $MasterProcessEnabled = 'on' }
sub master_off () { $MasterProcessEnabled = 'off' }
sub master_process_enabled (@) {
    $MasterProcessEnabled = (shift() ? 'on' : 'off') if @_;
    return $MasterProcessEnabled;
}
sub no_shuffle ()            { $NoShuffle = 1 }
sub no_long_string ()        { $NoLongString = 1 }
sub no_root_location ()      { $NoRootLocation = 1 }
sub check_accum_error_log () { $CheckAccumErrLog = 1 }
sub config_preamble ($)      { $ConfigPreamble = shift }
sub html_dir ()              { return $HtmlDir }
sub server_root ()           { return $ServRoot }

sub env_to_nginx (@) {
    Carp::croak("env_to_nginx: no arguments specified") unless @_;
    for my $v (@_) {
        Carp::croak("env_to_nginx: bad argument value: $v")
            if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @EnvToNginx, $v;
    }
}

# Like the real one, the most recently added preprocessor runs first.
sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler ($)    { unshift @CleanupHandlers, shift }
sub add_response_body_check ($) { push @ResponseBodyChecks, shift }

sub is_str (@) {
    my ($got, $expected, $desc) = @_;
    return Test::More::like($got, $expected, $desc)
        if ref $expected && ref $expected eq 'Regexp';
    return Test::More::is($got, $expected, $desc) if $NoLongString;
    return is_string($got, $expected, $desc);
}

sub bail_out (@) {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

sub verbose { warn @_, "\n" if $Verbose }

sub find_in_path {
    my $cmd = shift;
    for my $dir (split /:/, $ENV{PATH} || '') {
        next if $dir eq '';
        my $abs = "$dir/$cmd";
        return $abs if -f $abs && -x _;
    }
    return undef;
}

# "2s", "100ms", "1.5" -> seconds
sub parse_time {
    my $tm = shift;
    return undef unless defined $tm;
    $tm =~ s/^\s+|\s+$//g;
    if ($tm =~ s/([^_a-zA-Z])ms$/$1/) {
        $tm /= 1000;
    } else {
        $tm =~ s/([^_a-zA-Z])s$/$1/;
    }
    return $tm;
}

sub trim {
    my $s = shift;
    return undef unless defined $s;
    $s =~ s/^\s+|\s+$//g;
    $s =~ s/\n/ /gs;
    $s =~ s/\s{2,}/ /gs;
    return $s;
}

sub fmt_str {
    my $str = shift;
    chomp $str;
    $str =~ s/"/\\"/g;
    $str =~ s/\r/\\r/g;
    $str =~ s/\n/\\n/g;
    return $str;
}

sub canon_version { sprintf "%d.%03d%03d", @_[0 .. 2] }

# Is the process alive (and not a zombie waiting for a non-reaping init)?
sub process_alive {
    my $pid = shift;
    return 0 unless $pid && kill(0, $pid);
    if (open my $fh, '<', "/proc/$pid/stat") {
        my $stat = <$fh> // '';
        return 0 if $stat =~ /^\d+ \(.*\) [ZX]/s;
    }
    return 1;
}

sub wait_process_gone {
    my ($pid, $secs) = @_;
    my $deadline = time + $secs;
    while (process_alive($pid)) {
        return 0 if time >= $deadline;
        waitpid($pid, WNOHANG);
        sleep 0.02;
    }
    return 1;
}

# undef when we cannot tell (no /proc), else 0/1
sub port_listening {
    my $port = shift;
    my $hex = sprintf ':%04X', $port;
    my $readable;
    for my $file ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $fh, '<', $file or next;
        $readable = 1;
        while (my $line = <$fh>) {
            my @f = split ' ', $line;
            return 1 if @f > 3 && $f[1] =~ /\Q$hex\E$/ && $f[3] eq '0A';
        }
    }
    return $readable ? 0 : undef;
}

sub read_file_text {
    my $file = shift;
    open my $in, '<', $file or return '';
    local $/;
    my $s = <$in>;
    return defined $s ? $s : '';
}

# Expand $TEST_NGINX_XXX like the real scaffold.  With $lenient, unknown
# variables are left untouched instead of aborting the run.
sub expand_env_in_text {
    my ($text, $name, $rand_ports, $lenient) = @_;
    return $text if !defined $text || ref $text;
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        my $val;
        if ($var =~ /^TEST_NGINX_RAND_PORT_[0-9]+$/) {
            $rand_ports->{$var} //= gen_rand_port($rand_ports)
                // bail_out("$name - Cannot find an available listening "
                            . "port number for $var.\n");
            $val = $rand_ports->{$var};
        } elsif (defined $ENV{$var}) {
            $val = $ENV{$var};
        } elsif ($lenient) {
            $val = "\$$var";
        } else {
            bail_out("$name - No environment $var defined.\n");
        }
        $val;
    }ge;
    return $text;
}

sub gen_rand_port {
    my $used = shift;
    my %used = map { $_ => 1 } grep { defined } $ServerPort, values %$used;
    for (1 .. 1000) {
        my $port = int(rand 63550) + 1985;
        next if $used{$port};
        my $sock = IO::Socket::INET->new(
            LocalAddr => $ServerAddr, LocalPort => $port, Proto => 'tcp',
        ) or next;
        close $sock;
        return $port;
    }
    return undef;
}

sub get_nginx_version {
    my $out = `'$NginxBinary' -V 2>&1`;
    if (!defined $out || $? != 0) {
        bail_out("Failed to get the version of the nginx binary "
                 . "$NginxBinary: " . ($out // ''));
    }
    ($NginxConfigureArgs) = $out =~ /configure arguments:(.*)/;
    $NginxConfigureArgs //= '';
    if ($out =~ m{(?:nginx|openresty)[^/]*/(\d+)\.(\d+)\.(\d+)}s
        || $out =~ m{\w+/(\d+)\.(\d+)\.(\d+)}s)
    {
        $NginxRawVersion = "$1.$2.$3";
        return canon_version($1, $2, $3);
    }
    bail_out("Failed to parse the output of \"nginx -V\": $out\n");
}

# ---------------------------------------------------------------------------
# Process management: nginx and the fake TCP server
# ---------------------------------------------------------------------------

sub cleanup {
    return if $$ != $MainPid;
    $_->() for @CleanupHandlers;
    stop_tcp_server();
    stop_nginx('cleanup');
}

END {
    if ($$ == $MainPid) {
        local $?;
        cleanup();
    }
}

for my $sig (qw(INT TERM HUP)) {
    $SIG{$sig} = sub {
        cleanup() if $$ == $MainPid;
        $SIG{$sig} = 'DEFAULT';
        kill $sig, $$;
    };
}

sub pid_from_pidfile {
    open my $in, '<', $PidFile or return undef;
    my $pid = <$in>;
    close $in;
    return undef unless defined $pid && $pid =~ /^\s*(\d+)/;
    return $1;
}

# Runs the nginx command line once.  With "daemon on" the command returns as
# soon as nginx has daemonized (or failed).  Like the real one, nginx's
# stderr is ours (the terminal) unless the block has --- suppress_stderr;
# only error.log is checked.  Returns the exit status.
sub run_nginx_cmd {
    my ($cmd, $block) = @_;
    my $pid = fork;
    if (!defined $pid) {
        bail_out("fork() failed: $!");
    }
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null'
            if $block && defined $block->suppress_stderr;
        # as the real runner: TEST_NGINX_LD_PRELOAD goes before LD_PRELOAD,
        # for nginx only
        if (defined $ENV{TEST_NGINX_LD_PRELOAD}) {
            $ENV{LD_PRELOAD} = defined $ENV{LD_PRELOAD}
                ? "$ENV{TEST_NGINX_LD_PRELOAD} $ENV{LD_PRELOAD}"
                : $ENV{TEST_NGINX_LD_PRELOAD};
        }
        { exec @$cmd }
        POSIX::_exit(255);
    }
    my $deadline = time + 30;
    while (waitpid($pid, WNOHANG) == 0) {
        if (time > $deadline) {
            kill SIGKILL, $pid;
            waitpid($pid, 0);
            last;
        }
        sleep 0.01;
    }
    return $?;
}

sub nginx_cmd {
    my @cmd = ($NginxBinary, '-p', "$ServRoot/", '-c', $ConfFile);
    # send start-up errors to error.log like a stock build does (Debian
    # compiles nginx with --error-log-path=stderr)
    push @cmd, '-e', $ErrLogFile if $NginxVersion ge '1.019005';
    return \@cmd;
}

# Starts nginx for a normal (non must_die) block.  Retries while the port is
# still held by a previous instance.  Returns ($ok, $status).
sub start_nginx {
    my ($block) = @_;
    my $name = $block->name;
    my $cmd = nginx_cmd();
    my $waited = 0;
    my $status;
    while (1) {
        $status = run_nginx_cmd($cmd, $block);
        last if $status == 0;
        my $log = read_file_text($ErrLogFile);
        last unless $log =~ /Address already in use/ && $waited < 10;
        warn "$name - port $ServerPort busy, retrying to start nginx\n";
        sleep 0.5;
        $waited += 0.5;
    }
    return (0, $status) if $status != 0;

    # wait for the pid file and for the listening socket
    my $deadline = time + 5;
    until (defined($NginxPid = pid_from_pidfile())) {
        last if time > $deadline;
        sleep 0.01;
    }
    until (port_listening($ServerPort) // 1) {
        last if time > $deadline;
        sleep 0.01;
    }
    return (1, $status);
}

# QUIT, then TERM, then KILL (the whole process group) until nginx is gone.
sub stop_nginx {
    my ($name) = @_;
    my $pid = $NginxPid // pid_from_pidfile();
    undef $NginxPid;
    return unless $pid;

    if (process_alive($pid)) {
        verbose("sending QUIT to nginx $pid");
        kill SIGQUIT, $pid;
        if (!wait_process_gone($pid, $Timeout)) {
            warn "$name - timeout when waiting for nginx $pid to exit; "
                 . "sending TERM\n";
            kill SIGTERM, $pid;
            if (!wait_process_gone($pid, 2)) {
                warn "$name - killing nginx $pid with force\n";
                kill SIGKILL, ((getpgrp($pid) == $pid) ? -$pid : $pid);
                wait_process_gone($pid, 2);
            }
        }
    }

    # left-over workers of a crashed/killed master share its process group
    if (getpgrp($pid) == $pid || kill(0, -$pid)) {
        kill SIGTERM, -$pid;
        sleep 0.05;
        kill SIGKILL, -$pid if kill 0, -$pid;
    }
    unlink $PidFile;
}

sub stop_tcp_server {
    my $pid = $TcpServerPid;
    return unless defined $pid;
    undef $TcpServerPid;
    kill SIGTERM, $pid;
    my $deadline = time + 2;
    while (waitpid($pid, WNOHANG) == 0) {
        if (time > $deadline) {
            kill SIGKILL, $pid;
            waitpid($pid, 0);
            last;
        }
        sleep 0.01;
    }
}

# Is what the fake server received so far a complete HTTP request?
sub http_request_complete {
    my $buf = shift;
    return 0 unless $buf =~ /\A(.*?\r?\n)\r?\n/s;
    my $head_len = length $&;
    my $head = $1;
    if ($head =~ /^Content-Length:\s*(\d+)/mi) {
        return length($buf) >= $head_len + $1;
    }
    if ($head =~ /^Transfer-Encoding:\s*chunked/mi) {
        return substr($buf, $head_len) =~ /(?:^|\r?\n)0[ \t]*(?:;[^\r\n]*)?\r?\n\r?\n\z/;
    }
    return 1;
}

# Reads one "query" from a client of the fake TCP server.
sub tcp_server_read {
    my ($client, $req_len) = @_;
    my $sel = IO::Select->new($client);
    my $buf = '';
    while (1) {
        my $idle = $buf eq '' ? undef : 0.1;
        $idle = undef if $req_len || $buf =~ /\A[A-Z]+ \S+ HTTP\/1\.\d\r?\n/;
        if (!$sel->can_read($idle)) {
            last;    # idle after some data: treat the query as complete
        }
        my $n = sysread $client, my $chunk, 8192;
        if (!defined $n) {
            next if $! == EINTR;
            last;
        }
        last if $n == 0;
        $buf .= $chunk;
        if ($req_len) {
            last if length($buf) >= $req_len;
        } elsif ($buf =~ /\A[A-Z]+ \S+ HTTP\/1\.\d\r?\n/) {
            last if http_request_complete($buf);
        }
    }
    return $buf;
}

sub write_all {
    my ($fh, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite $fh, $data, length($data) - $off, $off;
        if (!defined $n) {
            next if $! == EINTR;
            return 0;
        }
        $off += $n;
    }
    return 1;
}

# Forks the embedded TCP server of a block.  It serves connections one after
# another until it is killed at the end of the block iteration.
sub start_tcp_server {
    my ($block, $rand_ports) = @_;
    my $name = $block->name;
    my $target = $block->tcp_listen;
    $target =~ s/^\s+|\s+$//g;
    $target = expand_env_in_text($target, $name, $rand_ports, 1);

    my $reply = $block->tcp_reply;
    if (!defined $reply && !defined $block->tcp_shutdown) {
        bail_out("$name - no --- tcp_reply specified but --- tcp_listen "
                 . "is specified");
    }
    $reply = expand_env_in_text($reply, $name, $rand_ports, 1);

    my $req_len = $block->tcp_query_len;
    $req_len = length $block->tcp_query
        if !defined $req_len && defined $block->tcp_query;
    my $query_file;
    if (defined $block->tcp_query || defined $block->tcp_query_len) {
        (undef, $query_file) = File::Temp::tempfile(
            'tcp_query_XXXXXX', TMPDIR => 1, UNLINK => 1);
    }

    my ($listener, $err);
    for my $try (1 .. 20) {
        if ($target =~ /^\d+$/) {
            $listener = IO::Socket::INET->new(
                LocalAddr => '127.0.0.1', LocalPort => $target,
                Proto => 'tcp', ReuseAddr => 1, Listen => 64,
            );
        } elsif ($target =~ /\S+\.sock$/) {
            unlink $target if -e $target;
            $listener = IO::Socket::UNIX->new(
                Local => $target, Type => SOCK_STREAM, Listen => 64,
            );
        } else {
            bail_out("$name - bad tcp_listen target: $target");
        }
        last if $listener;
        $err = $!;
        last unless $err =~ /in use/i;
        sleep 0.25;
    }
    bail_out("$name - failed to create the tcp listening socket "
             . "$target: $err") unless $listener;

    my $delay = parse_time($block->tcp_reply_delay);
    my $shutdown = $block->tcp_shutdown;
    my $shutdown_delay = parse_time($block->tcp_shutdown_delay);
    my $no_close = defined $block->tcp_no_close;

    my $pid = fork;
    bail_out("$name - fork() failed: $!") unless defined $pid;

    if ($pid == 0) {
        # child: never run END blocks / Test::Builder endings
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP);
        $SIG{PIPE} = 'IGNORE';
        my @kept;
        my $first = 1;
        while (1) {
            my $client = $listener->accept or next;
            my ($no_read, $no_write);
            if (defined $shutdown) {
                sleep $shutdown_delay if $shutdown_delay;
                shutdown $client, $shutdown;
                if ($shutdown == 0 || $shutdown == 2) {
                    $no_read = 1;
                } else {
                    $no_write = 1;
                }
            }
            my $buf = $no_read ? '' : tcp_server_read($client, $req_len);
            if ($query_file && $first) {
                if (open my $out, '>', $query_file) {
                    binmode $out;
                    print $out $buf;
                    close $out;
                }
            }
            $first = 0;
            sleep $delay if $delay;
            if (!$no_write && defined $reply) {
                my $r = $reply;
                $r = $r->($buf) if ref $r eq 'CODE';
                for my $piece (ref $r eq 'ARRAY' ? @$r : ($r)) {
                    write_all($client, $piece) or last;
                }
            }
            if ($no_close) {
                push @kept, $client;
            } else {
                close $client;
            }
        }
        POSIX::_exit(0);
    }

    close $listener;
    $TcpServerPid = $pid;
    verbose("started TCP server $pid on $target");
    return ($target, $query_file);
}

# ---------------------------------------------------------------------------
# Server root, user files and nginx.conf
# ---------------------------------------------------------------------------

sub setup_server_root {
    if (-d $ServRoot) {
        remove_tree($ConfDir, $HtmlDir, $LogDir,
                    glob("$ServRoot/*_temp"), glob("$ServRoot/*_cache"));
    }
    for my $dir ($ServRoot, $LogDir, $HtmlDir, $ConfDir) {
        next if -d $dir;
        make_path($dir) or bail_out("Failed to do mkdir $dir: $!\n");
    }
    open my $out, '>', "$HtmlDir/index.html"
        or bail_out("Can't open $HtmlDir/index.html for writing: $!\n");
    print $out '<html><head><title>It works!</title></head>'
               . '<body>It works!</body></html>';
    close $out;
}

sub write_user_files {
    my ($block, $rand_ports) = @_;
    my $name = $block->name;
    my $files = $block->user_files;
    return unless $files;

    if (!ref $files) {
        my @list;
        for my $line (split /^/m, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+))?/) {
                push @list, [$1, undef, $2];
            } elsif (@list) {
                $list[-1][1] .= $line;
            }
        }
        $files = \@list;
    } elsif (ref $files ne 'ARRAY') {
        bail_out("$name - wrong value type: " . ref($files)
                 . ", only scalar or ARRAY are accepted");
    }

    for my $file (@$files) {
        my ($fname, $body, $date) = @$file;
        $body //= '';
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        if ($path =~ m{(.*)/} && !-d $1) {
            make_path($1) or bail_out("$name - Cannot create directory $1");
        }
        $body = expand_env_in_text($body, $name, $rand_ports);
        open my $out, '>', $path
            or bail_out("$name - Cannot open $path for writing: $!\n");
        binmode $out;
        print $out $body;
        close $out;
        if ($date) {
            local $ENV{TZ} = 'GMT';
            system('touch', '-t', $date, $path) == 0
                or bail_out("$name - failed to set the mtime of $path");
        }
    }
}

# Temp directories inside the server root.  Debian's binary has them
# compiled in under /var/lib/nginx, which we must not depend on.
sub temp_path_directives {
    my ($http_config) = @_;
    my @dirs = (
        [client_body_temp_path => undef],
        [proxy_temp_path   => 'http_proxy'],
        [fastcgi_temp_path => 'http_fastcgi'],
        [uwsgi_temp_path   => 'http_uwsgi'],
        [scgi_temp_path    => 'http_scgi'],
    );
    my $out = '';
    for my $d (@dirs) {
        my ($directive, $module) = @$d;
        next if $module
                && $NginxConfigureArgs =~ /--without-\Q$module\E_module\b/;
        next if $http_config =~ /\b\Q$directive\E\b/;
        (my $dir = $directive) =~ s/_path$//;
        $out .= "    $directive $ServRoot/$dir;\n";
    }
    return $out;
}

sub write_config_file {
    my ($block, $cfg_block, $rand_ports) = @_;
    my $name = $block->name;

    my $expand = sub {
        my $section = shift;
        my $v = $cfg_block->$section;
        $v = '' unless defined $v;
        return expand_env_in_text($v, $name, $rand_ports);
    };
    my $config           = $expand->('config');
    my $http_config      = $expand->('http_config');
    my $main_config      = $expand->('main_config');
    my $post_main_config = $expand->('post_main_config');

    my $log_level = $block->log_level // $LogLevel;
    $log_level =~ s/^\s+|\s+$//g;

    my $server_name = $cfg_block->server_name // $ServerName;
    $server_name =~ s/^\s+|\s+$//g;
    $server_name =~ s/\\/\\\\/g;
    $server_name =~ s/'/\\'/g;

    my $load_modules = '';
    for my $mod (grep { length } split /\s+/, $LoadModules // '') {
        $load_modules .= "load_module " . File::Spec->rel2abs($mod) . ";\n";
    }

    my $env = '';
    for my $v (qw(MOCKEAGAIN_VERBOSE MOCKEAGAIN MOCKEAGAIN_WRITE_TIMEOUT_PATTERN
                  LD_PRELOAD LD_LIBRARY_PATH ASAN_OPTIONS),
               @EnvToNginx)
    {
        my $quoted = $v =~ /\s/ ? "'$v'" : $v;
        $env .= "env $quoted;\n";
    }

    my $user = $> == 0 ? "user root;\n" : '';
    my $temp_paths = temp_path_directives($http_config);

    my $root_location = $NoRootLocation ? '' : <<"_EOC_";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_

    open my $out, '>', $ConfFile
        or bail_out("Can't open $ConfFile for writing: $!\n");
    print $out <<"_EOC_";
# generated by t/lib/Test/Nginx/Socket.pm for: $name
${load_modules}worker_processes  $Workers;
daemon on;
master_process $MasterProcessEnabled;
error_log $ErrLogFile $log_level;
pid       $PidFile;
$env$user
$main_config

http {
    access_log $AccLogFile;

    default_type text/plain;
    keepalive_timeout  68;

$temp_paths
$http_config

    server {
        listen          $ServerPort;
        server_name     '$server_name';

        client_max_body_size 30M;

        # Begin preamble config...
$ConfigPreamble
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

$root_location    }
}

$post_main_config

events {
    accept_mutex off;

    worker_connections  $WorkerConnections;
}
_EOC_
    close $out;
}

# ---------------------------------------------------------------------------
# Building requests
# ---------------------------------------------------------------------------

sub parse_more_headers {
    my ($in) = @_;
    my ($out, $is_chunked) = ('', 0);
    for my $header (split /\n+/, $in // '') {
        next if $header =~ /^\s*#/;
        my ($key, $val) = split /:\s*/, $header, 2;
        $val //= '';
        $is_chunked = 1
            if lc($key) eq 'transfer-encoding' && $val eq 'chunked';
        $out .= "$key: $val\r\n";
    }
    return ($out, $is_chunked);
}

# Turns the packets of a "--- request" value ("METH /uri [HTTP/x]\nbody")
# into the packets of a full HTTP request, adding Host, Connection,
# more_headers and Content-Length like the real scaffold.
sub build_request_packets {
    my ($name, $more_headers, $is_chunked, $conn, $packets) = @_;
    my $orig = join '', @$packets;

    my ($first, $content) = split /\n/, $orig, 2;
    $first //= '';
    $content //= '';
    if ($first !~ /^\s*(\S+)(?: +(\S+))?(?: +(\S+))?\s*$/) {
        bail_out("$name - Request line is not valid. Should be "
                 . "'meth [url [version]]' but got \"$first\".");
    }
    my ($meth, $url, $ver) = ($1, $2 // '/', $3 // 'HTTP/1.1');
    my $content_start = length($first) + ($orig =~ /\n/ ? 1 : 0);

    my $len_header = '';
    my $lead_trimmed = 0;
    if (!$is_chunked && $content ne ''
        && $more_headers !~ /(?:^|\n)Content-Length:/)
    {
        ($lead_trimmed) = map { length } $content =~ /^(\s*)/;
        $content =~ s/^\s+|\s+$//gs;
        $len_header = "Content-Length: " . length($content) . "\r\n";
    }

    $more_headers =~ s/(?<!\r)\n/\r\n/gs;
    my $headers = '';
    $headers .= "Host: $ServerName\r\n"
        if $more_headers !~ /(?:^|\n)Host:/msi;
    $headers .= "Connection: $conn\r\n"
        if $more_headers !~ /(?:^|\n)Connection/msi;
    $headers .= "$more_headers$len_header\r\n";

    my $line = "$meth $url $ver\r\n";
    my $head = $line . $headers;
    my $full = $head . $content;

    # Map the original packet boundaries onto the rewritten request.
    my @out;
    my ($orig_off, $new_off) = (0, 0);
    for my $i (0 .. $#$packets - 1) {
        $orig_off += length $packets->[$i];
        my $b;
        if ($orig_off < $content_start) {
            $b = min($orig_off, length $line);
        } else {
            $b = length($head) + $orig_off - $content_start - $lead_trimmed;
        }
        $b = $new_off if $b < $new_off;
        $b = length $full if $b > length $full;
        push @out, substr($full, $new_off, $b - $new_off);
        $new_off = $b;
    }
    push @out, substr($full, $new_off);
    return \@out;
}

sub get_indexed_value {
    my ($name, $value, $req_idx, $need_array) = @_;
    if ($need_array) {
        return $value->[$req_idx] if ref $value && ref $value eq 'ARRAY';
        bail_out("$name - You asked for many requests, the expected "
                 . "results should be arrays as well.");
    }
    return $value->[0] if ref $value && ref $value eq 'ARRAY';
    return $value;
}

# Returns a list of requests; each request is a list of
# { value => $bytes, delay_before => $secs } packets sent on one connection.
sub get_req_from_block {
    my ($block, $rand_ports) = @_;
    my $name = $block->name;
    my @reqs;

    if (defined $block->raw_request) {
        my $raw = $block->raw_request;
        my @bits = ref $raw eq 'ARRAY' ? @$raw : ($raw);
        push @reqs, [map { ref $_ ? $_ : { value => $_ } } @bits];
        return \@reqs;
    }

    my $more_headers = $block->more_headers // '';
    $more_headers = expand_env_in_text($more_headers, $name, $rand_ports, 1);
    my $headers_for = sub {
        my $i = shift;
        my $h = $more_headers;
        if (ref $h eq 'ARRAY') {
            $h = $h->[$i];
            bail_out("$name - --- more_headers lacks data for request $i")
                unless defined $h;
        }
        return parse_more_headers($h);
    };

    if (my $pipelined = $block->pipelined_requests) {
        bail_out("$name - invalid entries in --- pipelined_requests")
            unless ref $pipelined eq 'ARRAY';
        my $all = '';
        for my $i (0 .. $#$pipelined) {
            my ($hdr, $chunked) = $headers_for->($i);
            my $conn = $i == $#$pipelined ? 'close' : 'keep-alive';
            $all .= join '', @{ build_request_packets(
                $name, $hdr, $chunked, $conn, [$pipelined->[$i]]) };
        }
        push @reqs, [{ value => $all }];
        return \@reqs;
    }

    my $request = $block->request;
    if (!defined $request) {
        bail_out("$name - Request line should be non-empty");
    }
    if (!ref $request) {
        $request = expand_env_in_text($request, $name, $rand_ports, 1);
        1 while $request =~ s/^\s*\#[^\n]+\s+|^\s+//gs;
    }

    my @list = ref $request eq 'ARRAY' ? @$request : ($request);
    for my $i (0 .. $#list) {
        my $one = $list[$i];
        my ($hdr, $chunked) = $headers_for->($i);
        if (!ref $one) {
            my $pkts = build_request_packets($name, $hdr, $chunked, 'close',
                                             [$one]);
            push @reqs, [{ value => $pkts->[0] }];
        } elsif (ref $one eq 'ARRAY') {
            my @orig = map { ref $_ eq 'HASH' ? $_ : { value => $_ } } @$one;
            my $pkts = build_request_packets($name, $hdr, $chunked, 'close',
                                             [map { $_->{value} } @orig]);
            push @reqs, [map { { %{ $orig[$_] }, value => $pkts->[$_] } }
                         0 .. $#$pkts];
        } else {
            bail_out("$name - invalid --- request: MUST be string or "
                     . "array of requests");
        }
    }
    return \@reqs;
}

# ---------------------------------------------------------------------------
# The HTTP client
# ---------------------------------------------------------------------------

sub connect_to_nginx {
    my ($block, $timeout) = @_;
    my $name = $block->name;
    my $addr = $block->server_addr_for_client // $ServerAddr;
    $addr =~ s/^\s+|\s+$//g;
    my $err;
    for my $try (1 .. 50) {
        my $sock = IO::Socket::INET->new(
            PeerAddr => $addr, PeerPort => $ServerPortForClient,
            Proto => 'tcp', Timeout => $timeout,
        );
        return $sock if $sock;
        $err = $!;
        if (defined $NginxPid && !process_alive($NginxPid)) {
            last;   # nginx is gone; retrying is pointless
        }
        my $wait = min(1, ($TestNginxSleep + $TestNginxSleep * $try) * $try / 2);
        warn "$name - Can't connect to $addr:$ServerPortForClient: $err\n"
             . "\tRetry connecting after $wait sec\n" if $wait >= 0.6;
        sleep $wait;
    }
    Test::More::fail("$name - Can't connect to $addr:$ServerPortForClient: "
                     . "$err (aborted)\n");
    return undef;
}

# Sends one request (a list of packets) on a fresh connection and reads
# until the server closes it.  The timeout applies between two I/O events.
sub send_request {
    my ($block, $packets, $timeout) = @_;
    my $name = $block->name;
    my $middle_delay = parse_time($block->raw_request_middle_delay);
    my $head_req = (join '', map { $_->{value} } @$packets) =~ /^\s*HEAD\s+/
                   ? 1 : 0;

    my $sock = connect_to_nginx($block, $timeout) or return ('', $head_req);
    $sock->blocking(0);
    local $SIG{PIPE} = 'IGNORE';

    my @todo = @$packets;
    my $wbuf = (shift @todo)->{value};
    my $woff = 0;
    my $resp = '';
    my $sel = IO::Select->new($sock);

    while (1) {
        my ($r, $w) = IO::Select->select($sel, defined $wbuf ? $sel : undef,
                                         undef, $timeout);
        if (!$r && !$w) {
            if (defined $block->abort) {
                sleep 0.005;
            } else {
                Test::More::fail("ERROR: client socket timed out - $name\n");
            }
            last;
        }

        if ($w && @$w && defined $wbuf) {
            my $n = syswrite $sock, $wbuf, length($wbuf) - $woff, $woff;
            if (!defined $n) {
                if ($! != EAGAIN && $! != EWOULDBLOCK && $! != EINTR) {
                    warn "$name - write failed: $!\n";
                    $resp = "write failed: $!" if $resp eq '';
                    undef $wbuf;
                }
            } else {
                $woff += $n;
            }
            if (defined $wbuf && $woff >= length $wbuf) {
                if (my $next = shift @todo) {
                    my $delay = $next->{delay_before} // $middle_delay;
                    sleep $delay if $delay;
                    ($wbuf, $woff) = ($next->{value}, 0);
                } else {
                    undef $wbuf;
                    if (defined(my $how = $block->shutdown)) {
                        $how = 1 if $how =~ /^\s*$/;
                        shutdown $sock, $how;
                    }
                }
            }
        }

        if ($r && @$r) {
            my $n = sysread $sock, my $chunk, 16384;
            if (!defined $n) {
                next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
                warn "WARNING: $name - HTTP response read failure: $!\n";
                last;
            }
            last if $n == 0;
            $resp .= $chunk;
        }
    }
    close $sock;
    return ($resp, $head_req);
}

# Parses one response off the front of $raw; returns
# ($res, $raw_headers, $left_over_bytes).
sub parse_response {
    my ($name, $raw, $head_req) = @_;
    my $raw_headers = $raw =~ /(.*?\r\n)\r\n/s ? $1 : '';

    my $res = HTTP::Response->parse($raw);
    my $code = $res->code;
    if (defined $code && $code !~ /^\d+$/) {
        undef $code;
        $res->code(undef);
    }

    my $body = $res->content // '';
    my $left;
    my $te = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');

    if ($head_req || (defined $code && ($code == 304 || $code == 204
                                        || $code =~ /^1/)))
    {
        $left = $body if length $body;
        $res->content('');
    } elsif (defined $te && $te eq 'chunked') {
        my $decoded = '';
        pos($body) = 0;
        while (1) {
            if ($body =~ /\G0[ \t]*(?:;[^\r\n]*)?\r\n(?:[^\r\n]+\r\n)*\r\n/gc) {
                $left = substr $body, pos $body if pos($body) < length $body;
                last;
            }
            if ($body =~ /\G[ \t]*([A-Fa-f0-9]+)[ \t]*(?:;[^\r\n]*)?\r\n/gc) {
                my $size = hex $1;
                if (length($body) - pos($body) < $size) {
                    Test::More::fail("$name - invalid chunked data received "
                        . "(not enough octets for the data section)");
                    return;
                }
                $decoded .= substr $body, pos($body), $size;
                pos($body) += $size;
                if ($body !~ /\G\r\n/gc) {
                    Test::More::fail("$name - invalid chunked data received "
                                     . "(expected CRLF).");
                    return;
                }
            } elsif ($body =~ /\G(.+)/gcs) {
                Test::More::fail("$name - invalid chunked body received: $1");
                return;
            } else {
                Test::More::fail("$name - no last chunk found - $body");
                return;
            }
        }
        $res->content($decoded);
    } elsif (defined $len && $len =~ /^\s*(\d+)\s*$/) {
        $len = $1;
        if (length $body < $len) {
            warn "WARNING: $name - response body truncated: $len expected, "
                 . "but got ", length $body, "\n";
        } elsif (length $body > $len) {
            $left = substr $body, $len;
            $res->content(substr $body, 0, $len);
        }
    }
    return ($res, $raw_headers, $left);
}

# ---------------------------------------------------------------------------
# Response checks (one subtest each, named like the real scaffold)
# ---------------------------------------------------------------------------

sub parse_headers {
    my $s = shift;
    my (@order, %headers);
    for my $line (split /\n/, $s // '') {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        my ($key, $val);
        if ($line =~ s/^!\s*//) {
            ($key, $val) = ($line, undef);
        } else {
            ($key, $val) = split /\s*:\s*/, $line, 2;
        }
        push @order, $key unless exists $headers{$key};
        $headers{$key} = $val;
    }
    return [map { [$_, $headers{$_}] } @order];
}

sub check_error_code {
    my ($block, $res, $req_idx, $need_array) = @_;
    my $name = $block->name;
    my $got = ($res && $res->code) || '';
    if (defined $block->error_code_like) {
        my $pat = get_indexed_value($name, $block->error_code_like, $req_idx,
                                    $need_array);
        Test::More::like($got, qr/$pat/sm, "$name - status code ok");
    } elsif (defined $block->error_code) {
        my $want = get_indexed_value($name, $block->error_code, $req_idx,
                                     $need_array);
        $want =~ s/^\s+|\s+$//g if defined $want;
        Test::More::is($got, $want, "$name - status code ok");
    } else {
        Test::More::is($got, 200, "$name - status code ok");
    }
}

sub check_raw_response_headers {
    my ($block, $raw_headers, $req_idx, $need_array) = @_;
    my $name = $block->name;
    if (defined $block->raw_response_headers_like) {
        my $pat = get_indexed_value($name, $block->raw_response_headers_like,
                                    $req_idx, $need_array);
        Test::More::like($raw_headers, qr/$pat/s,
                         "$name - raw resp headers like");
    }
    if (defined $block->raw_response_headers_unlike) {
        my $pat = get_indexed_value($name,
                                    $block->raw_response_headers_unlike,
                                    $req_idx, $need_array);
        Test::More::unlike($raw_headers, qr/$pat/s,
                           "$name - raw resp headers unlike");
    }
}

sub check_response_headers {
    my ($block, $res, $raw_headers, $req_idx, $need_array) = @_;
    my $name = $block->name;
    if (defined $block->response_headers) {
        my $headers = parse_headers(get_indexed_value(
            $name, $block->response_headers, $req_idx, $need_array));
        for my $h (@$headers) {
            my ($key, $val) = @$h;
            if (!defined $val) {
                Test::More::unlike($raw_headers, qr/^\s*\Q$key\E\s*:/ms,
                    "$name - header $key not present in the raw headers");
                next;
            }
            $val =~ s/\$ServerPort\b/$ServerPort/g;
            $val =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            my $actual = $res ? $res->header($key) : undef;
            Test::More::is($actual // '', $val, "$name - header $key ok");
        }
    } elsif (defined $block->response_headers_like) {
        my $headers = parse_headers(get_indexed_value(
            $name, $block->response_headers_like, $req_idx, $need_array));
        for my $h (@$headers) {
            my ($key, $val) = @$h;
            $val //= '';
            my $actual = $res ? $res->header($key) : undef;
            Test::More::like($actual // '', qr/^$val$/,
                             "$name - header $key like ok");
        }
    }
}

sub run_body_filter {
    my ($name, $filter, $content) = @_;
    return $filter->($content) if ref $filter eq 'CODE';
    my %builtin = (
        md5_hex  => \&Digest::MD5::md5_hex,
        sha1_hex => \&Digest::SHA::sha1_hex,
        uc       => sub { uc $_[0] },
        lc       => sub { lc $_[0] },
        ucfirst  => sub { ucfirst $_[0] },
        lcfirst  => sub { lcfirst $_[0] },
        length   => sub { length $_[0] },
    );
    my $f = !ref $filter && $builtin{$filter}
        or bail_out("$name - unknown filter, \"$filter\", specified in the "
                    . "--- response_body_filters section");
    return $f->($content);
}

sub transform_response_body {
    my ($block, $res, $req_idx) = @_;
    my $filters = $block->response_body_filters;
    return unless defined $filters && $res && defined $res->content;
    my $name = $block->name;

    if (!ref $filters) {
        $filters =~ s/^\s+|\s+$//gs;
        $filters = [split /\s+/, $filters];
    } elsif (ref $filters ne 'ARRAY') {
        $filters = [$filters];
    }
    if (ref $filters->[0] eq 'ARRAY') {
        $filters = $filters->[$req_idx];
        bail_out("$name - the --- response_body_filters two-dimensional "
                 . "array does not match request $req_idx")
            unless defined $filters;
        $filters = [$filters] unless ref $filters eq 'ARRAY';
    }
    my $content = $res->content;
    $content = run_body_filter($name, $_, $content) for @$filters;
    $res->content($content);
}

sub check_response_body {
    my ($block, $res, $req_idx, $repeated_req_idx, $need_array) = @_;
    my $name = $block->name;
    my $content = $res ? $res->content : undef;

    if (defined $block->response_body) {
        my $expected = get_indexed_value($name, $block->response_body,
                                         $req_idx, $need_array);
        if (defined $expected && !ref $expected) {
            $expected =~ s/\$ServerPort\b/$ServerPort/g;
            $expected =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        }
        my $suffix = "(repeated req $repeated_req_idx, req $req_idx)";
        if (ref $expected) {
            Test::More::like($content, $expected,
                             "$name - response_body - like $suffix");
        } elsif ($NoLongString) {
            Test::More::is($content, $expected,
                "$name - response_body - response is expected $suffix");
        } else {
            is_string($content, $expected,
                "$name - response_body - response is expected $suffix");
        }
    } elsif (defined $block->response_body_like
             || defined $block->response_body_unlike)
    {
        my $type = defined $block->response_body_like ? 'like' : 'unlike';
        my $patterns = $type eq 'like' ? $block->response_body_like
                                       : $block->response_body_unlike;
        my $pat = get_indexed_value($name, $patterns, $req_idx, $need_array);
        if (!ref $pat) {
            $pat =~ s/\$ServerPort\b/$ServerPort/g;
            $pat =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        }
        my $summary = trim($content) // '';
        my $desc = "$name - response_body_$type - response is expected "
                   . "($summary)";
        if ($type eq 'like') {
            Test::More::like($content, qr/$pat/s, $desc);
        } else {
            Test::More::unlike($content, qr/$pat/s, $desc);
        }
    }

    for my $check (@ResponseBodyChecks) {
        $check->($block, $content, $req_idx, $repeated_req_idx, 0);
    }
}

# ---------------------------------------------------------------------------
# Log checks
# ---------------------------------------------------------------------------

# New lines of error.log since the previous call (unless accumulating).
sub error_log_data {
    sleep $TestNginxSleep * 3;   # let nginx finish its log phase
    open my $in, '<', $ErrLogFile or return [];
    seek $in, $ErrLogFilePos, 0 if !$CheckAccumErrLog && $ErrLogFilePos > 0;
    my @lines = <$in>;
    $ErrLogFilePos = tell $in unless $CheckAccumErrLog;
    close $in;
    return \@lines;
}

sub access_log_data {
    sleep $TestNginxSleep * 3;
    open my $in, '<', $AccLogFile or return [];
    my @lines = <$in>;
    close $in;
    return \@lines;
}

sub pattern_list {
    my $pats = shift;
    if (!ref $pats) {
        chomp $pats;
        return [split /\n+/, $pats];
    }
    return [$pats] if ref $pats eq 'Regexp';
    return [@$pats];
}

sub line_matches {
    my ($line, $pat) = @_;
    return (ref $pat && $line =~ /$pat/) || $line =~ /\Q$pat\E/;
}

sub value_contains {
    my ($val, $pat) = @_;
    return $val =~ /\Q$pat\E/ if !ref $val || ref $val eq 'Regexp';
    if (ref $val eq 'ARRAY') {
        for my $v (@$val) {
            return 1 if value_contains($v, $pat);
        }
    }
    return 0;
}

# "must appear" checks: one subtest per pattern
sub check_patterns_present {
    my ($name, $pats, $lines, $file, $suffix) = @_;
    my @pats = @{ pattern_list($pats) };
    for my $line (@$lines) {
        for my $pat (@pats) {
            next unless defined $pat;
            if (line_matches($line, $pat)) {
                Test::More::pass("$name - pattern \"$pat\" matches a line in "
                                 . "$file$suffix");
                undef $pat;
            }
        }
    }
    for my $pat (grep { defined } @pats) {
        Test::More::fail("$name - pattern \"$pat\" should match a line in "
                         . "$file$suffix");
    }
}

# "must not appear" checks: one subtest per pattern when passing
sub check_patterns_absent {
    my ($name, $pats, $lines, $file, $suffix) = @_;
    my @pats = @{ pattern_list($pats) };
    my %found;
    for my $i (0 .. $#$lines) {
        my $line = $lines->[$i];
        for my $pat (@pats) {
            next unless defined $pat;
            next unless line_matches($line, $pat);
            $found{$pat}++;
            my @more = @$lines[$i + 1 .. min($i + 9, $#$lines)];
            Test::More::fail("$name - pattern \"" . fmt_str($pat)
                . "\" should not match any line in $file but matches line \""
                . fmt_str($line) . "\"$suffix\n" . join '', @more);
        }
    }
    for my $pat (@pats) {
        next if !defined $pat || $found{$pat};
        Test::More::pass("$name - pattern \"" . fmt_str($pat)
                         . "\" does not match a line in $file$suffix");
    }
}

# Reports nginx crashes found in the log lines (extra failing subtest).
sub check_crashes {
    my ($name, $lines) = @_;
    for my $line (@$lines) {
        if ($line =~ /exited on signal/ || $line =~ /\bAssertion .*?failed\b/) {
            chomp(my $l = $line);
            Test::More::fail("$name - nginx crashed: $l\n");
        }
    }
}

sub check_error_log {
    my ($block, $repeated_req_idx) = @_;
    my $name = $block->name;
    my $lines = error_log_data();
    my $suffix = " (req $repeated_req_idx)";

    my $grep_pat = $block->grep_error_log;
    $grep_pat = $grep_pat->[$repeated_req_idx]
        if ref $grep_pat eq 'ARRAY';
    if (defined $grep_pat) {
        my $expected = $block->grep_error_log_out;
        bail_out("$name - No --- grep_error_log_out defined but "
                 . "--- grep_error_log is defined") unless defined $expected;
        $expected = $expected->[$repeated_req_idx]
            if ref $expected eq 'ARRAY';
        my $matched = '';
        for my $line (@$lines) {
            if (ref $grep_pat ? $line =~ /$grep_pat/ : $line =~ /\Q$grep_pat\E/) {
                $matched .= "$&\n" if $& !~ /\n/;
            }
        }
        my $desc = "$name - grep_error_log_out$suffix";
        if (ref $expected eq 'Regexp') {
            Test::More::like($matched, $expected, $desc);
        } else {
            is_str($matched, $expected, $desc);
        }
    }

    my %warn_level = map { $_ => 1 } qw(alert crit emerg);
    for my $section (qw(error_log no_error_log)) {
        my $pats = $block->$section;
        next unless defined $pats;
        for my $level (keys %warn_level) {
            delete $warn_level{$level} if value_contains($pats, "[$level");
        }
        if ($section eq 'error_log') {
            check_patterns_present($name, $pats, $lines, 'error.log', $suffix);
        } else {
            check_patterns_absent($name, $pats, $lines, 'error.log', $suffix);
        }
    }

    # like the real one, even a must_die block warns of an [emerg] line
    # unless its error_log or no_error_log mentions "[emerg"
    for my $line (@$lines) {
        if ($line =~ /\[(alert|crit|emerg)\]/ && $warn_level{$1}) {
            warn "WARNING: $name - ", fmt_str($line), "\n";
        }
    }
    check_crashes($name, $lines);
}

sub check_access_log {
    my ($block, $repeated_req_idx) = @_;
    my $name = $block->name;
    return unless defined $block->access_log || defined $block->no_access_log;
    my $lines = access_log_data();
    my $suffix = " (req $repeated_req_idx)";
    check_patterns_present($name, $block->access_log, $lines, 'access.log',
                           $suffix) if defined $block->access_log;
    check_patterns_absent($name, $block->no_access_log, $lines, 'access.log',
                          $suffix) if defined $block->no_access_log;
}

sub check_shutdown_error_log {
    my ($block) = @_;
    my $name = $block->name;
    my $lines = error_log_data();
    if (defined $block->shutdown_error_log) {
        check_patterns_absent($name, $block->no_shutdown_error_log, $lines,
                              'error.log', '')
            if defined $block->no_shutdown_error_log;
        check_patterns_present($name, $block->shutdown_error_log, $lines,
                               'error.log', '');
    }
    check_crashes($name, $lines);
}

sub run_tcp_server_tests {
    my ($block, $query_file) = @_;
    return unless $query_file;
    my $name = $block->name;
    my $buf = read_file_text($query_file);
    is_str($buf, $block->tcp_query, "$name - tcp_query ok")
        if defined $block->tcp_query;
    Test::More::is(length($buf), $block->tcp_query_len,
                   "$name - TCP query length ok")
        if defined $block->tcp_query_len;
}

# ---------------------------------------------------------------------------
# Running a block
# ---------------------------------------------------------------------------

# One iteration (of repeat_each): send the request(s) and run the checks.
sub run_test_helper {
    my ($block, $repeated_req_idx, $rand_ports) = @_;
    my $name = $block->name;
    my $reqs = get_req_from_block($block, $rand_ports);
    bail_out("$name - request empty") unless @$reqs;

    my $timeout = parse_time($block->timeout) // $Timeout;
    my $pipelined = $block->pipelined_requests
                    ? scalar @{ $block->pipelined_requests } : 0;
    my $need_array = $pipelined ? 1 : @$reqs > 1;
    my $ignore = defined $block->ignore_response;
    my $wait = parse_time($block->wait);
    my $req_idx = 0;

    for my $i (0 .. $#$reqs) {
        my ($raw, $head_req) = send_request($block, $reqs->[$i], $timeout);
        my $nresp = $pipelined || 1;
        for my $k (1 .. $nresp) {
            my ($res, $raw_headers, $left);
            unless ($ignore) {
                if (defined $block->http09) {
                    $res = HTTP::Response->new(200, 'OK', [], $raw);
                    $raw_headers = '';
                } else {
                    ($res, $raw_headers, $left) =
                        parse_response($name, $raw // '', $head_req);
                }
            }
            if ($pipelined) {
                $raw = $left // '';
            } elsif (defined $left && length $left) {
                (my $l = $left) =~ s/([\0-\037\200-\377])/sprintf('\x{%02x}', ord $1)/eg;
                warn "WARNING: $name - unexpected extra bytes after last "
                     . "chunk in response: \"$l\"\n";
            }
            unless ($ignore) {
                check_error_code($block, $res, $req_idx, $need_array);
                check_raw_response_headers($block, $raw_headers // '',
                                           $req_idx, $need_array);
                check_response_headers($block, $res, $raw_headers // '',
                                       $req_idx, $need_array);
                transform_response_body($block, $res, $req_idx);
                check_response_body($block, $res, $req_idx,
                                    $repeated_req_idx, $need_array);
            }
            if ($k < $nresp || $i < $#$reqs) {
                sleep $wait if $wait;
                check_error_log($block, $repeated_req_idx);
                check_access_log($block, $repeated_req_idx) unless $ignore;
            }
            $req_idx++;
        }
    }

    sleep $wait if $wait;
    check_error_log($block, $repeated_req_idx);
    check_access_log($block, $repeated_req_idx) unless $ignore;
}

# Decides whether the block's subtests are skipped or todo.
# Returns ($kind, $count, $reason) with $kind 'skip', 'todo' or undef.
sub skip_or_todo {
    my ($block) = @_;
    my $name = $block->name;

    if (defined(my $spec = $block->skip_eval)) {
        if ($spec =~ /^\s*(\d+)\s*:\s*(.*)/s) {
            my ($n, $code) = ($1, $2);
            my $skip = eval $code;
            bail_out("$name - skip_eval - failed to eval the Perl code "
                     . "\"$code\": $@") if $@;
            return ('skip', $n, 'skip_eval') if $skip;
        }
    }

    if (defined(my $spec = $block->skip_nginx)) {
        $spec =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*))?\s*$/
            or bail_out("$name - Invalid --- skip_nginx spec: $spec");
        my ($n, $op, $ver, $reason) = ($1, $2, canon_version($3, $4, $5), $6);
        my $skip = eval "$NginxVersion $op $ver";
        return ('skip', $n, $reason || "nginx version $op $3.$4.$5")
            if $skip;
    }

    if (defined(my $spec = $block->todo)) {
        $spec =~ /^\s*(\d+)\s*:\s*(.*)/s
            or bail_out("$name - Invalid --- todo spec: $spec");
        return ('todo', $1, $2);
    }
    return;
}

sub run_must_die_block {
    my ($block) = @_;
    my $name = $block->name;
    my $must_die = $block->must_die;
    $must_die =~ s/^\s+|\s+$//g;

    $ErrLogFilePos = 0;
    for my $i (0 .. $RepeatEach - 1) {
        my $status = run_nginx_cmd(nginx_cmd(), $block);
        my $exec_failed = $status == -1 || $status >> 8 == 255;
        my $exit_code = $status >> 8;
        my $coredump = $status & 128;

        if ($exec_failed) {
            Test::More::fail("$name - failed to execute the nginx command line");
        } elsif ($coredump) {
            Test::More::fail("$name - nginx core dumped");
        } elsif (looks_like_number($must_die)) {
            Test::More::is($must_die, $exit_code,
                           "$name - die with the expected exit code");
        } else {
            Test::More::isnt($status, 0, "$name - die as expected");
        }

        # only error.log counts, as in the real one (nginx -e sends the
        # start-up errors there; stderr is for the eyes)
        check_error_log($block, $i);

        if ($status == 0) {
            warn "WARNING: $name - nginx must die but it does not; "
                 . "killing it (req $i)\n";
            $NginxPid = pid_from_pidfile();
            stop_nginx($name);
        }
    }
}

sub run_test {
    my ($block) = @_;
    my $name = $block->name;
    return if defined $block->SKIP;

    my ($kind, $count, $reason) = skip_or_todo($block);
    if ($kind) {
        for (1 .. $RepeatEach) {
            if ($kind eq 'skip') {
                SKIP: { Test::More::skip("$name - $reason", $count) }
            } else {
                TODO: { Test::More::todo_skip("$name - $reason", $count) }
            }
        }
        return;
    }

    # A block without --- config reuses the previous block's configuration
    # (the real scaffold keeps the previous nginx running in this case).
    my $cfg_block = $block;
    if (defined $block->config) {
        $PrevConfigBlock = $block;
    } elsif ($PrevConfigBlock) {
        $cfg_block = $PrevConfigBlock;
    } else {
        bail_out("$name - No '--- config' section specified and could not "
                 . "get previous one.");
    }

    # stop a stale nginx left behind in this server root (e.g. aborted run)
    if (defined(my $stale = pid_from_pidfile())) {
        if (process_alive($stale)
            && read_file_text("/proc/$stale/cmdline") =~ /nginx/)
        {
            $NginxPid = $stale;
            stop_nginx($name);
        }
    }

    my $rand_ports = {};
    setup_server_root();
    write_user_files($cfg_block, $rand_ports) if $cfg_block != $block;
    write_user_files($block, $rand_ports);
    write_config_file($block, $cfg_block, $rand_ports);

    if (defined $block->must_die) {
        run_must_die_block($block);
        return;
    }

    $ErrLogFilePos = 0;
    my ($ok, $status) = start_nginx($block);
    if (!$ok) {
        my $log = read_file_text($ErrLogFile);
        Test::More::fail("$name - Cannot start nginx using command \""
                         . join(' ', @{ nginx_cmd() })
                         . "\" (status code $status).");
        Test::More::diag($log);
        return;
    }

    if (defined(my $init = $block->init)) {
        eval $init;
        bail_out("$name - init failed: $@") if $@;
    }

    $ErrLogFilePos = 0;
    for my $i (0 .. $RepeatEach - 1) {
        my ($target, $query_file);
        ($target, $query_file) = start_tcp_server($block, $rand_ports)
            if defined $block->tcp_listen;

        my $pid = $NginxPid;
        run_test_helper($block, $i, $rand_ports);
        run_tcp_server_tests($block, $query_file);

        stop_tcp_server();
        unlink $target if defined $target && $target =~ /\.sock$/;
        unlink $query_file if $query_file;

        if ($pid && !process_alive($pid)) {
            Test::More::fail("$name - nginx process $pid is gone "
                             . "(crashed?)\n");
            undef $NginxPid;
            last;
        }
    }

    stop_nginx($name);
    check_shutdown_error_log($block);
}

sub run_tests () {
    my $tb = Test::More->builder;
    Test::More::plan('no_plan') unless $tb->has_plan;

    $NginxVersion = get_nginx_version();

    # Like the real one, only this variable gets a default: a test file
    # that uses $TEST_NGINX_HTML_DIR sets it itself, e.g.
    # "$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();", so a suite that passes
    # here passes under the real Test::Nginx too.
    $ENV{TEST_NGINX_SERVER_PORT} //= $ServerPort;

    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks unless $NoShuffle;

    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value(name => "$0 " . $block->name);
        run_test($block);
    }

    cleanup();
}

1;
