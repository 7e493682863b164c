-- Shared by token.lua and introspect.lua (loaded with dofile): counts every response that is not
-- 200, per wrk thread, and prints one machine-readable line at the end for bench/run. A benchmark
-- of error responses measures nothing, so bench/run reports these counts next to the rates.
local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   ok, bad, first_bad = 0, 0, ""
end

function response(status, headers, body)
   if status == 200 then
      ok = ok + 1
   else
      bad = bad + 1
      if first_bad == "" then
         first_bad = tostring(status) .. " " .. string.sub(tostring(body or ""), 1, 120)
      end
   end
end

function done(summary, latency, requests)
   local n_ok, n_bad, sample = 0, 0, ""
   for _, t in ipairs(threads) do
      n_ok = n_ok + t:get("ok")
      n_bad = n_bad + t:get("bad")
      local f = t:get("first_bad")
      if sample == "" and f ~= nil then sample = f end
   end
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d duration_us=%d ok=%d non200=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
      "socket_errors=%d first_bad=%s\n",
      summary.requests, summary.duration, n_ok, n_bad,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      e.connect + e.read + e.write + e.timeout,
      (sample:gsub("%s", "_"))))
end
