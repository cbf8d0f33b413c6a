-- wrk script for bench/intake.py: POST one slip per request to /api/v1/slips.
--
-- Environment:
--   BENCH_TOKEN        API key sent as "Authorization: Bearer <key>"
--   BENCH_UNIQUE_KEYS  "1": a unique Idempotency-Key per request (prefix-thread-counter)
--   BENCH_KEY_PREFIX   prefix of those keys, so separate runs never share a key
--
-- Every response status is counted per thread; done() prints one "bench-status CODE N"
-- line per status and "bench-replayed N" (responses with Idempotent-Replayed).

local token = os.getenv("BENCH_TOKEN") or ""
local unique = os.getenv("BENCH_UNIQUE_KEYS") == "1"
local prefix = os.getenv("BENCH_KEY_PREFIX") or "bench"

wrk.method = "POST"
wrk.path = "/api/v1/slips"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.body = '{"journey":"hypertension-adherence","behaviour":"take-dose",'
  .. '"failure_mode":"forgot","site":"bench"}'

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_id", #threads)
end

counts = {}
replayed = 0
local counter = 0

if unique then
  function request()
    counter = counter + 1
    wrk.headers["Idempotency-Key"] = prefix .. "-" .. thread_id .. "-" .. counter
    return wrk.format()
  end
end

function response(status, headers, body)
  local code = tostring(status)
  counts[code] = (counts[code] or 0) + 1
  if headers["idempotent-replayed"] or headers["Idempotent-Replayed"] then
    replayed = replayed + 1
  end
end

function done(summary, latency, requests)
  local total = {}
  local replays = 0
  for _, thread in ipairs(threads) do
    for code, n in pairs(thread:get("counts")) do
      total[code] = (total[code] or 0) + n
    end
    replays = replays + thread:get("replayed")
  end
  for code, n in pairs(total) do
    io.write(string.format("bench-status %s %d\n", code, n))
  end
  io.write(string.format("bench-replayed %d\n", replays))
end
