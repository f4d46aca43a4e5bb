#!/usr/bin/env bash
# make bench, its connectors part (runnable alone):
#
#   bench/connectors.sh /usr/sbin/nginx build/ngx_http_campaign_module.so
#
# The same messages through a location gateway and through the module's
# connectors, in the same run, each path in an nginx of its own with one
# worker:
#
#   location   campaign_gateway to a location that proxy_passes over
#              keepalive connections (up to 256 kept) to a provider
#              answering 202: an e-mail and a push campaign
#   http       the http connector to the same provider: a JSON body of
#              the e-mail's fields (to, from, subject, html, text)
#   smtp       the smtp connector (starttls off, no AUTH) to
#              bench/smtp-sink.py, which answers 250 to everything
#   apns       the apns connector (a P-256 .p8 key made here, ES256
#              provider tokens) over HTTP/2 and TLS to an nginx
#              "listen ssl http2" answering 200 (a self-signed
#              certificate made here; tls_verify off)
#
# The provider is an nginx of its own with one worker too (HTTP/1.1 and
# HTTP/2), so that the worker under test pays only for its side. The
# connectors may have BENCH_CONNECTOR_MAX (default 32) attempts in flight.
#
# Two kinds of work, for each path:
#   (a) unitary triggers: wrk -t1 -c BENCH_CONNECTIONS (50) POSTs a
#       one-recipient trigger (bench/trigger.lua): bench/trigger.json, a
#       2 KB e-mail, or bench/connectors/trigger-push.json, a push;
#       BENCH_CONNECTORS_ROUNDS (3) rounds of BENCH_CONNECTORS_SECONDS
#       (5), the paths alternating in each round; one nginx per path for
#       all the rounds
#   (b) an audience execution of BENCH_CONNECTORS_SIZE (10,000)
#       recipients, a marketing campaign with no throttle: the e-mail
#       audience of tools/make-audience (about 90% sendable, see
#       bench/audience.sh) or a push audience made here (all sendable),
#       POSTed to executions/audience and polled until it has ended; a
#       fresh nginx for each round, so that VmHWM is that execution's
#
# Printed: messages/s (triggers answered a second; messages sent a second
# in an audience), the worker's CPU (user + system, /proc/PID/stat) per
# message and the peer's (the provider's worker, or the SMTP sink), the
# connections the peer accepted (are they reused?), the worker's VmHWM
# and VmRSS at the end (/proc/PID/status), and the CPU shares of the
# worker, of the peer and the machine's idle share during the run, which
# say what limits the number: the busier of the worker and the peer
# (each handles every message; on a machine that others share, a
# process seldom gets a whole CPU), "latency" when neither had half a
# CPU and the machine had some idle, with a "*" when the machine had no
# idle CPU left (wrk, the worker, the peer and the others share it).
# Then medians over the rounds and the ratios connector/location (the
# e-mail location for http and smtp, the push location for apns). On a
# machine that others share, messages/s moves with their load, the CPU
# per message much less.
#
# A connector type that the module does not have (nginx -t fails on a
# configuration that uses it) is skipped with a message. BENCH_PIN=1
# keeps the worker under test on the first CPU and wrk, the provider and
# the sink on the second. BENCH_CONNECTORS_PATHS picks paths (default
# "location http smtp location-push apns"). Ports: BENCH_CONNECTORS_PORT
# (default BENCH_PORT + 10) and the next seven. Audiences are kept in
# BENCH_AUDIENCE_DIR (default: build/audiences next to the module).
set -euo pipefail

nginx=${1:?nginx binary}
module=$(cd "$(dirname "${2:?module}")" && pwd)/$(basename "$2")
bench=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$bench")
port=${BENCH_CONNECTORS_PORT:-$(( ${BENCH_PORT:-18080} + 10 ))}
rounds=${BENCH_CONNECTORS_ROUNDS:-3}
seconds=${BENCH_CONNECTORS_SECONDS:-5}
conns=${BENCH_CONNECTIONS:-50}
max=${BENCH_CONNECTOR_MAX:-32}
size=${BENCH_CONNECTORS_SIZE:-10000}
paths=${BENCH_CONNECTORS_PATHS:-location http smtp location-push apns}
audiences=${BENCH_AUDIENCE_DIR:-$(dirname "$module")/audiences}
timeout=${BENCH_AUDIENCE_TIMEOUT:-600}
python=${PYTHON:-python3}

pin=(); pin_peer=()
if [ -n "${BENCH_PIN:-}" ] && [ "$(nproc)" -ge 2 ]; then
    pin=(taskset -c 0); pin_peer=(taskset -c 1)
fi

provider_port=$port
apns_port=$((port + 1))
sink_port=$((port + 2))

tmp=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && tmp=/dev/shm
dir=$(mktemp -d "$tmp/campaign-connectors-bench.XXXXXX")
sink=

# stop the nginx whose pid file is $1, and wait for it
stop_nginx() {
    local pid

    [ -s "$1" ] || return 0
    pid=$(cat "$1")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
}

cleanup() {
    local f

    for f in "$dir"/*/logs/*.pid; do
        [ -e "$f" ] && stop_nginx "$f"
    done
    if [ -n "$sink" ]; then
        kill "$sink" 2>/dev/null || true
    fi
    rm -rf "$dir"
}

trap cleanup EXIT

user=
[ "$(id -u)" = 0 ] && user="user $(id -un) $(id -gn);"

field() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# all the machine's CPU ticks, and the idle ones
machine() { awk '$1 == "cpu" { print $2+$3+$4+$5+$6+$7+$8+$9, $5+$6 }' \
                /proc/stat; }
ms() { date +%s%3N; }
hz=$(getconf CLK_TCK)

# the connections that the peer of path $1 accepted so far, the
# question's own excluded (that of the question before is not): the
# provider's (stub_status) or the sink's
accepts() {
    local reply

    if [ "$1" != smtp ]; then
        curl -s "http://127.0.0.1:$provider_port/_status" \
            | awk 'NR == 3 { print $1 - 1 }'
        return
    fi
    exec 3<> "/dev/tcp/127.0.0.1/$sink_port"
    read -r _ <&3
    printf 'HELP\r\n' >&3
    read -r _ _ reply <&3
    printf 'QUIT\r\n' >&3
    exec 3<&-
    echo $(( ${reply%$'\r'} - 1 ))
}

median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# the worker of the nginx whose pid file is $1, once it runs
worker_of() {
    local w=

    for _ in $(seq 50); do
        [ -s "$1" ] && w=$(pgrep -P "$(cat "$1")" || true)
        [ -n "$w" ] && break
        sleep 0.1
    done
    echo "$w"
}


# --- the audiences, the campaigns, the key and certificate --------------

mkdir -p "$audiences" "$dir/campaigns" "$dir/tls" "$dir/provider/logs" \
         "$dir/provider/conf" "$dir/apns"
: > "$dir/apns/ok"

email_audience=bench-$size
push_audience=bench-push-$size

if [ ! -s "$audiences/$email_audience.jsonl" ]; then
    "$root/tools/make-audience" "$size" \
        > "$audiences/$email_audience.jsonl.tmp"
    mv -f "$audiences/$email_audience.jsonl.tmp" \
          "$audiences/$email_audience.jsonl"
fi

# devices with 64 hex digit tokens, every first name of make-audience
if [ ! -s "$audiences/$push_audience.jsonl" ]; then
    awk -v n="$size" 'BEGIN {
        split("Ada Grace Linus Marie Alan Edsger Barbara Ken Margaret " \
              "Dennis", first, " ")
        for (i = 1; i <= n; i++) {
            printf "{\"type\":\"aep\",\"userId\":\"device-%d\",", i
            printf "\"namespace\":\"ecid\",\"channelData\":{\"pushInfo\":"
            printf "{\"appID\":\"com.acme.shop\",\"platform\":\"apns\","
            printf "\"token\":\"%056d%08x\"}},", 0, i
            printf "\"profile\":{\"firstName\":\"%s\"}}\n",
                   first[(i - 1) % 10 + 1]
        }
    }' > "$audiences/$push_audience.jsonl.tmp"
    mv -f "$audiences/$push_audience.jsonl.tmp" \
          "$audiences/$push_audience.jsonl"
fi

cp "$bench"/campaigns/*.json "$bench"/audience/campaigns/*.json \
   "$bench"/connectors/campaigns/*.json "$dir/campaigns/"

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$dir/tls/apns.p8" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$dir/tls/cert.key" -out "$dir/tls/cert.pem" -days 2 \
    -subj /CN=localhost 2>/dev/null


# --- the peers: the provider nginx and the SMTP sink ---------------------

sed -e "s|@DIR@|$dir|" -e "s|@HTTP_PORT@|$provider_port|" \
    -e "s|@APNS_PORT@|$apns_port|" \
    -e "s|^worker_processes|$user\nworker_processes|" \
    "$bench/connectors/provider.conf" > "$dir/provider/conf/nginx.conf"
"${pin_peer[@]}" "$nginx" -p "$dir/provider/" -c conf/nginx.conf \
    -e logs/provider.log
provider=$(worker_of "$dir/provider/logs/provider.pid")
if [ -z "$provider" ]; then
    echo "the provider did not start:" >&2
    cat "$dir/provider/logs/provider.log" >&2
    exit 1
fi

"${pin_peer[@]}" "$python" "$bench/smtp-sink.py" "$sink_port" \
    "$dir/sink.count" "$dir/sink.pid" &
sink=$!
for _ in $(seq 50); do
    [ -s "$dir/sink.pid" ] && break
    sleep 0.1
done
if [ ! -s "$dir/sink.pid" ]; then
    echo "the SMTP sink did not start" >&2; exit 1
fi
sink=$(cat "$dir/sink.pid")


# --- the paths -----------------------------------------------------------

# gateways PATH: the gateways and the connector of a path
gateways() {
    case $1 in
    location|location-push)
        echo "campaign_gateway  email  /_gw;"
        echo "campaign_gateway  push   /_gw;"
        ;;
    http)
        cat <<EOF
campaign_connector  bench  http {
    url              http://127.0.0.1:$provider_port/v1/messages;
    body             json;
    field            to       "{{recipient.address}}";
    field            from     "{{content.from}}";
    field            subject  "{{content.subject}}";
    field            html     "{{content.html}}";
    field            text     "{{content.text}}";
    max_connections  $max;
}
campaign_gateway  email  connector=bench;
campaign_gateway  push   /_gw;
EOF
        ;;
    smtp)
        cat <<EOF
campaign_connector  bench  smtp {
    url              smtp://127.0.0.1:$sink_port;
    starttls         off;
    max_connections  $max;
}
campaign_gateway  email  connector=bench;
campaign_gateway  push   /_gw;
EOF
        ;;
    apns)
        cat <<EOF
campaign_connector  bench  apns {
    url              https://127.0.0.1:$apns_port;
    key_file         $dir/tls/apns.p8;
    key_id           ABC123DEFG;
    team_id          DEF123GHIJ;
    topic            com.acme.shop;
    tls_verify       off;
    max_connections  $max;
}
campaign_gateway  email  /_gw;
campaign_gateway  push   connector=bench;
EOF
        ;;
    *)
        echo "BENCH_CONNECTORS_PATHS: location http smtp" \
             "location-push apns" >&2
        exit 2
        ;;
    esac
}

# what a path sends: its trigger, its audience and campaign, its baseline
trigger_of() {
    case $1 in
    location-push|apns) echo "$bench/connectors/trigger-push.json" ;;
    *)                  echo "$bench/trigger.json" ;;
    esac
}

audience_of() {
    case $1 in
    location-push|apns) echo "$push_audience bench-push-news" ;;
    *)                  echo "$email_audience bench-newsletter" ;;
    esac
}

peer_of() {
    case $1 in
    smtp) echo "$sink" ;;
    *)    echo "$provider" ;;
    esac
}

baseline_of() {
    case $1 in
    http|smtp) echo location ;;
    apns)      echo location-push ;;
    esac
}

i=0
run=()
for p in $paths; do
    mkdir -p "$dir/$p/conf" "$dir/$p/logs"
    gateways "$p" > "$dir/$p/conf/gateways.conf"
    sed -e "s|@MODULE@|$module|" -e "s|@DIR@|$dir|" \
        -e "s|@ROOT@|$root|" -e "s|@PORT@|$((port + 3 + i))|" \
        -e "s|@AUDIENCES@|$audiences|" \
        -e "s|@PROVIDER_PORT@|$provider_port|" \
        -e "s|^worker_processes|$user\nworker_processes|" \
        "$bench/connectors/nginx.conf" > "$dir/$p/conf/nginx.conf"
    eval "port_${p//-/_}=$((port + 3 + i))"
    i=$((i + 1))

    if ! "$nginx" -t -q -p "$dir/$p/" -c conf/nginx.conf -e logs/error.log \
         2> "$dir/$p/logs/t.log"
    then
        echo "$p: skipped, nginx -t refuses its configuration:"
        grep -m 3 emerg "$dir/$p/logs/t.log" | sed 's/^/    /'
        continue
    fi
    run+=("$p")
done

if [ "${#run[@]}" = 0 ]; then
    echo "no path to run" >&2; exit 1
fi

port_of() { local v="port_${1//-/_}"; echo "${!v}"; }

# start PATH: a fresh nginx for the path; sets worker
start() {
    rm -f "$dir/$1/logs/error.log"
    "${pin[@]}" "$nginx" -p "$dir/$1/" -c conf/nginx.conf -e logs/error.log
    worker=$(worker_of "$dir/$1/logs/nginx.pid")
    if [ -z "$worker" ]; then
        echo "$1: nginx did not start:" >&2
        cat "$dir/$1/logs/error.log" >&2
        exit 1
    fi
}

fail=0

errors() {
    if grep -E '\[(alert|crit|emerg|error|warn)\]' \
            "$dir/$1/logs/error.log" | head -3 | grep .; then
        echo "  $1: errors or warnings in the log" >&2; fail=1
    fi
}

# share T0 T1 SECONDS: a CPU share in % of one CPU
share() {
    awk -v t="$(($2 - $1))" -v s="$3" -v hz="$hz" \
        'BEGIN { printf "%.0f", t / hz / s * 100 }'
}

# idle M0 M1: the machine's idle share in % during the run
idle() {
    local t0 i0 t1 i1

    read -r t0 i0 <<< "$1"
    read -r t1 i1 <<< "$2"
    awk -v t="$((t1 - t0))" -v i="$((i1 - i0))" \
        'BEGIN { printf "%.0f", (t > 0) ? i / t * 100 : 0 }'
}

echo "connectors: one worker per path, provider and SMTP sink each on" \
     "one process; load average $(cut -d' ' -f1-3 /proc/loadavg) on" \
     "$(nproc) cores"


# --- (a) unitary triggers ------------------------------------------------

declare -A workers u_rps u_cpu u_wsh u_psh u_idle u_hwm u_rss u_conn u_pcpu

for p in "${run[@]}"; do
    start "$p"
    workers[$p]=$worker
    url=http://127.0.0.1:$(port_of "$p")/ajo/im/executions/unitary
    code=$(curl -s -o "$dir/answer" -w '%{http_code}' \
                -H 'Content-Type: application/json' \
                --data-binary @"$(trigger_of "$p")" "$url")
    if [ "$code" != 202 ] || ! grep -q '"status":"accepted"' "$dir/answer"
    then
        echo "$p: the trigger is not accepted ($code):" >&2
        cat "$dir/answer" >&2; echo >&2
        exit 1
    fi
done

echo "(a) unitary triggers: wrk -t1 -c$conns -d${seconds}s," \
     "$rounds rounds"

for r in $(seq "$rounds"); do
    for p in "${run[@]}"; do
        w=${workers[$p]}
        peer=$(peer_of "$p")
        url=http://127.0.0.1:$(port_of "$p")/ajo/im/executions/unitary

        c0=$(accepts "$p")
        t0=$(ticks "$w"); p0=$(ticks "$peer"); m0=$(machine)
        out=$(BENCH_BODY=$(trigger_of "$p") "${pin_peer[@]}" \
              wrk -t1 -c"$conns" -d"${seconds}s" -s "$bench/trigger.lua" \
              "$url")
        t1=$(ticks "$w"); p1=$(ticks "$peer"); m1=$(machine)
        c1=$(accepts "$p")

        n=$(echo "$out" | awk '/ requests in / { print $1 }')
        rps=$(echo "$out" | awk '/^Requests\/sec/ { print $2 }')
        bad=$(echo "$out" | awk '/Non-2xx/ { print $NF }')
        if [ -n "$bad" ]; then
            echo "  $p: $bad answers were not 2xx" >&2; fail=1
        fi

        u_rps[$p]+=" $rps"
        u_cpu[$p]+=" $(awk -v t="$((t1 - t0))" -v n="$n" -v hz="$hz" \
                        'BEGIN { printf "%.1f", t / hz * 1e6 / n }')"
        u_pcpu[$p]+=" $(awk -v t="$((p1 - p0))" -v n="$n" -v hz="$hz" \
                         'BEGIN { printf "%.1f", t / hz * 1e6 / n }')"
        u_wsh[$p]+=" $(share "$t0" "$t1" "$seconds")"
        u_psh[$p]+=" $(share "$p0" "$p1" "$seconds")"
        u_idle[$p]+=" $(idle "$m0" "$m1")"
        u_conn[$p]+=" $((c1 - c0 - 1))"
        echo "  round $r $p: $rps msg/s, ${u_cpu[$p]##* } us/msg" \
             "(peer ${u_pcpu[$p]##* });" \
             "CPU: worker ${u_wsh[$p]##* }%, peer ${u_psh[$p]##* }%," \
             "machine idle ${u_idle[$p]##* }%;" \
             "${u_conn[$p]##* } connections"
    done
done

for p in "${run[@]}"; do
    u_hwm[$p]=$(field "${workers[$p]}" VmHWM)
    u_rss[$p]=$(field "${workers[$p]}" VmRSS)
    stop_nginx "$dir/$p/logs/nginx.pid"
    errors "$p"
done


# --- (b) audience executions ---------------------------------------------

declare -A a_rps a_cpu a_wsh a_psh a_idle a_hwm a_rss a_conn a_pcpu

echo "(b) audience executions of $size recipients, no throttle," \
     "$rounds rounds"

for r in $(seq "$rounds"); do
    for p in "${run[@]}"; do
        read -r audience campaign <<< "$(audience_of "$p")"
        url=http://127.0.0.1:$(port_of "$p")/ajo/im
        peer=$(peer_of "$p")
        start "$p"

        c0=$(accepts "$p")
        t0=$(ticks "$worker"); p0=$(ticks "$peer"); m0=$(machine)
        begin=$(ms)

        body="{\"campaignId\":\"$campaign\","
        body+="\"audience\":{\"id\":\"$audience\"},"
        body+="\"context\":{\"discount\":20}}"
        code=$(curl -s -o "$dir/answer" -w '%{http_code}' \
               -H 'Content-Type: application/json' --data-binary "$body" \
               "$url/executions/audience")
        if [ "$code" != 202 ]; then
            echo "$p: the audience execution is not accepted ($code):" >&2
            cat "$dir/answer" >&2; echo >&2
            exit 1
        fi
        id=$(sed -n 's/.*"executionId":"\([0-9a-f-]*\)".*/\1/p' \
                 "$dir/answer")

        while :; do
            curl -s -o "$dir/status" "$url/executions/audience/$id"
            if ! grep -q '"status":"InProgress"' "$dir/status"; then
                end=$(ms)
                break
            fi
            if [ $(( $(ms) - begin )) -gt $(( timeout * 1000 )) ]; then
                echo "$p: not finished after ${timeout}s:" >&2
                cat "$dir/status" >&2; echo >&2
                exit 1
            fi
            sleep 0.05
        done

        t1=$(ticks "$worker"); p1=$(ticks "$peer"); m1=$(machine)
        c1=$(accepts "$p")
        secs=$(awk -v a="$begin" -v b="$end" \
                   'BEGIN { printf "%.3f", (b - a) / 1000 }')

        status=$(sed -n 's/.*"status":"\([A-Za-z]*\)".*/\1/p' \
                     "$dir/status")
        sent=$(grep -o '"sent":[0-9]*' "$dir/status" | head -1 | cut -d: -f2)
        failed=$(grep -o '"failed":[0-9]*' "$dir/status" | head -1 \
                 | cut -d: -f2)
        if [ "$status" != Succeeded ] || [ "${failed:-1}" != 0 ] \
           || [ "${sent:-0}" = 0 ]
        then
            echo "  $p: $status, $sent sent, $failed failed" >&2; fail=1
        fi

        a_rps[$p]+=" $(awk -v n="$sent" -v s="$secs" \
                        'BEGIN { printf "%.0f", n / s }')"
        a_cpu[$p]+=" $(awk -v t="$((t1 - t0))" -v n="$sent" -v hz="$hz" \
                        'BEGIN { printf "%.1f", t / hz * 1e6 / n }')"
        a_pcpu[$p]+=" $(awk -v t="$((p1 - p0))" -v n="$sent" -v hz="$hz" \
                         'BEGIN { printf "%.1f", t / hz * 1e6 / n }')"
        a_wsh[$p]+=" $(share "$t0" "$t1" "$secs")"
        a_psh[$p]+=" $(share "$p0" "$p1" "$secs")"
        a_idle[$p]+=" $(idle "$m0" "$m1")"
        a_conn[$p]+=" $((c1 - c0 - 1))"
        a_hwm[$p]+=" $(field "$worker" VmHWM)"
        a_rss[$p]+=" $(field "$worker" VmRSS)"
        echo "  round $r $p: $sent sent in ${secs}s," \
             "${a_rps[$p]##* } msg/s, ${a_cpu[$p]##* } us/msg" \
             "(peer ${a_pcpu[$p]##* });" \
             "CPU: worker ${a_wsh[$p]##* }%, peer ${a_psh[$p]##* }%," \
             "machine idle ${a_idle[$p]##* }%;" \
             "${a_conn[$p]##* } connections"

        stop_nginx "$dir/$p/logs/nginx.pid"
        errors "$p"
    done
done

kill "$sink" 2>/dev/null || true
for _ in $(seq 50); do
    [ -s "$dir/sink.count" ] && break
    sleep 0.1
done
sink=
if [ -s "$dir/sink.count" ]; then
    read -r msgs sessions < "$dir/sink.count"
    echo "SMTP sink: $msgs messages in $sessions sessions"
fi


# --- the tables ------------------------------------------------------------

# limit WORKER% PEER% IDLE% PATH: what limits the number: the busier of
# the worker and the peer (both handle every message, one after the
# other), or "latency" when neither had half a CPU and the machine had
# some idle; a "*" when the machine had no idle CPU left (at most 10%)
limit() {
    local peer=provider

    [ "$4" = smtp ] && peer=sink
    awk -v w="$1" -v p="$2" -v i="$3" -v peer="$peer" 'BEGIN {
        l = (w >= p) ? "worker" : peer
        if (w < 50 && p < 50 && i > 10) l = "latency"
        print l ((i <= 10) ? "*" : "") }'
}

# table KIND: the medians of (a) or (b)
table() {
    local k=$1 p rps cpu pcp wsh psh idl hwm rss con

    printf '%-13s %7s %6s %7s %7s %5s %5s %5s %5s  %s\n' path msg/s \
        us/msg peer_us worker% peer% conns HWM RSS limit
    for p in "${run[@]}"; do
        eval "rps=\${${k}_rps[\$p]} cpu=\${${k}_cpu[\$p]}"
        eval "wsh=\${${k}_wsh[\$p]} psh=\${${k}_psh[\$p]}"
        eval "idl=\${${k}_idle[\$p]} hwm=\${${k}_hwm[\$p]}"
        eval "rss=\${${k}_rss[\$p]} con=\${${k}_conn[\$p]}"
        eval "pcp=\${${k}_pcpu[\$p]}"
        rps=$(median $rps); cpu=$(median $cpu); wsh=$(median $wsh)
        psh=$(median $psh); idl=$(median $idl); hwm=$(median $hwm)
        rss=$(median $rss); con=$(median $con); pcp=$(median $pcp)
        eval "${k}_m_rps[\$p]=\$rps ${k}_m_cpu[\$p]=\$cpu"
        printf '%-13s %7.0f %6.1f %7.1f %7s %5s %5s %5.1f %5.1f  %s\n' \
            "$p" "$rps" "$cpu" "$pcp" "$wsh" "$psh" "$con" \
            "$(awk -v k="$hwm" 'BEGIN { print k / 1024 }')" \
            "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" \
            "$(limit "$wsh" "$psh" "$idl" "$p")"
    done
}

declare -A u_m_rps u_m_cpu a_m_rps a_m_cpu

echo
echo "(a) unitary triggers, medians of $rounds rounds; VmHWM and VmRSS" \
     "after them"
table u
echo
echo "(b) audience of $size, medians of $rounds rounds (messages sent)"
table a
echo
echo "us/msg: the worker's CPU per message; peer: the provider nginx's" \
     "worker, for smtp the SMTP sink (peer_us: its CPU per message);" \
     "worker%, peer%: shares of one CPU; conns: connections the peer" \
     "accepted; HWM, RSS: the worker's VmHWM and VmRSS, MB; limit: the" \
     "busier process, * when no CPU was idle (see bench/connectors.sh)"

echo
printf '%-24s %10s %10s %10s %10s\n' "connector / location" \
    "(a) msg/s" "(a) CPU" "(b) msg/s" "(b) CPU"
for p in "${run[@]}"; do
    b=$(baseline_of "$p")
    [ -n "$b" ] && [ -n "${u_m_rps[$b]:-}" ] || continue
    awk -v ur="${u_m_rps[$p]}" -v ub="${u_m_rps[$b]}" \
        -v uc="${u_m_cpu[$p]}" -v ubc="${u_m_cpu[$b]}" \
        -v ar="${a_m_rps[$p]}" -v ab="${a_m_rps[$b]}" \
        -v ac="${a_m_cpu[$p]}" -v abc="${a_m_cpu[$b]}" -v n="$p / $b" \
        'BEGIN { printf "%-24s %10.2f %10.2f %10.2f %10.2f\n", n,
                 ur / ub, uc / ubc, ar / ab, ac / abc }'
done
echo "(msg/s above 1: the connector sends more a second; CPU above 1:" \
     "it costs the worker more per message)"
echo "after: load average $(cut -d' ' -f1-3 /proc/loadavg)"

exit "$fail"
