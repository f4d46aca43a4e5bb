# A minimal HTTP/2 (prior knowledge) client that shows the frames nginx
# sends: one request, then every frame until the connection goes quiet.
# curl 7.88 reports no answer at all (exit 92) when nginx answers early
# and resets the stream with NO_ERROR, as RFC 9113 lets it; this shows
# what nginx did send.

import socket
import struct


def _int(n, prefix):
    top = (1 << prefix) - 1
    if n < top:
        return bytes([n])
    out = [top]
    n -= top
    while n >= 128:
        out.append((n & 127) | 128)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(name, value):
    # a literal header field without indexing, new name, no Huffman
    name = name.encode()
    value = value.encode('latin1')
    return b'\x00' + _int(len(name), 7) + name + _int(len(value), 7) + value


def _frame(t, flags, sid, payload):
    return (struct.pack('>I', len(payload))[1:] + bytes([t, flags])
            + struct.pack('>I', sid) + payload)


NAMES = {0: 'DATA', 1: 'HEADERS', 3: 'RST_STREAM', 4: 'SETTINGS',
         6: 'PING', 7: 'GOAWAY', 8: 'WINDOW_UPDATE', 9: 'CONTINUATION'}


def run(port, method, path, ctype, body, timeout=2, close_after=None):
    """[(name, flags, stream, payload)] of every frame nginx sent."""
    s = socket.create_connection(('127.0.0.1', port))
    s.settimeout(timeout)
    hdr = (_field(':method', method) + _field(':path', path)
           + _field(':scheme', 'http') + _field(':authority', 'localhost'))
    if ctype:
        hdr += _field('content-type', ctype)
    if body is not None:
        hdr += _field('content-length', str(len(body)))
    out = (b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n' + _frame(4, 0, 0, b'')
           + _frame(1, 4 | (1 if body is None else 0), 1, hdr))
    if body is not None:
        for i in range(0, max(len(body), 1), 16384):
            last = i + 16384 >= len(body)
            out += _frame(0, 1 if last else 0, 1, body[i:i + 16384])
    s.sendall(out)
    buf = b''
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            buf += d
    except socket.timeout:
        pass
    s.close()
    frames = []
    while len(buf) >= 9:
        n = int.from_bytes(buf[:3], 'big')
        frames.append((NAMES.get(buf[3], buf[3]), buf[4],
                       int.from_bytes(buf[5:9], 'big') & 0x7fffffff,
                       buf[9:9 + n]))
        buf = buf[9 + n:]
    return frames
