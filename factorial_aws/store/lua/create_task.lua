-- create_task: create a task as `queued` with seq 1 (a root, or a child inside its parent's tree).
--
-- KEYS[1] task hash        KEYS[2] ctx string     KEYS[3] inbox list    KEYS[4] events stream
-- KEYS[5] task hooks set   KEYS[6] task kids set  KEYS[7] join hash     KEYS[8] tree registry set
-- KEYS[9] parent kids set (the task's own kids set for a root; unused then)
-- ARGV[1] now_ms or ""     ARGV[2] task id        ARGV[3] agent         ARGV[4] owner or ""
-- ARGV[5] parent id or ""  ARGV[6] root id        ARGV[7] context JSON  ARGV[8] request hash
-- ARGV[9] idempotency key or ""
-- Returns {"created", seq} | {"replay", status} (same request hash) | {"conflict", status}
-- Transition: (none) -> queued
local task_key, ctx_key, registry = KEYS[1], KEYS[2], KEYS[8]
local now = now_ms(ARGV[1])
local task_id, agent, owner, parent, root = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local ctx_json, req, idem = ARGV[7], ARGV[8], ARGV[9]

if redis.call('EXISTS', task_key) == 1 then
  local status = hget(task_key, 'status') or ''
  if hget(task_key, 'req') == req then return {'replay', status} end
  return {'conflict', status}
end

redis.call('HSET', task_key, 'status', 'queued', 'agent', agent, 'owner', owner, 'parent', parent,
  'root', root, 'seq', 1, 'fence', 0, 'lease', 0, 'turn', 0, 'created', now, 'updated', now,
  'queued_at', now, 'req', req, 'idem', idem, 'cb', #ctx_json)
redis.call('SET', ctx_key, ctx_json)
register(registry, KEYS[1])  -- the task hash stands for all its keys
if parent ~= '' then redis.call('SADD', KEYS[9], task_id) end
event(KEYS[4], 'created', '{"agent":' .. cjson.encode(agent) .. '}', now)
return {'created', 1}
