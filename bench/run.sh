#!/usr/bin/env bash
# make bench: wrk against (a) a location that only returns 202 and (b) a
# one-recipient unitary trigger (an e-mail of about 2 KB: subject, html
# and text, 29 substitutions, sections and HTML escaping) dispatched
# through an internal gateway location, in the same nginx with one worker.
#
# 1. Throughput: runs alternate a/b ROUNDS times, each with wrk -t1 and
#    CONNECTIONS connections; medians, the ratio of the medians and the
#    median of the per-round ratios b/a are printed.
# 2. Latency: the trigger at a fixed rate, LATENCY_SHARE of the median
#    trigger rate of step 1 (default half), for LATENCY_SECONDS; wrk's
#    percentiles p50 and p99 are printed.  wrk sends as fast as it can, so
#    the rate is fixed by bench/latency.lua: every connection waits a random
#    time (mean LATENCY_MS) before each request, which spreads requests out
#    as independent users would, and the number of connections is what
#    makes the rate; a short calibration run sets it.
#
# The shared state's cost is (c)/(d): the trigger with a new requestId each
# time, with the zone, idempotency and metrics (c), and (d) in a second
# nginx (one worker too, on the next port) with no campaign_zone at all.  Besides req/s,
# the worker's CPU time per request is printed for both: on a machine that
# others share, it moves much less than req/s.  BENCH_ZONE_ONLY=1 runs only
# (c) and (d), without the latency step.  BENCH_PIN=1 keeps nginx on the
# first CPU and wrk on the second, so that neither preempts the other (the
# CPU per request is then steadier, and req/s may be wrk's limit).
set -euo pipefail

nginx=${1:?nginx binary}
module=${2:?module}
bench=$(cd "$(dirname "$0")" && pwd)
port=${BENCH_PORT:-18080}
rounds=${BENCH_ROUNDS:-5}
seconds=${BENCH_SECONDS:-5}
conns=${BENCH_CONNECTIONS:-50}
zone_only=${BENCH_ZONE_ONLY:-}
pin_nginx=(); pin_wrk=()
if [ -n "${BENCH_PIN:-}" ] && [ "$(nproc)" -ge 2 ]; then
    pin_nginx=(taskset -c 0); pin_wrk=(taskset -c 1)
fi
latency_seconds=${BENCH_LATENCY_SECONDS:-10}
latency_share=${BENCH_LATENCY_SHARE:-0.5}
export BENCH_LATENCY_MS=${BENCH_LATENCY_MS:-10}
dir=$(mktemp -d)

trap 'kill $(cat "$dir"/logs/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$dir"' EXIT

mkdir -p "$dir/logs" "$dir/conf"
sed -e "s|@MODULE@|$module|" -e "s|@BENCH@|$bench|" -e "s|@PORT@|$port|" \
    "$bench/nginx.conf" > "$dir/conf/nginx.conf"
sed -e "s|@MODULE@|$module|" -e "s|@BENCH@|$bench|" \
    -e "s|@PORT@|$((port + 1))|" -e '/# state$/d' \
    -e 's|logs/nginx.pid|logs/stateless.pid|' -e 's|logs/error.log|logs/stateless.log|' \
    "$bench/nginx.conf" > "$dir/conf/stateless.conf"

"${pin_nginx[@]}" "$nginx" -p "$dir/" -c conf/nginx.conf -e logs/error.log
"${pin_nginx[@]}" "$nginx" -p "$dir/" -c conf/stateless.conf -e logs/stateless.log
sleep 0.5

url=http://127.0.0.1:$port
code=$(curl -s -o "$dir/answer" -w '%{http_code}' -H 'Content-Type: application/json' \
       --data-binary @"$bench/trigger.json" "$url/ajo/im/executions/unitary")
if [ "$code" != 202 ] || ! grep -q '"status":"accepted"' "$dir/answer"; then
    echo "the trigger is not accepted ($code):" >&2; cat "$dir/answer" >&2; exit 1
fi

rps() {
    "${pin_wrk[@]}" wrk -t1 -c"$conns" -d"${seconds}s" "$@" | awk '/^Requests\/sec/ { print $2 }'
}

# req/s and the worker's CPU microseconds per request (user + system)
worker=$(pgrep -P "$(cat "$dir/logs/nginx.pid")")
stateless=$(pgrep -P "$(cat "$dir/logs/stateless.pid")")
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# rps_cpu WORKER WRK-ARGS...
rps_cpu() {
    local t0 t1 out w=$1

    shift
    t0=$(ticks "$w")
    out=$("${pin_wrk[@]}" wrk -t1 -c"${conns}" -d"${seconds}s" "$@")
    t1=$(ticks "$w")

    echo "$out" | awk -v t="$((t1 - t0))" -v hz="$hz" '
        / requests in / { n = $1 }
        /^Requests\/sec/ { r = $2 }
        END { printf "%s %.2f\n", r, t / hz * 1e6 / n }'
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

export BENCH_BODY=$bench/trigger.json

# other work on the machine moves both figures: say how busy it was
load() { echo "load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"; }

echo "before: $(load)"
echo "throughput: wrk -t1 -c$conns -d${seconds}s, $rounds paired rounds"
# (c) and (d): a new requestId each time (wrk then makes each body, which
# costs it more): (d) without the shared state, (c) with the zone,
# idempotency and metrics on, so that every request is claimed, counted,
# runs and is kept
a=(); b=(); c=(); d=(); r=(); z=(); cc=(); cd=(); zc=()
for i in $(seq "$rounds"); do
    if [ -z "$zone_only" ]; then
        a+=("$(rps "$url/bare")")
        b+=("$(rps -s "$bench/trigger.lua" "$url/ajo/im/executions/unitary")")
        r+=("$(awk -v a="${a[-1]}" -v b="${b[-1]}" 'BEGIN { printf "%.3f", b / a }')")
        echo "round $i: bare ${a[-1]} req/s, trigger ${b[-1]} req/s, b/a ${r[-1]}"
    fi

    read -r dr du < <(rps_cpu "$stateless" -s "$bench/trigger_unique.lua" "http://127.0.0.1:$((port + 1))/ajo/im/executions/unitary")
    read -r cr cu < <(rps_cpu "$worker" -s "$bench/trigger_unique.lua" "$url/zoned/executions/unitary")
    d+=("$dr"); cd+=("$du"); c+=("$cr"); cc+=("$cu")
    z+=("$(awk -v d="$dr" -v c="$cr" 'BEGIN { printf "%.3f", c / d }')")
    zc+=("$(awk -v d="$du" -v c="$cu" 'BEGIN { printf "%.3f", d / c }')")
    echo "round $i: new requestIds (d) $dr req/s $du us/req, with the zone, idempotency and metrics (c) $cr req/s $cu us/req: c/d ${z[-1]}, by CPU ${zc[-1]}"
done

if [ -z "$zone_only" ]; then
    ma=$(median "${a[@]}")
    mb=$(median "${b[@]}")
    echo "median (a) bare return 202:      $ma req/s"
    echo "median (b) unitary trigger:      $mb req/s"
    awk -v a="$ma" -v b="$mb" 'BEGIN { printf "ratio of the medians b/a: %.3f (target >= 0.45)\n", b / a }'
    echo "median of the per-round ratios: $(median "${r[@]}") (rounds are paired, so this one is less noisy)"
fi

md=$(median "${d[@]}")
mc=$(median "${c[@]}")
echo "median (d) trigger, new requestIds, no zone:             $md req/s, $(median "${cd[@]}") us of worker CPU per request"
echo "median (c) the same, zone, idempotency and metrics:      $mc req/s, $(median "${cc[@]}") us of worker CPU per request"
echo "shared state (c)/(d), target >= 0.9:"
awk -v d="$md" -v c="$mc" 'BEGIN { printf "  ratio of the medians c/d:              %.3f\n", c / d }'
echo "  median of the per-round ratios c/d:    $(median "${z[@]}")"
echo "  median of the per-round CPU ratios d/c: $(median "${zc[@]}") (CPU per request: the least noisy)"

# The same pair at the same offered load, PACE_SHARE (default 0.6) of
# (d)'s median rate: at full speed a slower server also pays for waking
# wrk more often, which on a virtual machine costs the worker kernel time
# that is not the shared state's; paced, both runs pay the same.
pace_ms=10
pconns=$(awk -v m="$md" -v s="${BENCH_PACE_SHARE:-0.6}" -v p="$pace_ms" 'BEGIN { c = int(m * s * p / 1000 + 0.5); print (c < 1) ? 1 : c }')
pc=()
for i in $(seq "$rounds"); do
    read -r pdr pdu < <(BENCH_PACE_MS=$pace_ms conns=$pconns rps_cpu "$stateless" -s "$bench/trigger_unique.lua" "http://127.0.0.1:$((port + 1))/ajo/im/executions/unitary")
    read -r pcr pcu < <(BENCH_PACE_MS=$pace_ms conns=$pconns rps_cpu "$worker" -s "$bench/trigger_unique.lua" "$url/zoned/executions/unitary")
    pc+=("$(awk -v d="$pdu" -v c="$pcu" 'BEGIN { printf "%.3f", d / c }')")
    echo "paced round $i ($pconns connections): (d) $pdr req/s $pdu us/req, (c) $pcr req/s $pcu us/req: CPU d/c ${pc[-1]}"
done
echo "  median of the paced CPU ratios d/c:     $(median "${pc[@]}") (the same load for both)"

errors() {
    if grep -E '\[(alert|crit|emerg)\]' "$dir/logs/error.log" "$dir/logs/stateless.log"; then
        echo "errors in the log" >&2; exit 1
    fi
}

if [ -n "$zone_only" ]; then
    echo "after: $(load)"
    errors
    exit 0
fi

# wrk's --latency percentiles are printed as 412.00us, 1.20ms or 1.01s
latency() {
    "${pin_wrk[@]}" wrk -t1 -c"$1" -d"$2s" --latency -s "$bench/latency.lua" \
        "$url/ajo/im/executions/unitary" > "$dir/latency"
}

ms() {
    awk -v p="$1" '
        $1 == p {
            v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
            print (u == "us") ? v / 1000 : (u == "s") ? v * 1000 : v
        }' "$dir/latency"
}

achieved() { awk '/^Requests\/sec/ { print $2 }' "$dir/latency"; }

goal=$(awk -v m="$mb" -v s="$latency_share" 'BEGIN { printf "%.0f", m * s }')

# each connection sends about 1000 / LATENCY_MS requests a second
lconns=$(awk -v g="$goal" -v d="$BENCH_LATENCY_MS" 'BEGIN { c = int(g * d / 1000 + 0.5); print (c < 1) ? 1 : c }')
latency "$lconns" 3
lconns=$(awk -v c="$lconns" -v g="$goal" -v r="$(achieved)" 'BEGIN { c = int(c * g / r + 0.5); print (c < 1) ? 1 : c }')
latency "$lconns" "$latency_seconds"

echo "latency: the trigger at a fixed $goal req/s ($latency_share of the median), $lconns connections, ${latency_seconds}s"
echo "latency: achieved $(achieved) req/s, p50 $(ms 50%) ms, p99 $(ms 99%) ms (target p99 < 2 ms)"

# the same connections and pace against bare nginx: the machine's own tail
BENCH_BODY= "${pin_wrk[@]}" wrk -t1 -c"$lconns" -d"${latency_seconds}s" --latency \
    -s "$bench/latency.lua" "$url/bare" > "$dir/latency"
echo "latency: bare nginx at the same pace: achieved $(achieved) req/s, p50 $(ms 50%) ms, p99 $(ms 99%) ms"
echo "after: $(load)"

errors
