-- claim_turn: take the lease of a runnable task for one turn, and hand the turn its context and
-- inbox. A turn message carries the seq it was sent for; any other seq is stale.
--
-- KEYS[1] task hash   KEYS[2] ctx string   KEYS[3] inbox list   KEYS[4] events stream
-- ARGV[1] now_ms or ""   ARGV[2] seq of the message   ARGV[3] lease length (ms)
-- Returns
--   {"claimed", fence, ctx, inbox_len, {inbox items...}, agent, owner, parent, turn, reclaimed(0|1)}
--   {"leased", lease_ms}                         another turn holds a live lease
--   {"stale", status, seq, queued_at, lease}     the message's seq is not the task's
--   {"not_runnable", status}                     parked
--   {"finished", status}                         terminal
--   {"not_found"}
-- Transitions: queued -> running; running (lease lapsed) -> running (reclaimed, new fence)
local task_key, ctx_key, inbox_key = KEYS[1], KEYS[2], KEYS[3]
local now = now_ms(ARGV[1])
local seq, lease_ms = tonumber(ARGV[2]), tonumber(ARGV[3])

local status = hget(task_key, 'status')
if not status then return {'not_found'} end
if is_terminal(status) then return {'finished', status} end
local tseq = tonumber(hget(task_key, 'seq'))
if seq ~= tseq then
  return {'stale', status, tseq, hget(task_key, 'queued_at') or '0', hget(task_key, 'lease') or '0'}
end

local lease = tonumber(hget(task_key, 'lease') or '0')
local reclaimed = 0
if status == 'running' then
  if lease > now then return {'leased', lease} end
  reclaimed = 1
elseif status ~= 'queued' then
  return {'not_runnable', status}
end

local fence = redis.call('HINCRBY', task_key, 'fence', 1)
redis.call('HSET', task_key, 'status', 'running', 'lease', now + lease_ms, 'updated', now)
if reclaimed == 1 then
  event(KEYS[4], 'lease_reclaimed', '{"fence":' .. fence .. '}', now)
end
local items = redis.call('LRANGE', inbox_key, 0, -1)
return {'claimed', fence, redis.call('GET', ctx_key) or '', #items, items,
  hget(task_key, 'agent') or '', hget(task_key, 'owner') or '', hget(task_key, 'parent') or '',
  tonumber(hget(task_key, 'turn') or '0'), reclaimed}
