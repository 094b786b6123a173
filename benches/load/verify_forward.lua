-- wrk script: POSTs one JSON body over and over (a read: verify-forward).
--   KAGAMI_BODY=verify_forward.json wrk -t2 -c32 -d15s -s verify_forward.lua \
--       http://127.0.0.1:8000/api/v1/agents/manifests/verify-forward
-- wrk counts answers other than 2xx/3xx ("Non-2xx or 3xx responses"); the harness fails on any.
local f = assert(io.open(os.getenv("KAGAMI_BODY"), "r"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
