#!/usr/bin/env python3
# Clients that leave at every stage of a trigger, over HTTP/1.1 (the
# connection closed) and HTTP/2 (the stream reset with RST_STREAM while
# the connection stays, or the whole connection closed): during the body
# upload (no execution may start), during the profile lookups, during the
# sending, during a retry's delay.  Each execution must complete: its
# messages reach the gateway exactly once per attempt, and nginx logs
# once "the client left, execution ... goes on".  Another stream of the
# same HTTP/2 connection must still get its answer.  Not run by
# `make test`:
#
#     python3 t/soak/disconnect.py [ROUNDS]

import json
import os
import re
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *   # noqa
import h2raw

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 3

HTTP = f"""
    server {{
        listen 127.0.0.1:{PORT};
        listen 127.0.0.1:{H2_PORT} http2;
        campaign_gateway sms /_gw/slow;
        campaign_gateway_retry_delay 400ms;

        location /send/ {{
            campaign_api;
        }}

        location /retry/ {{
            campaign_api;
            campaign_gateway sms /_gw/fail1;
        }}

        location /lookup/ {{
            campaign_api;
            campaign_profile_lookup /_profiles/$campaign_user_id;
        }}

        location /_profiles/ {{
            internal;
            proxy_pass http://127.0.0.1:{PROF_PORT}/p/slowok/;
        }}

        location = /_gw/slow {{
            internal;
            proxy_pass http://127.0.0.1:{GW_PORT}/b/slow;
        }}

        location = /_gw/fail1 {{
            internal;
            proxy_pass http://127.0.0.1:{GW_PORT}/b/fail1;
        }}
    }}
"""


def body(rid, n=2, profile=True):
    return sms_body(rid, n, profile)


def h1_leave(path, b, after, partial=False):
    s = socket.create_connection(('127.0.0.1', PORT))
    head = (f'POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: '
            f'application/json\r\nContent-Length: {len(b)}\r\n\r\n').encode()
    s.sendall(head + (b[:len(b) // 2] if partial else b))
    time.sleep(after)
    s.close()


def h2_leave(path, b, after, how, other=None):
    """how: 'rst' resets the stream and keeps the connection; 'close'
    closes the connection.  other: a second trigger on stream 3 that must
    be answered.  Returns the frames for stream 3."""
    s = socket.create_connection(('127.0.0.1', H2_PORT))
    s.settimeout(5)

    def req(sid, bb):
        hdr = (h2raw._field(':method', 'POST') + h2raw._field(':path', path)
               + h2raw._field(':scheme', 'http')
               + h2raw._field(':authority', 'x')
               + h2raw._field('content-type', 'application/json')
               + h2raw._field('content-length', str(len(bb))))
        return h2raw._frame(1, 4, sid, hdr) + h2raw._frame(0, 1, sid, bb)

    out = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n' + h2raw._frame(4, 0, 0, b'')
    out += req(1, b)
    if other:
        out += req(3, other)
    s.sendall(out)
    time.sleep(after)
    if how == 'close':
        s.close()
        return None
    s.sendall(h2raw._frame(3, 0, 1, struct.pack('>I', 8)))   # CANCEL
    buf = b''
    t = time.time()
    frames = []
    while time.time() - t < 4:
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        if not d:
            break
        buf += d
        while len(buf) >= 9:
            n = int.from_bytes(buf[:3], 'big')
            if len(buf) < 9 + n:
                break
            frames.append((h2raw.NAMES.get(buf[3], buf[3]), buf[4],
                           int.from_bytes(buf[5:9], 'big'), buf[9:9 + n]))
            buf = buf[9 + n:]
        if any(f[0] == 'DATA' and f[2] == 3 and f[1] & 1 for f in frames) \
           or not other:
            if not other:
                time.sleep(0.2)
            break
    s.close()
    return frames


def main():
    gw = FlakyGateway(GW_PORT)
    prof = FlakyProfiles(PROF_PORT)
    gw.start()
    prof.start()
    n = Nginx(HTTP)
    n.start()
    log('nginx at', n.prefix)
    problems = []
    cases = []
    k = 0
    for r in range(ROUNDS):
        for proto in ('h1', 'h2rst', 'h2close'):
            for stage, path, after, prof_inline in (
                    ('upload', '/send/', 0.2, True),
                    ('lookup', '/lookup/', 0.2, False),
                    ('send', '/send/', 0.2, True),
                    ('retry', '/retry/', 0.3, True)):
                if stage == 'upload' and proto != 'h1':
                    continue
                k += 1
                rid = f'{proto}-{stage}-{r}-{k}'
                b = body(rid, 2, prof_inline)
                other = None
                if proto == 'h1':
                    h1_leave(path + 'executions/unitary', b, after,
                             partial=(stage == 'upload'))
                else:
                    if proto == 'h2rst':
                        other = body(rid + '-other', 1, True)
                    frames = h2_leave(path + 'executions/unitary', b, after,
                                      proto[2:], other)
                    if other:
                        got = b''.join(f[3] for f in frames
                                       if f[0] == 'DATA' and f[2] == 3)
                        if b'"accepted"' not in got:
                            problems.append(f'{rid}: the other stream got '
                                            f'{got[:200]!r} {frames}')
                cases.append((rid, stage))
    time.sleep(3)   # executions finish
    keys = {}
    for a in gw.attempts:
        p = json.loads(a[3])
        keys.setdefault(p['requestId'], []).append((a[0], a[1], a[2]))
    logtext = n.error_log()
    left = re.findall(r'the client left, execution ([0-9a-f-]{36}) goes on',
                      logtext)
    counts = {}
    for e in left:
        counts[e] = counts.get(e, 0) + 1
    for rid, stage in cases:
        atts = keys.get(rid, [])
        if stage == 'upload':
            if atts:
                problems.append(f'{rid}: sent though the body never came')
            continue
        msgs = {a[0] for a in atts}
        if len(msgs) != 2:
            problems.append(f'{rid}: messages at the gateway {atts}')
        for m in msgs:
            nums = sorted(int(a[1]) for a in atts if a[0] == m)
            want = [1, 2] if stage == 'retry' else [1]
            if nums != want:
                problems.append(f'{rid}: attempts of {m}: {nums}')
        ex = {m.rsplit('-', 1)[0] for m in msgs}
        for e in ex:
            if counts.get(e) != 1:
                problems.append(f'{rid}: "client left" logged '
                                f'{counts.get(e, 0)} times for {e}')
    n.stop()
    time.sleep(0.5)
    bad = n.bad_lines()
    log(f'{len(cases)} cases, {len(gw.attempts)} gateway attempts, '
        f'{len(prof.seen)} lookups, {len(left)} "client left" lines')
    for p in problems[:20]:
        log('PROBLEM', p)
    for l in bad[:10]:
        log('ERROR LOG', l)
    sys.exit(1 if problems or bad else 0)


if __name__ == '__main__':
    main()
