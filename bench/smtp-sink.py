#!/usr/bin/env python3
# make bench, bench/connectors.sh: an SMTP sink on 127.0.0.1 that answers
# 250 to everything (354 to DATA, 221 to QUIT) and keeps nothing, so that
# the benchmark measures the module's SMTP connector, not a mail server.
#
#   bench/smtp-sink.py PORT [COUNT-FILE [PID-FILE]]
#
# No STARTTLS, no AUTH, no checks. Commands may be pipelined. HELP is
# answered "214 MESSAGES SESSIONS": the messages taken so far and the
# sessions opened, the asking one included. Once it
# listens, it writes its process id to PID-FILE, if given. It runs until
# SIGTERM or SIGINT, then writes the number of messages it took (DATA
# ended by a lone ".") and of sessions to COUNT-FILE, if given.
# Only the standard library: asyncio protocols, one process, one thread.

import asyncio
import os
import signal
import sys

messages = 0
sessions = 0


class Sink(asyncio.Protocol):
    def connection_made(self, transport):
        global sessions
        sessions += 1
        self.transport = transport
        self.buf = b""
        self.data = False
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, chunk):
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
            line = self.buf[:eol].rstrip(b"\r").upper()
            self.buf = self.buf[eol + 1:]
            verb = line[:4]

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
                self.transport.write(b"".join(out))
                self.transport.close()
                return
            else:
                out.append(b"250 ok\r\n")

        if out:
            self.transport.write(b"".join(out))


async def main():
    port = int(sys.argv[1])
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set_result, None)

    server = await loop.create_server(Sink, "127.0.0.1", port, backlog=1024)

    if len(sys.argv) > 3:
        with open(sys.argv[3], "w") as f:
            f.write("%d\n" % os.getpid())

    await stop
    server.close()

    if len(sys.argv) > 2:
        with open(sys.argv[2], "w") as f:
            f.write("%d %d\n" % (messages, sessions))


asyncio.run(main())
