-- steer_task: push a steering message into a task's inbox. It does not wake a parked task: the
-- message is delivered with the inbox at the task's next turn (whenever its wait ends, or at once
-- if it is queued or running: a running turn leaves it for the following turn).
--
-- KEYS[1] task hash   KEYS[2] inbox list   KEYS[3] events stream
-- ARGV[1] now_ms or ""   ARGV[2] text
-- Returns {"ok", status}              pushed (status unchanged)
--         | {"finished", status}      terminal: nothing written
--         | {"not_found"}
-- Transition: none (inbox: {"k":"steer","text":...})
local task_key, inbox_key, events_key = KEYS[1], KEYS[2], KEYS[3]
local now = now_ms(ARGV[1])
local text = ARGV[2]

-- validate before any write
local status = hget(task_key, 'status')
if not status then return {'not_found'} end
if is_terminal(status) then return {'finished', status} end

redis.call('RPUSH', inbox_key, '{"k":"steer","text":' .. cjson.encode(text) .. '}')
event(events_key, 'steered', '{"bytes":' .. #text .. '}', now)
return {'ok', status}
