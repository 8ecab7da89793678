-- steer_task: push a steering message into a task's inbox. It does not wake a parked task: the
-- message is delivered with the inbox at the task's next turn (whenever its wait ends, or at once
-- if it is queued or running: a running turn leaves it for the following turn).
--
-- The task's context cap holds here, atomically with the push: the stored context (`cb`), the inbox
-- not consumed yet (`ib`) and this item may not exceed ARGV[3] bytes (one HGET each, no scan).
--
-- KEYS[1] task hash   KEYS[2] inbox list   KEYS[3] events stream
-- ARGV[1] now_ms or ""   ARGV[2] text   ARGV[3] context cap in bytes (0: none)
-- Returns {"ok", status}              pushed (status unchanged)
--         | {"finished", status}      terminal: nothing written
--         | {"too_large", bytes}      the context would reach `bytes` (over the cap): nothing written
--         | {"not_found"}
-- Transition: none (inbox: {"k":"steer","text":...})
local task_key, inbox_key, events_key = KEYS[1], KEYS[2], KEYS[3]
local now = now_ms(ARGV[1])
local text, cap = ARGV[2], tonumber(ARGV[3] or '0') or 0

-- validate before any write
local status = hget(task_key, 'status')
if not status then return {'not_found'} end
if is_terminal(status) then return {'finished', status} end
local item = '{"k":"steer","text":' .. cjson.encode(text) .. '}'
local total = context_bytes(task_key) + #item
if cap > 0 and total > cap then return {'too_large', total} end

inbox_push(task_key, inbox_key, item)
event(events_key, 'steered', '{"bytes":' .. #text .. '}', now)
return {'ok', status}
