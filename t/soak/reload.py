#!/usr/bin/env python3
# Reloads under load, and workers killed in the middle of a send.
#
#   reload: wrk (t/soak/unique.lua, a requestId of its own per trigger)
#           against the outbox gateway and against a proxied gateway that
#           answers 202 after 500 ms, while nginx is reloaded every 2 s;
#           then every message whose answer said "accepted" must be in
#           the outbox / the gateway's log, and no message may be there
#           twice.  No crash, no [alert]/[crit].
#   kill:   triggers in flight to the slow gateway on both workers; one
#           worker is killed with SIGKILL.  The master must start a new
#           one; the other worker's triggers are answered 202 with every
#           message accepted; the log has nothing worse than nginx's own
#           "worker process ... exited on signal 9".
#
# Not run by `make test`:
#
#     python3 t/soak/reload.py reload [SECONDS] [CONNECTIONS]
#     python3 t/soak/reload.py kill [ROUNDS]

import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *   # noqa

HERE = os.path.dirname(os.path.abspath(__file__))

HTTP = f"""
    server {{
        listen 127.0.0.1:{PORT};
        campaign_gateway sms /_gw/outbox;
        campaign_gateway_retry_delay 50ms;

        location /ajo/im/ {{
            campaign_api;
        }}

        location /slow/ {{
            campaign_api;
            campaign_gateway sms /_gw/slow;
        }}

        location /_gw/outbox {{
            internal;
            campaign_outbox logs/outbox.jsonl;
        }}

        location = /_gw/slow {{
            internal;
            proxy_pass http://127.0.0.1:{GW_PORT}/;
            proxy_read_timeout 5s;
        }}
    }}
"""


def outbox_ids(n):
    ids = {}
    try:
        with open(n.path('logs/outbox.jsonl')) as f:
            for line in f:
                j = json.loads(line)
                ids[j['messageId']] = ids.get(j['messageId'], 0) + 1
    except OSError:
        pass
    return ids


def wrk_answers(prefix):
    res = []
    d = os.path.dirname(prefix)
    for name in os.listdir(d):
        if name.startswith(os.path.basename(prefix) + '.'):
            with open(os.path.join(d, name)) as f:
                res += [l.split() for l in f if l.strip()]
    return res


def reload_test(seconds, conns):
    gw = FlakyGateway(GW_PORT, weights={'slow': 1})
    gw.start()
    n = Nginx(HTTP)
    n.start()
    log('nginx at', n.prefix)
    procs = []
    for name, path in (('outbox', '/ajo/im/'), ('slow', '/slow/')):
        env = dict(os.environ, SOAK_RUN=name,
                   SOAK_OUT=n.path(f'logs/wrk-{name}'))
        procs.append(subprocess.Popen(
            ['wrk', '-t2', f'-c{conns}', f'-d{int(seconds)}s',
             '--timeout', '10s', '-s', HERE + '/unique.lua',
             f'http://127.0.0.1:{PORT}{path}executions/unitary'],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True))
    t0 = time.time()
    reloads = 0
    while time.time() - t0 < seconds:
        time.sleep(2)
        n.signal(signal.SIGHUP)
        reloads += 1
    outs = [p.communicate()[0] for p in procs]
    # the old workers finish what they started
    time.sleep(3)
    n.stop()
    time.sleep(1)
    problems = []
    ok = True
    ids = outbox_ids(n)
    gwk = {}
    for a in gw.attempts:
        gwk[a[0]] = gwk.get(a[0], 0) + 1
    for name, sink in (('outbox', ids), ('slow', gwk)):
        ans = wrk_answers(n.path(f'logs/wrk-{name}'))
        st = {}
        for a in ans:
            st[a[0]] = st.get(a[0], 0) + 1
        accepted = [a[2] for a in ans if a[0] == '202' and a[3] == 'accepted']
        missing = [m for m in accepted if m not in sink]
        twice = {k: v for k, v in sink.items() if v > 1}
        extra = len(sink) - len(accepted)
        log(f'{name}: {len(ans)} answers {st}; {len(accepted)} accepted, '
            f'{len(sink)} in the sink, {len(missing)} missing, '
            f'{len(twice)} twice, {extra} there without an accepted answer')
        if missing or twice:
            problems.append(f'{name}: missing {missing[:5]} twice '
                            f'{list(twice.items())[:5]}')
        if len(ans) == 0 or any(k not in ('202',) for k in st):
            problems.append(f'{name}: answers {st}')
    for o in outs:
        log('wrk:', ' '.join(l.strip() for l in o.splitlines()
                              if 'Requests/sec' in l or 'Socket' in l
                              or 'requests in' in l or 'Non-2xx' in l))
    bad = n.bad_lines()
    log('reloads', reloads, 'bad log lines', len(bad))
    for l in bad[:10]:
        log('ERROR LOG', l)
    for p in problems:
        log('PROBLEM', p)
    return not problems and not bad


def kill_test(rounds):
    gw = FlakyGateway(GW_PORT, weights={'slow': 1})
    gw.stall = 2.5
    gw.start()
    n = Nginx(HTTP)
    n.start()
    log('nginx at', n.prefix)
    problems = []
    for r in range(rounds):
        workers = n.workers_pids()
        results = {}

        def one(i):
            try:
                results[i] = http('POST', '/slow/executions/unitary',
                                  sms_body(f'kill{r}-{i}', 2), timeout=15)
            except OSError as e:
                results[i] = (None, {}, str(e).encode())

        ts = [threading.Thread(target=one, args=(i,)) for i in range(16)]
        for t in ts:
            t.start()
        time.sleep(0.25)
        victim = workers[r % len(workers)]
        os.kill(victim, signal.SIGKILL)
        for t in ts:
            t.join()
        time.sleep(0.5)
        after = n.workers_pids()
        ok = [v for v in results.values() if v[0] == 202
              and v[2].count(b'"accepted"') == 2]
        lost = [v for v in results.values() if v[0] is None]
        log(f'round {r}: killed {victim}; {len(ok)} answered 202, '
            f'{len(lost)} without answer, other {len(results) - len(ok) - len(lost)};'
            f' workers now {after}')
        if len(after) != len(workers) or victim in after:
            problems.append(f'round {r}: workers {workers} -> {after}')
        if len(ok) + len(lost) != len(results):
            problems.append(f'round {r}: answers {list(results.values())}')
        if not ok:
            problems.append(f'round {r}: no trigger survived')
        st, _, bd = http('POST', '/slow/executions/unitary',
                         sms_body(f'kill{r}-after', 1))
        if st != 202:
            problems.append(f'round {r}: after the kill {st} {bd}')
    n.stop()
    time.sleep(1)
    bad = n.bad_lines(allow=[r'exited on signal 9'])
    for l in bad[:10]:
        log('ERROR LOG', l)
    for p in problems:
        log('PROBLEM', p)
    return not problems and not bad


if __name__ == '__main__' and sys.argv[1:2] != ['kill-outbox']:
    what = sys.argv[1] if len(sys.argv) > 1 else 'reload'
    if what == 'reload':
        ok = reload_test(float(sys.argv[2]) if len(sys.argv) > 2 else 30,
                         int(sys.argv[3]) if len(sys.argv) > 3 else 20)
    else:
        ok = kill_test(int(sys.argv[2]) if len(sys.argv) > 2 else 4)
    sys.exit(0 if ok else 1)


def kill_outbox_test(seconds, conns):
    """wrk against the outbox while a worker is killed every 0.3 s: the
    survivors must go on writing (the master frees a lock the dead worker
    held), and the file must hold whole lines only."""
    n = Nginx(HTTP)
    n.start()
    log('nginx at', n.prefix)
    env = dict(os.environ, SOAK_RUN='k', SOAK_OUT=n.path('logs/wrk-k'))
    p = subprocess.Popen(
        ['wrk', '-t2', f'-c{conns}', f'-d{int(seconds)}s', '--timeout', '5s',
         '-s', HERE + '/unique.lua',
         f'http://127.0.0.1:{PORT}/ajo/im/executions/unitary'],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    t0 = time.time()
    kills = 0
    while time.time() - t0 < seconds:
        time.sleep(0.3)
        w = n.workers_pids()
        if w:
            os.kill(w[kills % len(w)], signal.SIGKILL)
            kills += 1
    out = p.communicate()[0]
    time.sleep(1)
    st, _, bd = http('POST', '/ajo/im/executions/unitary',
                     sms_body('after-kills', 3))
    problems = []
    if st != 202 or bd.count(b'"accepted"') != 3:
        problems.append(f'after the kills: {st} {bd[:200]}')
    n.stop()
    time.sleep(1)
    lines = bad_json = 0
    with open(n.path('logs/outbox.jsonl'), 'rb') as f:
        for line in f:
            lines += 1
            try:
                json.loads(line)
            except ValueError:
                bad_json += 1
                problems.append(f'partial line {line[:100]}')
    ids = outbox_ids(n)
    twice = [k for k, v in ids.items() if v > 1]
    ans = wrk_answers(n.path('logs/wrk-k'))
    accepted = [a[2] for a in ans if a[0] == '202' and a[3] == 'accepted']
    missing = [m for m in accepted if m not in ids]
    log(f'{kills} kills; {len(ans)} answers, {len(accepted)} accepted, '
        f'{lines} lines, {bad_json} not JSON, {len(twice)} twice, '
        f'{len(missing)} accepted but missing')
    log('wrk:', ' '.join(l.strip() for l in out.splitlines()
                          if 'requests in' in l or 'Socket' in l))
    if twice or missing:
        problems.append(f'twice {twice[:3]} missing {missing[:3]}')
    bad = n.bad_lines(allow=[r'exited on signal 9'])
    for l in bad[:10]:
        log('ERROR LOG', l)
    for pr in problems[:10]:
        log('PROBLEM', pr)
    return not problems and not bad


if __name__ == '__main__' and sys.argv[1:2] == ['kill-outbox']:
    sys.exit(0 if kill_outbox_test(float(sys.argv[2]) if len(sys.argv) > 2
                                   else 10, 20) else 1)
