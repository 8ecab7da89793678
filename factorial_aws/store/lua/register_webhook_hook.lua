-- register_webhook_hook: put a registered hook that waits on a webhook source into the source's
-- routing index, and hand back the kept early events (verified deliveries that matched nothing in
-- the last few minutes) whose values satisfy the hook's match. Called after the commit that
-- registered the hook has landed, so a delivery either finds the hook here or was kept early
-- before this call (both are in the source's one slot, and each script is atomic).
--
-- KEYS[1] the source's shapes ZSET (JSON list of sorted paths -> latest expiry ms)
-- KEYS[2] the source's early ZSET (early id -> drop time ms)
-- KEYS[3] the source's early events HASH (early id -> JSON {"event", "delivery"})
-- KEYS[4] the match's ZSET (hook id -> expiry ms)
-- ARGV[1] now_ms or ""   ARGV[2] hook id   ARGV[3] the hook's expiry (ms)
-- ARGV[4] the match's shape (JSON list of its sorted paths)   ARGV[5] the match (JSON object)
-- Returns {n_early, {early JSON text, ...}}: how many early events were live, and those of them
--   whose event satisfies the match (a dotted path, list indexes as 0-based numbers, JSON-typed
--   equality: the same rule as webhooks/match.py). A hook already past its expiry is not added.
-- Transitions: routing index gains the hook; early events past their time are dropped.
local shapes, early, early_ev, mkey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now = now_ms(ARGV[1])
local hook_id, exp, shape = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local match = cjson.decode(ARGV[5])

-- keep a key at least until `at` (relative to `now`: the clock may be a test's)
local function live_until(key, at)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 or ttl < at - now then redis.call('PEXPIRE', key, at - now) end
end

local function at_path(node, path)
  for part in string.gmatch(path, '[^.]+') do
    if type(node) ~= 'table' then return nil end
    local nxt = node[part]
    if nxt == nil and string.match(part, '^%d+$') then nxt = node[tonumber(part) + 1] end
    if nxt == nil then return nil end
    node = nxt
  end
  return node
end

local function satisfies(event, wanted)
  for path, value in pairs(wanted) do
    local got = at_path(event, path)
    if got == nil or type(got) ~= type(value) or type(got) == 'table' or got ~= value then
      return false
    end
  end
  return true
end

if exp <= now then return {0, {}} end
redis.call('ZADD', mkey, exp, hook_id)
live_until(mkey, exp)
redis.call('ZADD', shapes, 'GT', exp, shape)
live_until(shapes, exp)

local gone = redis.call('ZRANGEBYSCORE', early, '-inf', now)
for _, id in ipairs(gone) do redis.call('HDEL', early_ev, id) end
if #gone > 0 then redis.call('ZREMRANGEBYSCORE', early, '-inf', now) end
local found = {}
local live = redis.call('ZRANGE', early, 0, -1)
for _, id in ipairs(live) do
  local raw = hget(early_ev, id)
  if raw then
    local kept = cjson.decode(raw)
    if satisfies(kept.event, match) then found[#found + 1] = raw end
  end
end
return {#live, found}
