-- settle.lua applies the settlement of one reservation (see reserve.lua for
-- the key layout and the clock).
--
-- Three arguments per key, starting at ARGV[1]:
--   "g", TAT change µs (negative refunds), period µs
--   "c", lease member, unused
-- A refund never makes a bucket fuller than full (an absent key); a charge
-- never creates more than one period of debt.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i = 1, #KEYS do
  local o = (i - 1) * 3
  if ARGV[o + 1] == 'g' then
    local d = tonumber(ARGV[o + 2])
    local period = tonumber(ARGV[o + 3])
    local tat = tonumber(redis.call('GET', KEYS[i])) or now
    if tat < now then tat = now end
    tat = tat + d
    if tat > now + 2 * period then tat = now + 2 * period end
    if tat <= now then
      redis.call('DEL', KEYS[i])
    else
      redis.call('SET', KEYS[i], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000))
    end
  else
    redis.call('ZREM', KEYS[i], ARGV[o + 2])
  end
end
return 1
