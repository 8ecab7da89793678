-- wake_task: a time wait fired (Scheduler or the maintenance sweep). Only the wait the task is
-- parked on can wake it: a duplicate delivery, a wake for an earlier wait, or a wake of a task
-- that is running, queued or finished is stale and writes nothing.
--
-- KEYS[1] task hash   KEYS[2] inbox list   KEYS[3] events stream
-- ARGV[1] now_ms or ""   ARGV[2] wait id   ARGV[3] fired_at (ms)
-- Returns {"woke", seq}            the task is queued; send a turn message with seq
--         | {"early", wake_at}     parked on this wait, but more than 1 s before its time
--                                  (Scheduler has minute precision): send the wake again later
--         | {"stale", status}      not parked on this wait: nothing written
--         | {"not_found"}
-- Transition: waiting_time -> queued (inbox: {"k":"wake","wait_id":...,"fired_at":...})
local task_key, inbox_key, events_key = KEYS[1], KEYS[2], KEYS[3]
local now = now_ms(ARGV[1])
local wait_id, fired_at = ARGV[2], tonumber(ARGV[3])

-- validate before any write
if not fired_at then return redis.error_reply('wake_task: fired_at is not a number') end
local status = hget(task_key, 'status')
if not status then return {'not_found'} end
if status ~= 'waiting_time' or hget(task_key, 'wait') ~= wait_id then return {'stale', status} end
local wake_at = tonumber(hget(task_key, 'wake_at') or '0') or 0
if now + 1000 < wake_at then return {'early', wake_at} end

inbox_push(task_key, inbox_key, '{"k":"wake","wait_id":' .. cjson.encode(wait_id) ..
  ',"fired_at":' .. string.format('%d', fired_at) .. '}')
event(events_key, 'woke', '{"wait_id":' .. cjson.encode(wait_id) .. '}', now)
return {'woke', make_runnable(task_key, now)}
