# The SMTP connector: e-mail campaigns sent to a relay through libcurl,
# as RFC 5322 messages the module builds, and the relay's replies as
# outcomes.  The relays are t/smtp-server.py (python3-aiosmtpd) on
# loopback, recording what they receive; recipients choose their answer
# ("invalid..." 550 5.1.1, "busy..." 451, "reject..." 554 after DATA...).
#
# 1. nginx -t: what an smtp connector block refuses.
# 2. a transactional message through STARTTLS (required) and AUTH LOGIN:
#    multipart/alternative, its headers, quoted-printable bodies.
# 3. a first name "Eve\r\nBcc: ..." gives one Subject line, no Bcc header,
#    and the relay gets only the one RCPT TO.
# 4. replies as outcomes: 550 5.1.1 invalid address (API and metrics),
#    550 5.7.1 failed, 451 retried, 554 after DATA failed at once.
# 5. a relay that is down, a slow one, STARTTLS required but not offered,
#    a certificate that does not verify, smtps://, AUTH PLAIN, a wrong
#    password.
# 6. marketing mail has the List-Unsubscribe headers.
# 7. an audience of 50 through SMTP: each received once, on fewer
#    sessions than messages.
# 8. a reload while a message is with the relay: sent, once.
# 9. the password is in no log.
#
# The relays are processes of their own, and the checks read what they
# recorded, so this suite drives nginx (two workers) itself.

use strict;
use warnings;

use FindBin;
use HTTP::Tiny;
use JSON::PP;
use MIME::QuotedPrint qw(decode_qp);
use Test::More;
use POSIX ();
use Time::HiRes qw(sleep time);

require "$FindBin::Bin/150-helpers.pl";
require "$FindBin::Bin/audience-helpers.pl";

our ($BASE, $PREFIX, $CAMPAIGNS, $API_PORT, @SERVERS);

my $port = $BASE + 60;
$API_PORT = $port;

my %relay = (tls => $BASE + 100, plain => $BASE + 101,
             down => $BASE + 102, smtps => $BASE + 103);

# Debian's python3-aiosmtpd is for Debian's python
my $python = '/usr/bin/python3';

ok system("$python -c 'import aiosmtpd' 2>/dev/null") == 0,
   'python3-aiosmtpd is installed (make test-deps)'
    or BAIL_OUT('no python3-aiosmtpd');

my $password = 'Pa55-w0rd-n0t-in-logs';
write_file('relay.secret', "mailer:$password\n");
write_file('wrong.secret', "mailer:not-$password\n");
write_file('unsubscribe.key', 'ab' x 32);

system("openssl req -x509 -newkey rsa:2048 -nodes -days 1"
       . " -keyout $PREFIX/key.pem -out $PREFIX/cert.pem"
       . " -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1"
       . " 2>/dev/null") == 0 or BAIL_OUT('openssl req');

$CAMPAIGNS = "$PREFIX/campaigns";
mkdir $CAMPAIGNS;
mkdir "$PREFIX/audiences";

my $content = <<'EOF';
    "content": {
        "from": "Acme Accounts <accounts@acme.example>",
        "replyTo": "support@acme.example",
        "subject": "{{profile.firstName}}, your link",
        "html": "<p>Hello {{profile.firstName}},</p>\n<p><a href=\"https://acme.example/r?t=1&amp;u=2\">Choose a new password</a></p>",
        "text": "Hello {{profile.firstName}},\n.\n.a line that starts with a dot\nCafé = coffee, a long line: 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\ntrailing space \nend"
    }
EOF

write_file('campaigns/mail.json', <<"EOF");
{"id": "mail", "name": "Password reset", "type": "transactional",
 "status": "live", "channel": "email", $content}
EOF

write_file('campaigns/promo.json', <<"EOF");
{"id": "promo", "name": "Spring sale", "type": "marketing",
 "status": "live", "channel": "email", $content}
EOF

# a relay: t/smtp-server.py recording into $PREFIX/relay-NAME/

sub start_relay {
    my ($name, @args) = @_;
    my $dir = "$PREFIX/relay-$name";
    mkdir $dir;

    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        open STDOUT, '>', "$dir/out.log";
        open STDERR, '>&', \*STDOUT;
        exec $python, "$FindBin::Bin/smtp-server.py", '--port', $relay{$name},
             '--dir', $dir, @args;
        exit 1;
    }

    push @SERVERS, $pid;

    return wait_for(sub { -e "$dir/ready" }, 100);
}

# what a relay received: its records, oldest first

sub received {
    my ($name) = @_;
    my @files = sort glob "$PREFIX/relay-$name/*.json";
    return map { decode_json(read_file(substr $_, length "$PREFIX/")) }
           @files;
}

sub lines_of {
    my ($name, $file) = @_;
    return split /\n/, read_file("relay-$name/$file");
}

my $requests = 0;

# a unitary trigger under /$path/; recipients are [userId, address, name]

sub send_mail {
    my ($path, $campaign, @recipients) = @_;
    my $body = encode_json({
        requestId => 'r' . ++$requests,
        campaignId => $campaign,
        recipients => [ map { {
            type => 'aep', userId => $_->[0], namespace => 'email',
            channelData => { emailAddress => $_->[1] },
            profile => { firstName => $_->[2] // 'Eve' },
        } } @recipients ],
    });
    my $res = call('POST', "/$path/executions/unitary", $body);
    my $json = eval { decode_json($res->{content}) } || {};
    return ($res->{status}, $json, $res->{content});
}

# a message's header section, unfolded, and its lines

sub headers {
    my ($data) = @_;
    my ($head) = split /\r\n\r\n/, $data, 2;
    $head =~ s/\r\n([ \t])/$1/g;
    $head =~ s/\r\n/\n/g;
    return $head;
}

sub header {
    my ($data, $name) = @_;
    my @v = headers($data) =~ /^\Q$name\E: ?(.*)$/mgi;
    return @v;
}

my $server = sub {
    my ($path, $connector, $extra) = @_;
    $extra //= '';
    return <<"EOF";
        location /$path/ {
            campaign_api;
            campaign_gateway email connector=$connector;
            $extra
        }
EOF
};

my $ca = "ca_file $PREFIX/cert.pem;";
my $auth = "auth_file $PREFIX/relay.secret;";

my $conf = <<"EOF";
    # the http{} log: at debug level, to look for credentials in it
    error_log logs/debug.log debug;

    campaign_zone campaign 1m;
    campaign_audiences $PREFIX/audiences;
    campaign_unsubscribe_key $PREFIX/unsubscribe.key;
    campaign_unsubscribe_url https://mail.acme.example/unsubscribe;

    campaign_connector relay smtp {
        url              smtp://127.0.0.1:$relay{tls};
        starttls         required;
        $auth
        auth             login;
        $ca
        from             bounces\@acme.example;
        timeout          5s;
        max_connections  2;
    }

    campaign_connector slow smtp {
        url      smtp://127.0.0.1:$relay{tls};
        $auth
        $ca
        timeout  500ms;
    }

    campaign_connector noca smtp {
        url       smtp://127.0.0.1:$relay{tls};
        starttls  required;
        $auth
    }

    campaign_connector nostarttls smtp {
        url       smtp://127.0.0.1:$relay{plain};
        starttls  required;
    }

    campaign_connector down smtp {
        url              smtp://127.0.0.1:$relay{down};
        connect_timeout  1s;
    }

    campaign_connector plainauth smtp {
        url       smtp://127.0.0.1:$relay{tls};
        starttls  required;
        $auth
        auth      plain;
        $ca
    }

    campaign_connector badauth smtp {
        url        smtp://127.0.0.1:$relay{tls};
        starttls   required;
        auth_file  $PREFIX/wrong.secret;
        $ca
    }

    campaign_connector smtps smtp {
        url   smtps://127.0.0.1:$relay{smtps};
        helo  mailer.acme.example;
        $ca
    }

    server {
        listen 127.0.0.1:$port;

        campaign_gateway_retries 2;
        campaign_gateway_retry_delay 10ms;

@{[ $server->('ajo/im', 'relay') ]}
@{[ $server->('slow', 'slow') ]}
@{[ $server->('noca', 'noca') ]}
@{[ $server->('nostarttls', 'nostarttls') ]}
@{[ $server->('down', 'down') ]}
@{[ $server->('smtps', 'smtps') ]}
@{[ $server->('plainauth', 'plainauth') ]}
@{[ $server->('badauth', 'badauth') ]}

        location = /metrics {
            campaign_metrics;
        }
    }
EOF

# 1. nginx -t

my $block = sub { "campaign_connector r smtp { $_[0] }" };

like nginx_t($block->('url http://127.0.0.1:1/;')),
     qr/\[emerg\] campaign_connector "r": the url of an smtp connector is smtp:/,
     'nginx -t: an smtp connector needs an smtp:// or smtps:// url';

like nginx_t($block->('url smtp://127.0.0.1:1; starttls maybe;')),
     qr/\[emerg\] invalid value "maybe" in "starttls"/,
     'nginx -t: starttls is required, optional or off';

like nginx_t($block->('url smtps://127.0.0.1:1; starttls required;')),
     qr/\[emerg\] .*"starttls" is for smtp:\/\/ URLs/,
     'nginx -t: starttls with smtps://';

like nginx_t($block->('url smtp://127.0.0.1:1; auth plain;')),
     qr/\[emerg\] .*"auth" needs "auth_file"/,
     'nginx -t: auth without auth_file';

write_file('nocolon.secret', "$password\n");
my $out = nginx_t($block->("url smtp://127.0.0.1:1;"
                           . " auth_file $PREFIX/nocolon.secret;"));
like $out, qr/\[emerg\] "auth_file" "[^"]*nocolon.secret" does not hold "user:password"/,
     'nginx -t: an auth_file that is not user:password';
unlike $out, qr/\Q$password\E/, '... and the file\'s content is not shown';

like nginx_t($block->('url smtp://127.0.0.1:1; from "a@b";')),
     qr/\[emerg\] invalid address "a\@b" in "from"/,
     'nginx -t: a bad envelope from';

like nginx_t($block->('url smtp://127.0.0.1:1; helo "a b";')),
     qr/\[emerg\] invalid host name "a b" in "helo"/,
     'nginx -t: a bad helo name';

# the relays

ok start_relay('tls', '--cert', "$PREFIX/cert.pem", '--key', "$PREFIX/key.pem",
               '--auth', "mailer:$password", '--slow', 2),
   'a relay with STARTTLS and AUTH';
ok start_relay('plain'), 'a relay without STARTTLS';
ok start_relay('smtps', '--smtps', '--cert', "$PREFIX/cert.pem",
               '--key', "$PREFIX/key.pem"),
   'a relay with TLS from the start';

# one worker: every connector's sessions to the TLS relay are in one
# libcurl, so that "noca" would find "relay"'s verified session if
# connectors shared their connections
ok start_nginx($conf, $port, 1), 'nginx starts with smtp connectors';

# 2. a transactional message

my ($status, $res) = send_mail('ajo/im', 'mail',
                               ['u1', 'eve@example.com', 'Eve']);
is $status, 202, 'a message through STARTTLS and AUTH: 202';
my $r = $res->{recipients}[0];
is $r->{status}, 'accepted', '... accepted';
is $r->{gatewayStatus}, 250, '... on the relay\'s 250';
is $r->{attempts}, 1, '... at the first attempt';

my @got = received('tls');
is scalar @got, 1, 'the relay got one message';
my $msg = $got[0];
ok $msg->{tls}, '... over TLS';
is $msg->{auth}, 'LOGIN', '... after AUTH LOGIN';
is $msg->{mail_from}, 'bounces@acme.example', '... MAIL FROM the envelope from';
is_deeply $msg->{rcpt_tos}, ['eve@example.com'], '... RCPT TO the recipient';

my $data = $msg->{data};

ok $data !~ /(?<!\r)\n/ && $data !~ /\r(?!\n)/, 'its lines end in CRLF';
ok !(grep { length > 998 } split /\r\n/, $data), 'no line over 998 bytes';

is_deeply [header($data, 'From')],
          ['Acme Accounts <accounts@acme.example>'], 'From';
is_deeply [header($data, 'To')], ['eve@example.com'], 'To';
is_deeply [header($data, 'Reply-To')], ['support@acme.example'], 'Reply-To';
is_deeply [header($data, 'Subject')], ['Eve, your link'], 'Subject';
like((header($data, 'Date'))[0],
     qr/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d \+0000$/,
     'Date');
(my $id = $r->{messageId}) =~ s/([^A-Za-z0-9_-])/sprintf("=%02X", ord $1)/ge;
is_deeply [header($data, 'Message-ID')], ["<$id\@acme.example>"],
          'Message-ID: the message id at the from address\'s domain';
is_deeply [header($data, 'MIME-Version')], ['1.0'], 'MIME-Version';
like((header($data, 'Content-Type'))[0],
     qr/^multipart\/alternative;\s+boundary="=_ngx_campaign_alternative"$/,
     'multipart/alternative');
is_deeply [header($data, 'List-Unsubscribe')], [],
          'no List-Unsubscribe for transactional mail';

my @parts = split /\r\n--=_ngx_campaign_alternative(?:--)?\r\n/,
                  "\r\n" . (split /\r\n\r\n/, $data, 2)[1];
shift @parts;
is scalar @parts, 2, 'two parts';

my ($text_head, $text) = split /\r\n\r\n/, $parts[0], 2;
my ($html_head, $html) = split /\r\n\r\n/, $parts[1], 2;

like $text_head, qr/^Content-Type: text\/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable$/,
     'a text/plain part in quoted-printable';
like $html_head, qr/^Content-Type: text\/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable$/,
     'a text/html part in quoted-printable';
ok !(grep { length > 76 } split /\r\n/, $text . $html),
   'no body line over 76';

is decode_qp($text),
   "Hello Eve,\n.\n.a line that starts with a dot\nCafé = coffee, a long"
   . " line: 0123456789012345678901234567890123456789012345678901234567890"
   . "123456789012345678901234567890123456789\ntrailing space \nend",
   'the text, decoded, is the rendered text (dots and all)';
is decode_qp($html),
   "<p>Hello Eve,</p>\n<p><a href=\"https://acme.example/r?t=1&amp;u=2\">"
   . "Choose a new password</a></p>",
   'the html, decoded, is the rendered html';

# 3. header injection

($status, $res) = send_mail('ajo/im', 'mail',
                            ['u2', 'eve2@example.com',
                             "Eve\r\nBcc: victim\@example.com"]);
is $res->{recipients}[0]{status}, 'accepted',
   'a first name with CRLF and a Bcc header: sent';

@got = received('tls');
$data = $got[-1]{data};
is_deeply [header($data, 'Subject')],
          ['Eve Bcc: victim@example.com, your link'],
          '... one Subject line, the CRLF a space';
is_deeply [header($data, 'Bcc')], [], '... no Bcc header';
is_deeply $got[-1]{rcpt_tos}, ['eve2@example.com'], '... one recipient';
ok !(grep { /victim/ } lines_of('tls', 'rcpt.log')),
   '... and no RCPT TO the victim';

# 4. replies as outcomes

($status, $res) = send_mail('ajo/im', 'mail',
                            ['ok', 'ok@example.com'],
                            ['nouser', 'invalid@example.com'],
                            ['policy', 'policy@example.com'],
                            ['reject', 'reject@example.com'],
                            ['busy', 'busy@example.com'],
                            ['flaky', 'flaky@example.com']);
is $status, 202, 'six recipients, some refused: 202';

my %by = map { $_->{userId} => $_ } @{ $res->{recipients} };

is $by{ok}{status}, 'accepted', 'a good address: accepted';

is $by{nouser}{status}, 'invalid_address', '550 5.1.1 on RCPT: invalid address';
like $by{nouser}{reason}, qr/^RCPT TO: 550 5\.1\.1 <invalid\@example\.com>: Recipient address rejected/,
     '... the reason is the relay\'s reply';
is $by{nouser}{attempts}, 1, '... not retried';

is $by{policy}{status}, 'failed', '550 5.7.1 on RCPT (a policy): failed';
like $by{policy}{reason}, qr/^RCPT TO: 550 5\.7\.1 /, '... with the reply';
is $by{policy}{attempts}, 1, '... not retried';

is $by{reject}{status}, 'failed', '554 at the end of DATA: failed';
like $by{reject}{reason}, qr/^end of DATA: 554 5\.7\.1 Message rejected: looks like spam/,
     '... with the reply';
is $by{reject}{attempts}, 1, '... not retried';

is $by{busy}{status}, 'failed', '451 every time: failed';
like $by{busy}{reason}, qr/^RCPT TO: 451 4\.3\.0 /, '... with the reply';
is $by{busy}{attempts}, 3, '... after 3 attempts (2 retries)';

is $by{flaky}{status}, 'accepted', '451 once, then 250: accepted';
is $by{flaky}{attempts}, 2, '... at the second attempt';

my $metrics = call('GET', '/metrics')->{content};
like $metrics,
     qr/ngx_campaign_messages_total\{campaign="mail",channel="email",outcome="invalid_address"\} 1\n/,
     'metrics: the invalid address';

# 5. relays that cannot take it

($status, $res, my $body) = send_mail('down', 'mail',
                                      ['u', 'eve@example.com']);
is $status, 502, 'a relay that is down: 502';
like $body, qr/"message":"the relay cannot be reached: [^"]*Failed to connect/,
     '... it cannot be reached';
like read_file('logs/debug.log'), qr/after 3 attempt\(s\)/,
     '... retried';

my $t0 = time;
($status, $res, $body) = send_mail('slow', 'mail',
                                   ['u', 'slow@example.com']);
is $status, 504, 'a relay slower than the timeout (500ms): 504';
like $body, qr/"message":"the relay did not answer in time: /,
     '... it did not answer in time';
ok time - $t0 < 5, '... three attempts of 500ms, not the relay\'s 2s each';

($status, $res, $body) = send_mail('nostarttls', 'mail',
                                   ['u', 'eve@example.com']);
is $status, 502, 'STARTTLS required, the relay does not offer it: 502';
like $body, qr/"message":"STARTTLS is required and failed: /,
     '... the reason says so';
is scalar(received('plain')), 0, '... nothing sent in clear';

# the same relay through "relay" (its ca_file verifies it) just before:
# its session, upgraded and verified, must not be what "noca" uses

($status, $res) = send_mail('ajo/im', 'mail', ['u', 'eve@example.com']);
is $res->{recipients}[0]{status}, 'accepted',
   'through "relay" to the TLS relay: accepted';
($status, $res, $body) = send_mail('noca', 'mail',
                                   ['u', 'eve@example.com']);
is $status, 502, 'a self-signed certificate and no ca_file: 502';
like $body, qr/"message":"TLS: the relay's certificate verification failed: /,
     '... the reason says verification';

($status, $res) = send_mail('smtps', 'mail', ['u', 'eve@example.com']);
is $res->{recipients}[0]{status}, 'accepted', 'smtps://: accepted';
@got = received('smtps');
ok @got == 1 && $got[0]{tls}, '... over TLS from the start';
is $got[0]{helo}, 'mailer.acme.example', '... after EHLO the helo name';

($status, $res) = send_mail('plainauth', 'mail', ['u', 'eve@example.com']);
is $res->{recipients}[0]{status}, 'accepted', 'auth plain: accepted';
is((received('tls'))[-1]{auth}, 'PLAIN', '... after AUTH PLAIN');

($status, $res, $body) = send_mail('badauth', 'mail',
                                   ['u', 'eve@example.com']);
is $status, 502, 'a wrong password: 502';
like $body, qr/"message":"AUTH: 535 5\.7\.8 Authentication credentials invalid"/,
     '... the relay\'s 535 is the reason';
like read_file('logs/debug.log'), qr/ 535 [^\n]*after 1 attempt\(s\)/,
     '... not retried';

# 6. marketing mail

($status, $res) = send_mail('ajo/im', 'promo', ['m1', 'mia@example.com']);
is $res->{recipients}[0]{status}, 'accepted', 'a marketing message: sent';
@got = received('tls');
$data = $got[-1]{data};
like((header($data, 'List-Unsubscribe'))[0],
     qr/^<https:\/\/mail\.acme\.example\/unsubscribe\?c=email&a=mia%40example\.com&e=\d+&s=[^>]+>$/,
     '... List-Unsubscribe: the signed link');
is_deeply [header($data, 'List-Unsubscribe-Post')],
          ['List-Unsubscribe=One-Click'], '... List-Unsubscribe-Post';

# 7. an audience through SMTP

audience('fifty', map { recipient("a$_") } 1 .. 50);

my $before = () = received('tls');
my $sessions = () = lines_of('tls', 'sessions.log');

$res = start('promo', 'fifty');
is $res->{status}, 202, 'an audience of 50 through SMTP: 202';
my $exec = execution_id($res);
$res = wait_status($exec, 'Succeeded');
like $res->{content}, qr/"sent":50,/, '... all 50 sent';

@got = received('tls');
splice @got, 0, $before;
my %rcpt;
$rcpt{$_}++ for map { @{ $_->{rcpt_tos} } } @got;
is_deeply [sort keys %rcpt], [sort map { "a$_\@example.com" } 1 .. 50],
          '... each recipient received';
ok !(grep { $_ != 1 } values %rcpt), '... once';

my $new = (() = lines_of('tls', 'sessions.log')) - $sessions;
ok $new < 10, "... on $new new SMTP sessions: connections are reused";

# 8. a reload while a message is with the relay (RCPT TO answered after
# 2s): the old worker finishes it, and it is sent once

my $child = fork // die "fork: $!";

if ($child == 0) {
    my ($s, $j) = send_mail('ajo/im', 'mail',
                            ['r1', 'slow-reload@example.com']);
    write_file('reload.answer', "$s " . ($j->{recipients}[0]{status} // ''));
    POSIX::_exit(0);
}

sleep 0.5;
kill 'HUP', master_pid();
waitpid $child, 0;

is read_file('reload.answer'), '202 accepted',
   'a reload while a message is in flight: accepted';
is scalar(grep { $_ eq 'slow-reload@example.com' }
           map { @{ $_->{rcpt_tos} } } received('tls')), 1,
   '... the relay has it once';
ok wait_for(sub { call('GET', '/ajo/im/health')->{status} == 200 }),
   '... and the new workers answer';

# 9. credentials

ok stop_nginx(), 'nginx stops';

unlike read_file('logs/error.log'), qr/\Q$password\E/,
       'the password is not in error.log';
my $debug = read_file('logs/debug.log');
ok length $debug > 100000 && $debug =~ /\[debug\]/,
   'a debug log was written';
unlike $debug, qr/\Q$password\E/, '... without the password';
unlike read_file('logs/test.log'), qr/\Q$password\E/,
       '... nor in nginx -t\'s';

done_testing();
