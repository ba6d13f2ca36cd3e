-- wrk script for the benchmarks (benchmarks/_harness.py sets the environment):
--   WRK_BODY           JSON body to POST (empty: GET)
--   WRK_HEADERS        JSON object of headers (e.g. Authorization)
--   WRK_UNIQUE_HEADER  a header set to a value unique per request (Idempotency-Key)
--   WRK_RATE           target requests/s over all connections (0: as fast as possible)
-- and `done` prints one line "JSON {...}" with requests/s and latency percentiles in ms.

local body = os.getenv("WRK_BODY") or ""
local unique = os.getenv("WRK_UNIQUE_HEADER") or ""
local rate = tonumber(os.getenv("WRK_RATE") or "0")
local connections = tonumber(os.getenv("WRK_CONNECTIONS") or "1")
local raw_headers = os.getenv("WRK_HEADERS") or "{}"

-- the headers object is flat {"Name": "value"}; parse it without a JSON library
local headers = {}
for k, v in string.gmatch(raw_headers, '"([^"]+)"%s*:%s*"([^"]*)"') do headers[k] = v end
if body ~= "" then
  wrk.method = "POST"
  wrk.body = body
  headers["Content-Type"] = "application/json"
end

local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  prefix = string.format("%d-%d-%d", os.time(), id, math.random(1, 1000000000))
end

function request()
  counter = counter + 1
  if unique ~= "" then headers[unique] = prefix .. "-" .. counter end
  return wrk.format(nil, nil, headers, nil)
end

if rate > 0 then
  -- each connection sends one request every connections/rate seconds
  function delay()
    return math.floor(1000 * connections / rate)
  end
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local non2xx = summary.errors.status
  print(string.format(
    'JSON {"requests": %d, "rps": %.2f, "p50": %.3f, "p90": %.3f, "p99": %.3f, "max": %.3f, "non2xx": %d, "socket_errors": %d}',
    summary.requests, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    non2xx, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
