# A problem's "instance" is the path as the client sent it, a URI
# reference: whatever bytes the request line carries, every byte outside
# the URI alphabet is percent-encoded, so that every problem is valid
# UTF-8 JSON.

use Test::Nginx::Socket 'no_plan';
use JSON::PP ();

no_shuffle();

# the answer must decode as UTF-8 JSON; the test compares its "instance"
our $Instance = sub {
    my $problem = eval { JSON::PP->new->utf8->decode($_[0]) };
    return $problem ? $problem->{instance} . "\n" : "not UTF-8 JSON: $_[0]";
};

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("config", <<'_EOC_') unless defined $block->config;
    location /ajo/im/ {
        campaign_api;
    }
_EOC_

    $block->set_value("http_config", <<'_EOC_') unless defined $block->http_config;
    campaign_definitions $TEST_NGINX_CAMPAIGNS;
_EOC_

    $block->set_value("no_error_log", "[alert]\n[crit]\nexited on signal\n")
        unless defined $block->no_error_log;

    $block->set_value("response_headers", "Content-Type: application/problem+json\n")
        unless defined $block->response_headers;

    $block->set_value("response_body_filters", $main::Instance)
        unless defined $block->response_body_filters;
});

run_tests();

__DATA__

=== TEST 1: a byte that is not UTF-8 is percent-encoded
--- raw_request eval
"GET /ajo/im/h\xffx HTTP/1.1\r
Host: localhost\r
Connection: close\r
\r
"
--- error_code: 404
--- response_body
/ajo/im/h%FFx



=== TEST 2: the raw answer carries no byte above 0x7f
--- raw_request eval
"GET /ajo/im/\xc3\x28\xe2\x82\xac HTTP/1.1\r
Host: localhost\r
Connection: close\r
\r
"
--- error_code: 404
--- response_body_filters
--- response_body_like: ^[\x20-\x7e]+\n\z
--- response_body_unlike: [\x80-\xff]



=== TEST 3: valid UTF-8 is percent-encoded too, as a URI has it
--- raw_request eval
"GET /ajo/im/caf\xc3\xa9 HTTP/1.1\r
Host: localhost\r
Connection: close\r
\r
"
--- error_code: 404
--- response_body
/ajo/im/caf%C3%A9



=== TEST 4: what was already encoded stays as the client sent it
--- request
GET /ajo/im/a%20b%0A%22c%FF
--- error_code: 404
--- response_body
/ajo/im/a%20b%0A%22c%FF



=== TEST 5: quotes, backslashes and other characters outside the URI alphabet
--- raw_request eval
"GET /ajo/im/a\"b\\c{d}|e^f`g<h> HTTP/1.1\r
Host: localhost\r
Connection: close\r
\r
"
--- error_code: 404
--- response_body
/ajo/im/a%22b%5Cc%7Bd%7D%7Ce%5Ef%60g%3Ch%3E



=== TEST 6: reserved characters are kept, the arguments left out
--- request
GET /ajo/im/a:b@c!$&'()*+,;=~_.-/x?y=\xff
--- error_code: 404
--- response_body
/ajo/im/a:b@c!$&'()*+,;=~_.-/x



=== TEST 7: a method that is not allowed, with a path that is not UTF-8
--- raw_request eval
"DELETE /ajo/im/health\xfe HTTP/1.1\r
Host: localhost\r
Connection: close\r
\r
"
--- error_code: 404
--- response_body
/ajo/im/health%FE



=== TEST 8: a preview of a campaign whose id is not UTF-8
--- raw_request eval
"POST /ajo/im/campaigns/w\x80\xc0/preview HTTP/1.1\r
Host: localhost\r
Connection: close\r
Content-Type: application/json\r
Content-Length: 2\r
\r
{}"
--- error_code: 404
--- response_body
/ajo/im/campaigns/w%80%C0/preview
