-- wrk script for the bench's POST phases: each request is one line of a prepared file
-- ("<key>\t<json body>"; an empty key sends none), spread over wrk's threads so that no two
-- threads send the same line, each line sent once (then the file wraps around). Arguments:
--   <file> <threads> <keep|close> <path>
-- "close" adds Connection: close, so every request pays a new TCP connection, as clients that
-- reconnect each time do. done() prints one JSON line for the bench.

local counter = 0

function setup(thread)
  thread:set("thread_id", counter)
  counter = counter + 1
end

function init(args)
  local path, threads, mode, target = args[1], tonumber(args[2]), args[3], args[4]
  prepared = {}
  local n = 0
  for line in io.lines(path) do
    if n % threads == thread_id then
      local tab = line:find("\t", 1, true)
      local key, body = line:sub(1, tab - 1), line:sub(tab + 1)
      local headers = { ["Content-Type"] = "application/json" }
      if key ~= "" then headers["Authorization"] = "Api-Key " .. key end
      if mode == "close" then headers["Connection"] = "close" end
      prepared[#prepared + 1] = wrk.format("POST", target, headers, body)
    end
    n = n + 1
  end
  next_index = 0
end

function request()
  next_index = next_index + 1
  if next_index > #prepared then next_index = 1 end
  return prepared[next_index]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "errors": {"connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d}, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
