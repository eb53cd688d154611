-- wrk script: GET /api/recommend/{user}?n=10 for random users u0..u<users>
-- (most of them known after the feedback phase). Paths are built once.
local users = tonumber(os.getenv("WRK_USERS") or "100000")
local paths = {}
local next_path = 1

function init(args)
  math.randomseed(tonumber(os.getenv("WRK_SEED") or "7"))
  for k = 1, 4096 do
    paths[k] = string.format("/api/recommend/u%d?n=10", math.random(0, users - 1))
  end
end

function request()
  local p = paths[next_path]
  next_path = next_path % #paths + 1
  return wrk.format("GET", p)
end

function done(summary, latency, requests)
  io.write(string.format("BENCH recommend requests=%d errors_status=%d duration_s=%.2f "
                         .. "requests_per_s=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
                         summary.requests, summary.errors.status, summary.duration / 1e6,
                         summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
                         latency:percentile(90) / 1000, latency:percentile(99) / 1000,
                         latency.max / 1000))
end
