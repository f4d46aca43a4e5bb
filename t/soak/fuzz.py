#!/usr/bin/env python3
# Mutation fuzzing of every endpoint of a running nginx with the module
# (master process, 2 workers, all gateways to the outbox): valid bodies of
# executions/unitary and campaigns/{id}/preview, mutated (bit flips,
# truncation, nesting, huge numbers, duplicate keys, escapes, invalid
# UTF-8, NUL, long strings, wrong types, recipient counts), odd headers
# (Content-Type, Content-Length, Transfer-Encoding, Expect), HTTP/1.0,
# pipelining, every method, unknown paths, and HTTP/2 through curl.
#
# Every answer must be JSON (application/json or application/problem+json)
# with a 2xx/4xx status, or a 5xx where the module documents one; nginx
# must log no [alert]/[crit] and no crash.  Not run by `make test`:
#
#     python3 t/soak/fuzz.py [SECONDS] [THREADS]
#
# SOAK_PORT (default 18300) sets the ports (see lib.py).  Exit status 0
# when nothing was wrong; findings are printed with the request.

import json
import os
import random
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *   # noqa
import h2raw

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 120
THREADS = int(sys.argv[2]) if len(sys.argv) > 2 else 6

HTTP = f"""
    server {{
        listen 127.0.0.1:{PORT};
        listen 127.0.0.1:{H2_PORT} http2;
        client_body_buffer_size 1m;
        campaign_gateway email /_gw/outbox;
        campaign_gateway sms /_gw/outbox;
        campaign_gateway push /_gw/outbox;

        location /ajo/im/ {{
            campaign_api;
        }}

        location /_gw/ {{
            internal;
            campaign_outbox logs/outbox.jsonl;
        }}
    }}
"""

VALID = [
    ('/ajo/im/executions/unitary', {
        'requestId': 'r-1', 'campaignId': 'order-sms',
        'context': {'orderId': 'A-1'},
        'recipients': [{'type': 'aep', 'userId': 'ada@example.com',
                        'namespace': 'phone',
                        'channelData': {'mobilePhoneNumber': '+14155550100'},
                        'profile': {'firstName': 'Ada'},
                        'context': {'orderId': 'A-2'}}]}),
    ('/ajo/im/executions/unitary', {
        'requestId': 'r-2', 'campaignId': 'welcome-email',
        'recipients': [{'type': 'external', 'userId': 'b0b',
                        'namespace': 'email',
                        'channelData': {'emailAddress': 'bob@example.com'},
                        'profile': {'person': {'name': {'firstName': 'Bob'}}},
                        'context': {'resetLink': 'https://x.example/r',
                                    'code': 'abc', 'count': 3}}]}),
    ('/ajo/im/executions/unitary', {
        'requestId': 'r-3', 'campaignId': 'cart-push',
        'context': {'itemCount': 3, 'cartUrl': 'acme://cart'},
        'recipients': [{'type': 'aep', 'userId': 'e1', 'namespace': 'ecid',
                        'channelData': {'pushInfo': {'token': 'tok',
                                                     'platform': 'fcm',
                                                     'appID': 'com.x'}},
                        'profile': {'firstName': 'Eve'}}]}),
    ('/ajo/im/campaigns/order-sms/preview', {
        'profile': {'firstName': 'Ada'}, 'context': {'orderId': 'A-1'}}),
    ('/ajo/im/campaigns/welcome-email/preview', {
        'profile': {'person': {'name': {'firstName': 'Zoë'}},
                    'preferredLanguage': 'fr'},
        'context': {'resetLink': 'https://x.example/r'}}),
]

PATHS = ['/ajo/im/health', '/ajo/im/health/', '/ajo/im/', '/ajo/im',
         '/ajo/im/executions/unitary/', '/ajo/im/executions/unitary?x=1',
         '/ajo/im/executions//unitary', '/ajo/im/executions/audience',
         '/ajo/im/executions/audience/123', '/ajo/im/executions/schedules/1',
         '/ajo/im/campaigns//preview', '/ajo/im/campaigns/preview',
         '/ajo/im/campaigns/%00/preview', '/ajo/im/campaigns/a%2fb/preview',
         '/ajo/im/campaigns/../health', '/ajo/im/campaigns/%2e%2e/preview',
         '/ajo/im/campaigns/' + 'x' * 5000 + '/preview',
         '/ajo/im/campaigns/order-sms/preview/x',
         '/ajo/im/campaigns/order%2Dsms/preview',
         '/ajo/im/campaigns/order-sms%00/preview',
         '/ajo/im/%ff%fe', '/ajo/im/h\xffx', '/ajo/im/exec"utions',
         '/ajo/im/executions/unitary#frag', '/ajo/im/./health',
         '/ajo/im/health?' + 'a' * 3000, '/_gw/outbox', '/ajo/imx/health']

METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH',
           'TRACE', 'FOO', 'PROPFIND', 'MKCOL']

CTYPES = ['application/json', 'APPLICATION/JSON', 'application/json; '
          'charset=utf-8', 'application/json; charset=latin1',
          'application/vnd.ajo+json', 'application/json;;;',
          'text/plain', '', None, 'application/json; charset="UTF-8"',
          'application/json ' + 'x' * 4000, 'application/+json',
          'application/jsonx', 'application/json\x01']

WEIRD_STRINGS = ['', 'a' * 70000, '\u0000', '\\u0000', '\ud800', '\udfff',
                 '../../etc/passwd', '%2e%2e/%2e%2e', 'a\r\nX-Injected: 1',
                 '"quoted"', 'back\\slash', 'zoë', '𝄞', '\u202e',
                 'a\tb', '\x7f', '<script>', '{{profile.x}}', '{{#each}}',
                 '${x}', '$campaign_user_id']

WEIRD_VALUES = [None, True, False, 0, -1, 1.5, 1e308, -1e308,
                123456789012345678901234567890, [], {}, [[]], {'a': {}},
                'x', 2 ** 63, -2 ** 63]


def rnd_value(rng):
    if rng.random() < 0.5:
        return rng.choice(WEIRD_STRINGS)
    return rng.choice(WEIRD_VALUES)


def tree_mutate(rng, obj):
    """Set, delete or retype a random member of a copy of obj."""
    obj = json.loads(json.dumps(obj))
    nodes = []

    def walk(o, depth):
        if isinstance(o, dict):
            for k in list(o):
                nodes.append((o, k))
                walk(o[k], depth + 1)
        elif isinstance(o, list):
            for i in range(len(o)):
                nodes.append((o, i))
                walk(o[i], depth + 1)
    walk(obj, 0)
    if not nodes:
        return obj
    for _ in range(rng.randint(1, 3)):
        parent, k = rng.choice(nodes)
        r = rng.random()
        try:
            if r < 0.2 and isinstance(parent, dict):
                del parent[k]
            elif r < 0.3 and isinstance(parent, dict):
                parent[rng.choice(WEIRD_STRINGS[:12])] = rnd_value(rng)
            else:
                parent[k] = rnd_value(rng)
        except (KeyError, IndexError):
            pass
    if 'recipients' in obj and rng.random() < 0.2:
        rs = obj['recipients'] if isinstance(obj['recipients'], list) else []
        if rs:
            n = rng.choice([0, 19, 20, 21, 100])
            obj['recipients'] = [json.loads(json.dumps(rs[0]))
                                 for _ in range(n)]
            if isinstance(rs[0], dict) and rng.random() < 0.7:
                for i, r in enumerate(obj['recipients']):
                    r['userId'] = f'u{i}'
    return obj


def byte_mutate(rng, b):
    b = bytearray(b)
    r = rng.random()
    if r < 0.25 and b:
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif r < 0.4 and b:
        b = b[:rng.randrange(len(b))]
    elif r < 0.6:
        i = rng.randrange(len(b) + 1)
        ins = rng.choice([b'\x00', b'\xff', b'\xc0\x80', b'\xed\xa0\x80',
                          b'\xf4\x90\x80\x80', b'\\u0000', b'\\ud800',
                          b'\\udc00\\ud800', b'"', b'\\', b',', b'}', b']',
                          b'\x01', b'\r\n', b'1e999999', b'-0',
                          b'99999999999999999999999', b'\xe2\x80\xae'])
        b[i:i] = ins
    elif r < 0.7:
        # duplicate keys
        i = b.find(b'{')
        if i >= 0:
            b[i + 1:i + 1] = rng.choice([b'"requestId":"dup",',
                                         b'"campaignId":"order-sms",',
                                         b'"recipients":[],',
                                         b'"context":{},'])
    elif r < 0.8:
        # deep nesting
        d = rng.choice([31, 32, 33, 100, 5000])
        nest = b'[' * d + b']' * d
        i = b.find(b'"context":')
        if i >= 0:
            b = b[:i] + b'"x":' + nest + b',' + b[i:]
        else:
            b = nest
    elif r < 0.9:
        # trailing garbage
        b += rng.choice([b' ', b'\n', b'x', b'{}', b'\x00', b' \t\r\n'])
    else:
        b = rng.choice([b'', b' ', b'null', b'[]', b'"x"', b'1', b'{',
                        b'\xef\xbb\xbf{}', b'{}' * 1000])
    return bytes(b)


def build(rng):
    """A raw request, a label, and flags: (raw, label, expect_close)."""
    r = rng.random()
    path, body = rng.choice(VALID)
    if r < 0.45:
        b = json.dumps(tree_mutate(rng, body)).encode()
        if rng.random() < 0.5:
            b = byte_mutate(rng, b)
    elif r < 0.6:
        b = byte_mutate(rng, json.dumps(body).encode())
    else:
        b = json.dumps(body).encode()
    method = 'POST'
    if rng.random() < 0.15:
        method = rng.choice(METHODS)
    if rng.random() < 0.15:
        path = rng.choice(PATHS)
    h = [('Host', 'localhost')]
    ct = 'application/json'
    if rng.random() < 0.2:
        ct = rng.choice(CTYPES)
    if ct is not None:
        h.append(('Content-Type', ct))
    cl = str(len(b))
    te = None
    x = rng.random()
    if x < 0.05:
        te = 'chunked'
    elif x < 0.07:
        te = rng.choice(['gzip, chunked', 'identity', 'chunked, chunked'])
    elif x < 0.1:
        cl = rng.choice(['-1', 'abc', '99999999999999999999', '0',
                         str(max(0, len(b) - 3)), '10000000'])
    elif x < 0.12:
        cl = None
    if cl is not None and te != 'chunked':
        h.append(('Content-Length', cl))
    elif cl is not None and rng.random() < 0.5:
        h.append(('Content-Length', cl))
    if te:
        h.append(('Transfer-Encoding', te))
    if rng.random() < 0.05:
        h.append(('Expect', rng.choice(['100-continue', 'x', '100-CONTINUE'])))
    if rng.random() < 0.03:
        h.append(('Content-Length', str(len(b))))
    if rng.random() < 0.03:
        h.append(('Authorization', 'Bearer ' + 'x' * 6000))
    version = 'HTTP/1.1' if rng.random() > 0.1 else 'HTTP/1.0'
    head = f'{method} {path} {version}\r\n'.encode('latin1', 'replace')
    head += b''.join(f'{k}: {v}\r\n'.encode('latin1', 'replace')
                     for k, v in h)
    body_bytes = b
    if te == 'chunked':
        if rng.random() < 0.8:
            body_bytes = b'%x\r\n%s\r\n0\r\n\r\n' % (len(b), b) if b \
                else b'0\r\n\r\n'
        else:
            body_bytes = b'zz\r\n' + b
    raw = head + b'Connection: close\r\n\r\n' + body_bytes
    label = f'{method} {path[:80]} {version} ct={ct!r:.40} cl={cl} te={te}'
    return raw, label, b, cl


def early_refusal(raw, status):
    """Why nginx answered before it chose a location, if it did: these
    answers cannot be the module's (they are nginx's HTML pages)."""
    head = raw.split(b'\r\n\r\n', 1)[0].lower()
    line = head.split(b'\r\n', 1)[0]
    te = re.search(rb'\r\ntransfer-encoding: *([^\r]*)', head)
    cls = re.findall(rb'\r\ncontent-length: *([^\r]*)', head)
    if status == 501 and te and te.group(1) != b'chunked':
        return 'unknown Transfer-Encoding (501)'
    if status == 405 and line.startswith(b'trace '):
        return 'TRACE (405)'
    if status == 400:
        if te and cls:
            return 'Content-Length with Transfer-Encoding (400)'
        if len(cls) > 1:
            return 'two Content-Length (400)'
        if cls and (not re.fullmatch(rb'\d+', cls[0]) or len(cls[0]) > 18):
            return 'invalid Content-Length (400)'
        if te and line.endswith(b'http/1.0'):
            return 'Transfer-Encoding in HTTP/1.0 (400)'
        if re.search(rb'[^\x21-\x7e]', line.split(b' ')[1]) or \
           b'%00' in line or b'/../' in line:
            return 'invalid request line (400)'
    if status == 400 and te and te.group(1) == b'chunked':
        return 'invalid chunked body (400)'
    if status == 413 and cls and int(cls[0]) > 1048576:
        return 'over client_max_body_size, before location? (413)'
    return None


EARLY = {}
SAMPLES = {}
LOCK = threading.Lock()
STATS = {'requests': 0, 'pipelined': 0, 'h2': 0}
STATUSES = {}
FINDINGS = []


def finding(kind, label, raw, resp):
    with LOCK:
        if len([f for f in FINDINGS if f[0] == kind]) < 5:
            FINDINGS.append((kind, label, raw[:600], resp))


def check(label, raw, status, hdrs, body, method):
    with LOCK:
        STATUSES[status] = STATUSES.get(status, 0) + 1
    if status in (None, 403, 413):
        with LOCK:
            SAMPLES.setdefault(status, [])
            if len(SAMPLES[status]) < 4:
                SAMPLES[status].append((label, raw[:300]))
    if status is None:
        return  # nginx closed without an answer: judged from the samples
    if status == 100:
        return
    why = early_refusal(raw, status)
    if why and not hdrs.get('content-type', '').startswith(
            ('application/json', 'application/problem+json')):
        with LOCK:
            EARLY[why] = EARLY.get(why, 0) + 1
        return
    if status >= 500 and status not in (502, 503, 504):
        finding(f'status {status}', label, raw, body[:300])
    if status < 200 or (300 <= status < 400):
        finding(f'status {status}', label, raw, body[:300])
    ct = hdrs.get('content-type', '')
    if method == 'HEAD':
        return
    if not ct.startswith(('application/json', 'application/problem+json')):
        # nginx's own answers outside the API location are HTML, and so
        # are those it gives before it looks for a location
        why = early_refusal(raw, status)
        if why:
            with LOCK:
                EARLY[why] = EARLY.get(why, 0) + 1
        elif b'/ajo/im/' in raw.split(b'\r\n')[0]:
            finding(f'content-type {ct!r} ({status})', label, raw, body[:300])
        return
    try:
        j = json.loads(body)
    except ValueError:
        finding('not JSON', label, raw, body[:300])
        return
    if ct.startswith('application/problem+json'):
        if j.get('status') != status or 'type' not in j \
           or not isinstance(j.get('errors'), list):
            finding('bad problem', label, raw, body[:300])
        if status == 400 and not j['errors']:
            finding('400 without errors', label, raw, body[:300])
        for e in j.get('errors', []):
            if not isinstance(e.get('pointer'), str) or \
               (e['pointer'] and not e['pointer'].startswith('/')):
                finding('bad pointer', label, raw, body[:300])


def worker(seed, deadline):
    rng = random.Random(seed)
    while time.time() < deadline:
        raw, label, b, cl = build(rng)
        pipelined = rng.random() < 0.05
        if pipelined:
            raw = raw.replace(b'Connection: close\r\n', b'')
            path, body = VALID[0]
            ok = json.dumps(body).encode()
            raw += (f'POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: '
                    f'application/json\r\nContent-Length: {len(ok)}\r\n'
                    f'\r\n').encode() + ok
            raw += b'GET /ajo/im/health HTTP/1.1\r\nHost: x\r\n' \
                   b'Connection: close\r\n\r\n'
        try:
            s = socket.create_connection(('127.0.0.1', PORT), 10)
            s.settimeout(8)
            s.sendall(raw)
            data = b''
            while True:
                d = s.recv(65536)
                if not d:
                    break
                data += d
            s.close()
        except socket.timeout:
            # a Content-Length above the body: nginx waits for the rest
            if cl and cl.isdigit() and int(cl) > len(b):
                continue
            finding('timeout', label, raw, b'')
            continue
        except OSError as e:
            finding(f'socket {e}', label, raw, b'')
            continue
        with LOCK:
            STATS['requests'] += 1
            STATS['pipelined'] += pipelined
        method = raw.split(b' ', 1)[0].decode('latin1')
        resps = parse_responses(data, method == 'HEAD') if data else [(None, {}, b'')]
        if resps and resps[0][0] == 100:
            resps = resps[1:] or [(None, {}, b'')]
        exact = (cl == str(len(b)) and b'transfer-encoding' not in
                 raw.split(b'\r\n\r\n')[0].lower())
        for i, (st, hd, bd) in enumerate(resps):
            if i and not exact:
                break   # the rest of the body was read as a request
            check(label, raw, st, hd, bd, method)
            method = 'POST'
        if pipelined and exact and \
           b'HTTP/1.0' not in raw.split(b'\r\n')[0] and \
           len(resps) < 3 and resps[0][0] and \
           resps[0][0] < 400:
            finding(f'pipelined: {len(resps)} answers', label, raw, data[:300])


def h2_worker(seed, deadline):
    rng = random.Random(seed)
    while time.time() < deadline:
        path, body = rng.choice(VALID)
        b = json.dumps(tree_mutate(rng, body)).encode()
        if rng.random() < 0.5:
            b = byte_mutate(rng, b)
        args = ['curl', '-s', '--http2-prior-knowledge', '-o', '-',
                '-w', '\n%{http_code} %{content_type}', '--max-time', '8',
                '--data-binary', '@-']
        if rng.random() < 0.2:
            path = rng.choice(PATHS).replace('\xff', '%ff')
            path = re.sub(r'[^\x21-\x7e]', '', path)
        args += ['-H', 'Content-Type: ' + rng.choice(
            ['application/json', 'text/plain', 'application/x+json'])]
        if rng.random() < 0.1:
            args += ['-X', rng.choice([m for m in METHODS if m != 'HEAD'])]
        args.append(f'http://127.0.0.1:{H2_PORT}{path}')
        p = subprocess.run(args, input=b, capture_output=True)
        with LOCK:
            STATS['h2'] += 1
        out = p.stdout
        body, _, tail = out.rpartition(b'\n')
        try:
            code, ctype = tail.decode().split(' ', 1)
            code = int(code)
        except ValueError:
            finding('h2 no answer', path, b, out[:300])
            continue
        if code == 0:
            # curl 7.88 gives up on a stream that nginx answered in full
            # and then reset with NO_ERROR before curl had sent its body
            # (nginx does so for any early answer): look at the frames
            frames = h2raw.run(H2_PORT, args[args.index('-X') + 1]
                               if '-X' in args else 'POST', path,
                               args[args.index('-H') + 1].split(': ', 1)[1],
                               b)
            data = b''.join(f[3] for f in frames if f[0] == 'DATA')
            if not any(f[0] == 'HEADERS' for f in frames):
                finding('h2 no answer', path, b, repr(frames).encode())
                continue
            with LOCK:
                EARLY['h2: answered, then RST_STREAM NO_ERROR'] = \
                    EARLY.get('h2: answered, then RST_STREAM NO_ERROR', 0) + 1
            m = re.search(rb'<title>(\d{3}) ', data)
            try:
                j = json.loads(data)
                code = j.get('status', 200) if 'type' in j else 200
                ctype = 'application/problem+json' if 'type' in j \
                    else 'application/json'
            except ValueError:
                code, ctype = (int(m.group(1)) if m else 0), 'text/html'
            body = data
        method = args[args.index('-X') + 1] if '-X' in args else 'POST'
        check('h2 ' + path, method.encode() + b' ' + path.encode()
              + b' HTTP/2.0\r\n\r\n' + b,
              code, {'content-type': ctype}, body, 'POST')


def main():
    n = Nginx(HTTP)
    n.start()
    log('nginx at', n.prefix, 'fuzzing for', SECONDS, 's with', THREADS,
        'threads + 1 HTTP/2')
    deadline = time.time() + SECONDS
    ts = [threading.Thread(target=worker, args=(i, deadline))
          for i in range(THREADS)]
    ts.append(threading.Thread(target=h2_worker, args=(99, deadline)))
    for t in ts:
        t.start()
    while any(t.is_alive() for t in ts):
        time.sleep(10)
        log(STATS, 'statuses', dict(sorted(STATUSES.items(),
                                           key=lambda x: str(x[0]))))
    health = http('GET', '/ajo/im/health')
    n.stop()
    time.sleep(1)
    bad = n.bad_lines()
    log('done:', STATS)
    log('statuses', dict(sorted(STATUSES.items(), key=lambda x: str(x[0]))))
    log('health after:', health[0], health[2])
    for st, l in SAMPLES.items():
        for x in l:
            log('SAMPLE', st, x[0], '\n   ', x[1])
    log('answered by nginx before a location was chosen (HTML):', EARLY)
    for f in FINDINGS:
        log('FINDING', f[0], '|', f[1], '\n   request:', f[2], '\n   answer:',
            f[3])
    for l in bad[:20]:
        log('ERROR LOG', l)
    log('error log lines:', len(n.error_log().splitlines()), 'bad:', len(bad))
    sys.exit(1 if FINDINGS or bad or health[0] != 200 else 0)


if __name__ == '__main__':
    main()
