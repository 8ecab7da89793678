-- resolve_hook: store a hook's payload, presented with its token, and wake the task when the stage
-- is complete. A hook past its expiry is expired here exactly as expire_hook would. The payload
-- was validated by the hook's own type before this call; this script only checks what must be
-- atomic (token, status, expiry, idempotency key) and writes.
--
-- An early resolve (the hook's builder has run, but the commit that registers the hook has not
-- landed yet) is kept in the hook hash with status "accepted" and a bounded life; commit_turn
-- applies it when it registers the hook. Only a version-1 token can vouch for a hook that has no
-- record yet: the caller checks it (it is an HMAC of the hook id) and says so in ARGV[5].
--
-- KEYS[1] hook hash   KEYS[2] task hash (the task the hook id names)   KEYS[3] task inbox
-- KEYS[4] events      KEYS[5] the tree's key registry
-- ARGV[1] now_ms or ""   ARGV[2] token hash (sha256 hex of the presented token)
-- ARGV[3] payload JSON text, or "" to check only (nothing is resolved or accepted)
-- ARGV[4] idempotency key or ""   ARGV[5] "1": the token is the hook id's version-1 token
-- ARGV[6] life of an early record (ms)   ARGV[7] the task's context cap in bytes ("" or 0: none)
-- ARGV[8] webhook sources whose signature the caller verified on this request (space-separated
--         names, or ""). With no token (ARGV[2] ""), this is the credential: a registered hook
--         whose stored source ("src") is one of them may be resolved. With a token, a hook that
--         has a source also needs its source's signature.
-- Returns (checked in this order; only the three marked * write anything)
--   {"not_found"}                            no hook, or a token hash matching neither th nor thp
--                                            (no token: not registered, or not of a verified source)
--   {"invalid_signature", task_id}           the right token, but the hook's source did not sign
--   {"idempotent", task_id, payload}         resolved before with this (non-empty) key
--   {"already_resolved", task_id}            resolved (or accepted early) before with another key
--   {"expired", task_id}                     expired before
--   {"cancelled", task_id}                   cancelled, or its task is terminal (or missing)
--   {"accepted", task_id, "replay"}          accepted early before with this (non-empty) key
-- * {"expired", task_id, seq}                past its expiry: expired now (seq 0 if no wake)
--   {"checked", task_id}                     check only: the token is right and the hook open
--   {"too_large", task_id, bytes}            the task's context would reach `bytes`, over the cap
-- * {"accepted", task_id, ""}                no record yet: kept until the hook registers
-- * {"resolved", task_id, seq}               resolved now (seq 0 if the task stays parked)
-- Transitions: hook (none) -> accepted; hook requested -> resolved | expired;
--   task waiting_hook -> queued (the session's stage complete, or a `requires` gate expired)
local hook_key, task_key, inbox_key, events_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local registry = KEYS[5]
local now = now_ms(ARGV[1])
local token_hash, payload, idem = ARGV[2], ARGV[3], ARGV[4]
local early_token, early_life = ARGV[5] == '1', tonumber(ARGV[6])
local cap = tonumber(ARGV[7] or '') or 0
local verified = ' ' .. (ARGV[8] or '') .. ' '
local task_id = string.match(task_key, ':t:(.+)$')
local hook_id = string.match(hook_key, ':h:(.+)$')

-- the payload goes to the inbox, then into the context: the task's context cap holds here
local function over_cap()
  local total = context_bytes(task_key) + #payload + 64 + #hook_id
  if cap > 0 and total > cap then return total end
  return nil
end

-- validate before any write
local status = hget(hook_key, 'status')
if not status or status == 'accepted' then
  -- not registered yet: only the version-1 token of a live task's hook gets further
  if token_hash == '' or not early_token then return {'not_found'} end
  local task_status = hget(task_key, 'status')
  if not task_status then return {'not_found'} end
  if is_terminal(task_status) then return {'cancelled', task_id} end
  if status == 'accepted' then
    if idem ~= '' and hget(hook_key, 'idem') == idem then return {'accepted', task_id, 'replay'} end
    return {'already_resolved', task_id}
  end
  if payload == '' then return {'checked', task_id} end
  local too_large = over_cap()
  if too_large then return {'too_large', task_id, too_large} end
  redis.call('HSET', hook_key, 'status', 'accepted', 'task', task_id, 'payload', payload,
    'idem', idem, 'resolved', now)
  redis.call('PEXPIRE', hook_key, early_life)
  register(registry, hook_key)
  event(events_key, 'hook_accepted', '{"hook_id":' .. cjson.encode(hook_id) .. '}', now)
  return {'accepted', task_id, ''}
end
local src = hget(hook_key, 'src') or ''
local signed = src ~= '' and string.find(verified, ' ' .. src .. ' ', 1, true) ~= nil
if token_hash == '' then
  if not signed then return {'not_found'} end
else
  local th, thp = hget(hook_key, 'th') or '', hget(hook_key, 'thp') or ''
  if token_hash ~= th and (thp == '' or token_hash ~= thp) then return {'not_found'} end
  if src ~= '' and not signed then return {'invalid_signature', task_id} end
end
if hget(hook_key, 'task') ~= task_id then
  return redis.error_reply('resolve_hook: hook ' .. hook_id .. ' does not belong to ' .. task_key)
end
if status == 'resolved' then
  if idem ~= '' and hget(hook_key, 'idem') == idem then
    return {'idempotent', task_id, hget(hook_key, 'payload') or 'null'}
  end
  return {'already_resolved', task_id}
end
if status == 'expired' or status == 'cancelled' then return {status, task_id} end
if status ~= 'requested' then
  return redis.error_reply('resolve_hook: hook ' .. hook_id .. ' has status ' .. status)
end
local task_status = hget(task_key, 'status')
if not task_status or is_terminal(task_status) then return {'cancelled', task_id} end
local exp = tonumber(hget(hook_key, 'exp') or '')
if not exp then return redis.error_reply('resolve_hook: hook ' .. hook_id .. ' has no expiry') end

if now >= exp then
  redis.call('HSET', hook_key, 'status', 'expired')
  return {'expired', task_id,
    hook_settled(hook_key, task_key, inbox_key, events_key, hook_id, 'expired', nil, now)}
end
if payload == '' then return {'checked', task_id} end
local too_large = over_cap()
if too_large then return {'too_large', task_id, too_large} end

redis.call('HSET', hook_key, 'status', 'resolved', 'payload', payload, 'idem', idem,
  'resolved', now)
return {'resolved', task_id,
  hook_settled(hook_key, task_key, inbox_key, events_key, hook_id, 'resolved', payload, now)}
