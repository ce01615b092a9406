
local tf, of, ttl, cov, nf = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local chunk = 1000
local covered, unknown = string.byte('1'), string.byte('-')

-- hset sets f1 to v1 and the name-value pairs args[first..last] of key.
local function hset(key, args, first, last, f1, v1)
  local stop = math.min(first + chunk - 1, last)
  redis.call('HSET', key, f1, v1, unpack(args, first, stop))
  for s = stop + 1, last, chunk do
    redis.call('HSET', key, unpack(args, s, math.min(s + chunk - 1, last)))
  end
end

-- present returns the set of names that key holds.
local function present(key, names)
  local got = {}
  for s = 1, #names, chunk do
    local vals = redis.call('HMGET', key, unpack(names, s, math.min(s + chunk - 1, #names)))
    for j = 1, #vals do
      if vals[j] then got[names[s + j - 1]] = true end
    end
  end
  return got
end

-- olderTimes returns the older times of key, whose event-time field holds
-- cur (false: none), and whether key has an older-times field, stale or
-- not.
local function olderTimes(key, cur)
  local s = redis.call('HGET', key, of)
  if not s then return {}, false end
  local o = cjson.decode(s)
  if o[1] ~= cur then return {}, true end
  return o[2], true
end

-- setOlder stores older, the older times under the event time t, or
-- removes the field when there are none.
local function setOlder(key, older, had, t)
  if next(older) ~= nil then
    redis.call('HSET', key, of, cjson.encode({t, older}))
  elseif had then
    redis.call('HDEL', key, of)
  end
end

-- features returns the table's features: names, the write's, when it has
-- every one (coverage '1'), or the fields key holds but the hidden ones
-- (coverage '-'); and whether they are known to be in key.
local tableFeatures
local function features(key, c, names)
  if c == covered then return names, false end
  if c == unknown then
    local out = {}
    for _, f in ipairs(redis.call('HKEYS', key)) do
      if string.sub(f, 1, 9) ~= '__feathr_' then out[#out + 1] = f end
    end
    return out, true
  end
  if tableFeatures == nil then
    tableFeatures = {}
    for j = 1, nf do tableFeatures[j] = ARGV[5 + j] end
  end
  return tableFeatures, false
end

-- leftBehind gives, in older, the time base to every feature of key not
-- written and not in older yet, when T becomes newer than base.
local function leftBehind(key, c, written, older, base, writeNames)
  local names, known = features(key, c, writeNames)
  local list = {}
  for _, f in ipairs(names) do
    if not written[f] and older[f] == nil then list[#list + 1] = f end
  end
  if #list == 0 then return end
  local got = known or present(key, list)
  for _, f in ipairs(list) do
    if known or got[f] then older[f] = base end
  end
end

-- slow writes key's fields (ARGV from i) each against its own stored
-- time, cur being the event-time field's (curArg as stored), and keeps
-- the older-times field.
local function slow(key, n, c, i, cur, curArg)
  local older, had = olderTimes(key, curArg)
  local names, times, vals = {}, {}, {}
  if n > 0 then
    for j = 1, n do
      names[j], times[j], vals[j] = ARGV[i + 2 * j], ARGV[i + 1], ARGV[i + 1 + 2 * j]
    end
  else
    for j = 1, -n do
      local p = i - 2 + 3 * j
      names[j], times[j], vals[j] = ARGV[p], ARGV[p + 1], ARGV[p + 2]
    end
  end
  -- ok[j]: write field j; nil: only if the key does not hold it (its
  -- time is T, newer than the field's).
  local ok, unsure = {}, {}
  for j = 1, #names do
    local s = older[names[j]]
    if s ~= nil then
      s = tonumber(s)
      ok[j] = s == nil or tonumber(times[j]) >= s
    elseif cur == nil or tonumber(times[j]) >= cur then
      ok[j] = true
    else
      unsure[#unsure + 1] = names[j]
    end
  end
  if #unsure > 0 then
    local got = present(key, unsure)
    for j = 1, #names do
      if ok[j] == nil then ok[j] = not got[names[j]] end
    end
  end
  local args, m, written = {}, 0, {}
  local newest, newestArg = cur, curArg
  for j = 1, #names do
    if ok[j] then
      args[m + 1], args[m + 2] = names[j], vals[j]
      m = m + 2
      written[names[j]] = true
      local t = tonumber(times[j])
      if newest == nil or t > newest then newest, newestArg = t, times[j] end
    end
  end
  if m == 0 then return 0 end
  if cur == nil or newest > cur then
    leftBehind(key, c, written, older, cur and curArg or '', names)
  end
  for j = 1, #names do
    if ok[j] then
      if tonumber(times[j]) < newest then
        older[names[j]] = times[j]
      else
        older[names[j]] = nil
      end
    end
  end
  hset(key, args, 1, m, tf, newestArg)
  setOlder(key, older, had, newestArg)
  return m / 2
end

-- writeKey writes the fields of key, the k-th, ARGV from i, and returns
-- how many it wrote.
local function writeKey(key, k, i, n)
  local c = string.byte(cov, k)
  local curArg = redis.call('HGET', key, tf)
  local cur = tonumber(curArg)
  local t = ARGV[i + 1]
  local w
  if n > 0 and (cur == nil or tonumber(t) > cur) then
    if 2 * n <= chunk then
      redis.call('HSET', key, tf, t, unpack(ARGV, i + 2, i + 1 + 2 * n))
    else
      hset(key, ARGV, i + 2, i + 1 + 2 * n, tf, t)
    end
    if c ~= covered and redis.call('HLEN', key) ~= n + 1 then
      -- The key holds other fields: the features of them keep their
      -- times, the old T or older ones.
      local older, had = olderTimes(key, curArg)
      local written = {}
      for j = i + 2, i + 2 * n, 2 do
        written[ARGV[j]] = true
        older[ARGV[j]] = nil
      end
      leftBehind(key, c, written, older, cur and curArg or '')
      setOlder(key, older, had, t)
    end
    w = n
  else
    w = slow(key, n, c, i, cur, curArg)
  end
  if w > 0 and ttl > 0 then
    redis.call('PEXPIRE', key, ttl)
  end
  return w
end

local res = {}
local k = 0
-- One pcall for the call: k says which key failed.
local ok, err = pcall(function()
  local i = 6 + nf
  for kk = 1, #KEYS do
    k = kk
    local n = tonumber(ARGV[i])
    res[kk] = writeKey(KEYS[kk], kk, i, n)
    if n > 0 then i = i + 2 + 2 * n else i = i + 1 - 3 * n end
  end
end)
if not ok then
  if type(err) == 'table' then err = err.err end
  err = tostring(err)
  if not string.match(err, '^%u+ ') then err = 'ERR ' .. err end
  res[k] = {err = err}
end
return res
