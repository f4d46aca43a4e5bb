-- wrk script: POST the benchmark trigger with a new requestId each time,
-- so that with idempotency on every request runs (none is a replay)
local f = assert(io.open(os.getenv("BENCH_BODY"), "r"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

-- rounds are seconds apart: the time keeps their ids apart
math.randomseed(os.time())
local n = 0
local thread_id = os.time() .. "-" .. math.random(1, 1000000000)

function request()
    n = n + 1
    local b = body:gsub('"requestId":"[^"]*"',
                        '"requestId":"bench-' .. thread_id .. '-' .. n .. '"', 1)
    return wrk.format(nil, nil, nil, b)
end

-- with BENCH_PACE_MS, each connection waits a random time of that mean
-- before each request: the rate is then fixed by the connections, below
-- what nginx can do, so that both runs of a comparison get the same load
local pace = tonumber(os.getenv("BENCH_PACE_MS") or "")

if pace then
    function delay()
        return math.random(1, 2 * pace - 1)
    end
end
