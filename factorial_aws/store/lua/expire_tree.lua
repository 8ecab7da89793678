-- expire_tree: once every task of a tree has ended, give every key of the tree (and the registry
-- itself) a TTL, so the finished tree stays readable for a while and then leaves nothing behind.
-- The caller reads the registry (SMEMBERS) first and passes its keys, the task hashes first (the
-- caller knows the key shapes; this script spells none); a registry that changed since is "retry".
-- A task hash member stands for the task's other keys too (ctx, inbox, events, hooks, kids,
-- join): the caller passes those after the registry's own keys.
--
-- KEYS[1] the tree registry set
-- KEYS[2 .. m+1] the task hashes of the registry   KEYS[m+2 .. n+1] its other keys
-- KEYS[n+2 .. n+e+1] the other keys of its tasks (not registry members themselves)
-- ARGV[1] now_ms or ""   ARGV[2] ttl (seconds)   ARGV[3] n (registry keys after the registry)
-- ARGV[4] m (task hashes among them)   ARGV[5 .. m+4] the task ids of those hashes
-- ARGV[m+5] e (the tasks' other keys; absent: 0)
-- Returns {"expiring", n}       every key has the TTL
--         | {"busy", task_id}   a task has not ended: nothing written
--         | {"retry"}           the registry is not the one the caller read: nothing written
--         | {"not_found"}       the registry is empty (no such tree, or it expired already)
-- Transition: none (TTL only)
local registry = KEYS[1]
local ttl, n, m = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local e = tonumber(ARGV[m + 5] or '0')

-- validate before any write
if not ttl or ttl < 1 then return redis.error_reply('expire_tree: bad ttl ' .. ARGV[2]) end
local size = redis.call('SCARD', registry)
if size == 0 then return {'not_found'} end
if size ~= n then return {'retry'} end
for i = 2, n + 1 do
  if redis.call('SISMEMBER', registry, registry_member(registry, KEYS[i])) == 0 then
    return {'retry'}
  end
end
for i = 1, m do
  local status = hget(KEYS[i + 1], 'status')
  if status and not is_terminal(status) then return {'busy', ARGV[4 + i]} end
end

if #KEYS ~= n + e + 1 then
  return redis.error_reply('expire_tree: got ' .. #KEYS .. ' keys for ' .. n .. ' + ' .. e)
end
for i = 1, n + e + 1 do redis.call('EXPIRE', KEYS[i], ttl) end
return {'expiring', n + e}
