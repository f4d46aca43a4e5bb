# A disk that fills up in the middle of a line: write(2) writes what fits,
# then fails with ENOSPC.  The outbox never leaves the partial line in the
# file, answers 500, and does not remember the Idempotency-Key of a line
# it could not write, so that a retry writes it.
#
# The full disk is a small library preloaded into nginx: its write() gives
# files whose name ends with "/full.jsonl" a quota of 64 bytes.

use Test::Nginx::Socket 'no_plan';

use File::Temp qw(tempdir);

my $dir = tempdir(CLEANUP => 1);

open my $c, '>', "$dir/full.c" or die "$dir/full.c: $!";
print $c <<'_EOC_';
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char  suffix[] = "/full.jsonl";
static off_t       quota;

/* nginx gives its workers an environment of its own: read it at start */
__attribute__((constructor)) static void
full_init(void)
{
    const char  *q = getenv("OUTBOX_FULL_QUOTA");

    quota = q ? atoll(q) : -1;
}

ssize_t
write(int fd, const void *buf, size_t n)
{
    static ssize_t  (*next)(int, const void *, size_t);
    char            link[64], path[4096];
    ssize_t         len;
    struct stat     st;

    if (next == NULL) {
        next = (ssize_t (*)(int, const void *, size_t))
                   dlsym(RTLD_NEXT, "write");
    }

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    len = readlink(link, path, sizeof(path) - 1);

    if (quota >= 0 && len >= (ssize_t) sizeof(suffix) - 1
        && memcmp(path + len - (sizeof(suffix) - 1), suffix,
                  sizeof(suffix) - 1) == 0
        && fstat(fd, &st) == 0)
    {
        if (st.st_size >= quota) {
            errno = ENOSPC;
            return -1;
        }

        if ((off_t) n > quota - st.st_size) {
            n = quota - st.st_size;
        }
    }

    return next(fd, buf, n);
}
_EOC_
close $c;

my $cc = $ENV{CC} || 'cc';

if (system("$cc -shared -fPIC -o $dir/full.so $dir/full.c -ldl") != 0) {
    plan(skip_all => "cannot build the full disk library with $cc");
}

# Test::Nginx puts it in nginx's LD_PRELOAD, and only there
$ENV{TEST_NGINX_LD_PRELOAD} = "$dir/full.so";
$ENV{OUTBOX_FULL_QUOTA} = 64;

# an nginx built with AddressSanitizer wants its runtime loaded first
$ENV{ASAN_OPTIONS} = join ':', grep { defined && length }
                     $ENV{ASAN_OPTIONS}, 'verify_asan_link_order=0';

our $Pad = sub { '{"p":"' . ('x' x ($_[0] - 9)) . '"}' };

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("config", <<'_EOC_') unless defined $block->config;
    location = /outbox {
        campaign_outbox logs/full.jsonl;
    }

    location = /lines {
        default_type text/plain;
        alias logs/full.jsonl;
    }
_EOC_
});

run_tests();

__DATA__

=== TEST 1: a line cut short by a full disk is removed, the answer is 500, logged once at crit
--- more_headers
Content-Type: application/json
Idempotency-Key: m-1
--- request eval
"POST /outbox\n" . $::Pad->(80)
--- error_code: 500
--- response_headers
Content-Type: application/problem+json
--- response_body_like: "status":500,"detail":"the outbox's disk is full"
--- error_log
[crit]
--- grep_error_log eval: qr/\[(?:crit|alert)\].*/
--- grep_error_log_out eval
qr/\A\[crit\] [^\n]*write\(\) to outbox "[^"]*full\.jsonl" failed after 64 of 80 bytes, the partial line was removed \(28: No space left on device\)[^\n]*\n\z/



=== TEST 2: lines before and after a failed one stay whole, and the failed key can be written again
--- more_headers eval
[ (map { "Content-Type: application/json\nIdempotency-Key: m-$_" } 1, 2, 3, 2),
  "" ]
--- request eval
[ "POST /outbox\n" . $::Pad->(30),
  "POST /outbox\n" . $::Pad->(50),
  "POST /outbox\n" . $::Pad->(20),
  "POST /outbox\n" . $::Pad->(10),
  "GET /lines" ]
--- error_code eval
[202, 500, 202, 202, 200]
--- response_body_like eval
[ qr/\A\{"status":"accepted"\}\n\z/,
  qr/"detail":"the outbox's disk is full"/,
  qr/\A\{"status":"accepted"\}\n\z/,
  qr/\A\{"status":"accepted"\}\n\z/,
  qr/\A\Q@{[ $::Pad->(30) . "\n" . $::Pad->(20) . "\n" . $::Pad->(10) ]}\E\n\z/ ]
--- no_error_log eval
[qr/\[alert\]/, qr/\[crit\].*partial line cannot be cut off/]
