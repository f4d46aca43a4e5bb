#!/usr/bin/env bash
# make bench: wrk against (a) a location that only returns 202 and (b) a
# one-recipient unitary trigger (~2 KB e-mail, 14 substitutions) dispatched
# through an internal gateway location, in the same nginx with one worker.
# Runs alternate a/b ROUNDS times; medians and the ratio b/a are printed.
set -euo pipefail

nginx=${1:?nginx binary}
module=${2:?module}
bench=$(cd "$(dirname "$0")" && pwd)
port=${BENCH_PORT:-18080}
rounds=${BENCH_ROUNDS:-5}
seconds=${BENCH_SECONDS:-5}
conns=${BENCH_CONNECTIONS:-32}
dir=$(mktemp -d)

trap 'kill $(cat "$dir/logs/nginx.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$dir"' EXIT

mkdir -p "$dir/logs" "$dir/conf"
sed -e "s|@MODULE@|$module|" -e "s|@BENCH@|$bench|" -e "s|@PORT@|$port|" \
    "$bench/nginx.conf" > "$dir/conf/nginx.conf"

"$nginx" -p "$dir/" -c conf/nginx.conf -e logs/error.log
sleep 0.5

url=http://127.0.0.1:$port
code=$(curl -s -o "$dir/answer" -w '%{http_code}' -H 'Content-Type: application/json' \
       --data-binary @"$bench/trigger.json" "$url/ajo/im/executions/unitary")
if [ "$code" != 202 ] || ! grep -q '"status":"accepted"' "$dir/answer"; then
    echo "the trigger is not accepted ($code):" >&2; cat "$dir/answer" >&2; exit 1
fi

rps() {
    wrk -t1 -c"$conns" -d"${seconds}s" "$@" | awk '/^Requests\/sec/ { print $2 }'
}

export BENCH_BODY=$bench/trigger.json
a=(); b=(); r=()
for i in $(seq "$rounds"); do
    a+=("$(rps "$url/bare")")
    b+=("$(rps -s "$bench/trigger.lua" "$url/ajo/im/executions/unitary")")
    r+=("$(awk -v a="${a[-1]}" -v b="${b[-1]}" 'BEGIN { printf "%.3f", b / a }')")
    echo "round $i: bare ${a[-1]} req/s, trigger ${b[-1]} req/s, b/a ${r[-1]}"
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

ma=$(median "${a[@]}")
mb=$(median "${b[@]}")
echo "median (a) bare return 202:      $ma req/s"
echo "median (b) unitary trigger:      $mb req/s"
awk -v a="$ma" -v b="$mb" 'BEGIN { printf "ratio of the medians b/a: %.3f (target >= 0.40)\n", b / a }'
echo "median of the per-round ratios: $(median "${r[@]}") (rounds are paired, so this one is less noisy)"

if grep -E '\[(alert|crit|emerg)\]' "$dir/logs/error.log"; then
    echo "errors in the log" >&2; exit 1
fi
