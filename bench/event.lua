-- wrk script: POST events to /e with a fresh random id each (BATCH events per request).
local batch = tonumber(os.getenv("BATCH") or "1")
local site = os.getenv("SITE")
local hex = "0123456789abcdef"
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)

local function id()
  local out = {}
  for i = 1, 32 do
    local n = math.random(1, 16)
    out[i] = hex:sub(n, n)
  end
  return table.concat(out)
end

local function event()
  return '{"s":"' .. site .. '","i":"' .. id() ..
    '","n":"pageview","u":"https://example.com/pricing?utm_source=bench","r":"https://www.google.com/"}'
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "text/plain"
wrk.headers["Origin"] = "https://example.com"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36"

request = function()
  if batch == 1 then
    return wrk.format(nil, "/e", nil, event())
  end
  local events = {}
  for i = 1, batch do events[i] = event() end
  return wrk.format(nil, "/e", nil, "[" .. table.concat(events, ",") .. "]")
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_us=%d errors=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status
      + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
