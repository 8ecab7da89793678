-- expire_hook: a `requested` hook past its expiry becomes `expired`; the task hears of it through
-- its inbox like any hook that leaves `requested` (resolve_hook expires a hook the same way).
--
-- KEYS[1] hook hash   KEYS[2] task hash (the hook's `task`)   KEYS[3] task inbox   KEYS[4] events
-- ARGV[1] now_ms or ""
-- Returns {"expired", task_id, seq}      expired now (seq 0 if the task stays parked)
--         | {"not_due", exp}              not expired yet (exp in ms)
--         | {"not_requested", status}     resolved, expired or cancelled before: nothing written
--         | {"cancelled", task_id}        its task is missing or terminal: nothing written
--         | {"not_found"}
-- Transitions: hook requested -> expired;
--   task waiting_hook -> queued (the session's stage complete, or a `requires` gate expired)
local hook_key, task_key, inbox_key, events_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now = now_ms(ARGV[1])

local status = hget(hook_key, 'status')
if not status then return {'not_found'} end
if status ~= 'requested' then return {'not_requested', status} end
local task_id = hget(hook_key, 'task') or ''
local hook_id = hget(hook_key, 'hook_id') or string.match(hook_key, ':h:(.+)$')
if string.match(task_key, ':t:(.+)$') ~= task_id then
  return redis.error_reply('expire_hook: hook ' .. hook_id .. ' belongs to task ' .. task_id ..
    ', not to ' .. task_key)
end
local task_status = hget(task_key, 'status')
if not task_status or is_terminal(task_status) then return {'cancelled', task_id} end
local exp = tonumber(hget(hook_key, 'exp') or '')
if not exp then return redis.error_reply('expire_hook: hook ' .. hook_id .. ' has no expiry') end
if now < exp then return {'not_due', exp} end

redis.call('HSET', hook_key, 'status', 'expired')
return {'expired', task_id,
  hook_settled(hook_key, task_key, inbox_key, events_key, hook_id, 'expired', nil, now)}
