-- route_webhook: find the open hooks a verified delivery may resolve, in the source's routing
-- index; when there are none, keep the event as early (a hook registered in the next minutes
-- whose match it satisfies is resolved by it: register_webhook_hook). A delivery that resolved
-- hooks before answers with the hooks it resolved.
--
-- The caller read the live shapes (ZRANGEBYSCORE on KEYS[1]) and computed, for each shape the
-- event has scalar values along, the digest of those values: KEYS[5 ..] are those matches'
-- ZSETs. If a shape went live since that read, the script says "reshape" and writes nothing.
--
-- KEYS[1] shapes ZSET   KEYS[2] early ZSET   KEYS[3] early events HASH
-- KEYS[4] the delivery's record (STRING: JSON list of hook ids; any key of the slot when none)
-- KEYS[5 ..] one match ZSET per probed shape
-- ARGV[1] now_ms or ""   ARGV[2] the shapes the caller probed (JSON list of shape texts)
-- ARGV[3] hook ids already tried by this delivery (JSON list)
-- ARGV[4] the early record to keep when nothing is found (JSON {"event","delivery"}; "" keeps none)
-- ARGV[5] early id   ARGV[6] early life (ms)   ARGV[7] most early events kept per source
-- ARGV[8] "1": KEYS[4] is the delivery's record (check it)   ARGV[9] most candidates returned
-- Returns (only "kept" writes, besides dropping index entries past their expiry)
--   {"idempotent", hook ids JSON}   this delivery resolved these hooks before
--   {"reshape"}                     a shape went live after the caller's read: read again
--   {"candidates", i, hook id, ...} open hooks not tried yet (i: the KEYS index - 4 of its ZSET)
--   {"kept", n_dropped}             none: the event is kept early (oldest dropped over the cap)
--   {"none"}                        none, and nothing to keep
-- Transitions: early events gain one (dropping the oldest over the cap); expired entries go.
local shapes, early, early_ev, record = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now = now_ms(ARGV[1])
local probed, tried = {}, {}
for _, s in ipairs(cjson.decode(ARGV[2])) do probed[s] = true end
for _, h in ipairs(cjson.decode(ARGV[3])) do tried[h] = true end
local kept_json, early_id = ARGV[4], ARGV[5]
local life, cap, limit = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[9])

if ARGV[8] == '1' then
  local done = redis.call('GET', record)
  if done then return {'idempotent', done} end
end
redis.call('ZREMRANGEBYSCORE', shapes, '-inf', now)
for _, s in ipairs(redis.call('ZRANGE', shapes, 0, -1)) do
  if not probed[s] then return {'reshape'} end
end

local out = {'candidates'}
for i = 5, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  for _, h in ipairs(redis.call('ZRANGE', KEYS[i], 0, -1)) do
    if not tried[h] then
      out[#out + 1] = i - 4
      out[#out + 1] = h
      if (#out - 1) / 2 >= limit then return out end
    end
  end
end
if #out > 1 then return out end
if kept_json == '' then return {'none'} end

redis.call('ZADD', early, now + life, early_id)
redis.call('HSET', early_ev, early_id, kept_json)
local dropped = 0
local over = redis.call('ZCARD', early) - cap
if over > 0 then
  local oldest = redis.call('ZPOPMIN', early, over)
  for j = 1, #oldest, 2 do redis.call('HDEL', early_ev, oldest[j]) end
  dropped = over
end
redis.call('PEXPIRE', early, life)
redis.call('PEXPIRE', early_ev, life)
return {'kept', dropped}
