-- _lib.lua: helpers shared by every transition script. The loader prepends this file to each
-- script (Redis scripts cannot require modules). Only local functions; no key is named here: every
-- key a helper touches is passed in by the script, from its KEYS.

-- The time in ms: ARGV now_ms when given (tests drive a fake clock), else the server's TIME.
local function now_ms(arg)
  if arg ~= nil and arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- HGET that returns nil instead of false for a missing field.
local function hget(key, field)
  local v = redis.call('HGET', key, field)
  if v == false then return nil end
  return v
end

-- The bytes a task holds toward its context cap: its stored context (`cb`, written by create and
-- commit) and its inbox items not consumed yet (`ib`, counted by inbox_push, uncounted by commit).
local function context_bytes(task_key)
  return (tonumber(hget(task_key, 'cb') or '0') or 0) + (tonumber(hget(task_key, 'ib') or '0') or 0)
end

-- Append an item to a task's inbox and count its bytes (every inbox write goes through here).
local function inbox_push(task_key, inbox_key, item)
  redis.call('RPUSH', inbox_key, item)
  redis.call('HINCRBY', task_key, 'ib', #item)
end

local function is_terminal(status)
  return status == 'completed' or status == 'failed' or status == 'cancelled'
end

-- Append one event to a task's capped event list (a list, not a stream: a Valkey stream
-- preallocates a 4 KiB node, more than a whole parked task should cost). Each entry is
-- {"id":"<ms>-<n>","k":kind,"d":data}: <ms> is the event's time (or the previous event's, if the
-- clock went back), and ids increase along the list, so a reader pages with the last id it saw.
-- data_json is a JSON object text.
local EVENTS_CAP = 200
local function event(list_key, kind, data_json, now)
  local id_ms, n = now, 0
  local last = redis.call('LINDEX', list_key, -1)
  if last then
    local last_ms, last_n = string.match(last, '^{"id":"(%d+)%-(%d+)"')
    if last_ms and tonumber(last_ms) >= now then
      id_ms, n = tonumber(last_ms), tonumber(last_n) + 1
    end
  end
  redis.call('RPUSH', list_key, '{"id":"' .. string.format('%d', id_ms) .. '-' .. n ..
    '","k":' .. cjson.encode(kind) .. ',"d":' .. (data_json or '{}') .. '}')
  redis.call('LTRIM', list_key, -EVENTS_CAP, -1)
end

-- The registry member of a key of the tree: the key without the tree's "fa:{<root>}:" prefix
-- (the registry key is that prefix plus "keys"). Short members keep the set in Valkey's compact
-- encoding, which full key names (80+ bytes for a hook) would not.
local function registry_member(registry, key)
  return string.sub(key, #registry - 3)
end

-- Add keys of the tree to its registry (for TTL cleanup). A task is registered by its hash
-- alone ("t:<id>"), which stands for all its keys (store/keys.py task_key_set).
local function register(registry, ...)
  local members = {}
  for _, key in ipairs({...}) do members[#members + 1] = registry_member(registry, key) end
  redis.call('SADD', registry, unpack(members))
end

-- Make a task runnable: status queued, seq+1. Returns the new seq (the turn message carries it).
local function make_runnable(task_key, now, queued_at)
  local seq = redis.call('HINCRBY', task_key, 'seq', 1)
  redis.call('HSET', task_key, 'status', 'queued', 'queued_at', queued_at or now, 'updated', now,
    'wait', '', 'wake_at', '', 'lease', 0)
  redis.call('HDEL', task_key, 'join', 'jkids')
  return seq
end

-- Whether a join policy ('all', 'any' or a number) is met by `done` of `total` children.
local function join_met(policy, done, total)
  if policy == 'all' then return done >= total end
  if policy == 'any' then return done >= 1 end
  return done >= tonumber(policy)
end

-- JSON array text of the outcomes recorded in join_key for the child ids in `kids`, and their count.
local function join_outcomes(join_key, kids)
  local parts, done = {}, 0
  for _, kid in ipairs(kids) do
    local o = redis.call('HGET', join_key, kid)
    if o then
      done = done + 1
      parts[#parts + 1] = o
    end
  end
  return '[' .. table.concat(parts, ',') .. ']', done
end

-- If the task waits on children and its join is met, wake it with the awaited outcomes.
-- Returns the new seq, or 0 when the task stays parked.
local function wake_if_joined(task_key, join_key, inbox_key, events_key, now)
  if hget(task_key, 'status') ~= 'waiting_children' then return 0 end
  local kids = cjson.decode(hget(task_key, 'jkids') or '[]')
  local outcomes, done = join_outcomes(join_key, kids)
  if not join_met(hget(task_key, 'join') or 'all', done, #kids) then return 0 end
  local wait_id = hget(task_key, 'wait') or ''
  inbox_push(task_key, inbox_key, '{"k":"wake","wait_id":' .. cjson.encode(wait_id) ..
    ',"fired_at":' .. now .. ',"children":' .. outcomes .. '}')
  event(events_key, 'children_joined', '{"wait_id":' .. cjson.encode(wait_id) .. '}', now)
  return make_runnable(task_key, now)
end

-- Record a finished child's outcome in its parent's join, always; wake the parent if its join is
-- now met. Returns the parent's new seq, or 0.
local function report_to_parent(parent_key, join_key, inbox_key, events_key, child_id, outcome, now)
  redis.call('HSET', join_key, child_id, outcome)
  return wake_if_joined(parent_key, join_key, inbox_key, events_key, now)
end

-- The JSON ChildOutcome of a terminal task.
local function child_outcome(task_id, status, output_json, error_message)
  local out = '{"task_id":' .. cjson.encode(task_id) .. ',"status":' .. cjson.encode(status) ..
    ',"output":' .. (output_json or 'null')
  if error_message then out = out .. ',"error":' .. cjson.encode(error_message) end
  return out .. '}'
end

-- A hook left `requested` (resolved, expired or cancelled): tell the task through its inbox and
-- decrement its session's pending count. A task parked on hooks wakes when the session's stage is
-- complete, or at once when a `requires` gate did not resolve (the tool call is over either way).
-- Returns the task's new seq, or 0.
local function hook_settled(hook_key, task_key, inbox_key, events_key, hook_id, status, payload, now)
  local session = hget(hook_key, 'session') or ''
  inbox_push(task_key, inbox_key, '{"k":"hook","hook_id":' .. cjson.encode(hook_id) ..
    ',"status":"' .. status .. '","payload":' .. (payload or 'null') .. '}')
  local left = redis.call('HINCRBY', task_key, 'p:' .. session, -1)
  if left <= 0 then redis.call('HDEL', task_key, 'p:' .. session) end
  event(events_key, 'hook_' .. status, '{"hook_id":' .. cjson.encode(hook_id) .. '}', now)
  local gate_failed = status ~= 'resolved' and hget(hook_key, 'mode') == 'requires'
  if (left <= 0 or gate_failed) and hget(task_key, 'status') == 'waiting_hook' then
    return make_runnable(task_key, now)
  end
  return 0
end
