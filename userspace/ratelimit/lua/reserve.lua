-- reserve.lua checks and charges every limit of one request atomically.
-- Time is Redis' own clock (TIME) in microseconds, so every weir process
-- shares one clock. Numbers are written with %.0f: tostring would round
-- microsecond timestamps to 14 significant digits.
--
-- KEYS[i]: one key per limit.
-- ARGV[1]: lease member (unique per reservation), ARGV[2]: lease TTL in µs.
-- Then three arguments per key, starting at ARGV[3]:
--   "g", increment µs, period µs   a GCRA limit (the key holds its TAT)
--   "c", limit, unused             a concurrency limit (a sorted set of
--                                  leases scored by expiry)
-- Reply: {allowed (1|0), state of key 1, ..., state of key n} where a state
-- is the GCRA "used" time (max(TAT, now) - now, µs) or the leases held,
-- both before this request.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local member = ARGV[1]
local lease = tonumber(ARGV[2])
local out = {1}
local ok = true
for i = 1, #KEYS do
  local o = 2 + (i - 1) * 3
  local a = tonumber(ARGV[o + 2])
  if ARGV[o + 1] == 'g' then
    local tat = tonumber(redis.call('GET', KEYS[i])) or now
    if tat < now then tat = now end
    local used = tat - now
    out[i + 1] = used
    if used + a > tonumber(ARGV[o + 3]) then ok = false end
  else
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', string.format('%.0f', now))
    local n = redis.call('ZCARD', KEYS[i])
    out[i + 1] = n
    if n + 1 > a then ok = false end
  end
end
if not ok then
  out[1] = 0
  return out
end
for i = 1, #KEYS do
  local o = 2 + (i - 1) * 3
  local a = tonumber(ARGV[o + 2])
  if ARGV[o + 1] == 'g' then
    if a > 0 then
      local used = out[i + 1] + a
      redis.call('SET', KEYS[i], string.format('%.0f', now + used), 'PX', math.ceil(used / 1000))
    end
  else
    redis.call('ZADD', KEYS[i], string.format('%.0f', now + lease), member)
    redis.call('PEXPIRE', KEYS[i], math.ceil(lease / 1000))
  end
end
return out
