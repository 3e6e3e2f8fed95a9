-- wrk script for `make bench`: counts every non-2xx answer, by status, and prints one JSON line.
-- Arguments after `--`, in any order: "post" makes every request POST /api/items with a JSON
-- body; "close" sends `Connection: close`, so that every request opens a new connection.
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
  statuses = {}
  -- The app serves the stack's host names only (TRUSTED_HOSTS), also when called directly.
  wrk.headers["Host"] = "localhost"
  for _, arg in ipairs(args) do
    if arg == "post" then
      wrk.method = "POST"
      wrk.headers["Content-Type"] = "application/json"
      wrk.body = '{"name": "bench item", "description": "written by make bench"}'
    elseif arg == "close" then
      wrk.headers["Connection"] = "close"
    else
      error("bench.lua: unknown argument " .. arg)
    end
  end
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local non, by_status = 0, {}
  for _, thread in ipairs(threads) do
    non = non + (thread:get("non2xx") or 0)
    for status, n in pairs(thread:get("statuses") or {}) do
      by_status[status] = (by_status[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(by_status) do
    table.insert(parts, string.format('"%d": %d', status, n))
  end
  table.sort(parts)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d, "status_ge_400": %d, "non_2xx": %d}, ' ..
    '"statuses": {%s}, ' ..
    '"latency_us": {"mean": %.1f, "stdev": %.1f, "max": %d, "p50": %d, "p90": %d, "p99": %d, "p99_9": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.timeout, e.status, non, table.concat(parts, ", "),
    latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
