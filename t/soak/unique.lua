-- wrk script for t/soak/reload.py: POST executions/unitary triggers of one
-- recipient, each with a requestId of its own (RUN-thread-counter), and
-- write "status requestId messageId outcome" of every answer to
-- OUT.thread (the environment's SOAK_OUT).

local threads = {}
local n = 0

function setup(thread)
    n = n + 1
    thread:set("tid", n)
    table.insert(threads, thread)
end

function init(args)
    counter = 0
    run = os.getenv("SOAK_RUN") or "run"
    out = io.open((os.getenv("SOAK_OUT") or "/tmp/wrk") .. "." .. tid, "w")
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
end

function request()
    counter = counter + 1
    local rid = run .. "-" .. tid .. "-" .. counter
    local body = '{"requestId":"' .. rid .. '","campaignId":"order-sms",'
        .. '"context":{"orderId":"' .. rid .. '"},"recipients":[{"type":'
        .. '"aep","userId":"u0","namespace":"phone","channelData":'
        .. '{"mobilePhoneNumber":"+14155550100"},"profile":'
        .. '{"firstName":"W"}}]}'
    return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
    local rid = string.match(body, '"requestId":"([^"]*)"') or "-"
    local mid = string.match(body, '"messageId":"([^"]*)"') or "-"
    local st = string.match(body, '"status":"(%a+)"') or "-"
    out:write(status, " ", rid, " ", mid, " ", st, "\n")
    out:flush()
end
