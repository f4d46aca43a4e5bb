-- wrk script: POST the benchmark trigger at a fixed rate.  Each connection
-- waits a random whole number of milliseconds, BENCH_LATENCY_MS on average
-- (wrk's timers count whole milliseconds), before each request, so that
-- the connections do not send in step.
local f = assert(io.open(os.getenv("BENCH_BODY"), "r"))
wrk.method = "POST"
wrk.body = f:read("*a")
wrk.headers["Content-Type"] = "application/json"
f:close()

local mean = tonumber(os.getenv("BENCH_LATENCY_MS")) or 10

function init(args)
    math.randomseed(os.time())
end

function delay()
    return math.random(1, 2 * mean - 1)
end
