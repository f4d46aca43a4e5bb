#!/usr/bin/python3
"""A loopback SMTP relay for the SMTP connector's tests and the demo.

    t/smtp-server.py --port 24100 --dir DIR [--cert C --key K]
        [--smtps] [--no-starttls] [--auth user:password] [--print]

It records every message it accepts as DIR/NNNN.json (envelope, session,
TLS, AUTH mechanism, raw data), every RCPT TO it is given in DIR/rcpt.log
and every connection in DIR/sessions.log, and writes DIR/ready once it
listens.  Recipients choose its answer by their local part:

    invalid...   550 5.1.1 on RCPT TO (no such user)
    policy...    550 5.7.1 on RCPT TO (refused by policy, not the address)
    busy...      451 4.3.0 on RCPT TO
    flaky...     451 4.3.0 on its first RCPT TO, 250 after
    slow...      RCPT TO answered after --slow seconds (default 5)
    reject...    554 5.7.1 at the end of DATA

With --print each message is summed up on stdout (the demo's catcher).
Needs python3-aiosmtpd (Debian); run by /usr/bin/python3, where Debian's
packages are.
"""

import argparse
import asyncio
import email
import email.policy
import json
import logging
import os
import ssl
import sys
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Relay:
    def __init__(self, args):
        self.args = args
        self.sessions = 0
        self.messages = 0
        self.flaky = set()

    def log(self, name, line):
        if self.args.dir:
            with open(os.path.join(self.args.dir, name), 'a') as f:
                f.write(line + '\n')

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        self.log('rcpt.log', '%d %s' % (server.number, address))
        local = address.split('@')[0].lower()

        if local.startswith('invalid'):
            return ('550 5.1.1 <%s>: Recipient address rejected: '
                    'User unknown' % address)
        if local.startswith('policy'):
            return '550 5.7.1 <%s>: Relaying denied' % address
        if local.startswith('busy'):
            return '451 4.3.0 <%s>: Try again later' % address
        if local.startswith('flaky') and address not in self.flaky:
            self.flaky.add(address)
            return '451 4.3.0 <%s>: Not now, try again' % address
        if local.startswith('slow'):
            await asyncio.sleep(self.args.slow)

        envelope.rcpt_tos.append(address)
        return '250 OK'

    async def handle_DATA(self, server, session, envelope):
        if any(r.split('@')[0].lower().startswith('reject')
               for r in envelope.rcpt_tos):
            return '554 5.7.1 Message rejected: looks like spam'

        self.messages += 1
        data = envelope.original_content.decode('utf-8', 'replace')
        record = {
            'session': server.number,
            'tls': server.transport.get_extra_info('sslcontext')
                   is not None,
            'auth': getattr(server, 'auth_mechanism', None),
            'helo': session.host_name,
            'mail_from': envelope.mail_from,
            'rcpt_tos': envelope.rcpt_tos,
            'data': data,
        }

        if self.args.dir:
            name = os.path.join(self.args.dir, '%06d.json' % self.messages)
            with open(name + '.tmp', 'w') as f:
                json.dump(record, f)
            os.rename(name + '.tmp', name)

        if self.args.print:
            message = email.message_from_bytes(envelope.original_content,
                                               policy=email.policy.default)
            subject = message.get('subject', '')
            print('smtp: session %d%s: %s -> %s: %s (%d bytes)'
                  % (server.number, ' TLS' if record['tls'] else '',
                     envelope.mail_from, ', '.join(envelope.rcpt_tos),
                     subject, len(data)), flush=True)

        return '250 2.0.0 Ok: queued as %06d' % self.messages

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and self.args.auth is not None
              and auth_data.login.decode() == self.args.auth[0]
              and auth_data.password.decode() == self.args.auth[1])
        if ok:
            server.auth_mechanism = mechanism
        return AuthResult(success=ok, handled=False)


class Session(SMTP):
    """Numbers its connections (a STARTTLS upgrade is the same one)."""

    def connection_made(self, transport):
        if self.transport is None:
            self.event_handler.sessions += 1
            self.number = self.event_handler.sessions
            self.event_handler.log('sessions.log', str(self.number))
        super().connection_made(transport)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--dir')
    ap.add_argument('--cert')
    ap.add_argument('--key')
    ap.add_argument('--smtps', action='store_true')
    ap.add_argument('--no-starttls', action='store_true')
    ap.add_argument('--auth')
    ap.add_argument('--slow', type=float, default=5)
    ap.add_argument('--print', action='store_true')
    args = ap.parse_args()

    # aiosmtpd's own notes (AUTH without TLS is what a test asks for)
    warnings.simplefilter('ignore')
    logging.getLogger('mail.log').setLevel(logging.CRITICAL)

    if args.auth:
        user, _, password = args.auth.partition(':')
        args.auth = (user, password)

    context = None
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)

    relay = Relay(args)

    def protocol():
        kw = {}
        if context and not args.smtps and not args.no_starttls:
            kw['tls_context'] = context
        if args.auth:
            kw['authenticator'] = relay.authenticate
            kw['auth_required'] = True
            kw['auth_require_tls'] = False
        return Session(relay, hostname='relay.test', ident='test relay',
                       **kw)

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(
        protocol, args.host, args.port,
        ssl=context if args.smtps else None))

    if args.dir:
        with open(os.path.join(args.dir, 'ready'), 'w') as f:
            f.write(str(os.getpid()))

    if args.print:
        print('smtp: catching mail on %s:%d' % (args.host, args.port),
              flush=True)

    try:
        loop.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


if __name__ == '__main__':
    sys.exit(main())
