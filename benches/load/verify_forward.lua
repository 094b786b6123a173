-- wrk script: replays the verify-forward body written by setup_verify_forward.py.
-- wrk itself reports any non-2xx answers ("Non-2xx or 3xx responses").
local dir = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
local f = assert(io.open(dir .. "verify_forward.json", "r"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
