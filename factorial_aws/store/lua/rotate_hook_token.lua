-- rotate_hook_token: give a `requested` hook a new token hash. The previous token is revoked, or
-- kept valid as `thp` (only the latest previous one: an older `thp` is dropped). Hashes and tokens
-- never appear in the event.
--
-- KEYS[1] hook hash   KEYS[2] task events stream (the hook's `task`)
-- ARGV[1] now_ms or ""   ARGV[2] new token hash   ARGV[3] new token version
-- ARGV[4] revoke the previous token: "1" or "0"
-- Returns {"rotated", version}
--         | {"stale_version", tv}        the version is not greater than the stored tv: no write
--         | {"not_requested", status}    resolved, expired or cancelled (also a requested hook
--                                        past its expiry, not yet expired: "expired"): no write
--         | {"not_found"}
-- Transition: none (a requested hook stays requested)
local hook_key, events_key = KEYS[1], KEYS[2]
local now = now_ms(ARGV[1])
local new_hash, version, revoke = ARGV[2], tonumber(ARGV[3]), ARGV[4] == '1'

local status = hget(hook_key, 'status')
if not status then return {'not_found'} end
if status ~= 'requested' then return {'not_requested', status} end
if now >= (tonumber(hget(hook_key, 'exp') or '0') or 0) then return {'not_requested', 'expired'} end
local tv = tonumber(hget(hook_key, 'tv') or '0') or 0
if not version or version <= tv then return {'stale_version', tv} end
if new_hash == '' then return redis.error_reply('rotate_hook_token: empty token hash') end

local previous = ''
if not revoke then previous = hget(hook_key, 'th') or '' end
redis.call('HSET', hook_key, 'th', new_hash, 'tv', version, 'thp', previous)
local hook_id = hget(hook_key, 'hook_id') or string.match(hook_key, ':h:(.+)$')
event(events_key, 'hook_token_rotated', '{"hook_id":' .. cjson.encode(hook_id) ..
  ',"version":' .. version .. ',"previous_revoked":' .. tostring(revoke) .. '}', now)
return {'rotated', version}
