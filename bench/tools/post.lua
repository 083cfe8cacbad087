-- wrk script: POST one fixed body, count non-2xx answers and socket errors.
-- Environment: BODY=path of the request body; HLEN=Inference-Header-Content-Length
-- (binary tensor extension; unset/empty for a JSON body).
-- done() prints one machine-readable line:
--   RESULT requests=N duration_s=S rps=R p50_ms=.. p75_ms=.. p90_ms=.. p99_ms=.. max_ms=.. non2xx=N errors=N
local threads = {}

local function slurp(path)
  local f = assert(io.open(path, "rb"), "cannot open BODY " .. tostring(path))
  local s = f:read("*a")
  f:close()
  return s
end

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
  local hlen = os.getenv("HLEN")
  wrk.method = "POST"
  wrk.body = slurp(os.getenv("BODY"))
  if hlen ~= nil and hlen ~= "" then
    wrk.headers["Content-Type"] = "application/octet-stream"
    wrk.headers["Inference-Header-Content-Length"] = hlen
  else
    wrk.headers["Content-Type"] = "application/json"
  end
  req = wrk.format()
end

function request()
  return req
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do
    bad = bad + (t:get("non2xx") or 0)
  end
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.timeout + e.status
  local dur = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d duration_s=%.3f rps=%.2f p50_ms=%.3f p75_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d errors=%d connect=%d read=%d write=%d timeout=%d status=%d\n",
    summary.requests, dur, summary.requests / dur,
    latency:percentile(50) / 1000, latency:percentile(75) / 1000,
    latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    bad, errors, e.connect, e.read, e.write, e.timeout, e.status))
end
