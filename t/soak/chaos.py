#!/usr/bin/env python3
# Everything at once, for a sanitizer build: a flaky gateway and profile
# service (t/soak/lib.py), campaign_execution_timeout shorter than the
# gateway's stalls, and clients that wait, close their connection, or
# reset their HTTP/2 stream at a random moment, while nginx is reloaded
# now and then.  It checks only that nothing crashes and nothing worse
# than [error] is logged (run it with TEST_NGINX_BINARY set to an nginx
# built with AddressSanitizer, see `make asan`).  Not run by `make test`:
#
#     python3 t/soak/chaos.py [SECONDS] [CLIENTS]

import json
import os
import random
import signal
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *   # noqa
import h2raw

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 60
CLIENTS = int(sys.argv[2]) if len(sys.argv) > 2 else 6

HTTP = f"""
    server {{
        listen 127.0.0.1:{PORT};
        listen 127.0.0.1:{H2_PORT} http2;
        campaign_gateway sms /_gw;
        campaign_gateway_retry_delay 30ms;
        campaign_execution_timeout 1200ms;
        campaign_execution_concurrency 3;

        location /ajo/im/ {{
            campaign_api;
        }}

        location /lookup/ {{
            campaign_api;
            campaign_profile_lookup /_profiles/$campaign_user_id;
        }}

        location /_profiles/ {{
            internal;
            proxy_pass http://127.0.0.1:{PROF_PORT}/;
            proxy_read_timeout 700ms;
        }}

        location = /_gw {{
            internal;
            proxy_pass http://127.0.0.1:{GW_PORT}/;
            proxy_read_timeout 700ms;
        }}
    }}
"""

STATS = {}
LOCK = threading.Lock()


def count(k):
    with LOCK:
        STATS[k] = STATS.get(k, 0) + 1


def client(seed, deadline):
    rng = random.Random(seed)
    i = 0
    while time.time() < deadline:
        i += 1
        lookup = rng.random() < 0.4
        path = ('/lookup/' if lookup else '/ajo/im/') + 'executions/unitary'
        b = sms_body(f'x{seed}-{i}', rng.randint(1, 8), not lookup)
        how = rng.choice(['wait', 'wait', 'close', 'h2wait', 'h2rst',
                          'h2close'])
        after = rng.random() * 1.5
        try:
            if how == 'wait':
                st, _, _ = http('POST', path, b, timeout=20)
                count(f'h1 {st}')
            elif how == 'close':
                s = socket.create_connection(('127.0.0.1', PORT))
                s.sendall(b'POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: '
                          b'application/json\r\nContent-Length: %d\r\n\r\n'
                          % (path.encode(), len(b)) + b)
                time.sleep(after)
                s.close()
                count('h1 left')
            else:
                s = socket.create_connection(('127.0.0.1', H2_PORT))
                s.settimeout(20)
                hdr = (h2raw._field(':method', 'POST')
                       + h2raw._field(':path', path)
                       + h2raw._field(':scheme', 'http')
                       + h2raw._field(':authority', 'x')
                       + h2raw._field('content-type', 'application/json')
                       + h2raw._field('content-length', str(len(b))))
                out = (b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'
                       + h2raw._frame(4, 0, 0, b''))
                for sid in (1, 3, 5):
                    out += h2raw._frame(1, 4, sid, hdr) + \
                        h2raw._frame(0, 1, sid, b)
                s.sendall(out)
                if how == 'h2wait':
                    buf = b''
                    while buf.count(b'"executionId"') + \
                            buf.count(b'"type":"urn') < 3:
                        d = s.recv(65536)
                        if not d:
                            break
                        buf += d
                    count('h2 answered')
                else:
                    time.sleep(after)
                    if how == 'h2rst':
                        s.sendall(h2raw._frame(3, 0, 1, struct.pack('>I', 8))
                                  + h2raw._frame(3, 0, 5,
                                                 struct.pack('>I', 8)))
                        time.sleep(rng.random() * 0.5)
                    count(f'h2 {how[2:]}')
                s.close()
        except OSError as e:
            count(f'{how} {type(e).__name__}')


def main():
    gw = FlakyGateway(GW_PORT, stall=1.0)
    prof = FlakyProfiles(PROF_PORT, stall=1.0)
    gw.start()
    prof.start()
    n = Nginx(HTTP)
    n.start()
    log('nginx at', n.prefix, ';', CLIENTS, 'clients for', SECONDS, 's')
    deadline = time.time() + SECONDS
    ts = [threading.Thread(target=client, args=(i, deadline))
          for i in range(CLIENTS)]
    for t in ts:
        t.start()
    reloads = 0
    while time.time() < deadline:
        time.sleep(5)
        n.signal(signal.SIGHUP)
        reloads += 1
    for t in ts:
        t.join()
    time.sleep(2)
    n.stop()
    time.sleep(1)
    text = n.error_log()
    bad = [l for l in text.splitlines()
           if re.search(r'\[(alert|crit|emerg)\]|exited on signal|'
                        r'AddressSanitizer|runtime error', l)]
    log('clients', dict(sorted(STATS.items())), 'reloads', reloads)
    log('gateway attempts', len(gw.attempts), 'lookups', len(prof.seen))
    log('timeouts', text.count('execution timed out'), 'client left',
        text.count('the client left'), 'abandoned', text.count('abandoned'))
    for l in bad[:20]:
        log('BAD', l[:300])
    sys.exit(1 if bad else 0)


if __name__ == '__main__':
    main()
