# The outbox remembers the Idempotency-Keys it wrote across a restart of
# nginx, not only across a reload: each key written is also appended to
# the keys file next to the outbox ("FILE.keys", "time key" lines), and a
# new zone reads it back.  A message sent again after nginx was stopped and
# started (an audience execution resumed from its journal) is dropped.
# This needs nginx stopped and started with the same files, so it drives
# nginx itself rather than through Test::Nginx.

use strict;
use warnings;

use Test::More;
use HTTP::Tiny;
use FindBin;

require "$FindBin::Bin/150-helpers.pl";

our ($PREFIX, $BASE);

my $port = $BASE + 53;
my $http = HTTP::Tiny->new(timeout => 10);

sub server {
    my ($keys) = @_;
    $keys = $keys ? " keys=$keys" : '';

    return <<"EOF";
    server {
        listen 127.0.0.1:$port;

        location = /outbox {
            campaign_outbox logs/outbox.jsonl$keys;
        }
    }
EOF
}

# (status, body) of a message sent with Idempotency-Key $key
sub post {
    my ($key, $body) = @_;
    my $res = $http->post("http://127.0.0.1:$port/outbox", {
        headers => { 'Content-Type' => 'application/json',
                     'Idempotency-Key' => $key },
        content => $body,
    });
    return ($res->{status}, $res->{content});
}

sub lines { return [split /\n/, read_file('logs/outbox.jsonl')] }

sub log_lines {
    my ($re) = @_;
    return scalar grep { /$re/ } split /\n/, read_file('logs/error.log');
}

my $accepted = qq/{"status":"accepted"}\n/;
my $duplicate = qq/{"status":"accepted","duplicate":true}\n/;

# 1. a key written before a stop is known after the start

ok start_nginx(server(), $port), 'nginx starts';

is_deeply [post('k-1', '{"n":1}')], [202, $accepted], 'k-1 is written';
is_deeply [post('k-1', '{"n":2}')], [202, $duplicate],
          '... and dropped when sent again';

like read_file('logs/outbox.jsonl.keys'), qr/\A\d{10} k-1\n\z/,
     'the keys file holds "time key"';

ok stop_nginx(), 'nginx quits';
ok start_nginx(server(), $port), 'nginx starts again';

is_deeply [post('k-1', '{"n":3}')], [202, $duplicate],
          'k-1 sent again after the restart is dropped';
is_deeply [post('k-2', '{"n":4}')], [202, $accepted],
          'a new key is written';
is_deeply lines(), ['{"n":1}', '{"n":4}'], 'one line per key';
is log_lines(qr/\[notice\].*campaign_outbox: 1 Idempotency-Key\(s\) read /
             . qr/from "[^"]*outbox\.jsonl\.keys"/), 1,
   'the start says how many keys it read';

# 2. a reload that makes a new zone (another keys=) reads the file too

my $conf = read_file('conf/nginx.conf');
$conf =~ s{(campaign_outbox logs/outbox\.jsonl);}{$1 keys=2m;} or die;
write_file('conf/nginx.conf', $conf);

my @old = worker_pids();
kill 'HUP', master_pid();

ok wait_for(sub { log_lines(qr/campaign_outbox: 2 Idempotency-Key\(s\) read/)
                  == 1 }),
   'a reload with another keys= reads the keys file';
ok wait_for(sub { my %w = map { $_ => 1 } worker_pids();
                  !grep { $w{$_} } @old }),
   'the old workers are gone';

is_deeply [post('k-2', '{"n":5}')], [202, $duplicate],
          'k-2 is dropped after the reload';

ok stop_nginx(), 'nginx quits';

# 3. a keys file with lines that are not records, an expired record, and a
#    last record cut short by a crash: the start skips them

append_line('logs/outbox.jsonl.keys', $_)
    for 'junk', '1700000000', '123x k-9', time() . ' a b',
        time() . ' ' . ('k' x 129), '1000 k-old';

open my $fh, '>>', "$PREFIX/logs/outbox.jsonl.keys" or die $!;
print $fh time() . ' k-cut';
close $fh;

ok start_nginx(server(), $port), 'nginx starts with a damaged keys file';

is log_lines(qr/\[warn\].*campaign_outbox: 6 line\(s\) of "[^"]*keys" are /
             . qr/not "time key", skipped/), 1,
   'the lines that are not records are logged once';
is log_lines(qr/\[(alert|crit|emerg)\]/), 0, 'nothing worse';

is_deeply [post('k-1', '{"n":6}')], [202, $duplicate], 'k-1 is still known';
is_deeply [post('k-2', '{"n":7}')], [202, $duplicate], 'k-2 is still known';
is_deeply [post('k-old', '{"n":8}')], [202, $accepted],
          'an expired key is written again';
is_deeply [post('k-cut', '{"n":9}')], [202, $accepted],
          'the key of a record cut short is written';

like read_file('logs/outbox.jsonl.keys'),
     qr/ k-cut\n\d{10} k-old\n\d{10} k-cut\n\z/,
     'the record cut short was ended, the next ones start on a line of '
     . 'their own';

ok stop_nginx(), 'nginx quits';
ok start_nginx(server(), $port), 'nginx starts again';

is_deeply [post('k-cut', '{"n":10}')], [202, $duplicate],
          'k-cut is known after the next restart';
is_deeply [post('k-old', '{"n":11}')], [202, $duplicate],
          'so is k-old';
is_deeply lines(), ['{"n":1}', '{"n":4}', '{"n":8}', '{"n":9}'],
          'one line per key';

ok stop_nginx(), 'nginx quits';

# 4. only the tail a zone can hold is read: with keys=32k, the newest of
#    4000 records are known, the oldest are not

open $fh, '>>', "$PREFIX/logs/outbox.jsonl.keys" or die $!;
printf $fh "%d bulk-%04d\n", time(), $_ for 1 .. 4000;
close $fh;

ok start_nginx(server('32k'), $port), 'nginx starts with keys=32k';

is_deeply [post('bulk-4000', '{"n":12}')], [202, $duplicate],
          'the newest record is known';
is_deeply [post('bulk-0001', '{"n":13}')], [202, $accepted],
          'the oldest is not';
is_deeply [post('k-1', '{"n":14}')], [202, $accepted],
          'nor a key before it';

ok stop_nginx(), 'nginx quits';

my @bad = grep { /\[(alert|crit|emerg)\]|exited on signal/ }
          split /\n/, read_file('logs/error.log');
is_deeply \@bad, [], 'nothing in the log at alert, crit or emerg';

done_testing();
