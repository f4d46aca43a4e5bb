#!/usr/bin/env python3
# Gateways and profile services that fail, stall and reset.  nginx
# (master process, 2 workers) proxies the gateway to a server that answers
# each attempt at random: 202, 500, 503, a stall past proxy_read_timeout,
# a reset (SO_LINGER 0), a close, a close in the middle of the status
# line, or 202 slowly; and profile lookups to a server that answers 200,
# 404, 500, stalls, resets, closes, or sends a body that is not a JSON
# object or is over campaign_profile_max_size.
#
# Then, for every trigger: each recipient's outcome is what the gateway
# did to its last attempt (accepted only after a 2xx the gateway sent in
# full; gatewayStatus 500/503/504/502 as it answered, stalled or broke),
# attempts as many as the gateway saw, numbered 1..n, every one with the
# message's Idempotency-Key; no attempt after a 2xx; a recipient whose
# lookup failed has no attempt at all.  No crash, no [alert]/[crit].
# Not run by `make test`:
#
#     python3 t/soak/flaky.py [SECONDS] [CLIENTS]

import json
import os
import random
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *   # noqa

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 60
CLIENTS = int(sys.argv[2]) if len(sys.argv) > 2 else 8

HTTP = f"""
    server {{
        listen 127.0.0.1:{PORT};
        listen 127.0.0.1:{H2_PORT} http2;
        campaign_gateway sms /_gw/flaky;
        campaign_gateway_retries 2;
        campaign_gateway_retry_delay 50ms;
        campaign_execution_timeout 30s;
        campaign_profile_max_size 16k;

        location /ajo/im/ {{
            campaign_api;
        }}

        location /lookup/ {{
            campaign_api;
            campaign_profile_lookup /_profiles/$campaign_namespace/$campaign_user_id;
        }}

        location /_profiles/ {{
            internal;
            proxy_pass http://127.0.0.1:{PROF_PORT}/;
            proxy_connect_timeout 1s;
            proxy_read_timeout 1s;
        }}

        location = /_gw/flaky {{
            internal;
            proxy_pass http://127.0.0.1:{GW_PORT}/;
            proxy_connect_timeout 1s;
            proxy_read_timeout 1s;
        }}
    }}
"""

LOCK = threading.Lock()
RESULTS = []      # (rid, lookup, n, status, answer json)
PROBLEMS = []


def problem(*a):
    with LOCK:
        PROBLEMS.append(' '.join(str(x) for x in a))


def client(seed, deadline):
    rng = random.Random(seed)
    i = 0
    while time.time() < deadline:
        i += 1
        rid = f'c{seed}-{i}'
        n = rng.randint(1, 5)
        lookup = rng.random() < 0.4
        rs = []
        for k in range(n):
            r = {'type': 'aep', 'userId': f'{rid}.u{k}', 'namespace': 'phone',
                 'channelData': {'mobilePhoneNumber': f'+1415555{k:04d}'}}
            if not lookup or rng.random() < 0.3:
                r['profile'] = {'firstName': f'P{k}'}
            rs.append(r)
        body = json.dumps({'requestId': rid, 'campaignId': 'order-sms',
                           'context': {'orderId': rid},
                           'recipients': rs}).encode()
        path = '/lookup/executions/unitary' if lookup else \
            '/ajo/im/executions/unitary'
        try:
            st, hd, bd = http('POST', path, body, timeout=40)
        except OSError as e:
            problem(rid, 'no answer:', e)
            continue
        try:
            j = json.loads(bd)
        except ValueError:
            problem(rid, 'not JSON', st, bd[:200])
            continue
        with LOCK:
            RESULTS.append((rid, rs, st, j))


def verify(gw, prof):
    attempts = {}   # (rid, index) -> [(attempt, behaviour, key, done)]
    for key, att, b, payload, t, done in gw.attempts:
        try:
            p = json.loads(payload)
        except ValueError:
            problem('gateway got a payload that is not JSON', payload[:100])
            continue
        if p.get('messageId') != key:
            problem('Idempotency-Key', key, '!= messageId', p.get('messageId'))
        idx = int(key.rsplit('-', 1)[1])
        attempts.setdefault((p['requestId'], idx), []).append(
            (int(att), b, key, done))
    lookups = {}
    for line, b in prof.seen:
        m = re.match(rb'GET /phone/(\S+)\.u(\d+) ', line)
        if not m:
            problem('odd lookup line', line)
            continue
        k = (m.group(1).decode(), int(m.group(2)))
        if k in lookups:
            problem('profile looked up twice', k)
        lookups[k] = b
    counts = {}
    for rid, rs, st, j in RESULTS:
        if st == 202:
            outs = j['recipients']
            if len(outs) != len(rs):
                problem(rid, 'outcomes', len(outs), '!= recipients', len(rs))
        else:
            # a problem: one entry per recipient
            outs = []
            for e in j.get('errors', []):
                m = re.match(r'/recipients/(\d+)', e['pointer'])
                outs.append({'problem': e['message'],
                             'index': int(m.group(1)) if m else None})
        for idx, o in enumerate(outs):
            if 'index' in o and o['index'] is not None:
                idx = o['index']
            atts = sorted(attempts.get((rid, idx), []))
            keys = {a[2] for a in atts}
            lk = lookups.get((rid, idx))
            looked = 'profile' not in rs[idx]
            if looked and lk is None:
                problem(rid, idx, 'no lookup reached the profile service')
            if not looked and lk is not None:
                problem(rid, idx, 'looked up despite an inline profile')
            if len(keys) > 1:
                problem(rid, idx, 'several Idempotency-Keys', keys)
            if [a[0] for a in atts] != list(range(1, len(atts) + 1)):
                problem(rid, idx, 'attempt numbers', [a[0] for a in atts])
            for a in atts[:-1]:
                if GW_EXPECT[a[1]] < 300:
                    problem(rid, idx, 'retried after a 2xx', atts)
            last = atts[-1][1] if atts else None
            if 'status' in o:
                if o.get('messageId') and keys and \
                   o['messageId'] not in keys:
                    problem(rid, idx, 'messageId', o['messageId'], keys)
                if o.get('attempts') != len(atts):
                    problem(rid, idx, 'attempts', o.get('attempts'),
                            'gateway saw', len(atts), o)
                if o['status'] == 'accepted':
                    kind = 'accepted'
                    if last is None or GW_EXPECT[last] != 202 or \
                       o.get('gatewayStatus') != 202:
                        problem(rid, idx, 'accepted, gateway did', last, o)
                elif o.get('reason'):
                    kind = o['reason']
                    if atts:
                        problem(rid, idx, 'failed before the gateway but '
                                'sent', atts, o)
                    if looked and lk and PROF_EXPECT[lk] == 'ok':
                        problem(rid, idx, 'profile ok, yet', o)
                    if 'no profile' in kind and lk != 'e404':
                        problem(rid, idx, kind, 'lookup did', lk)
                    if 'lookup failed' in kind and \
                       PROF_EXPECT.get(lk) != 'lookup':
                        problem(rid, idx, kind, 'lookup did', lk)
                else:
                    kind = f'failed {o.get("gatewayStatus")}'
                    if last is None or \
                       GW_EXPECT[last] != o.get('gatewayStatus'):
                        problem(rid, idx, 'gatewayStatus',
                                o.get('gatewayStatus'), 'gateway did', last)
            else:
                msg = o['problem']
                kind = 'problem: ' + re.sub(r'\d+', 'N', msg)
                m = re.match(r'gateway answered (\d+) after (\d+) attempt',
                             msg)
                if m:
                    if last is None or GW_EXPECT[last] != int(m.group(1)):
                        problem(rid, idx, msg, 'gateway did', last)
                    if int(m.group(2)) != len(atts):
                        problem(rid, idx, msg, 'gateway saw', len(atts))
                elif atts:
                    problem(rid, idx, msg, 'yet sent', atts)
            counts[kind] = counts.get(kind, 0) + 1
    return counts


def main():
    gw = FlakyGateway(GW_PORT)
    prof = FlakyProfiles(PROF_PORT)
    gw.start()
    prof.start()
    n = Nginx(HTTP)
    n.start()
    log('nginx at', n.prefix, ';', CLIENTS, 'clients for', SECONDS, 's')
    t0 = time.time()
    deadline = t0 + SECONDS
    ts = [threading.Thread(target=client, args=(i, deadline))
          for i in range(CLIENTS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    took = time.time() - t0
    time.sleep(3)   # stalls end
    n.stop()
    counts = verify(gw, prof)
    statuses = {}
    for r in RESULTS:
        statuses[r[2]] = statuses.get(r[2], 0) + 1
    log(f'{len(RESULTS)} triggers in {took:.1f}s, answers', statuses)
    log('gateway attempts', len(gw.attempts), 'by behaviour',
        {b: sum(1 for a in gw.attempts if a[2] == b) for b in GW_EXPECT})
    log('profile lookups', len(prof.seen))
    log('recipient outcomes', json.dumps(counts, indent=1))
    bad = n.bad_lines()
    for p in PROBLEMS[:30]:
        log('PROBLEM', p)
    for l in bad[:20]:
        log('ERROR LOG', l)
    log('problems:', len(PROBLEMS), 'bad log lines:', len(bad))
    sys.exit(1 if PROBLEMS or bad else 0)


if __name__ == '__main__':
    main()
