-- commit_turn: write what one turn decided, guarded by the fencing number of its claim. The new
-- context, the consumed inbox, the events, the spawned children, the hooks to register and the next
-- state are one atomic step, so a crash loses the whole turn (it is replayed) or nothing.
--
-- KEYS[1] task hash      KEYS[2] ctx string     KEYS[3] inbox list    KEYS[4] events stream
-- KEYS[5] task hooks set KEYS[6] task kids set  KEYS[7] join hash     KEYS[8] tree registry set
-- KEYS[9] parent hash    KEYS[10] parent join   KEYS[11] parent inbox KEYS[12] parent events
--         (for a root task, 9..12 repeat the task's own keys and are not used)
-- KEYS[13 ..]            one hook hash per new hook request            (ARGV[8] of them; one
--                        kept by an early resolve, status "accepted", is registered and resolved)
-- then 7 keys per spawned child: task, ctx, inbox, events, hooks set, kids set, join  (ARGV[9])
-- then one hook hash per hook the task will wait on                    (ARGV[10])
-- ARGV[1] now_ms or ""   ARGV[2] fence   ARGV[3] kind   ARGV[4] context JSON
-- ARGV[5] events: JSON array of [kind, data JSON text] pairs
-- ARGV[6] inbox items consumed (the claim's inbox_len)   ARGV[7] turn (model calls so far)
-- ARGV[8] n requests   ARGV[9] n children   ARGV[10] n waited hooks
-- ARGV[11] kind detail: the output JSON text for complete; otherwise a JSON object:
--   continue {}   retry {"delay_ms","code","message"}
--   fail {"code","message"}   park_hooks {}   park_time {"wait_id","wake_at"}
--   park_children {"wait_id","join","kids":[...]}
-- ARGV[12 ..] one JSON object per request (flat: field -> string; written as the hook hash),
--             then one per child {"task_id","agent","owner","root","ctx"}
-- Returns {"ok", status, seq, {created child ids}, parent_seq}
--         | {"stale", status, fence}        (not running, or another claim since: nothing written)
--         | {"not_found"}
-- Transitions: running -> queued | waiting_hook | waiting_time | waiting_children | completed | failed
--   (a park becomes queued at once when what it waits for already happened)
local task_key, ctx_key, inbox_key, events_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local hooks_set, kids_set, join_key, registry = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local now = now_ms(ARGV[1])
local fence, kind = tonumber(ARGV[2]), ARGV[3]
local consumed, turn = tonumber(ARGV[6]), tonumber(ARGV[7])
local n_req, n_kids, n_wait = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])

-- validate before any write
if #KEYS ~= 12 + n_req + n_kids * 7 + n_wait then
  return redis.error_reply('commit_turn: got ' .. #KEYS .. ' keys for ' .. n_req .. ' requests, ' ..
    n_kids .. ' children and ' .. n_wait .. ' waited hooks')
end
local status = hget(task_key, 'status')
if not status then return {'not_found'} end
local tfence = tonumber(hget(task_key, 'fence') or '0')
if status ~= 'running' or tfence ~= fence then return {'stale', status, tfence} end
local KINDS = {continue = 1, retry = 1, complete = 1, fail = 1, park_hooks = 1, park_time = 1,
  park_children = 1}
if not KINDS[kind] then return redis.error_reply('commit_turn: unknown outcome kind ' .. kind) end
local detail = {}
if kind ~= 'complete' then detail = cjson.decode(ARGV[11]) end
local requests, children = {}, {}
for i = 1, n_req do requests[i] = cjson.decode(ARGV[11 + i]) end
for i = 1, n_kids do children[i] = cjson.decode(ARGV[11 + n_req + i]) end
local task_id = string.match(task_key, ':t:(.+)$')

-- the turn's own writes
redis.call('SET', ctx_key, ARGV[4])
if consumed > 0 then  -- the consumed items no longer count toward the context cap
  local gone = 0
  for _, item in ipairs(redis.call('LRANGE', inbox_key, 0, consumed - 1)) do gone = gone + #item end
  redis.call('LTRIM', inbox_key, consumed, -1)
  if redis.call('HINCRBY', task_key, 'ib', -gone) < 0 then redis.call('HSET', task_key, 'ib', 0) end
end
redis.call('HSET', task_key, 'turn', turn, 'updated', now, 'lease', 0, 'cb', #ARGV[4])
for _, ev in ipairs(cjson.decode(ARGV[5])) do event(events_key, ev[1], ev[2], now) end

-- spawned children: created once (ids are derived, so a later spawn with the same key is a no-op)
local created = {}
for i, child in ipairs(children) do
  local base = 12 + n_req + (i - 1) * 7
  local ck = KEYS[base + 1]
  if redis.call('EXISTS', ck) == 0 then
    redis.call('HSET', ck, 'status', 'queued', 'agent', child.agent, 'owner', child.owner,
      'parent', task_id, 'root', child.root, 'seq', 1, 'fence', 0, 'lease', 0, 'turn', 0,
      'created', now, 'updated', now, 'queued_at', now, 'req', '', 'idem', '', 'cb', #child.ctx)
    redis.call('SET', KEYS[base + 2], child.ctx)
    register(registry, KEYS[base + 1])  -- the child's hash stands for its keys
    redis.call('SADD', kids_set, child.task_id)
    event(KEYS[base + 4], 'created', '{"agent":' .. cjson.encode(child.agent) .. '}', now)
    created[#created + 1] = child.task_id
  end
end

-- hook records of the stage being requested; a resolve that came early (resolve_hook kept it
-- as status "accepted") is applied now, so the stage may be complete at once
for i, req in ipairs(requests) do
  local hk = KEYS[12 + i]
  local early = nil
  if hget(hk, 'status') == 'accepted' then
    early = {payload = hget(hk, 'payload'), idem = hget(hk, 'idem') or '', at = hget(hk, 'resolved')}
    redis.call('DEL', hk)
  end
  if redis.call('EXISTS', hk) == 0 then
    local fields = {}
    for f, v in pairs(req) do
      fields[#fields + 1] = f
      fields[#fields + 1] = v
    end
    redis.call('HSET', hk, 'status', 'requested', 'created', now, unpack(fields))
    redis.call('SADD', hooks_set, req.hook_id)
    register(registry, hk)
    redis.call('HINCRBY', task_key, 'p:' .. req.session, 1)
    if early then
      redis.call('HSET', hk, 'status', 'resolved', 'payload', early.payload, 'idem', early.idem,
        'resolved', early.at)
      hook_settled(hk, task_key, inbox_key, events_key, req.hook_id, 'resolved', early.payload, now)
    end
  end
end

local seq, parent_seq = tonumber(hget(task_key, 'seq')), 0
local function finish(final_status, output_json, err_code, err_message)
  redis.call('HSET', task_key, 'status', final_status, 'finished', now)
  if output_json then redis.call('HSET', task_key, 'output', output_json) end
  if err_code then redis.call('HSET', task_key, 'ecode', err_code, 'emsg', err_message) end
  local parent = hget(task_key, 'parent') or ''
  if parent ~= '' then
    parent_seq = report_to_parent(KEYS[9], KEYS[10], KEYS[11], KEYS[12], task_id,
      child_outcome(task_id, final_status, output_json, err_message), now)
  end
end

if kind == 'continue' then
  seq = make_runnable(task_key, now)
elseif kind == 'retry' then
  seq = make_runnable(task_key, now, now + tonumber(detail.delay_ms))
elseif kind == 'complete' then
  finish('completed', ARGV[11])
elseif kind == 'fail' then
  finish('failed', nil, detail.code, detail.message)
elseif kind == 'park_hooks' then
  local arrived = false
  for i = 1, n_wait do
    local hk = KEYS[12 + n_req + n_kids * 7 + i]
    if hget(hk, 'status') ~= 'requested' then arrived = true end
  end
  if arrived then seq = make_runnable(task_key, now)
  else redis.call('HSET', task_key, 'status', 'waiting_hook') end
elseif kind == 'park_time' then
  redis.call('HSET', task_key, 'status', 'waiting_time', 'wait', detail.wait_id,
    'wake_at', detail.wake_at)
elseif kind == 'park_children' then
  redis.call('HSET', task_key, 'status', 'waiting_children', 'wait', detail.wait_id,
    'join', tostring(detail.join), 'jkids', cjson.encode(detail.kids))
  local woke = wake_if_joined(task_key, join_key, inbox_key, events_key, now)
  if woke > 0 then seq = woke end
end
return {'ok', hget(task_key, 'status'), seq, created, parent_seq}
