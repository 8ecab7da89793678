-- move_index_entry: re-score or remove one member of a global index ZSET, only if its score is
-- still what the caller expects (compare-and-set). The dispatch index keeps one entry per task
-- (member = task id) and every transition moves it; this is how a transition removes or moves the
-- entry without undoing what a concurrent transition wrote meanwhile. Runs on the index shard's
-- own key (never inside a per-tree script: another slot).
--
-- KEYS[1] the index ZSET
-- ARGV[1] now_ms or "" (unused)   ARGV[2] member
-- ARGV[3] expected score: a number (exactly that score), or "lease" (any lease entry: a score
--         whose fraction is .5, the mark of a running task's entry)
-- ARGV[4] new score, or "" to remove the member
-- Returns {"moved"} | {"removed"}
--         | {"changed", score}    the score is not the expected one: nothing written
--         | {"absent"}            no such member: nothing written
local index_key = KEYS[1]
local member, expected, new_score = ARGV[2], ARGV[3], ARGV[4]

local current = redis.call('ZSCORE', index_key, member)
if not current then return {'absent'} end
local score = tonumber(current)
local matches
if expected == 'lease' then matches = (score % 1 == 0.5) else matches = (score == tonumber(expected)) end
if not matches then return {'changed', current} end
if new_score == '' then
  redis.call('ZREM', index_key, member)
  return {'removed'}
end
redis.call('ZADD', index_key, new_score, member)
return {'moved'}
