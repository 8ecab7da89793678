-- finish_child: record a terminal child's outcome in its parent's join (always: HSET of the same
-- outcome is idempotent) and wake the parent if it waits on its children and the join is now met.
-- commit_turn and cancel_task do this atomically for a child that ends in them, so nothing is lost;
-- this script is the tool for an operator repairing a tree by hand (idempotent).
--
-- KEYS[1] child hash   KEYS[2] parent hash   KEYS[3] parent join   KEYS[4] parent inbox
-- KEYS[5] parent events
-- ARGV[1] now_ms or ""
-- Returns {"ok", parent_seq}          recorded; parent_seq > 0 when the parent was made queued
--         | {"not_finished", status}  the child is not terminal: nothing written
--         | {"not_found"}             no such child, no parent (a root), or the parent is gone
-- Transition: parent waiting_children -> queued (inbox: {"k":"wake",...,"children":[...]})
local child_key, parent_key = KEYS[1], KEYS[2]
local now = now_ms(ARGV[1])

-- validate before any write
local status = hget(child_key, 'status')
if not status then return {'not_found'} end
if not is_terminal(status) then return {'not_finished', status} end
local parent = hget(child_key, 'parent') or ''
if parent == '' or redis.call('EXISTS', parent_key) == 0 then return {'not_found'} end
if string.match(parent_key, ':t:(.+)$') ~= parent then
  return redis.error_reply('finish_child: KEYS[2] is not the hash of parent ' .. parent)
end
local child_id = string.match(child_key, ':t:(.+)$')
local message = nil
if status ~= 'completed' then message = hget(child_key, 'emsg') or '' end

local outcome = child_outcome(child_id, status, hget(child_key, 'output'), message)
return {'ok', report_to_parent(parent_key, KEYS[3], KEYS[4], KEYS[5], child_id, outcome, now)}
