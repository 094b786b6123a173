-- wrk script: sends every line of a JSON Lines file once, as POST <path>, split between wrk's
-- threads; a thread that runs out of bodies stops (so a write is never replayed).
--   KAGAMI_BODIES=record-0.jsonl KAGAMI_THREADS=2 wrk -t2 -c32 -d15s -s bodies.lua http://…/api/v1/forwards/record
-- At the end it prints one line the harness reads: "kagami: sent=N non2xx=M exhausted=K".
local threads = {}
local count = 0

function setup(thread)
   thread:set("id", count)
   count = count + 1
   table.insert(threads, thread)
end

function init(args)
   local total = tonumber(os.getenv("KAGAMI_THREADS") or "1")
   bodies = {}
   local n = 0
   for line in io.lines(os.getenv("KAGAMI_BODIES")) do
      if n % total == id then
         table.insert(bodies, line)
      end
      n = n + 1
   end
   next_body = 1
   sent = 0
   non2xx = 0
   exhausted = 0
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   if os.getenv("KAGAMI_API_KEY") then
      wrk.headers["Authorization"] = "Bearer " .. os.getenv("KAGAMI_API_KEY")
   end
end

function request()
   if next_body > #bodies then
      exhausted = 1
      wrk.thread:stop()
      return wrk.format("GET", "/health")
   end
   local body = bodies[next_body]
   next_body = next_body + 1
   sent = sent + 1
   return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
      if non2xx <= 3 then
         io.stderr:write("kagami: " .. status .. " " .. body .. "\n")
      end
   end
end

function done(summary, latency, requests)
   local s, n, e = 0, 0, 0
   for _, thread in ipairs(threads) do
      s = s + thread:get("sent")
      n = n + thread:get("non2xx")
      e = e + thread:get("exhausted")
   end
   io.write(string.format("kagami: sent=%d non2xx=%d exhausted=%d\n", s, n, e))
end
