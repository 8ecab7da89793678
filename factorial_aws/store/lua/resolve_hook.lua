-- resolve_hook: store a hook's payload, presented with its token, and wake the task when the stage
-- is complete. A hook past its expiry is expired here exactly as expire_hook would.
--
-- KEYS[1] hook hash   KEYS[2] task hash (the hook's `task`)   KEYS[3] task inbox   KEYS[4] events
-- KEYS[5] the tree's hook schemas hash (the hook's `schema_id` -> JSON Schema)
-- ARGV[1] now_ms or ""   ARGV[2] token hash (sha256 hex of the presented token)
-- ARGV[3] payload JSON text   ARGV[4] idempotency key or ""
-- ARGV[5] the task's context cap in bytes ("" or 0: none)
-- Returns (checked in this order; only the two marked * write anything)
--   {"not_found"}                            no hook, or a token hash matching neither th nor thp
--   {"idempotent", task_id, payload}         resolved before with this (non-empty) key
--   {"already_resolved", task_id}            resolved before with another key
--   {"expired", task_id}                     expired before
--   {"cancelled", task_id}                   cancelled, or its task is missing or terminal
-- * {"expired", task_id, seq}                past its expiry: expired now (seq 0 if no wake)
--   {"invalid", task_id, "<path>: <problem>; ..."}  the payload does not match the stored schema
--   {"too_large", task_id, bytes}            the task's context would reach `bytes`, over the cap
-- * {"resolved", task_id, seq}               resolved now (seq 0 if the task stays parked)
-- Transitions: hook requested -> resolved | expired;
--   task waiting_hook -> queued (the session's stage complete, or a `requires` gate expired)
local hook_key, task_key, inbox_key, events_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now = now_ms(ARGV[1])
local token_hash, payload, idem = ARGV[2], ARGV[3], ARGV[4]

-- A JSON-Schema subset (what pydantic's model_json_schema() emits for hook models): type, enum,
-- const, properties, required, additionalProperties, items, prefixItems, min/maxItems,
-- min/maxLength (UTF-8 characters), minimum, maximum, exclusiveMinimum/Maximum (numbers),
-- allOf/anyOf/oneOf, $ref "#/...". Ignored: format, pattern, multipleOf, uniqueItems (pydantic
-- accepts duplicates for a set and drops them), patternProperties, title, description, default.
-- cjson quirk: [] and {} both decode to an empty table, which matches both "array" and "object".
local root_schema
local MAX_PROBLEMS = 10

local function is_finite(v)
  return type(v) == 'number' and v == v and v > -math.huge and v < math.huge
end
local function is_array(v)
  return type(v) == 'table' and (next(v) == nil or type(next(v)) == 'number')
end
local function is_object(v)
  return type(v) == 'table' and (next(v) == nil or type(next(v)) == 'string')
end
local TYPES = {
  string = function(v) return type(v) == 'string' end,
  integer = function(v) return is_finite(v) and math.floor(v) == v end,
  number = is_finite,
  boolean = function(v) return type(v) == 'boolean' end,
  null = function(v) return v == cjson.null end,
  object = is_object,
  array = is_array,
}

local function json_type(v)
  if v == cjson.null then return 'null' end
  if type(v) == 'table' then return is_array(v) and next(v) ~= nil and 'array' or 'object' end
  if TYPES.integer(v) then return 'integer' end
  return type(v)
end

local function type_ok(t, v)
  if type(t) == 'string' then return TYPES[t] ~= nil and TYPES[t](v) end
  for _, name in ipairs(t) do if TYPES[name] and TYPES[name](v) then return true end end
  return false
end

local function equal(a, b)
  if type(a) ~= 'table' or type(b) ~= 'table' then return a == b end
  for k, v in pairs(a) do if not equal(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local function shown(v)
  local ok, text = pcall(cjson.encode, v)
  text = ok and text or '?'
  if #text > 120 then text = string.sub(text, 1, 117) .. '...' end
  return text
end

local function resolve_ref(ref)
  if type(ref) ~= 'string' or string.sub(ref, 1, 1) ~= '#' then return nil end
  local node = root_schema
  for part in string.gmatch(string.sub(ref, 2), '[^/]+') do
    part = string.gsub(string.gsub(part, '~1', '/'), '~0', '~')
    if type(node) ~= 'table' then return nil end
    node = node[part]
  end
  return node
end

local check

local function check_branches(s, v, path, depth, out)
  local function run(branches)
    local matched, fitting = 0, nil
    for _, sub in ipairs(branches) do
      local problems = {}
      check(sub, v, path, depth + 1, problems)
      if #problems == 0 then
        matched = matched + 1
      elseif fitting == nil then
        -- the first branch whose type (and const/enum) fits explains the failure best
        local fits = true
        for _, p in ipairs(problems) do
          if string.find(p, path .. ': expected ', 1, true) == 1 or
              string.find(p, path .. ': must be ', 1, true) == 1 then
            fits = false
          end
        end
        if fits then fitting = problems end
      end
    end
    return matched, fitting
  end
  if type(s.allOf) == 'table' then
    for _, sub in ipairs(s.allOf) do check(sub, v, path, depth + 1, out) end
  end
  for _, key in ipairs({'anyOf', 'oneOf'}) do
    if type(s[key]) == 'table' then
      local matched, fitting = run(s[key])
      if matched == 0 and fitting then
        for _, p in ipairs(fitting) do out[#out + 1] = p end
      elseif matched == 0 then
        out[#out + 1] = path .. ': matches none of the allowed schemas'
      elseif key == 'oneOf' and matched > 1 then
        out[#out + 1] = path .. ': matches more than one of the oneOf schemas'
      end
    end
  end
end

local function check_scalar(s, v, path, out)
  if type(v) == 'number' then
    if s.minimum and v < s.minimum then out[#out + 1] = path .. ': must be >= ' .. s.minimum end
    if s.maximum and v > s.maximum then out[#out + 1] = path .. ': must be <= ' .. s.maximum end
    if type(s.exclusiveMinimum) == 'number' and v <= s.exclusiveMinimum then
      out[#out + 1] = path .. ': must be > ' .. s.exclusiveMinimum
    end
    if type(s.exclusiveMaximum) == 'number' and v >= s.exclusiveMaximum then
      out[#out + 1] = path .. ': must be < ' .. s.exclusiveMaximum
    end
  elseif type(v) == 'string' and (s.minLength or s.maxLength) then
    local _, chars = string.gsub(v, '[^\128-\191]', '')
    if s.minLength and chars < s.minLength then
      out[#out + 1] = path .. ': must have at least ' .. s.minLength .. ' characters'
    end
    if s.maxLength and chars > s.maxLength then
      out[#out + 1] = path .. ': must have at most ' .. s.maxLength .. ' characters'
    end
  end
end

local function check_array(s, v, path, depth, out)
  local n = #v
  if s.minItems and n < s.minItems then
    out[#out + 1] = path .. ': must have at least ' .. s.minItems .. ' items'
  end
  if s.maxItems and n > s.maxItems then
    out[#out + 1] = path .. ': must have at most ' .. s.maxItems .. ' items'
  end
  local prefix = type(s.prefixItems) == 'table' and s.prefixItems or {}
  for i = 1, n do
    local sub = prefix[i]
    if sub == nil then sub = s.items end
    if sub ~= nil then check(sub, v[i], path .. '[' .. (i - 1) .. ']', depth + 1, out) end
  end
end

local function check_object(s, v, path, depth, out)
  local props = type(s.properties) == 'table' and s.properties or {}
  if type(s.required) == 'table' then
    for _, name in ipairs(s.required) do
      if v[name] == nil then out[#out + 1] = path .. '.' .. name .. ': field required' end
    end
  end
  local extra = s.additionalProperties
  for k, item in pairs(v) do
    local sub = props[k]
    if sub ~= nil then
      check(sub, item, path .. '.' .. k, depth + 1, out)
    elseif extra == false then
      out[#out + 1] = path .. '.' .. k .. ': extra field not permitted'
    elseif type(extra) == 'table' then
      check(extra, item, path .. '.' .. k, depth + 1, out)
    end
  end
end

-- A work budget: unions of self-nesting models would otherwise make validation exponential in
-- the payload's depth, and a script blocks the whole server while it runs.
local WORK_LIMIT = 20000
local work = 0

check = function(s, v, path, depth, out)
  work = work + 1
  if work > WORK_LIMIT then return end
  if s == false then out[#out + 1] = path .. ': no value is allowed here'; return end
  if type(s) ~= 'table' then return end
  if depth > 64 then out[#out + 1] = path .. ': schema nested too deeply'; return end
  if s['$ref'] ~= nil then
    local target = resolve_ref(s['$ref'])
    if target == nil then out[#out + 1] = path .. ': unresolvable $ref ' .. shown(s['$ref'])
    else check(target, v, path, depth + 1, out) end
  end
  if s.type ~= nil and not type_ok(s.type, v) then
    local want = type(s.type) == 'table' and table.concat(s.type, ' or ') or s.type
    out[#out + 1] = path .. ': expected ' .. want .. ', got ' .. json_type(v)
    return
  end
  -- a failed const/enum ends this branch (a discriminated union's other members stop here)
  if s.const ~= nil and not equal(s.const, v) then
    out[#out + 1] = path .. ': must be ' .. shown(s.const)
    return
  end
  if type(s.enum) == 'table' then
    local found = false
    for _, e in ipairs(s.enum) do if equal(e, v) then found = true; break end end
    if not found then out[#out + 1] = path .. ': must be one of ' .. shown(s.enum); return end
  end
  check_branches(s, v, path, depth, out)
  if type(v) == 'table' then
    if is_array(v) then check_array(s, v, path, depth, out) end
    if is_object(v) then check_object(s, v, path, depth, out) end
  else
    check_scalar(s, v, path, out)
  end
end

-- "" when value matches schema, else the sorted problems joined with "; " (at most MAX_PROBLEMS).
local function validate(schema, value)
  root_schema = schema
  work = 0
  local out = {}
  check(schema, value, '$', 0, out)
  if work > WORK_LIMIT then return '$: payload too complex to validate' end
  if #out == 0 then return '' end
  table.sort(out)
  local shown_n = math.min(#out, MAX_PROBLEMS)
  local text = table.concat(out, '; ', 1, shown_n)
  if #out > shown_n then text = text .. '; ... (' .. (#out - shown_n) .. ' more)' end
  return text
end

-- validate before any write
local status = hget(hook_key, 'status')
if not status then return {'not_found'} end
local th, thp = hget(hook_key, 'th') or '', hget(hook_key, 'thp') or ''
if token_hash == '' or (token_hash ~= th and (thp == '' or token_hash ~= thp)) then
  return {'not_found'}
end
local task_id = hget(hook_key, 'task') or ''
local hook_id = hget(hook_key, 'hook_id') or string.match(hook_key, ':h:(.+)$')
if string.match(task_key, ':t:(.+)$') ~= task_id then
  return redis.error_reply('resolve_hook: hook ' .. hook_id .. ' belongs to task ' .. task_id ..
    ', not to ' .. task_key)
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

local decoded_ok, value = pcall(cjson.decode, payload)
if not decoded_ok then return {'invalid', task_id, 'payload is not valid JSON'} end
if not string.find(payload, '^%s*{') then
  return {'invalid', task_id, '$: expected object, got ' .. json_type(value)}
end
local schema_text = hget(KEYS[5], hget(hook_key, 'schema_id') or '') or ''
if schema_text == '' then
  return redis.error_reply('resolve_hook: hook ' .. hook_id .. ' has no stored schema')
end
local schema_ok, schema = pcall(cjson.decode, schema_text)
if not schema_ok then
  return redis.error_reply('resolve_hook: hook ' .. hook_id .. ' has a schema that is not JSON')
end
local problems = validate(schema, value)
if problems ~= '' then return {'invalid', task_id, problems} end

-- the payload goes to the inbox, then into the context: the task's context cap holds here
local cap = tonumber(ARGV[5] or '') or 0
local total = context_bytes(task_key) + #payload + 64 + #hook_id
if cap > 0 and total > cap then return {'too_large', task_id, total} end

redis.call('HSET', hook_key, 'status', 'resolved', 'payload', payload, 'idem', idem,
  'resolved', now)
return {'resolved', task_id,
  hook_settled(hook_key, task_key, inbox_key, events_key, hook_id, 'resolved', payload, now)}
