-- cancel_task: cancel a task and (policy "cascade") every non-terminal task below it. Their
-- `requested` hooks become `cancelled` (the `p:` counters are decremented, nothing is pushed or
-- woken: the tasks will not run again). The cancelled target is reported to its parent's join
-- like any child that ends (which may wake the parent); a cancelled descendant's outcome is only
-- recorded in its parent's join (that parent is being cancelled or already ended: nothing to wake).
--
-- A script must be given every key it touches, so the caller reads the subtree first (BFS over the
-- kids sets, and each task's hooks set) and passes what it read; the script checks that the sets
-- are still exactly that, and otherwise returns "retry" without writing (the caller reads again).
--
-- KEYS[1..4] the target's parent: hash, join, inbox, events (the target's own hash, join, inbox
--            and events for a root; unused then)
-- then 6 keys per task, the target first, parents before children:
--            task hash, inbox, events, hooks set, kids set, join
-- then one hook hash per hook id (grouped by task, in task order)
-- ARGV[1] now_ms or ""   ARGV[2] reason   ARGV[3] policy ("cascade" | "single")
-- ARGV[4] n_tasks (1 for "single")   ARGV[5] n_hooks
-- ARGV[6 ..] the task ids, then the hook ids, then per task: its kids count, its hooks count
-- Returns {"cancelled", {cancelled task ids}, parent_seq}
--         | {"finished", status}    the target already ended: nothing written
--         | {"retry"}               the subtree changed since the caller read it: nothing written
--         | {"not_found"}
-- Transitions: any non-terminal status -> cancelled (the target and, with cascade, descendants)
--   hooks: requested -> cancelled; parent: waiting_children -> queued when its join is met
local now = now_ms(ARGV[1])
local reason, policy = ARGV[2], ARGV[3]
local n_tasks, n_hooks = tonumber(ARGV[4]), tonumber(ARGV[5])
local ids_at, hooks_at, counts_at = 5, 5 + n_tasks, 5 + n_tasks + n_hooks
local function tkey(i, slot) return KEYS[4 + (i - 1) * 6 + slot] end -- 1 hash .. 6 join
local function hkey(j) return KEYS[4 + n_tasks * 6 + j] end

-- validate before any write
if policy ~= 'cascade' and policy ~= 'single' then
  return redis.error_reply('cancel_task: unknown policy ' .. policy)
end
if n_tasks < 1 or (policy == 'single' and n_tasks ~= 1) then
  return redis.error_reply('cancel_task: bad task count ' .. n_tasks)
end
local target_status = hget(tkey(1, 1), 'status')
if not target_status then return {'not_found'} end
if is_terminal(target_status) then return {'finished', target_status} end
local target_id = ARGV[ids_at + 1]
local target_parent = hget(tkey(1, 1), 'parent') or ''
if target_parent ~= '' and string.match(KEYS[1], ':t:(.+)$') ~= target_parent then
  return redis.error_reply('cancel_task: KEYS[1] is not the hash of parent ' .. target_parent)
end

local index, first_hook, total = {}, {}, 0
for i = 1, n_tasks do
  index[ARGV[ids_at + i]] = i
  first_hook[i] = total + 1
  total = total + tonumber(ARGV[counts_at + (i - 1) * 2 + 2])
end
if total ~= n_hooks then return redis.error_reply('cancel_task: hook counts do not add up') end
first_hook[n_tasks + 1] = total + 1

-- the subtree the caller read must still be the subtree (sets only grow; members are checked too)
local function same_set(set_key, count, wanted)
  if redis.call('SCARD', set_key) ~= count then return false end
  for _, member in ipairs(redis.call('SMEMBERS', set_key)) do
    if not wanted(member) then return false end
  end
  return true
end
for i = 1, n_tasks do
  local mine = {}
  for j = first_hook[i], first_hook[i + 1] - 1 do mine[ARGV[hooks_at + j]] = true end
  local hooks_ok = same_set(tkey(i, 4), first_hook[i + 1] - first_hook[i],
    function(m) return mine[m] end)
  local kids_ok = policy == 'single' or same_set(tkey(i, 5),
    tonumber(ARGV[counts_at + (i - 1) * 2 + 1]), function(m) return index[m] ~= nil end)
  if not (hooks_ok and kids_ok) then return {'retry'} end
end

-- writes
local outcome_of = {}
local cancelled = {}
for i = 1, n_tasks do
  local task_key, task_id = tkey(i, 1), ARGV[ids_at + i]
  local status = hget(task_key, 'status')
  if status and not is_terminal(status) then
    redis.call('HSET', task_key, 'status', 'cancelled', 'finished', now, 'updated', now,
      'ecode', 'cancelled', 'emsg', reason, 'lease', 0)
    event(tkey(i, 3), 'cancelled', '{"reason":' .. cjson.encode(reason) .. '}', now)
    for j = first_hook[i], first_hook[i + 1] - 1 do
      local hook_key, hook_id = hkey(j), ARGV[hooks_at + j]
      if hget(hook_key, 'status') == 'requested' then
        local pending = 'p:' .. (hget(hook_key, 'session') or '')
        redis.call('HSET', hook_key, 'status', 'cancelled')
        if redis.call('HINCRBY', task_key, pending, -1) <= 0 then
          redis.call('HDEL', task_key, pending)
        end
        event(tkey(i, 3), 'hook_cancelled', '{"hook_id":' .. cjson.encode(hook_id) .. '}', now)
      end
    end
    outcome_of[task_id] = child_outcome(task_id, 'cancelled', nil, reason)
    cancelled[#cancelled + 1] = task_id
    local parent = hget(task_key, 'parent') or ''
    if i > 1 and index[parent] then
      redis.call('HSET', tkey(index[parent], 6), task_id, outcome_of[task_id])
    end
  end
end

local parent_seq = 0
if target_parent ~= '' and redis.call('EXISTS', KEYS[1]) == 1 then
  parent_seq = report_to_parent(KEYS[1], KEYS[2], KEYS[3], KEYS[4], target_id,
    outcome_of[target_id], now)
end
return {'cancelled', cancelled, parent_seq}
