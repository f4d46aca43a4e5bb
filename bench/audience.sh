#!/usr/bin/env bash
# make bench, its audience part (runnable alone):
#
#   bench/audience.sh /usr/sbin/nginx build/ngx_http_campaign_module.so
#
# An audience execution of a marketing campaign with no throttle, in an
# nginx with one worker, for each size in BENCH_AUDIENCE_SIZES (default
# "100000 1000000"): the audience is made by tools/make-audience (about
# 90% sendable: every 10th profile has declined marketing e-mail, every
# 50th from 25 is on conf/suppressed-email.txt, 3 lines are malformed),
# POSTed to executions/audience and its status polled until it has ended.
# Printed: recipients, seconds, messages/s (recipients settled a second:
# sent and skipped), the worker's CPU per recipient and its peak RSS
# (VmHWM, which counts the pages of campaign_zone it touched: RssShmem).
# Each size runs in an nginx of its own, so that VmHWM is that run's.
# On a machine that others share, messages/s moves with their load, the
# worker's CPU per recipient much less.
#
# The gateway is an internal location (BENCH_AUDIENCE_GATEWAY):
#   outbox  (default) the module's campaign_outbox appending every message
#           to a file on tmpfs (/dev/shm when there is one), as the demo
#           and a staging mail catcher do; the lines are counted after
#   return  return 202 '{}': the module's cost alone
#   proxy   proxy_pass over keepalive connections to a provider that
#           answers 202, a server of the same nginx on the next port (so
#           the worker pays for both sides): the batches in flight matter
#
# The audiences are kept in BENCH_AUDIENCE_DIR (default: build/audiences
# next to the module), made again only when missing.  Targets:
# 100,000 recipients >= 20,000 messages/s; 1,000,000 under 64 MB of RSS.
# Ports: BENCH_AUDIENCE_PORT (default BENCH_PORT + 2) and the next one.
set -euo pipefail

nginx=${1:?nginx binary}
module=$(cd "$(dirname "${2:?module}")" && pwd)/$(basename "$2")
bench=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$bench")
port=${BENCH_AUDIENCE_PORT:-$(( ${BENCH_PORT:-18080} + 2 ))}
sizes=${BENCH_AUDIENCE_SIZES:-100000 1000000}
gateway=${BENCH_AUDIENCE_GATEWAY:-outbox}
audiences=${BENCH_AUDIENCE_DIR:-$(dirname "$module")/audiences}
timeout=${BENCH_AUDIENCE_TIMEOUT:-600}
pin=()
if [ -n "${BENCH_PIN:-}" ] && [ "$(nproc)" -ge 2 ]; then
    pin=(taskset -c 0)
fi

tmp=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && tmp=/dev/shm
dir=$(mktemp -d "$tmp/campaign-audience-bench.XXXXXX")

stop() {
    if [ -s "$dir/logs/nginx.pid" ]; then
        kill "$(cat "$dir/logs/nginx.pid")" 2>/dev/null || true
        for _ in $(seq 50); do
            [ -e "$dir/logs/nginx.pid" ] || break
            sleep 0.1
        done
    fi
}

trap 'stop; rm -rf "$dir"' EXIT

case $gateway in
outbox) gw="campaign_outbox $dir/outbox.jsonl;" ;;
return) gw="return 202 '{}';" ;;
proxy)  gw="proxy_pass http://provider/v1/mail; proxy_http_version 1.1; proxy_set_header Connection '';" ;;
*)      echo "BENCH_AUDIENCE_GATEWAY: outbox, return or proxy" >&2; exit 2 ;;
esac

user=
[ "$(id -u)" = 0 ] && user="user $(id -un) $(id -gn);"

mkdir -p "$audiences"

for n in $sizes; do
    if [ ! -s "$audiences/bench-$n.jsonl" ]; then
        "$root/tools/make-audience" "$n" > "$audiences/bench-$n.jsonl.tmp"
        mv -f "$audiences/bench-$n.jsonl.tmp" "$audiences/bench-$n.jsonl"
    fi
done

# the worker's /proc/PID/status field, in kB
field() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
ms() { date +%s%3N; }
hz=$(getconf CLK_TCK)
url=http://127.0.0.1:$port/ajo/im

echo "audience executions: one worker, no throttle, gateway: $gateway" \
     "($gw), load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"

fail=0

for n in $sizes; do
    rm -rf "$dir/logs" "$dir/conf" "$dir/outbox.jsonl"
    mkdir -p "$dir/logs" "$dir/conf"
    sed -e "s|@MODULE@|$module|" -e "s|@BENCH@|$bench|" \
        -e "s|@ROOT@|$root|" -e "s|@PORT@|$port|" \
        -e "s|@AUDIENCES@|$audiences|" -e "s|@GATEWAY@|$gw|" \
        -e "s|@PROVIDER_PORT@|$((port + 1))|" \
        -e "s|^worker_processes|$user\nworker_processes|" \
        "$bench/audience/nginx.conf" > "$dir/conf/nginx.conf"

    "${pin[@]}" "$nginx" -p "$dir/" -c conf/nginx.conf -e logs/error.log

    worker=
    for _ in $(seq 50); do
        [ -s "$dir/logs/nginx.pid" ] \
            && worker=$(pgrep -P "$(cat "$dir/logs/nginx.pid")" || true)
        [ -n "$worker" ] && break
        sleep 0.1
    done

    if [ -z "$worker" ]; then
        echo "nginx did not start:" >&2; cat "$dir/logs/error.log" >&2
        exit 1
    fi

    idle=$(field "$worker" VmRSS)

    t0=$(ticks "$worker")
    start=$(ms)

    code=$(curl -s -o "$dir/answer" -w '%{http_code}' \
                -H 'Content-Type: application/json' \
                --data-binary "{\"campaignId\":\"bench-newsletter\",\"audience\":{\"id\":\"bench-$n\"},\"context\":{\"discount\":20}}" \
                "$url/executions/audience")

    if [ "$code" != 202 ]; then
        echo "the audience execution is not accepted ($code):" >&2
        cat "$dir/answer" >&2; echo >&2
        exit 1
    fi

    id=$(sed -n 's/.*"executionId":"\([0-9a-f-]*\)".*/\1/p' "$dir/answer")
    status=

    while :; do
        curl -s -o "$dir/status" "$url/executions/audience/$id"
        if ! grep -q '"status":"InProgress"' "$dir/status"; then
            end=$(ms)
            break
        fi
        if [ $(( $(ms) - start )) -gt $(( timeout * 1000 )) ]; then
            echo "$n: not finished after ${timeout}s:" >&2
            cat "$dir/status" >&2; echo >&2
            exit 1
        fi
        sleep 0.05
    done

    t1=$(ticks "$worker")

    hwm=$(field "$worker" VmHWM)
    anon=$(field "$worker" RssAnon)
    shmem=$(field "$worker" RssShmem)
    status=$(sed -n 's/.*"status":"\([A-Za-z]*\)".*/\1/p' "$dir/status")

    # recipients settled: every valid one is sent, skipped or failed
    read -r targeted sent failed skipped malformed < <(
        tr -d '\n' < "$dir/status" | awk '{
            match($0, /"targetedProfileCount":[0-9]+/)
            t = substr($0, RSTART + 23, RLENGTH - 23)
            match($0, /"sent":[0-9]+/); s = substr($0, RSTART + 7, RLENGTH - 7)
            match($0, /"failed":[0-9]+/); f = substr($0, RSTART + 9, RLENGTH - 9)
            match($0, /"skipped":\{[^}]*\}/); k = substr($0, RSTART, RLENGTH)
            n = 0; while (match(k, /:[0-9]+/)) {
                n += substr(k, RSTART + 1, RLENGTH - 1); k = substr(k, RSTART + RLENGTH)
            }
            match($0, /"malformedLines":[0-9]+/)
            m = substr($0, RSTART + 17, RLENGTH - 17)
            print t, s, f, n, m
        }')

    secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", (b - a) / 1000 }')

    echo "audience of $n: $status, $targeted recipients, $sent sent," \
         "$failed failed, $skipped skipped, $malformed malformed line(s)"
    awk -v n="$targeted" -v s="$sent" -v t="$secs" -v c="$((t1 - t0))" \
        -v hz="$hz" -v hwm="$hwm" -v idle="$idle" -v anon="$anon" \
        -v shm="$shmem" 'BEGIN {
        printf "  %.2f s, %.0f messages/s (%.0f sent/s), %.1f us of worker CPU per recipient\n",
               t, n / t, s / t, c / hz * 1e6 / n
        printf "  worker peak RSS (VmHWM) %.1f MB; idle before %.1f MB; at the end anonymous %.1f MB, shared %.1f MB\n",
               hwm / 1024, idle / 1024, anon / 1024, shm / 1024
    }'

    if [ "$gateway" = outbox ]; then
        lines=$(wc -l < "$dir/outbox.jsonl")
        echo "  outbox: $lines line(s), $(du -m "$dir/outbox.jsonl" | cut -f1) MB"
        if [ "$lines" != "$sent" ]; then
            echo "  the outbox has $lines lines for $sent sent" >&2; fail=1
        fi
    fi

    if [ "$status" != Succeeded ] || [ "$failed" != 0 ]; then
        echo "  the execution did not succeed whole" >&2; fail=1
    fi

    if grep -E '\[(alert|crit|emerg|error)\]' "$dir/logs/error.log" | head -5; then
        echo "  errors in the log" >&2; fail=1
    fi

    stop
done

exit "$fail"
