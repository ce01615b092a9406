-- The first part of the aggregation script (see aggscript.go): the
-- arguments, and the decoding and encoding of a feature's state.
local mode, now, kttl, nf = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local idx = KEYS[1]
local up, pk, floor, huge = struct.unpack, struct.pack, math.floor, math.huge
local COUNT, SUM, AVG, MIN, MAX, LATEST, MAXP, MINP, AVGP, CD = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
local codes = {COUNT = 1, SUM = 2, AVG = 3, MIN = 4, MAX = 5, LATEST = 6, MAX_POOLING = 7,
  MIN_POOLING = 8, AVG_POOLING = 9, COUNT_DISTINCT = 10}
local types = {INT32 = 1, INT64 = 1, FLOAT = 1, DOUBLE = 1, FLOAT_VECTOR = 1, DOUBLE_VECTOR = 1,
  INT32_VECTOR = 1, INT64_VECTOR = 1}
local MAXF32 = 3.4028234663852886e38

-- The features. k is the numbers per tile of the flat functions (see
-- decode), nil for LATEST and POOLING; cur is the newest tile visible at
-- now, first the oldest. fields are the fields of S read per key: d, then
-- each feature's t:<name>, then its c:<name>.
local F, fields = {}, {'d'}
local a = 5
for f = 1, nf do
  local fn, ty = codes[ARGV[a+1]], ARGV[a+2]
  if fn == nil or (fn ~= LATEST and types[ty] == nil) then
    return redis.error_reply('ERR feathr aggregation: bad function or type: ' .. ARGV[a+1] .. ' ' .. ty)
  end
  local w, hop, late = tonumber(ARGV[a+3]), tonumber(ARGV[a+4]), tonumber(ARGV[a+5])
  local k = 3
  if fn == CD then k = 1 elseif fn == LATEST or fn >= MAXP then k = nil end
  F[f] = {name = ARGV[a], fn = fn, ty = ty, w = w, hop = hop, late = late, horizon = now - w - late, k = k,
    cur = floor(now / hop), first = floor((now - w) / hop)}
  fields[f+1] = 't:' .. ARGV[a]
  fields[nf+f+1] = 'c:' .. ARGV[a]
  a = a + 6
end

-- dfmt returns the struct format of n little-endian doubles.
local dfmts = {}
local function dfmt(n)
  local f = dfmts[n]
  if f == nil then f = '<' .. string.rep('d', n); dfmts[n] = f end
  return f
end
-- doubles unpacks n doubles of s at pos into out, and returns the next
-- pos; at most 960 per struct call (Lua's C stack).
local function doubles(s, pos, n, out)
  if n <= 960 then
    local r = {up(dfmt(n), s, pos)}
    pos = r[n+1]
    if out == nil then r[n+1] = nil; return pos, r end
    for j = 1, n do out[j] = r[j] end
    return pos, out
  end
  out = out or {}
  local i = 0
  while i < n do
    local m = math.min(960, n - i)
    local r = {up(dfmt(m), s, pos)}
    for j = 1, m do out[i+j] = r[j] end
    pos = r[m+1]
    i = i + m
  end
  return pos, out
end
-- packDoubles packs v[lo..hi] (hi: #v by default) as doubles.
local function packDoubles(v, lo, hi)
  local n = hi or #v
  if n < lo then return '' end
  if n - lo < 960 then return pk(dfmt(n - lo + 1), unpack(v, lo, n)) end
  local parts, i = {}, lo
  while i <= n do
    local m = math.min(960, n - i + 1)
    parts[#parts+1] = pk(dfmt(m), unpack(v, i, i + m - 1))
    i = i + m
  end
  return table.concat(parts)
end

-- A feature's state st holds its tiles, sorted by tile number b (so the
-- expired ones come first). COUNT, SUM, AVG, MIN, MAX and COUNT_DISTINCT
-- keep them flat, as encoded: k numbers per tile in st.v from index st.lo
-- (those before have expired): COUNT b, rows, n; SUM, AVG b, n, sum;
-- MIN, MAX b, n, v; COUNT_DISTINCT b. LATEST and POOLING keep a table per
-- tile in st.ts: LATEST {b, n, time, value}, POOLING {b, n, _, vector}.
--
-- The cache c:<name> of a feature with k = 3 is cur, p, q, d, newest and,
-- when tile cur is in it rather than in t:<name>, its two numbers: for
-- the window whose newest tile is cur, (p, q) is the fold of its tiles
-- but cur, d the next time a tile enters or leaves a window (0: none),
-- newest the newest tile number. While cur stays and t:<name> has no tile
-- from cur on, an event in tile cur changes only the cache: the state is
-- then "fast": st.v holds tile cur only, st.cp, st.cq, st.cd and st.cn
-- the cache, st.raw the encoding of the other tiles, and the value is
-- the cache folded with tile cur, as the full fold would be.
local function decodeFull(s, raw)
  local st = {lo = 1, k = s.k}
  if s.k then
    local v = {}
    if raw then
      local _, r = doubles(raw, 1, #raw / 8, nil)
      v = r
    end
    local lo, k, hop = 1, s.k, s.hop
    while lo <= #v and (v[lo] + 1) * hop <= s.horizon do lo = lo + k end
    st.v, st.lo = v, lo
    return st
  end
  local ts, n = {}, 0
  st.ts = ts
  if not raw then return st end
  local fn, pos, len = s.fn, 1, #raw
  while pos <= len do
    local t
    if fn == LATEST then
      local b, c, tm, l
      b, c, tm, l, pos = up('<dddi4', raw, pos)
      t = {b, c, tm, string.sub(raw, pos, pos + l - 1)}
      pos = pos + l
    else
      local b, c, dim, v
      b, c, dim, pos = up('<ddd', raw, pos)
      pos, v = doubles(raw, pos, dim, {})
      t = {b, c, 0, v}
    end
    if (t[1] + 1) * s.hop > s.horizon then n = n + 1; ts[n] = t end
  end
  if fn ~= LATEST and n > 0 then st.dim = #ts[1][4] end
  return st
end

-- decode returns a feature's state from its fields: fast when its cache
-- is for tile cur and t:<name> has no tile from cur on, else full.
local function decode(s, raw, cache)
  if s.k == 3 and cache then
    local n = #cache / 8
    local last, p, q, d, newest, x, y = up(dfmt(n), cache)
    local tb = -huge
    if raw then tb = up('<d', raw, #raw - 23) end
    if last == s.cur and tb < s.cur then
      local st = {lo = 1, k = 3, fast = true, raw = raw, cp = p, cq = q, cd = d, cn = newest}
      if n == 7 then st.v = {last, x, y} else st.v, st.new = {s.cur, 0, 0}, true end
      return st
    end
    if n == 7 then raw = (raw or '') .. pk('<ddd', last, x, y) end
  end
  return decodeFull(s, raw)
end

-- full turns a fast state into a full one, in place.
local function full(s, st)
  if not st.fast then return end
  local raw = st.raw or ''
  if st.v[2] > 0 then raw = raw .. pk('<ddd', st.v[1], st.v[2], st.v[3]) end
  if raw == '' then raw = nil end
  local x = decodeFull(s, raw)
  st.fast, st.v, st.lo, st.raw = nil, x.v, x.lo, nil
end

-- encode returns the encoding of a full state's tiles, but for k = 3
-- not tile cur when it is the newest: that one goes in the cache.
local function encode(s, st)
  if s.k then
    local hi, v = nil, st.v
    if s.k == 3 and #v >= st.lo and v[#v - 2] == s.cur then hi = #v - 3 end
    return packDoubles(v, st.lo, hi)
  end
  local out, ts = {}, st.ts
  for i = 1, #ts do
    local t = ts[i]
    if s.fn == LATEST then out[i] = pk('<dddi4', t[1], t[2], t[3], #t[4]) .. t[4]
    else out[i] = pk('<ddd', t[1], t[2], #t[4]) .. packDoubles(t[4], 1) end
  end
  return table.concat(out)
end

-- cache returns the cache c:<name> of a k = 3 state after final gave
-- (cp, cq) and change (fd, newest).
local function cache(s, st, cp, cq, fd, newest)
  local v, x, y = st.v, nil, nil
  if st.fast then
    if v[2] > 0 then x, y = v[2], v[3] end
  elseif #v >= st.lo and v[#v - 2] == s.cur then
    x, y = v[#v - 1], v[#v]
  end
  if x == nil then return pk('<ddddd', s.cur, cp, cq, fd or 0, newest) end
  return pk('<ddddddd', s.cur, cp, cq, fd or 0, newest, x, y)
end

-- flatAt returns the index in st.v of tile b, inserting an empty one.
local function flatAt(st, b)
  local v, k, lo = st.v, st.k, st.lo
  local i = #v - k + 1
  while i >= lo and v[i] > b do i = i - k end
  if i >= lo and v[i] == b then return i end
  local at = i + k
  if at > #v then
    v[at] = b
    for j = 1, k - 1 do v[at+j] = 0 end
  else
    for j = 1, k - 1 do table.insert(v, at, 0) end
    table.insert(v, at, b)
  end
  return at
end

-- tileAt returns the tile b of st.ts, inserting an empty one.
local function tileAt(ts, b)
  local i = #ts
  while i > 0 and ts[i][1] > b do i = i - 1 end
  if i > 0 and ts[i][1] == b then return ts[i] end
  local t = {b, 0, 0}
  table.insert(ts, i + 1, t)
  return t
end

-- Java's Math.max and Math.min: NaN wins; +0 is above -0.
local function jmax(x, y)
  if x ~= x then return x end
  if y ~= y then return y end
  if x == y then
    if x == 0 and 1 / x < 0 then return y end
    return x
  end
  if x > y then return x end
  return y
end
local function jmin(x, y)
  if x ~= x then return x end
  if y ~= y then return y end
  if x == y then
    if x == 0 and 1 / x > 0 then return y end
    return x
  end
  if x < y then return x end
  return y
end

local function poolInto(fn, acc, v)
  if fn == AVGP then for i = 1, #v do acc[i] = acc[i] + v[i] end
  elseif fn == MAXP then for i = 1, #v do acc[i] = jmax(acc[i], v[i]) end
  else for i = 1, #v do acc[i] = jmin(acc[i], v[i]) end end
end

