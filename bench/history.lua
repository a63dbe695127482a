-- history.lua - wrk script of the history benchmark: every request is
-- GET /v1/conversations/{c}/messages?limit=N for a random conversation of
-- the generated data set (bench/history_data.sql names conversation i
-- 00000000-0000-4000-8000-<i in 12 hex digits>), with the reader's token.
-- Environment: HISTORY_TOKEN, HISTORY_CONVS, HISTORY_LIMIT.
-- done() prints one line "BENCH_JSON {...}" for bench/history.py.

local token = os.getenv("HISTORY_TOKEN") or ""
local convs = tonumber(os.getenv("HISTORY_CONVS") or "10000")
local limit = os.getenv("HISTORY_LIMIT") or "50"
local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Accept"] = "application/json",
}
local counter = 0

function setup(thread)
    counter = counter + 1
    thread:set("seed", counter)
end

function init(args)
    math.randomseed(os.time() * 1000 + (seed or 0))
end

function request()
    local i = math.random(1, convs)
    local path = string.format(
        "/v1/conversations/00000000-0000-4000-8000-%012x/messages?limit=%s", i, limit)
    return wrk.format("GET", path, headers)
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,'
        .. '"errors_connect":%d,"errors_read":%d,"errors_write":%d,'
        .. '"errors_status":%d,"errors_timeout":%d,'
        .. '"mean_us":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d}\n',
        summary.requests, summary.duration, summary.bytes,
        e.connect, e.read, e.write, e.status, e.timeout,
        latency.mean, latency:percentile(50), latency:percentile(90),
        latency:percentile(99), latency:percentile(99.9), latency.max))
end
