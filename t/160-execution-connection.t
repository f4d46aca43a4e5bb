# The execution's own connection (fd -1) meets nginx code that expects a
# client socket: unbuffered proxying (TCP_NODELAY), $server_port on a
# wildcard listen (getsockname), limit_req with a delay (which would wait
# on the connection's events).  Each block is a gateway location
# configured as nginx users configure locations; each must deliver its
# message once, answer 202 and log no alert.

use Test::Nginx::Socket 'no_plan';

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("http_config", <<'_EOC_') unless defined $block->http_config;
    campaign_definitions $TEST_NGINX_CAMPAIGNS;
    limit_req_zone $server_name zone=gw:1m rate=1r/s;
_EOC_

    $block->set_value("more_headers", "Content-Type: application/json\n")
        unless defined $block->more_headers;

    $block->set_value("no_error_log", "[alert]\n[crit]\n[emerg]\n")
        unless defined $block->no_error_log;
});

run_tests();

__DATA__

=== TEST 1: a gateway that answers "X-Accel-Buffering: no" is not a 502
Unbuffered proxying calls ngx_tcp_nodelay() on the execution's connection:
setsockopt(-1) fails with EBADF, an [alert] is logged, the attempt ends
with NGX_ERROR and is retried although the gateway accepted it.
--- config
    campaign_gateway sms /_gw;

    location /ajo/im/ {
        campaign_api;
    }

    location = /_gw {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_upstream;
    }

    location = /_upstream {
        add_header X-Accel-Buffering no always;
        return 202 '{}';
    }
--- request
POST /ajo/im/executions/unitary
{"requestId":"nobuf","campaignId":"order-sms","context":{"orderId":"A-1"},"recipients":[{"type":"external","userId":"+14155550100","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"},"profile":{"firstName":"Grace"}}]}
--- error_code: 202
--- response_body_like: "status":"accepted","gatewayStatus":202,"attempts":1\}



=== TEST 2: $server_port in a gateway location, nginx listening on a wildcard address
The execution's connection copies the client's local address, which is
0.0.0.0 until someone asks; $server_port then calls getsockname(-1):
[alert] "getsockname() failed (9: Bad file descriptor)" and the header
is not sent.
--- config
    campaign_gateway sms /_gw;

    location /ajo/im/ {
        campaign_api;
    }

    location = /_gw {
        internal;
        proxy_set_header X-Port $server_port;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_upstream;
    }

    location = /_upstream {
        if ($http_x_port = "") {
            return 400;
        }

        return 202 '{}';
    }
--- request
POST /ajo/im/executions/unitary
{"requestId":"port","campaignId":"order-sms","context":{"orderId":"A-1"},"recipients":[{"type":"external","userId":"+14155550100","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"},"profile":{"firstName":"Grace"}}]}
--- error_code: 202
--- response_body_like: "status":"accepted","gatewayStatus":202,"attempts":1\}



=== TEST 3: limit_req that delays an attempt delays it, it does not lose it
limit_req parks a delayed request on r->connection->write with a timer;
the execution's connection has an empty handler there, so the attempt
never resumes: the second execution times out (504) instead of waiting
about one second, and lingers forever with its subrequest.
--- config
    campaign_gateway sms /_gw;
    campaign_execution_timeout 2500ms;

    location /ajo/im/ {
        campaign_api;
    }

    location = /_gw {
        internal;
        limit_req zone=gw burst=5;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_upstream;
    }

    location = /_upstream {
        return 202 '{}';
    }
--- request eval
[
'POST /ajo/im/executions/unitary
{"requestId":"lim-1","campaignId":"order-sms","context":{"orderId":"A-1"},"recipients":[{"type":"external","userId":"+14155550100","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"},"profile":{"firstName":"Grace"}}]}',
'POST /ajo/im/executions/unitary
{"requestId":"lim-2","campaignId":"order-sms","context":{"orderId":"A-2"},"recipients":[{"type":"external","userId":"+14155550100","namespace":"phone","channelData":{"mobilePhoneNumber":"+14155550100"},"profile":{"firstName":"Grace"}}]}'
]
--- error_code eval
[202, 202]
--- response_body_like eval
[
qr/"status":"accepted","gatewayStatus":202,"attempts":1\}/,
qr/"status":"accepted","gatewayStatus":202,"attempts":1\}/
]
--- timeout: 6
