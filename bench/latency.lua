-- wrk script: POST the benchmark trigger at a fixed rate.  Each connection
-- waits a random whole number of milliseconds, BENCH_LATENCY_MS on average
-- (wrk's timers count whole milliseconds), before each request, so that
-- the connections do not send in step.
-- Without BENCH_BODY it sends GET requests: the same rate against bare
-- nginx shows what the machine itself adds to the tail.
local body = os.getenv("BENCH_BODY")

if body and body ~= "" then
    local f = assert(io.open(body, "r"))
    wrk.method = "POST"
    wrk.body = f:read("*a")
    wrk.headers["Content-Type"] = "application/json"
    f:close()
end

local mean = tonumber(os.getenv("BENCH_LATENCY_MS")) or 10

function init(args)
    math.randomseed(os.time())
end

function delay()
    return math.random(1, 2 * mean - 1)
end
