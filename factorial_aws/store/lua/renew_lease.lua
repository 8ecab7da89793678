-- renew_lease: a turn that runs long extends its lease (a heartbeat), so that a short lease can
-- be used (the dev server) without a live turn being taken over. Only the claim holding the lease
-- (same fence, still running) can renew it, even after it lapsed, as long as nobody reclaimed it.
--
-- KEYS[1] task hash
-- ARGV[1] now_ms or ""   ARGV[2] fence of the claim   ARGV[3] lease length (ms)
-- Returns {"renewed", lease_ms}     the new lease expiry
--         | {"lost", status, fence} reclaimed, committed or cancelled since: nothing written
--         | {"not_found"}
-- Transition: running -> running (lease extended)
local task_key = KEYS[1]
local now = now_ms(ARGV[1])
local fence, lease_ms = tonumber(ARGV[2]), tonumber(ARGV[3])

local status = hget(task_key, 'status')
if not status then return {'not_found'} end
local tfence = tonumber(hget(task_key, 'fence') or '0')
if status ~= 'running' or tfence ~= fence then return {'lost', status, tfence} end
local lease = now + lease_ms
redis.call('HSET', task_key, 'lease', lease)
return {'renewed', lease}
