#!/usr/bin/env python3
# make bench, bench/connectors.sh: an SMTP sink on 127.0.0.1 that answers
# 250 to everything (354 to DATA, 221 to QUIT) and keeps nothing, so that
# the benchmark measures the module's SMTP connector, not a mail server.
#
#   bench/smtp-sink.py PORT [COUNT-FILE [PID-FILE]]
#
# No STARTTLS, no AUTH, no checks. Commands may be pipelined. HELP is
# answered "214 MESSAGES SESSIONS": the messages taken so far and the
# sessions opened, the asking one included. Once it listens, it writes
# its process id to PID-FILE, if given. It runs until SIGTERM or SIGINT,
# then writes the number of messages it took (DATA ended by a lone ".")
# and of sessions to COUNT-FILE, if given.
#
# Only the standard library, one process, one thread: an epoll loop over
# non-blocking sockets. It spends about 100 us of CPU on a message (four
# round trips) where the same sink made of asyncio protocols spent 600,
# which made it, not the module, the limit of make bench's smtp path.

import errno
import os
import select
import signal
import socket
import sys

messages = 0
sessions = 0
stop = False


class Session:
    __slots__ = ("sock", "buf", "data", "out", "wout")

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.data = False
        self.out = b"220 sink ESMTP\r\n"
        self.wout = False

    def take(self, chunk):
        """Reads CHUNK, queues the replies; False: the session ends."""
        global messages

        self.buf += chunk
        out = []

        while self.buf:
            if self.data:
                # the message ends at "." alone on a line (DATA put a
                # CRLF in front, for a message of no line at all)
                end = self.buf.find(b"\r\n.\r\n")
                if end < 0:
                    # keep the last 4 bytes: a terminator may be split
                    self.buf = self.buf[-4:]
                    break
                self.buf = self.buf[end + 5:]
                self.data = False
                messages += 1
                out.append(b"250 2.0.0 queued\r\n")
                continue

            eol = self.buf.find(b"\n")
            if eol < 0:
                break
            verb = self.buf[:4].upper()
            self.buf = self.buf[eol + 1:]

            if verb == b"EHLO":
                out.append(b"250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                out.append(b"354 go ahead\r\n")
                self.buf = b"\r\n" + self.buf
                self.data = True
            elif verb == b"HELP":
                out.append(b"214 %d %d\r\n" % (messages, sessions))
            elif verb == b"QUIT":
                out.append(b"221 bye\r\n")
                self.out += b"".join(out)
                return False
            else:
                out.append(b"250 ok\r\n")

        self.out += b"".join(out)
        return True


def main():
    global sessions, stop

    port = int(sys.argv[1])

    def on_signal(signum, frame):
        global stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", port))
    lsock.listen(1024)
    lsock.setblocking(False)

    if len(sys.argv) > 3:
        with open(sys.argv[3], "w") as f:
            f.write("%d\n" % os.getpid())

    ep = select.epoll()
    ep.register(lsock.fileno(), select.EPOLLIN)
    conns = {}
    lfd = lsock.fileno()

    def flush(fd, s, closing):
        """Sends what is queued; False: the session is gone."""
        try:
            while s.out:
                n = s.sock.send(s.out)
                s.out = s.out[n:]
        except BlockingIOError:
            pass
        except OSError:
            closing = True
            s.out = b""

        if closing and not s.out:
            ep.unregister(fd)
            s.sock.close()
            del conns[fd]
            return False

        # EPOLLOUT only while a reply waits for room
        if bool(s.out) != s.wout:
            s.wout = bool(s.out)
            ep.modify(fd, select.EPOLLIN | (select.EPOLLOUT if s.wout else 0))
        return True

    while not stop:
        try:
            events = ep.poll(0.5)
        except InterruptedError:
            continue

        for fd, ev in events:
            if fd == lfd:
                while True:
                    try:
                        c, _ = lsock.accept()
                    except BlockingIOError:
                        break
                    c.setblocking(False)
                    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    sessions += 1
                    s = Session(c)
                    conns[c.fileno()] = s
                    ep.register(c.fileno(), select.EPOLLIN)
                    flush(c.fileno(), s, False)
                continue

            s = conns.get(fd)
            if s is None:
                continue

            if ev & select.EPOLLOUT and s.out:
                if not flush(fd, s, False):
                    continue

            if ev & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
                try:
                    chunk = s.sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError as e:
                    if e.errno == errno.EINTR:
                        continue
                    chunk = b""

                if not chunk:
                    flush(fd, s, True)
                    continue

                more = s.take(chunk)
                if s.out or not more:
                    flush(fd, s, not more)

    if len(sys.argv) > 2:
        with open(sys.argv[2], "w") as f:
            f.write("%d %d\n" % (messages, sessions))


main()
