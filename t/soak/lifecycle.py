#!/usr/bin/env python3
# Executions at the edges of their life: campaign_execution_timeout with
# attempts still in flight (their late answers ignored), a client that
# leaves before the timeout, a reload while abandoned attempts linger,
# worker_shutdown_timeout closing the gateway connections of an old
# worker, SIGTERM (fast shutdown) with executions in flight.  Each case
# reports what the client got, what the gateway saw, how long the old
# workers took to exit, and the log lines at warn and above.  Not run by
# `make test`:
#
#     python3 t/soak/lifecycle.py

import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *   # noqa

HTTP = f"""
    server {{
        listen 127.0.0.1:{PORT};
        campaign_gateway sms /_gw/stall;
        campaign_gateway_retry_delay 100ms;

        location /bounded/ {{
            campaign_api;
            campaign_execution_timeout 300ms;
        }}

        location /slow/ {{
            campaign_api;
            campaign_gateway sms /_gw/slow;
            campaign_execution_timeout 5s;
        }}

        location = /_gw/stall {{
            internal;
            proxy_pass http://127.0.0.1:{GW_PORT}/b/stall;
            proxy_read_timeout 5s;
        }}

        location = /_gw/slow {{
            internal;
            proxy_pass http://127.0.0.1:{GW_PORT}/b/slow2;
        }}
    }}
"""

PROBLEMS = []


def in_thread(path, body, out, key, port=PORT):
    def run():
        try:
            out[key] = http('POST', path, body, timeout=15, port=port)
        except OSError as e:
            out[key] = (None, {}, str(e).encode())
    t = threading.Thread(target=run)
    t.start()
    return t


def old_workers_gone(n, before, timeout):
    t = time.time()
    while time.time() - t < timeout:
        if not set(before) & set(n.workers_pids()):
            return time.time() - t
        time.sleep(0.05)
    return None


def main():
    gw = FlakyGateway(GW_PORT)
    gw.stall = 2.0
    gw.start()
    n = Nginx(HTTP, extra_main='')
    n.start()
    log('nginx at', n.prefix)
    out = {}

    # 1. timeout, late answers ignored, then a reload
    t0 = time.time()
    st, _, b = http('POST', '/bounded/executions/unitary', sms_body('t1', 2))
    log(f'1. bounded: {st} in {time.time() - t0:.2f}s', b[:160])
    if st != 504:
        PROBLEMS.append(f'1: {st} {b[:200]}')
    before = n.workers_pids()
    n.signal(signal.SIGHUP)
    took = old_workers_gone(n, before, 10)
    log(f'   reload with abandoned attempts in flight: old workers gone '
        f'after {took}s (the gateway answers at 2s)')
    if took is None:
        PROBLEMS.append('1: old workers did not exit')

    # 2. the client leaves before the timeout
    s = socket.create_connection(('127.0.0.1', PORT))
    b = sms_body('t2', 1)
    s.sendall(b'POST /bounded/executions/unitary HTTP/1.1\r\nHost: x\r\n'
              b'Content-Type: application/json\r\nContent-Length: %d\r\n\r\n'
              % len(b) + b)
    time.sleep(0.1)
    s.close()
    time.sleep(0.5)
    log('2. client left before the timeout: gateway attempts for t2:',
        sum(1 for a in gw.attempts if b'"t2"' in a[3]))

    # 3. worker_shutdown_timeout closes the old workers' gateway
    # connections: the attempts fail (502) and are retried
    n2 = Nginx(HTTP.replace('listen 127.0.0.1:' + str(PORT),
                            'listen 127.0.0.1:' + str(PORT + 2)),
               extra_main='worker_shutdown_timeout 200ms;')
    n.stop()
    time.sleep(1)
    gw.attempts.clear()
    n2.start(port=PORT + 2)
    th = in_thread('/slow/executions/unitary', sms_body('t3', 3), out, 3,
                   PORT + 2)
    time.sleep(0.2)
    before = n2.workers_pids()
    n2.signal(signal.SIGHUP)
    th.join()
    st, _, b = out[3]
    took = old_workers_gone(n2, before, 10)
    log(f'3. worker_shutdown_timeout: {st}', b[:400])
    log(f'   old workers gone after {took}s; gateway attempts',
        [(a[1], a[2]) for a in gw.attempts])
    if st is None:
        PROBLEMS.append('3: no answer')

    # 4. SIGTERM with executions in flight
    th = in_thread('/slow/executions/unitary', sms_body('t4', 2), out, 4,
                   PORT + 2)
    time.sleep(0.2)
    n2.signal(signal.SIGTERM)
    th.join()
    log('4. SIGTERM: the client got', out[4][0], out[4][2][:100])
    time.sleep(1)

    for nn in (n, n2):
        for line in nn.error_log().splitlines():
            if any(x in line for x in ('[warn]', '[error]', '[alert]',
                                       '[crit]', 'signal 6', 'signal 11')) \
               and 'connect() failed' not in line:
                log('   LOG', line[:260])
        bad = nn.bad_lines(allow=[r'abandoned after'])
        if bad:
            PROBLEMS.extend(bad)
    for p in PROBLEMS:
        log('PROBLEM', p)
    sys.exit(1 if PROBLEMS else 0)


if __name__ == '__main__':
    main()
