-- wrk script: POST /api/feedback with batches of `batch` random events
-- (users u0..u<users>, items drawn with a Zipf-like skew). Bodies are built
-- once in init() and cycled, so wrk spends its time sending, not in Lua.
-- Optional: WRK_DELAY_MS paces each connection (for a steady background rate);
-- WRK_BODIES (default 512) sets how many distinct bodies are cycled.
local batch = tonumber(os.getenv("WRK_BATCH") or "100")
local users = tonumber(os.getenv("WRK_USERS") or "100000")
local items = tonumber(os.getenv("WRK_ITEMS") or "20000")
local nbodies = tonumber(os.getenv("WRK_BODIES") or "512")
local pause = tonumber(os.getenv("WRK_DELAY_MS") or "0")
local types = {"view", "view", "view", "click", "like", "purchase"}
local bodies = {}
local next_body = 1

function init(args)
  math.randomseed(tonumber(os.getenv("WRK_SEED") or "42") + (wrk.thread and 0 or 0))
  for b = 1, nbodies do
    local parts = {}
    for k = 1, batch do
      local u = math.random(0, users - 1)
      -- skewed items: small ids far more often
      local i = math.floor(items * (math.random() ^ 3))
      parts[k] = string.format('{"FeedbackType":"%s","UserId":"u%d","ItemId":"i%d"}',
                               types[math.random(#types)], u, i)
    end
    bodies[b] = "[" .. table.concat(parts, ",") .. "]"
  end
end

function request()
  local body = bodies[next_body]
  next_body = next_body % #bodies + 1
  return wrk.format("POST", "/api/feedback", {["Content-Type"] = "application/json"}, body)
end

function delay()
  return pause
end

local non200 = 0
function response(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
end

function done(summary, latency, requests)
  io.write(string.format("BENCH feedback requests=%d events=%d errors_status=%d duration_s=%.2f "
                         .. "events_per_s=%.0f p50_ms=%.3f p99_ms=%.3f\n",
                         summary.requests, summary.requests * batch, summary.errors.status,
                         summary.duration / 1e6, summary.requests * batch / (summary.duration / 1e6),
                         latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
