-- reclaim_lapsed_lease: a turn died holding its lease (Lambda timeout, crash). Once the lease
-- lapsed, the task is queued again for re-dispatch. The fence is not bumped here: the dead turn's
-- commit already fails (the task is no longer running) and the next claim bumps it.
--
-- KEYS[1] task hash   KEYS[2] events stream
-- ARGV[1] now_ms or ""   ARGV[2] fence seen by the caller, or "" (any)
-- ARGV[3] "force" to reclaim a lease that has not lapsed (optional): the caller knows its holder
--         is dead (the dev server, restarted on a state dir only it can hold)
-- Returns {"requeued", seq}         queued; send a turn message with seq
--         | {"live", lease_ms}       the lease has not lapsed
--         | {"fenced", fence}        claimed again since the caller looked: nothing written
--         | {"not_running", status}
--         | {"not_found"}
-- Transition: running (lease lapsed) -> queued
local task_key, events_key = KEYS[1], KEYS[2]
local now = now_ms(ARGV[1])
local seen = ARGV[2]
local force = ARGV[3] == 'force'

-- validate before any write
local status = hget(task_key, 'status')
if not status then return {'not_found'} end
if status ~= 'running' then return {'not_running', status} end
local fence = tonumber(hget(task_key, 'fence') or '0')
if seen ~= '' and tonumber(seen) ~= fence then return {'fenced', fence} end
local lease = tonumber(hget(task_key, 'lease') or '0')
if lease > now and not force then return {'live', lease} end

event(events_key, 'lease_lapsed', '{"fence":' .. fence .. ',"lease":' .. lease .. '}', now)
return {'requeued', make_runnable(task_key, now)}
