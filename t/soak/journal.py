#!/usr/bin/env python3
# Audience executions with campaign_journal, while nginx is reloaded every
# 2 s and, in "kill" mode, a worker is also killed with SIGKILL every 3 s:
# every recipient of the audience must be in the outbox exactly once, the
# execution must end Succeeded with every recipient sent, and the log must
# have nothing worse than nginx's own "exited on signal 9".
#
# "schedules": 30 schedules due over 6 s while nginx is reloaded every
# second and a worker killed every other second: each fires once, its
# execution sends its 50 recipients once.
#
# Not run by `make test`:
#
#     python3 t/soak/journal.py reload [RECIPIENTS]
#     python3 t/soak/journal.py kill [RECIPIENTS]
#     python3 t/soak/journal.py schedules

import datetime
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *   # noqa


def http_body(prefix):
    return f"""
    campaign_zone campaign 16m;
    campaign_audiences {prefix}/audiences;
    campaign_journal {prefix}/journal;

    server {{
        listen 127.0.0.1:{PORT};
        campaign_gateway email /_gw;

        location /ajo/im/ {{
            campaign_api;
        }}

        location = /_gw {{
            internal;
            campaign_outbox logs/outbox.jsonl keys=32m;
        }}
    }}
"""


def main(mode, recipients):
    n = Nginx('')
    for d in ('audiences', 'journal'):
        os.makedirs(n.path(d))
        os.chmod(n.path(d), 0o777)
    with open(n.path('audiences/big.jsonl'), 'w') as f:
        for i in range(recipients):
            f.write(json.dumps({
                'type': 'aep', 'userId': f'u{i}', 'namespace': 'email',
                'channelData': {'emailAddress': f'u{i}@example.com'},
                'profile': {'name': f'U{i}'}}) + '\n')
    n.write_conf(http_body(n.prefix))
    n.start()
    log('nginx at', n.prefix)

    st, _, body = http('POST', '/ajo/im/executions/audience', json.dumps({
        'campaignId': 'marketing-email',
        'audience': {'id': 'big'}}).encode())
    eid = json.loads(body)['executionId']
    log('execution', eid, st)

    t0 = time.time()
    reloads = kills = 0
    status = ''
    while time.time() - t0 < 600:
        time.sleep(1)
        if int(time.time() - t0) % 2 == 0:
            n.signal(signal.SIGHUP)
            reloads += 1
        if mode == 'kill' and int(time.time() - t0) % 3 == 0:
            pids = n.workers_pids()
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                kills += 1
        try:
            st, _, body = http('GET', f'/ajo/im/executions/audience/{eid}',
                               timeout=5)
            status = json.loads(body).get('status', '')
        except (OSError, ValueError):
            continue
        if status not in ('InProgress', ''):
            break

    log('status', status, body[:400])
    time.sleep(3)
    n.stop()

    seen = {}
    with open(n.path('logs/outbox.jsonl')) as f:
        for line in f:
            j = json.loads(line)
            if j.get('executionId') == eid:
                u = j['recipient']['userId']
                seen[u] = seen.get(u, 0) + 1
    twice = {k: v for k, v in seen.items() if v > 1}
    missing = recipients - len(seen)
    # nginx's own lines when a worker is killed (holding a zone's lock)
    bad = [l for l in n.bad_lines() if 'exited on signal 9' not in l
           and 'was locked by' not in l]
    log(f'{mode}: {reloads} reloads, {kills} kills; {len(seen)} of '
        f'{recipients} in the outbox, {missing} missing, {len(twice)} twice; '
        f'{len(bad)} bad log lines')
    for l in bad[:10]:
        log('ERROR LOG', l)
    ok = (status == 'Succeeded' and missing == 0 and not twice and not bad
          and f'"sent":{recipients},' in body.decode())
    log('PASS' if ok else 'FAIL')
    return ok


def schedules():
    n = Nginx('')
    for d in ('audiences', 'journal'):
        os.makedirs(n.path(d))
        os.chmod(n.path(d), 0o777)
    with open(n.path('audiences/small.jsonl'), 'w') as f:
        for i in range(50):
            f.write(json.dumps({
                'type': 'aep', 'userId': f'u{i}', 'namespace': 'email',
                'channelData': {'emailAddress': f'u{i}@example.com'},
                'profile': {'name': f'U{i}'}}) + '\n')
    n.write_conf(http_body(n.prefix))
    n.start()
    log('nginx at', n.prefix)
    for k in range(30):
        at = (datetime.datetime.utcnow()
              + datetime.timedelta(seconds=2 + k % 6))
        http('POST', '/ajo/im/executions/audience', json.dumps({
            'campaignId': 'marketing-email', 'audience': {'id': 'small'},
            'schedule': {'executeAt': at.strftime('%Y-%m-%dT%H:%M:%SZ')}
        }).encode())
    for r in range(8):
        time.sleep(1)
        n.signal(signal.SIGHUP)
        if r % 2:
            os.kill(n.workers_pids()[0], signal.SIGKILL)
    time.sleep(8)
    _, _, body = http('GET', '/ajo/im/executions/schedules')
    sch = json.loads(body)['schedules']
    states = {}
    for s in sch:
        states[s['scheduleStatus']] = states.get(s['scheduleStatus'], 0) + 1
    sent = {}
    with open(n.path('logs/outbox.jsonl')) as f:
        for line in f:
            j = json.loads(line)
            key = (j['executionId'], j['recipient']['userId'])
            sent[key] = sent.get(key, 0) + 1
    fired = {s.get('executionId') for s in sch}
    executions = {e for e, _ in sent}
    n.stop()
    bad = [l for l in n.bad_lines() if 'exited on signal 9' not in l
           and 'was locked by' not in l]
    log(f'schedules: {states}; {len(executions)} executions sent, '
        f'{len(sent)} messages, {sum(v > 1 for v in sent.values())} twice; '
        f'{len(bad)} bad log lines')
    ok = (states == {'Triggered': 30} and executions == fired
          and len(sent) == 30 * 50 and not bad
          and all(v == 1 for v in sent.values()))
    log('PASS' if ok else 'FAIL')
    return ok


if __name__ == '__main__':
    mode = sys.argv[1] if len(sys.argv) > 1 else 'reload'
    if mode == 'schedules':
        sys.exit(0 if schedules() else 1)
    recipients = int(sys.argv[2]) if len(sys.argv) > 2 else 200000
    sys.exit(0 if main(mode, recipients) else 1)
