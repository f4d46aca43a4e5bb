#!/usr/bin/perl

# ngx-campaign, the command-line tool: lint, render and preview, the exact
# lines and bytes they print, and their exit status.  A plain Test::More
# script: it runs the binary (NGX_CAMPAIGN_CLI, default build/ngx-campaign)
# from the top of the tree, no nginx needed.

use strict;
use warnings;

use File::Temp qw(tempdir);
use Test::More;

my $cli = $ENV{NGX_CAMPAIGN_CLI} || 'build/ngx-campaign';

-x $cli or BAIL_OUT("$cli is not built: run make cli");

my $tmp = tempdir(CLEANUP => 1);

sub write_file {
    my ($name, $text) = @_;
    open(my $fh, '>', "$tmp/$name") or die "$tmp/$name: $!";
    print $fh $text;
    close($fh) or die "$tmp/$name: $!";
    return "$tmp/$name";
}

sub slurp {
    my ($path) = @_;
    open(my $fh, '<', $path) or die "$path: $!";
    local $/;
    my $text = <$fh>;
    return $text;
}

# (exit status, stdout, stderr) of the tool run with these arguments

sub run {
    my @args = @_;

    my $pid = fork() // die "fork: $!";

    if ($pid == 0) {
        open(STDOUT, '>', "$tmp/.stdout") or die $!;
        open(STDERR, '>', "$tmp/.stderr") or die $!;
        exec($cli, @args) or die "exec $cli: $!";
    }

    waitpid($pid, 0);

    return ($? >> 8, slurp("$tmp/.stdout"), slurp("$tmp/.stderr"));
}


# --help, --version, usage errors

my ($rc, $out, $err) = run('--help');
is($rc, 0, '--help: exit 0');
like($out, qr/^usage: ngx-campaign lint DIR/, '--help: usage on stdout');

($rc, $out, $err) = run('--version');
is($rc, 0, '--version: exit 0');
like($out, qr/^ngx-campaign \d+\.\d+\.\d+\n\z/, '--version: one line');

($rc, $out, $err) = run();
is($rc, 2, 'no command: exit 2');
is($out, '', 'no command: nothing on stdout');

($rc, $out, $err) = run('frobnicate');
is($rc, 2, 'unknown command: exit 2');
like($err, qr/^ngx-campaign: unknown command "frobnicate"\n/,
     'unknown command: said on stderr');

($rc, $out, $err) = run('lint');
is($rc, 2, 'lint without a directory: exit 2');

($rc, $out, $err) = run('lint', 'conf/campaigns', '--fragments');
is($rc, 2, 'an option without its value: exit 2');
like($err, qr/^ngx-campaign: --fragments needs a value\n/,
     'an option without its value: said on stderr');

($rc, $out, $err) = run('render', 'a', 'b', '--partial', 'nofile');
is($rc, 2, '--partial without NAME=FILE: exit 2');


# lint: the demo campaigns are clean

($rc, $out, $err) = run('lint', 'conf/campaigns');
is($rc, 0, 'lint conf/campaigns: exit 0');
is($out, '', 'lint conf/campaigns: nothing on stdout');
like($err, qr/^ngx-campaign: \d+ campaigns in conf\/campaigns, no problems\n\z/,
     'lint conf/campaigns: a one-line summary on stderr');


# lint: every mistake of every file, one line each, in file order

mkdir("$tmp/campaigns") or die $!;
mkdir("$tmp/fragments") or die $!;

write_file('campaigns/a-syntax.json', <<'EOF');
{
  "id": "a",
  "name": "A",
}
EOF

write_file('campaigns/b-keys.json', <<'EOF');
{"id": "b", "name": "B", "type": "marketing", "status": "live",
 "channel": "email", "throttle": 5000,
 "content": {"from": "f", "subjet": "s", "text": "t"}}
EOF

write_file('campaigns/c-template.json', <<'EOF');
{"id": "c", "name": "C", "type": "marketing", "status": "live",
 "channel": "sms", "content": {"body": "Hi\n  {{/name}}"}}
EOF

write_file('campaigns/d-languages.json', <<'EOF');
{"id": "d", "name": "D", "type": "marketing", "status": "live",
 "channel": "sms", "content": {"body": "Hello"},
 "languages": {"fr": {"body": "Bonjour {{> sig}}", "from": "X"},
               "english": {}}}
EOF

write_file('campaigns/e-good.json', <<'EOF');
{"id": "e", "name": "E", "type": "marketing", "status": "live",
 "channel": "sms", "content": {"body": "{{> footer}}"}}
EOF

write_file('campaigns/f-fragment.json', <<'EOF');
{"id": "f", "name": "F", "type": "marketing", "status": "live",
 "channel": "sms", "fragments": {"greeting": "Hi {{name"},
 "content": {"body": "{{> greeting}}"}}
EOF

write_file('campaigns/notes.txt', 'not a campaign');
write_file('fragments/footer.mustache', "-- ACME\n");
write_file('fragments/sig.mustache', "{{#x}}\n");

($rc, $out, $err) = run('lint', "$tmp/campaigns", '--fragments',
                        "$tmp/fragments");

is($rc, 1, 'lint a broken directory: exit 1');
is($out, <<"EOF", 'lint a broken directory: file positions, in templates too');
$tmp/fragments/sig.mustache:1:1: unclosed section "x"
$tmp/campaigns/a-syntax.json:4:1: JSON syntax error: trailing comma before "}"
$tmp/campaigns/b-keys.json:2:34: throttle: must be an integer from 1 to 2000 (messages per second), found 5000
$tmp/campaigns/b-keys.json:3:37: content.subjet: unknown key for channel "email" (allowed: from, replyTo, subject, html, text)
$tmp/campaigns/b-keys.json: content.subject: required field is missing (channel "email")
$tmp/campaigns/c-template.json:2:47: content.body: close tag "name" without an open section
$tmp/campaigns/d-languages.json:3:60: languages.fr.from: is not in "content": a language can only change the fields of the default content
$tmp/campaigns/d-languages.json:4:27: languages.english: must be a language tag such as "fr" or "pt-BR" ([A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*), found "english"
$tmp/campaigns/f-fragment.json:2:50: fragments.greeting: unclosed tag: no "}}" after "{{"
EOF
is($err, "ngx-campaign: 9 problems in $tmp/campaigns\n",
   'lint a broken directory: the count on stderr');

# without the shared fragments, e-good.json's footer is unknown

($rc, $out, $err) = run('lint', "$tmp/campaigns");
is($rc, 1, 'lint without --fragments: exit 1');
like($out, qr/^\Q$tmp\E\/campaigns\/e-good\.json:2:41: content\.body: .*footer/m,
     'lint without --fragments: the unknown fragment reported');

($rc, $out, $err) = run('lint', "$tmp/nowhere");
is($rc, 1, 'lint a missing directory: exit 1');
is($out, "$tmp/nowhere: opendir() failed: No such file or directory\n",
   'lint a missing directory: the reason');


# render: Mustache's HTML escaping by default, partials from files

my $tpl = write_file('hello.mustache',
                     "Hello {{name}}!\n{{#items}}- {{.}}\n{{/items}}"
                     . "{{> footer}}");
my $data = write_file('hello.json',
                      '{"name": "Tom & <Jerry>", "items": ["a<b", "c"],'
                      . ' "team": "R&D"}');
my $footer = write_file('footer.mustache', "-- {{team}} / {{{team}}}\n");

($rc, $out, $err) = run('render', $tpl, $data, '--partial',
                        "footer=$footer");
is($rc, 0, 'render: exit 0');
is($out, "Hello Tom &amp; &lt;Jerry&gt;!\n- a&lt;b\n- c\n-- R&amp;D / R&D\n",
   'render: HTML-escaped, partial included');
is($err, '', 'render: nothing on stderr');

($rc, $out, $err) = run('render', '--text', $tpl, $data,
                        "--partial=footer=$footer");
is($rc, 0, 'render --text: exit 0');
is($out, "Hello Tom & <Jerry>!\n- a<b\n- c\n-- R&D / R&D\n",
   'render --text: nothing escaped');

# a template error, in the template or in a partial, at its line and column

my $bad = write_file('bad.mustache', "Hi\n{{#open}}\n");

($rc, $out, $err) = run('render', $bad, $data);
is($rc, 1, 'render a broken template: exit 1');
is($out, '', 'render a broken template: nothing on stdout');
is($err, "$bad:2:1: unclosed section \"open\"\n",
   'render a broken template: file:line:col: message');

($rc, $out, $err) = run('render', $tpl, $data, '--partial', "footer=$bad");
is($rc, 1, 'render with a broken partial: exit 1');
is($err, "$bad:2:1: unclosed section \"open\"\n",
   'render with a broken partial: reported in the partial, once');

my $broken_json = write_file('broken.json', "{\n  \"name\": \"x\",\n}\n");

($rc, $out, $err) = run('render', $tpl, $broken_json, '--partial',
                        "footer=$footer");
is($rc, 1, 'render with broken data: exit 1');
is($err, "$broken_json:3:1: JSON syntax error: trailing comma before \"}\"\n",
   'render with broken data: file:line:col: message');

($rc, $out, $err) = run('render', "$tmp/missing.mustache", $data);
is($rc, 1, 'render a missing file: exit 1');
is($err, "$tmp/missing.mustache: open() failed: No such file or directory\n",
   'render a missing file: the reason');


# preview: the preview endpoint's answer for password-reset

my $profile = write_file('profile.json', <<'EOF');
{"person": {"name": {"firstName": "Zoë \"Z\" <Admin>"}},
 "preferredLanguage": "en-GB"}
EOF
my $context = write_file('context.json', <<'EOF');
{"resetLink": "https://acme.example/reset?t=1&u=2", "expiresInMinutes": 30}
EOF

($rc, $out, $err) = run('preview', 'conf/campaigns', 'password-reset',
                        '--profile', $profile, '--context', $context);
is($rc, 0, 'preview: exit 0');
is($err, '', 'preview: nothing on stderr');
is($out, '{"campaignId":"password-reset","channel":"email",'
    . '"language":"en","content":{'
    . '"from":"Acme Accounts <accounts@acme.example>",'
    . '"replyTo":"support@acme.example",'
    . '"subject":"Zoë \"Z\" <Admin>, here is your password reset link",'
    . '"html":"<p>Hello Zoë &quot;Z&quot; &lt;Admin&gt;,</p>\n'
    . '<p>Someone asked to reset the password of your Acme account.\n'
    . '<a href=\"https://acme.example/reset?t=1&amp;u=2\">'
    . 'Choose a new password</a> within 30 minutes.</p>\n'
    . '<p>If it was not you, ignore this message.</p>",'
    . '"text":"Hello Zoë \"Z\" <Admin>,\n\n'
    . 'Choose a new password: https://acme.example/reset?t=1&u=2\n\n'
    . 'If it was not you, ignore this message."}}' . "\n",
    'preview: the exact JSON, newline-terminated');

# the profile prefers Canadian French: the campaign's "fr", whose from and
# replyTo are the default content's

my $profile_fr = write_file('profile-fr.json',
    '{"person": {"name": {"firstName": "Zoé"}},'
    . ' "preferredLanguage": "fr-CA"}');
my $context_fr = write_file('context-fr.json',
                            '{"resetLink": "https://acme.example/r"}');

($rc, $out, $err) = run('preview', 'conf/campaigns', 'password-reset',
                        '--profile', $profile_fr, '--context', $context_fr);
is($rc, 0, 'preview in French: exit 0');
is($out, q|{"campaignId":"password-reset","channel":"email",|
    . q|"language":"fr","content":{|
    . q|"from":"Acme Accounts <accounts@acme.example>",|
    . q|"replyTo":"support@acme.example",|
    . q|"subject":"Zoé, voici votre lien de réinitialisation",|
    . q|"html":"<p>Bonjour Zoé,</p>\n|
    . q|<p>Quelqu'un a demandé à réinitialiser le mot de passe de votre |
    . q|compte Acme.\n|
    . q|<a href=\"https://acme.example/r\">|
    . q|Choisir un nouveau mot de passe</a>.</p>\n|
    . q|<p>Si ce n'était pas vous, ignorez ce message.</p>",|
    . q|"text":"Bonjour Zoé,\n\n|
    . q|Choisissez un nouveau mot de passe : https://acme.example/r\n\n|
    . q|Si ce n'était pas vous, ignorez ce message."}}| . "\n",
    'preview in French: the language chosen, fallbacks filled in');

($rc, $out, $err) = run('preview', 'conf/campaigns', 'no-such-campaign');
is($rc, 1, 'preview an unknown campaign: exit 1');
is($err, "ngx-campaign: no campaign \"no-such-campaign\" in conf/campaigns\n",
   'preview an unknown campaign: said on stderr');

($rc, $out, $err) = run('preview', 'conf/campaigns', 'password-reset',
                        '--profile', $data, '--context', $broken_json);
is($rc, 1, 'preview with a broken context: exit 1');
is($err, "$broken_json:3:1: JSON syntax error: trailing comma before \"}\"\n",
   'preview with a broken context: file:line:col: message');


# key: a new API key on stdout, its keys file line on stderr

use Digest::SHA qw(sha256_hex);

($rc, $out, $err) = run('key', 'shop', 'trigger=order-*,password-reset',
                        'preview');
is($rc, 0, 'key: exit 0');
like($out, qr/^ncm_[A-Za-z0-9_-]{43}\n\z/,
     'key: "ncm_" and 32 bytes in base64url on stdout, alone');
my ($key) = $out =~ /^(\S+)/;
like($err, qr/^shop  sha256:[0-9a-f]{64}  trigger=order-\*,password-reset  preview\n\z/,
     'key: the keys file line on stderr: name, hash, scopes');
my ($hash) = $err =~ /sha256:([0-9a-f]{64})/;
is($hash, sha256_hex($key // ''), 'key: the hash is the SHA-256 of the key');
unlike($err, qr/\Q$key\E/, 'key: the key is not in the keys file line');

my ($rc2, $out2) = run('key', 'shop', 'read');
isnt($out2, $out, 'key: a new key each time');

($rc, $out, $err) = run('key', 'shop');
is($rc, 2, 'key without a scope: usage error');
is($out, '', 'key without a scope: no key printed');

($rc, $out, $err) = run('key', 'a shop', 'read');
is($rc, 2, 'key with a bad name: usage error');
like($err, qr/^ngx-campaign: key: invalid name "a shop"/,
     'key with a bad name: said on stderr');

for my $scope ('send', 'trigger=', 'trigger=a,,b', 'read=x y') {
    ($rc, $out, $err) = run('key', 'shop', $scope);
    is($rc, 2, "key with scope \"$scope\": usage error");
    like($err, qr/^ngx-campaign: key: invalid scope "\Q$scope\E"/,
         "key with scope \"$scope\": said on stderr");
}

($rc, $out, $err) = run('key', 'shop', 'read', 'read');
is($rc, 2, 'key with a scope twice: usage error');

done_testing();
