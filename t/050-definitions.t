# Campaign definitions are read and compiled with the configuration: any
# mistake stops nginx (and `nginx -t`) with the file, the field and, for
# JSON and templates, the line and column.

use Test::Nginx::Socket 'no_plan';

# Test::Nginx does not set it: a test file that uses it must
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("http_config", <<'_EOC_') unless defined $block->http_config;
    campaign_definitions $TEST_NGINX_HTML_DIR/campaigns;
_EOC_

    $block->set_value("config", <<'_EOC_') unless defined $block->config;
    location /ajo/im/ {
        campaign_api;
    }
_EOC_
});

run_tests();

__DATA__

=== TEST 1: a valid definition is loaded
--- user_files
>>> campaigns/hello.json
{
    "id": "hello",
    "name": "Hello",
    "type": "transactional",
    "status": "live",
    "channel": "sms",
    "content": { "body": "Hello {{profile.firstName}}" }
}
--- request
GET /ajo/im/health
--- response_body
{"status":"UP","campaigns":1}
--- no_error_log
[emerg]



=== TEST 2: a JSON syntax error names the file, line and column
--- user_files
>>> campaigns/broken.json
{
    "id": "broken",
    "name": ,
}
--- must_die
--- suppress_stderr
--- error_log eval
qr{\[emerg\] .*campaign ".*/campaigns/broken\.json", line 3, column 13: JSON syntax error}



=== TEST 3: a template error names the field, and the line and column in the template
--- user_files
>>> campaigns/tpl.json
{
    "id": "tpl",
    "name": "Template mistake",
    "type": "transactional",
    "status": "live",
    "channel": "email",
    "content": {
        "from": "a@acme.example",
        "subject": "Hello",
        "html": "<p>Hello</p>\n<p>{{#profile.vip}}VIP{{/profile.vp}}</p>"
    }
}
--- must_die
--- suppress_stderr
--- error_log eval
qr{\[emerg\] .*campaign ".*/tpl\.json", field "content\.html", line 2, column \d+: .*profile\.vip}



=== TEST 4: a wrong value names the field and what is allowed
--- user_files
>>> campaigns/fax.json
{
    "id": "fax",
    "name": "Fax",
    "type": "transactional",
    "status": "live",
    "channel": "fax",
    "content": { "body": "x" }
}
--- must_die
--- suppress_stderr
--- error_log eval
qr{\[emerg\] .*campaign ".*/fax\.json", field "channel": must be one of "email", "sms", "push", found "fax"}



=== TEST 5: an invalid validation pattern is a configuration error
--- user_files
>>> campaigns/regex.json
{
    "id": "regex",
    "name": "Regex",
    "type": "transactional",
    "status": "live",
    "channel": "sms",
    "context": { "code": { "type": "string", "pattern": "([a-z" } },
    "content": { "body": "{{context.code}}" }
}
--- must_die
--- suppress_stderr
--- error_log eval
qr{\[emerg\] .*campaign ".*/regex\.json", field "context\.code\.pattern": invalid regular expression}



=== TEST 6: every mistake in a file is reported, then their count
--- user_files
>>> campaigns/many.json
{
    "id": "many mistakes",
    "type": "weekly",
    "status": "live",
    "channel": "sms",
    "throttle": 5000,
    "colour": "blue",
    "content": { "body": "{{unclosed" }
}
--- must_die
--- suppress_stderr
--- error_log eval
[
qr{\[emerg\] .*field "id"},
qr{field "name": .*required},
qr{field "type"},
qr{field "throttle"},
qr{field "colour"},
qr{field "content\.body", line 1, column 1},
qr{\d+ mistake\(s\) in campaign definitions},
]



=== TEST 7: two files with the same id
--- user_files
>>> campaigns/a.json
{ "id": "same", "name": "A", "type": "transactional", "status": "live",
  "channel": "sms", "content": { "body": "a" } }
>>> campaigns/b.json
{ "id": "same", "name": "B", "type": "transactional", "status": "live",
  "channel": "sms", "content": { "body": "b" } }
--- must_die
--- suppress_stderr
--- error_log eval
qr{\[emerg\] .*(?:duplicate.*"same".*a\.json|a\.json.*duplicate.*same)}



=== TEST 8: a missing directory
--- http_config
    campaign_definitions $TEST_NGINX_HTML_DIR/no-such-dir;
--- must_die
--- suppress_stderr
--- error_log eval
qr{\[emerg\] .*no-such-dir.*No such file or directory}



=== TEST 9: campaign_gateway knows three channels
--- http_config
--- config
    campaign_gateway fax /_gw;
--- must_die
--- suppress_stderr
--- error_log
[emerg]
unknown channel "fax", it must be "email", "sms" or "push"



=== TEST 10: a gateway is a location URI
--- http_config
--- config
    campaign_gateway email http://provider.example/send;
--- must_die
--- suppress_stderr
--- error_log
[emerg]
must be a location URI starting with "/"



=== TEST 11: campaign_gateway_retries is bounded
--- http_config
--- config
    campaign_gateway_retries 50;
--- must_die
--- suppress_stderr
--- error_log
[emerg]
value must be between 0 and 10



=== TEST 12: campaign_definitions belongs to the http block
--- http_config
--- config
    campaign_definitions /tmp;
--- must_die
--- suppress_stderr
--- error_log
[emerg]
"campaign_definitions" directive is not allowed here
