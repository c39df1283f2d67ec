-- wrk script of the bench scripts (from ../shared/bench/wrk-post.lua, which counted answers
-- outside 2xx in a counter nothing ever read, so a page bounced to /login counted as fast
-- and error-free).
--
-- GET with the headers given by -H, or, when $WRK_BODY_FILE is set, POST that file as JSON.
-- Every answer outside 2xx is counted ("non2xx"), and among them the 3xx whose Location is
-- the sign-in form ("login_redirects": a signed-in page that lost its session). The counters
-- are globals of each thread's own Lua state; done() runs in yet another state, so it sums
-- them through thread:get() over the threads that setup() saw.
--
-- At the end prints one machine-readable line:
--   WRKJSON {"requests":..,"duration_us":..,"err_status":..,"non2xx":..,"login_redirects":..,
--            "lat_p50_us":..,"lat_p99_us":..,...}
-- wrk's own err_status counts only statuses > 399; the scripts judge non2xx.
-- Latencies are wrk's own (microseconds, per completed response, no coordinated-omission
-- correction: this is closed-loop load).
local body_file = os.getenv("WRK_BODY_FILE")
if body_file and body_file ~= "" then
  local f = assert(io.open(body_file, "rb"))
  wrk.method = "POST"
  wrk.body = f:read("*a")
  f:close()
  wrk.headers["Content-Type"] = "application/json"
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

non2xx = 0
login_redirects = 0
function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    local location = ""
    for k, v in pairs(headers) do
      if string.lower(k) == "location" then location = v end
    end
    if status >= 300 and status <= 399 and string.find(location, "/login", 1, true) then
      login_redirects = login_redirects + 1
    end
    if non2xx <= 3 then
      io.stderr:write("non-2xx status " .. status ..
        (location ~= "" and (" to " .. location) or "") .. ": " ..
        string.sub(body or "", 1, 200) .. "\n")
    end
  end
end

function done(summary, latency, requests)
  local bad, login = 0, 0
  for _, t in ipairs(threads) do
    bad = bad + (tonumber(t:get("non2xx")) or 0)
    login = login + (tonumber(t:get("login_redirects")) or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"err_connect":%d,"err_read":%d,' ..
    '"err_write":%d,"err_status":%d,"err_timeout":%d,"non2xx":%d,"login_redirects":%d,' ..
    '"threads":%d,"lat_mean_us":%.1f,"lat_p50_us":%d,"lat_p90_us":%d,"lat_p99_us":%d,' ..
    '"lat_max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, bad, login, #threads, latency.mean, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max))
end
