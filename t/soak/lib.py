# Shared pieces of the soak scripts in t/soak/: an nginx run from a
# temporary prefix with the built module (master process, 2 workers,
# error_log at info), and small upstream servers that misbehave on
# purpose.  Python 3 standard library only.  These scripts are not run by
# `make test`; t/soak/README says what each one does and how to run it.

import atexit
import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
NGINX = os.environ.get('TEST_NGINX_BINARY', '/usr/sbin/nginx')
MODULE = os.environ.get('TEST_NGINX_LOAD_MODULES',
                        ROOT + '/build/ngx_http_campaign_module.so')
CAMPAIGNS = os.environ.get('TEST_NGINX_CAMPAIGNS', ROOT + '/t/campaigns')
BASE = int(os.environ.get('SOAK_PORT', '18300'))

PORT = BASE            # HTTP/1.1 API
H2_PORT = BASE + 1     # HTTP/2 (prior knowledge) API
GW_PORT = BASE + 10    # the flaky gateway
PROF_PORT = BASE + 11  # the flaky profile service
RAW_PORT = BASE + 12   # logs raw request lines and headers, answers 200


def log(*a):
    print(time.strftime('%H:%M:%S'), *a, flush=True)


class Nginx:
    """nginx from a temporary prefix; conf() gives the http{} body."""

    def __init__(self, http_body, workers=2, extra_main=''):
        self.prefix = tempfile.mkdtemp(prefix='ngx-soak-')
        for d in ('conf', 'logs'):
            os.makedirs(os.path.join(self.prefix, d), exist_ok=True)
        # workers of an nginx started by root run as nobody
        os.chmod(self.prefix, 0o755)
        os.chmod(os.path.join(self.prefix, 'logs'), 0o777)
        self.workers = workers
        self.extra_main = extra_main
        self.write_conf(http_body)

    def path(self, name):
        return os.path.join(self.prefix, name)

    def write_conf(self, http_body):
        p = self.prefix
        load = f'load_module {MODULE};' if MODULE else ''
        conf = f"""
{load}
master_process on;
worker_processes {self.workers};
daemon on;
pid logs/nginx.pid;
error_log logs/error.log info;
{self.extra_main}
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {p}/logs/body;
    proxy_temp_path {p}/logs/proxy;
    fastcgi_temp_path {p}/logs/fastcgi;
    uwsgi_temp_path {p}/logs/uwsgi;
    scgi_temp_path {p}/logs/scgi;
    campaign_definitions {CAMPAIGNS};
{http_body}
}}
"""
        with open(self.path('conf/nginx.conf'), 'w') as f:
            f.write(conf)

    def start(self, port=None):
        env = dict(os.environ)
        env.pop('NGINX', None)
        subprocess.check_call([NGINX, '-p', self.prefix + '/', '-c',
                               self.path('conf/nginx.conf'), '-e',
                               self.path('logs/error.log')], env=env)
        atexit.register(self.kill)
        for _ in range(100):
            try:
                socket.create_connection(('127.0.0.1', port or PORT),
                                         0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError('nginx does not listen')

    def master(self):
        with open(self.path('logs/nginx.pid')) as f:
            return int(f.read().strip())

    def workers_pids(self):
        m = self.master()
        out = subprocess.run(['pgrep', '-P', str(m)], capture_output=True,
                             text=True).stdout
        return [int(x) for x in out.split()]

    def signal(self, sig):
        os.kill(self.master(), sig)

    def stop(self, timeout=90):
        try:
            m = self.master()
        except (OSError, ValueError):
            return
        os.kill(m, signal.SIGQUIT)
        t = time.time()
        while time.time() - t < timeout:
            try:
                os.kill(m, 0)
            except OSError:
                return
            time.sleep(0.1)
        log('nginx did not quit in', timeout, 's: SIGTERM')
        os.kill(m, signal.SIGTERM)

    def kill(self):
        # a script that failed leaves no nginx behind; the pid must still
        # be this nginx's master
        try:
            pid = self.master()
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                if self.prefix.encode() in f.read():
                    os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError):
            pass

    def error_log(self):
        try:
            with open(self.path('logs/error.log'), errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def bad_lines(self, allow=()):
        bad = []
        for line in self.error_log().splitlines():
            if re.search(r'\[(alert|crit|emerg)\]|exited on signal|'
                         r'abandoned|AddressSanitizer|runtime error', line):
                if any(re.search(a, line) for a in allow):
                    continue
                bad.append(line)
        return bad


# ---------------------------------------------------------------- servers

class Server(threading.Thread):
    """A threaded TCP server; handle(conn) does one connection."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', port))
        self.sock.listen(512)
        self.lock = threading.Lock()

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(c,), daemon=True).start()

    def _one(self, c):
        try:
            self.handle(c)
        except OSError:
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass


def read_request(c, timeout=10):
    """(request line, headers dict lowercased, raw head, body) or None."""
    c.settimeout(timeout)
    buf = b''
    while b'\r\n\r\n' not in buf:
        d = c.recv(65536)
        if not d:
            return None
        buf += d
    head, _, rest = buf.partition(b'\r\n\r\n')
    lines = head.split(b'\r\n')
    hdrs = {}
    for l in lines[1:]:
        k, _, v = l.partition(b':')
        hdrs[k.strip().lower().decode('latin1')] = v.strip().decode('latin1')
    n = int(hdrs.get('content-length', '0') or 0)
    while len(rest) < n:
        d = c.recv(65536)
        if not d:
            break
        rest += d
    return lines[0], hdrs, head, rest


def reset(c):
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    c.close()


def answer(c, status, body=b'{}', ctype='application/json'):
    reason = {200: 'OK', 202: 'Accepted', 404: 'Not Found',
              500: 'Internal Server Error', 503: 'Service Unavailable'}
    c.sendall(b'HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n'
              b'Connection: close\r\n\r\n' % (status,
                                               reason.get(status, 'X').encode(),
                                               ctype.encode(), len(body))
              + body)


# what nginx should report for each behaviour (proxy_read_timeout 1s)
GW_EXPECT = {'slow2': 202, 'ok': 202, 'e500': 500, 'e503': 503, 'e400': 400,
             'stall': 504, 'reset': 502, 'midhdr': 502, 'slow': 202,
             'slowbody': 202, 'close': 502}


class FlakyGateway(Server):
    """Answers each attempt with a behaviour drawn from weights, or the
    one named in the path (/b/NAME).  Records every attempt: key, attempt,
    behaviour.  A behaviour "ok"/"slow"/"slowbody" is a message the
    gateway took (its 2xx was sent in full)."""

    def __init__(self, port, weights=None, stall=2.5):
        super().__init__(port)
        self.weights = weights or {'ok': 5, 'e500': 1, 'e503': 1,
                                   'stall': 1, 'reset': 1, 'midhdr': 1,
                                   'slow': 1, 'close': 1, 'e400': 1,
                                   'slowbody': 1}
        self.stall = stall
        self.attempts = []    # (key, attempt, behaviour, payload)
        self.rng = random.Random(7)

    def pick(self):
        with self.lock:
            names = list(self.weights)
            return self.rng.choices(names, [self.weights[n]
                                            for n in names])[0]

    def handle(self, c):
        req = read_request(c)
        if req is None:
            return
        line, hdrs, head, body = req
        m = re.match(rb'\S+ /b/(\w+)', line)
        b = m.group(1).decode() if m else self.pick()
        rec = [hdrs.get('idempotency-key'), hdrs.get('x-campaign-attempt'),
               b, body, time.time(), False]
        with self.lock:
            self.attempts.append(rec)
        if b == 'ok':
            answer(c, 202)
        elif b in ('e500', 'e503', 'e400'):
            answer(c, int(b[1:]))
        elif b == 'stall':
            time.sleep(self.stall)
        elif b == 'reset':
            reset(c)
            return
        elif b == 'close':
            c.close()
            return
        elif b == 'midhdr':
            c.sendall(b'HTTP/1.1 202 Acc')
            time.sleep(0.05)
            reset(c)
            return
        elif b == 'slow':
            time.sleep(0.5)
            answer(c, 202)
        elif b == 'fail1':
            # 503 to the first attempt, 202 after a pause to the others
            if rec[1] == '1':
                rec[2] = 'e503'
                answer(c, 503)
            else:
                rec[2] = 'slow'
                time.sleep(0.5)
                answer(c, 202)
        elif b == 'slow2':
            time.sleep(2)
            answer(c, 202)
        elif b == 'slowbody':
            c.sendall(b'HTTP/1.1 202 Accepted\r\nContent-Length: 10\r\n'
                      b'Connection: close\r\n\r\n{')
            time.sleep(0.4)
            c.sendall(b'"a":"bcd"}')
        rec[5] = True

    def by_key(self):
        d = {}
        with self.lock:
            for r in self.attempts:
                d.setdefault(r[0], []).append(r)
        return d


PROF_EXPECT = {'ok': 'ok', 'slowok': 'ok', 'e404': 'no profile', 'e500': 'lookup',
               'stall': 'lookup', 'reset': 'lookup', 'badjson': 'lookup',
               'array': 'lookup', 'huge': 'lookup', 'close': 'lookup'}


class FlakyProfiles(Server):
    def __init__(self, port, weights=None, stall=2.5):
        super().__init__(port)
        self.weights = weights or {'ok': 6, 'e404': 1, 'e500': 1,
                                   'stall': 1, 'reset': 1, 'badjson': 1,
                                   'array': 1, 'huge': 1, 'close': 1}
        self.stall = stall
        self.rng = random.Random(11)
        self.seen = []   # (raw request line, behaviour)

    def handle(self, c):
        req = read_request(c)
        if req is None:
            return
        line, hdrs, head, body = req
        m = re.match(rb'\S+ /p/(\w+)/', line)
        if m:
            b = m.group(1).decode()
        else:
            with self.lock:
                names = list(self.weights)
                b = self.rng.choices(names, [self.weights[n]
                                             for n in names])[0]
        with self.lock:
            self.seen.append((line, b))
        if b == 'ok':
            answer(c, 200, b'{"firstName":"Flaky"}')
        elif b == 'slowok':
            time.sleep(0.6)
            answer(c, 200, b'{"firstName":"Slow"}')
        elif b == 'e404':
            answer(c, 404)
        elif b == 'e500':
            answer(c, 500)
        elif b == 'stall':
            time.sleep(self.stall)
        elif b == 'reset':
            reset(c)
        elif b == 'close':
            c.close()
        elif b == 'badjson':
            answer(c, 200, b'{"firstName":')
        elif b == 'array':
            answer(c, 200, b'[1,2]')
        elif b == 'huge':
            answer(c, 200, b'{"x":"' + b'a' * 200000 + b'"}')


class RawLogger(Server):
    """Records raw request heads and bodies; answers 200 with a profile
    on GET and 202 on POST."""

    def __init__(self, port):
        super().__init__(port)
        self.requests = []

    def handle(self, c):
        req = read_request(c)
        if req is None:
            return
        line, hdrs, head, body = req
        with self.lock:
            self.requests.append((head, body))
        if line.startswith(b'GET'):
            answer(c, 200, b'{"firstName":"Raw"}')
        else:
            answer(c, 202)


# ------------------------------------------------------------- a client

def http(method, path, body=b'', headers=None, port=PORT, timeout=30,
         raw=None):
    """One request on its own connection: (status, headers, body)."""
    s = socket.create_connection(('127.0.0.1', port), timeout)
    try:
        if raw is None:
            h = {'Host': 'localhost', 'Connection': 'close'}
            if body or method == 'POST':
                h['Content-Type'] = 'application/json'
                h['Content-Length'] = str(len(body))
            h.update(headers or {})
            raw = (f'{method} {path} HTTP/1.1\r\n'.encode()
                   + b''.join(f'{k}: {v}\r\n'.encode() for k, v in h.items()
                              if v is not None)
                   + b'\r\n' + body)
        s.sendall(raw)
        data = b''
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    finally:
        s.close()
    return parse_responses(data)[0] if data else (None, {}, b'')


def parse_responses(data, is_head=False):
    """Split a stream of HTTP/1.x responses (Content-Length only); head:
    the first answers a HEAD."""
    out = []
    while data:
        head, sep, rest = data.partition(b'\r\n\r\n')
        if not sep:
            out.append((None, {}, data))
            break
        lines = head.split(b'\r\n')
        m = re.match(rb'HTTP/1\.[01] (\d{3})', lines[0])
        status = int(m.group(1)) if m else None
        hdrs = {}
        for l in lines[1:]:
            k, _, v = l.partition(b':')
            hdrs[k.strip().lower().decode('latin1')] = \
                v.strip().decode('latin1')
        n = 0 if (status and status < 200) or (is_head and not out) else \
            int(hdrs.get('content-length', len(rest)))
        out.append((status, hdrs, rest[:n]))
        data = rest[n:]
    return out


def sms_body(rid, n=1, profile=True, extra=None, ns='phone'):
    rs = []
    for i in range(n):
        r = {'type': 'aep', 'userId': f'u{i}', 'namespace': ns,
             'channelData': {'mobilePhoneNumber': f'+1415555{i:04d}'}}
        if profile:
            r['profile'] = {'firstName': f'P{i}'}
        rs.append(r)
    b = {'requestId': rid, 'campaignId': 'order-sms',
         'context': {'orderId': rid}, 'recipients': rs}
    if extra:
        b.update(extra)
    return json.dumps(b).encode()
