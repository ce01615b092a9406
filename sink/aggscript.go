package sink

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/gomodule/redigo/redis"

	"github.com/feathrgo/feathr/feature"
	"github.com/feathrgo/feathr/window"
)

// aggScriptSource applies events to the sliding-window aggregations of
// one materialization M for one or more entity keys, exactly once, or
// refreshes their stored values (see package window for the semantics
// and statekey.go for the keys).
//
// KEYS[1] is M's refresh index (the cluster shard of the keys' slot);
// then, per entity key, K (the hash of feature values, "<table>:<key>")
// and S (stateKey(K, M)).
//
// ARGV: mode ('a' to apply events, 'r' to refresh), now (the writer's
// wall clock, unix ms), K's TTL in ms (0: none), the number of features
// nf, then per feature six arguments: its name (its field in K), its
// function (window.Func's name), its declared type (feature.Type's name),
// window, hop and allowed lateness in ms. In mode 'a', then per key: the
// number of events n, then n events of 3+nf arguments each: the offset
// field "o:<topic>:<partition>", the offset, the event time (unix ms),
// then one input per feature:
//
//	""      not a row: filtered out (nothing aggregated, not even COUNT's row)
//	"~"     a row whose agg_expr is null (COUNT counts the row; others skip it)
//	COUNT: "1"; SUM AVG MIN MAX: the number in decimal ("nan", "inf", "-inf");
//	*_POOLING: "v" then the vector as little-endian doubles (so that an
//	empty vector is not ""); LATEST: the value as its
//	FeatureValue base64, of the declared type; COUNT_DISTINCT: 16 hex digits
//
// Per key, events apply in order; an event whose offset is at most the
// one S holds for its partition is a duplicate and skipped, else the
// offset is kept. A row at or before now − window − lateness of a feature
// is late there and not aggregated. A POOLING vector whose length is not
// that of the feature's tiles is rejected. When no event of a key was
// applied, nothing of it is written. Otherwise: tiles that expired
// (window.Spec.Expired) are dropped when a feature's tiles are rewritten;
// its field of K is set to its value at now as a FeatureValue base64 of
// its type (deleted when null or when the value does not fit the type, as
// window.Output); S's d field (the next time a tile enters or leaves a
// window) and K's score in the index change when d changes; S's TTL
// becomes the longest of window + lateness + max(hop, end of its newest
// tile − now) over its features; K's TTL is set when it is not 0. A
// COUNT_DISTINCT tile is the HyperLogLog S .. ":d:" .. name .. ":" .. b,
// with a TTL until its tile expires.
//
// S's fields per feature: t:<name>, its tiles in window.AppendTiles'
// format (see stateTiles), and, for COUNT, SUM, AVG, MIN and MAX, the
// cache c:<name>, five or seven little-endian doubles: cur, the newest
// tile visible at the now it was written; p and q, the fold of the
// visible tiles before cur (rows and n; n and the sum; n and the minimum
// or maximum); the feature's next change (0: none); its newest tile; and,
// when tile cur is the newest, its two numbers, which t:<name> then
// lacks. While cur has not moved, an event in tile cur (the common case)
// changes the cache only, and the value is the cache folded with tile
// cur: the same operations in the same order as a fold of every tile
// (window.Spec.Fold), so the same bits, without reading the other tiles;
// 56 bytes are written, not the whole window. Any other event decodes and
// rewrites the tiles.
//
// Mode 'r' applies no event and writes no tile nor cache: it rewrites
// the fields of K from S at now, deletes them when S has no tiles (or is
// gone), and moves d and K's score in the index, or removes K from it
// when no tile will enter or leave a window.
//
// It returns four integers per key: events applied, duplicates skipped,
// vectors rejected, late rows (an event late for two features counts
// twice).
const aggScriptSource = `
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

-- apply aggregates input x of an event at time tm into the feature's
-- state st: 2 when it was rejected, 1 when it was aggregated, 0 else.
local function apply(s, st, tm, x)
  local fn = s.fn
  if fn ~= COUNT and x == '~' then return 0 end
  local b = floor(tm / s.hop)
  if st.fast and b ~= s.cur then full(s, st) end
  if fn <= MAX then
    local v, i = st.v, flatAt(st, b)
    if fn == COUNT then
      v[i+1] = v[i+1] + 1
      if x ~= '~' then v[i+2] = v[i+2] + 1 end
    elseif fn == SUM or fn == AVG then
      v[i+1] = v[i+1] + 1
      v[i+2] = v[i+2] + tonumber(x)
    else
      local y = tonumber(x)
      if v[i+1] == 0 then v[i+2] = y elseif fn == MIN then v[i+2] = jmin(v[i+2], y) else v[i+2] = jmax(v[i+2], y) end
      v[i+1] = v[i+1] + 1
    end
  elseif fn == LATEST then
    local t = tileAt(st.ts, b)
    if t[2] == 0 or tm >= t[3] then t[3] = tm; t[4] = x end
    t[2] = t[2] + 1
  elseif fn == CD then
    flatAt(st, b)
    local key = st.hll .. string.format('%d', b)
    if redis.call('PFADD', key, x) == 1 then
      redis.call('PEXPIRE', key, (b + 1) * s.hop + s.w + s.late - now)
    end
  else
    local dim = (#x - 1) / 8
    if st.dim ~= nil and st.dim ~= dim then return 2 end
    st.dim = dim
    local _, v = doubles(x, 2, dim, nil)
    local t = tileAt(st.ts, b)
    if t[2] == 0 then t[4] = v else poolInto(fn, t[4], v) end
    t[2] = t[2] + 1
  end
  return 1
end

-- final returns a feature's value at now (nil: null; a number; a table of
-- numbers for POOLING; LATEST's stored string) and, for k = 3, the fold
-- of the visible tiles but cur (p, q) for the cache.
local function final(s, st)
  local fn, first, cur = s.fn, s.first, s.cur
  local p, q, acc = 0, 0, nil
  if s.k then
    local v, k = st.v, s.k
    if fn == CD then
      local keys, n = {}, 0
      for i = st.lo, #v do
        local b = v[i]
        if b >= first and b <= cur then n = n + 1; keys[n] = st.hll .. string.format('%d', b) end
      end
      if n == 0 then return nil end
      local c = redis.call('PFCOUNT', unpack(keys))
      if c == 0 then return nil end
      return c
    end
    if st.fast then p, q = st.cp, st.cq end
    local cp, cq = nil, nil
    for i = st.lo, #v, k do
      local b = v[i]
      if b >= first and b <= cur and v[i+1] > 0 then
        if b == cur then cp, cq = p, q end
        if fn == MIN or fn == MAX then
          if v[i+1] > 0 then
            if p == 0 then q = v[i+2] elseif fn == MIN then q = jmin(q, v[i+2]) else q = jmax(q, v[i+2]) end
            p = p + v[i+1]
          end
        else
          p, q = p + v[i+1], q + v[i+2]
        end
      end
    end
    if cp == nil then cp, cq = p, q end
    if p == 0 then return nil, cp, cq end
    if fn == AVG then return q / p, cp, cq end
    return q, cp, cq
  end
  local ts = st.ts
  for i = 1, #ts do
    local t = ts[i]
    if t[1] >= first and t[1] <= cur and t[2] > 0 then
      if fn == LATEST then
        if p == 0 or t[3] >= q then q = t[3]; acc = t[4] end
        p = p + t[2]
      elseif p == 0 then
        acc = {}
        for j = 1, #t[4] do acc[j] = t[4][j] end
        p = t[2]
      elseif #t[4] == #acc then
        poolInto(fn, acc, t[4])
        p = p + t[2]
      end
    end
  end
  if p == 0 then return nil end
  if fn == AVGP then
    for j = 1, #acc do acc[j] = acc[j] / p end
  end
  return acc
end

-- earliest returns the earliest of d and the times after now that tile b
-- enters (b·hop) and leaves ((b+1)·hop + window) a window.
local function earliest(s, b, d)
  local e = b * s.hop
  if e > now and (d == nil or e < d) then d = e end
  e = e + s.hop + s.w
  if e > now and (d == nil or e < d) then d = e end
  return d
end

-- change returns the next time after now that a tile of st enters or
-- leaves a window, or nil, and its newest tile.
local function change(s, st)
  local d = nil
  if st.fast then
    if st.cd > 0 then d = st.cd end
    local newest = st.cn
    if st.new and st.v[2] > 0 then
      d = earliest(s, s.cur, d)
      if newest < s.cur then newest = s.cur end
    end
    return d, newest
  end
  if s.k then
    local v, k, hop = st.v, s.k, s.hop
    if #v < st.lo then return nil, nil end
    -- Enter and leave times grow with b: look at the first tile that
    -- leaves after now and at the tiles that enter after it.
    for i = st.lo, #v, k do
      if (v[i] + 1) * hop + s.w > now then d = earliest(s, v[i], d); break end
    end
    for i = #v - k + 1, st.lo, -k do
      if v[i] * hop <= now then break end
      d = earliest(s, v[i], d)
    end
    return d, v[#v - k + 1]
  end
  local ts = st.ts
  for i = 1, #ts do d = earliest(s, ts[i][1], d) end
  if #ts == 0 then return d, nil end
  return d, ts[#ts][1]
end

-- The FeatureValue protobuf, as sink.AppendValue writes it.
local function varint(v)
  if v >= 0 then
    if v < 128 then return string.char(v) end
    local t, n = {}, 0
    while v >= 128 do n = n + 1; t[n] = v % 128 + 128; v = floor(v / 128) end
    t[n+1] = v
    return string.char(unpack(t))
  end
  -- The ten bytes of the 64-bit two's complement, in base 128.
  local d, w, carry = {}, -v, 1
  for i = 1, 10 do d[i] = w % 128; w = floor(w / 128) end
  for i = 1, 10 do
    local x = 127 - d[i] + carry
    if x >= 128 then x, carry = x - 128, 1 else carry = 0 end
    d[i] = x + 128
  end
  d[10] = (d[10] - 128) % 2
  return string.char(unpack(d))
end
-- toint truncates v toward zero, or returns nil when it is out of [-lim, lim).
local function toint(v, lim)
  if v ~= v then return nil end
  if v >= 0 then v = floor(v) else v = -floor(-v) end
  if v < -lim or v >= lim then return nil end
  return v
end
local function f32ok(v)
  local m = math.abs(v)
  return not (m > MAXF32 and m ~= huge)
end
local function scalar(ty, v)
  if ty == 'DOUBLE' then return '\33' .. pk('<d', v) end
  if ty == 'FLOAT' then
    if not f32ok(v) then return nil end
    return '\29' .. pk('<f', v)
  end
  local lim, tag = 2147483648, '\40'
  if ty == 'INT64' then lim, tag = 9223372036854775808, '\48' end
  local i = toint(v, lim)
  if i == nil then return nil end
  return tag .. varint(i)
end
local vtags = {FLOAT_VECTOR = '\98', DOUBLE_VECTOR = '\106', INT32_VECTOR = '\114', INT64_VECTOR = '\122'}
local function vector(ty, v)
  local parts = {}
  for i = 1, #v do
    local x = v[i]
    if ty == 'DOUBLE_VECTOR' then parts[i] = '\9' .. pk('<d', x)
    elseif ty == 'FLOAT_VECTOR' then
      if not f32ok(x) then return nil end
      parts[i] = '\13' .. pk('<f', x)
    else
      local lim = 2147483648
      if ty == 'INT64_VECTOR' then lim = 9223372036854775808 end
      local n = toint(x, lim)
      if n == nil then return nil end
      parts[i] = '\8' .. varint(n)
    end
  end
  local body = table.concat(parts)
  return vtags[ty] .. varint(#body) .. body
end
-- b64 is standard padded base64, through the buffer ob.
local B = {string.byte('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', 1, 64)}
local ob = {}
local function b64(s)
  local len, parts = #s, nil
  for c = 1, len, 3000 do
    local e = math.min(c + 2999, len)
    local j = 0
    for i = c, e - 2, 3 do
      local x, y, z = string.byte(s, i, i + 2)
      local v = x * 65536 + y * 256 + z
      ob[j+1], ob[j+2], ob[j+3], ob[j+4] = B[floor(v / 262144) + 1], B[floor(v / 4096) % 64 + 1], B[floor(v / 64) % 64 + 1], B[v % 64 + 1]
      j = j + 4
    end
    local r = (e - c + 1) % 3
    if r == 1 then
      local v = string.byte(s, e)
      ob[j+1], ob[j+2], ob[j+3], ob[j+4] = B[floor(v / 4) + 1], B[(v % 4) * 16 + 1], 61, 61
      j = j + 4
    elseif r == 2 then
      local x, y = string.byte(s, e - 1, e)
      local v = x * 256 + y
      ob[j+1], ob[j+2], ob[j+3], ob[j+4] = B[floor(v / 1024) + 1], B[floor(v / 16) % 64 + 1], B[(v % 16) * 4 + 1], 61
      j = j + 4
    end
    local out = string.char(unpack(ob, 1, j))
    if c == 1 and e == len then return out end
    parts = parts or {}
    parts[#parts+1] = out
  end
  if parts == nil then return '' end
  return table.concat(parts)
end

local function states(vals, S)
  local st = {}
  for f = 1, nf do
    local s = F[f]
    local x = decode(s, vals[f+1], vals[nf+f+1])
    if s.fn == CD then x.hll = S .. ':d:' .. s.name .. ':' end
    st[f] = x
  end
  return st
end

-- Buffers reused for every key: hm the fields read, hs and hd the fields
-- of S set and deleted, ks and kd those of K.
local res, hm, hs, hd, ks, kd = {}, {}, {}, {}, {}, {}
for i = 1, 2 * nf + 1 do hm[i] = fields[i] end
for k = 1, (#KEYS - 1) / 2 do
  local K, S = KEYS[2*k], KEYS[2*k+1]
  local applied, dup, rej, late = 0, 0, 0, 0
  local ne, stride, nhm = 0, 3 + nf, 2 * nf + 1
  if mode == 'a' then
    ne = tonumber(ARGV[a])
    a = a + 1
  end
  local opos = {}
  for e = 0, ne - 1 do
    local of = ARGV[a + e * stride]
    if not opos[of] then nhm = nhm + 1; hm[nhm] = of; opos[of] = nhm end
  end
  local vals = redis.call('HMGET', S, unpack(hm, 1, nhm))
  local cur, newoff, st = {}, {}, nil
  for of, i in pairs(opos) do cur[of] = tonumber(vals[i]) end
  for e = 1, ne do
    local of, off, tm = ARGV[a], tonumber(ARGV[a+1]), tonumber(ARGV[a+2])
    local c = cur[of]
    if c ~= nil and off <= c then
      dup = dup + 1
    else
      cur[of], newoff[of], applied = off, ARGV[a+1], applied + 1
      if st == nil then st = states(vals, S) end
      for f = 1, nf do
        local x = ARGV[a+2+f]
        if x ~= '' then
          local s = F[f]
          if tm <= s.horizon then
            late = late + 1
          else
            if apply(s, st[f], tm, x) == 2 then rej = rej + 1 end
          end
        end
      end
    end
    a = a + stride
  end
  local empty = true
  for i = 1, nf + 1 do if vals[i] then empty = false end end
  if mode == 'r' and empty then
    for f = 1, nf do kd[f] = F[f].name end
    redis.call('HDEL', K, unpack(kd, 1, nf))
    redis.call('ZREM', idx, K)
  elseif mode == 'r' or applied > 0 then
    if st == nil then st = states(vals, S) end
    local nhs, nhd, nks, nkd, d, ttl = 0, 0, 0, 0, nil, 0
    for of, v in pairs(newoff) do hs[nhs+1], hs[nhs+2] = of, v; nhs = nhs + 2 end
    for f = 1, nf do
      local s, x = F[f], st[f]
      local v, cp, cq = final(s, x)
      local fd, newest = change(s, x)
      if fd and (d == nil or fd < d) then d = fd end
      if mode == 'a' then
        -- Write what changed; a full state rewrites its tiles.
        local t, c = false, false
        if newest ~= nil then
          if not x.fast then t = encode(s, x) end
          if s.k == 3 then c = cache(s, x, cp, cq, fd, newest) end
          if t == '' then t = false end
        end
        if not x.fast then
          if t then
            if t ~= vals[f+1] then hs[nhs+1], hs[nhs+2] = fields[f+1], t; nhs = nhs + 2 end
          elseif vals[f+1] then nhd = nhd + 1; hd[nhd] = fields[f+1] end
        end
        if c then
          if c ~= vals[nf+f+1] then hs[nhs+1], hs[nhs+2] = fields[nf+f+1], c; nhs = nhs + 2 end
        elseif vals[nf+f+1] then nhd = nhd + 1; hd[nhd] = fields[nf+f+1] end
      end
      local enc = nil
      if v ~= nil then
        if s.fn == LATEST then enc = v
        else
          if type(v) == 'table' then enc = vector(s.ty, v) else enc = scalar(s.ty, v) end
          if enc then enc = b64(enc) end
        end
      end
      if enc then ks[nks+1], ks[nks+2] = s.name, enc; nks = nks + 2 else nkd = nkd + 1; kd[nkd] = s.name end
      local m = s.hop
      if newest then m = math.max(m, (newest + 1) * s.hop - now) end
      ttl = math.max(ttl, s.w + s.late + m)
    end
    if d ~= tonumber(vals[1]) then
      if d then
        hs[nhs+1], hs[nhs+2] = 'd', string.format('%.0f', d)
        nhs = nhs + 2
        redis.call('ZADD', idx, d, K)
      else
        nhd = nhd + 1
        hd[nhd] = 'd'
        redis.call('ZREM', idx, K)
      end
    end
    if nhs > 0 then redis.call('HSET', S, unpack(hs, 1, nhs)) end
    if nhd > 0 then redis.call('HDEL', S, unpack(hd, 1, nhd)) end
    if mode == 'a' then redis.call('PEXPIRE', S, ttl) end
    if nks > 0 then
      redis.call('HSET', K, unpack(ks, 1, nks))
      if kttl > 0 then redis.call('PEXPIRE', K, kttl) end
    end
    if nkd > 0 then redis.call('HDEL', K, unpack(kd, 1, nkd)) end
  end
  local r = #res
  res[r+1], res[r+2], res[r+3], res[r+4] = applied, dup, rej, late
end
return res
`

// aggScript is the loaded form of aggScriptSource.
var aggScript = sync.OnceValue(func() *redis.Script { return redis.NewScript(-1, aggScriptSource) })

// AggFeature is one aggregated feature of a materialization, as it is
// stored: its field in the entity's hash, its aggregation and its
// declared type.
type AggFeature struct {
	Name string
	Spec window.Spec
	Type feature.Type
}

// AggEvent is what one event gives one entity key's aggregated features:
// where it comes from (for exactly-once), its event time, and one input
// per feature, in the order of the features (see window.Input; LATEST's
// Value is the FeatureValue base64 of the declared type, COUNT_DISTINCT's
// Hash the value's 64-bit hash).
type AggEvent struct {
	Topic     string
	Partition int32
	Offset    int64
	Time      int64 // unix ms
	Inputs    []window.Input
}

// AggResult is what one script call did to one entity key.
type AggResult struct {
	Applied    int // events applied
	Duplicates int // events skipped: at or below the last offset applied of their partition
	Rejected   int // POOLING vectors not aggregated: another length than the feature's tiles
	Late       int // rows not aggregated by a feature: at or before now − window − allowed lateness
}

// aggKeyEvents is one entity key K and its events, in order, for one call.
type aggKeyEvents struct {
	key    string
	events []AggEvent
}

// aggMaterialization is the aggregated features of a materialization, as
// the script takes them: their description (ARGV) is built once.
type aggMaterialization struct {
	name     string
	features []AggFeature
	header   []any // per feature: name, function, type, window, hop, lateness (ms)
	tileRead []any // the fields read for get: t:<name> but COUNT_DISTINCT's, c:<name> of cached ones
}

// stateTiles returns the encoding of a cached feature's tiles (see
// window.AppendTiles) from its fields t:<name> and c:<name>: t's, and the
// newest tile when the cache holds it (56 bytes: its number first, then
// its two numbers after four others; see aggScriptSource).
func stateTiles(t, c []byte) []byte {
	if len(c) != 56 {
		return t
	}
	return append(append(append(make([]byte, 0, len(t)+24), t...), c[:8]...), c[40:]...)
}

// cached reports whether the script keeps a cache c:<name> for f (and in
// it, at times, the newest tile).
func cached(f window.Func) bool {
	switch f {
	case window.Count, window.Sum, window.Avg, window.Min, window.Max:
		return true
	}
	return false
}

// newAggMaterialization checks and prepares the aggregated features of
// materialization m.
func newAggMaterialization(m string, fs []AggFeature) (*aggMaterialization, error) {
	if strings.IndexByte(m, 0) >= 0 {
		return nil, fmt.Errorf("sink: materialization name %q has a NUL byte", m)
	}
	if len(fs) == 0 {
		return nil, fmt.Errorf("sink: materialization %s has no aggregated features", m)
	}
	am := &aggMaterialization{name: m, features: fs}
	seen := map[string]bool{}
	for _, f := range fs {
		if f.Name == "" || seen[f.Name] {
			return nil, fmt.Errorf("sink: materialization %s: feature name %q empty or repeated", m, f.Name)
		}
		seen[f.Name] = true
		if err := f.Spec.Check(); err != nil {
			return nil, fmt.Errorf("sink: feature %s: %w", f.Name, err)
		}
		if err := f.Spec.Func.CheckType(f.Type); err != nil {
			return nil, fmt.Errorf("sink: feature %s: %w", f.Name, err)
		}
		s := f.Spec
		am.header = append(am.header, f.Name, s.Func.String(), f.Type.String(),
			s.Window.Milliseconds(), s.Hop.Milliseconds(), s.Lateness.Milliseconds())
		if s.Func != window.CountDistinct {
			am.tileRead = append(am.tileRead, "t:"+f.Name)
		}
		if cached(s.Func) {
			am.tileRead = append(am.tileRead, "c:"+f.Name)
		}
	}
	return am, nil
}

// appendApplyArgs appends to args the arguments of an EVALSHA of
// aggScript that applies the events of keys (each K with its events, in
// order) at wall clock now: the script's hash, the keys, then ARGV. index
// is the refresh index (refreshIndexKey or, in a cluster, the shard of
// the keys' slot, which they must share); ttl is K's TTL in ms (0: none).
// The encoded inputs are appended to buf, which the arguments reference:
// keep it until they are sent.
func (am *aggMaterialization) appendApplyArgs(args []any, buf []byte, index string, now, ttl int64, keys []aggKeyEvents) ([]any, []byte, error) {
	args = append(args, aggScript().Hash(), 1+2*len(keys), index)
	for _, k := range keys {
		args = append(args, k.key, stateKey(k.key, am.name))
	}
	args = append(args, "a", now, ttl, len(am.features))
	args = append(args, am.header...)
	for _, k := range keys {
		args = append(args, len(k.events))
		for i := range k.events {
			e := &k.events[i]
			if len(e.Inputs) != len(am.features) {
				return args, buf, fmt.Errorf("sink: key %q: event %s/%d@%d has %d inputs for %d aggregated features",
					k.key, e.Topic, e.Partition, e.Offset, len(e.Inputs), len(am.features))
			}
			start := len(buf)
			buf = append(buf, "o:"...)
			buf = append(buf, e.Topic...)
			buf = append(buf, ':')
			buf = strconv.AppendInt(buf, int64(e.Partition), 10)
			args = append(args, buf[start:len(buf):len(buf)], e.Offset, e.Time)
			for j, in := range e.Inputs {
				start := len(buf)
				var err error
				if buf, err = appendAggInput(buf, am.features[j].Spec.Func, in); err != nil {
					return args, buf, fmt.Errorf("sink: key %q: event %s/%d@%d: feature %s: %w",
						k.key, e.Topic, e.Partition, e.Offset, am.features[j].Name, err)
				}
				args = append(args, buf[start:len(buf):len(buf)])
			}
		}
	}
	return args, buf, nil
}

// appendAggInput appends the script's form of one input of function f.
func appendAggInput(buf []byte, f window.Func, in window.Input) ([]byte, error) {
	switch in.Kind {
	case window.InputSkip:
		return buf, nil
	case window.InputNull:
		return append(buf, '~'), nil
	case window.InputValue:
	default:
		return buf, fmt.Errorf("invalid input kind %d", in.Kind)
	}
	switch f {
	case window.Count:
		return append(buf, '1'), nil
	case window.Sum, window.Avg, window.Min, window.Max:
		switch x := in.Num; {
		case math.IsNaN(x):
			return append(buf, "nan"...), nil
		case math.IsInf(x, 1):
			return append(buf, "inf"...), nil
		case math.IsInf(x, -1):
			return append(buf, "-inf"...), nil
		default:
			return strconv.AppendFloat(buf, x, 'g', -1, 64), nil
		}
	case window.MaxPooling, window.MinPooling, window.AvgPooling:
		buf = append(buf, 'v')
		for _, x := range in.Vec {
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(x))
		}
		return buf, nil
	case window.Latest:
		if len(in.Value) == 0 || in.Value[0] == '~' {
			return buf, errors.New("LATEST value is not a FeatureValue base64")
		}
		return append(buf, in.Value...), nil
	case window.CountDistinct:
		const hex = "0123456789abcdef"
		for shift := 60; shift >= 0; shift -= 4 {
			buf = append(buf, hex[in.Hash>>shift&15])
		}
		return buf, nil
	}
	return buf, fmt.Errorf("invalid function %v", f)
}

// appendRefreshArgs appends to args the arguments of an EVALSHA of
// aggScript that refreshes the stored values of keys at wall clock now
// (see aggScriptSource, mode 'r').
func (am *aggMaterialization) appendRefreshArgs(args []any, index string, now int64, keys []string) []any {
	args = append(args, aggScript().Hash(), 1+2*len(keys), index)
	for _, k := range keys {
		args = append(args, k, stateKey(k, am.name))
	}
	args = append(args, "r", now, 0, len(am.features))
	return append(args, am.header...)
}

// sendApply sends, on c, one call of the script that applies the events
// of keys; receiveApply reads its reply. Sending does not flush c, so
// that calls can be pipelined.
func (am *aggMaterialization) sendApply(c redis.Conn, index string, now, ttl int64, keys []aggKeyEvents) error {
	args, _, err := am.appendApplyArgs(nil, nil, index, now, ttl, keys)
	if err != nil {
		return err
	}
	if err := c.Send("EVALSHA", args...); err != nil {
		return fmt.Errorf("sink: send aggregation: %w", err)
	}
	return nil
}

// receiveApply reads the reply of one sendApply into out, one result per
// key of the call.
func receiveApply(c redis.Conn, out []AggResult) error {
	r, err := redis.Int64s(c.Receive())
	if err != nil {
		return fmt.Errorf("sink: aggregation: %w", err)
	}
	if len(r) != 4*len(out) {
		return fmt.Errorf("sink: aggregation: %d results for %d keys", len(r), len(out))
	}
	for i := range out {
		out[i] = AggResult{int(r[4*i]), int(r[4*i+1]), int(r[4*i+2]), int(r[4*i+3])}
	}
	return nil
}

// sendRefresh sends one call of the script that refreshes keys; read its
// reply with receiveRefresh.
func (am *aggMaterialization) sendRefresh(c redis.Conn, index string, now int64, keys []string) error {
	if err := c.Send("EVALSHA", am.appendRefreshArgs(nil, index, now, keys)...); err != nil {
		return fmt.Errorf("sink: send aggregation refresh: %w", err)
	}
	return nil
}

// receiveRefresh reads the reply of one sendRefresh.
func receiveRefresh(c redis.Conn) error {
	if _, err := c.Receive(); err != nil {
		return fmt.Errorf("sink: aggregation refresh: %w", err)
	}
	return nil
}

// sendRead sends, on c, the commands that read key K's aggregated
// features at time T from its state (an HMGET of the tiles, a PFCOUNT of
// the HyperLogLogs of each COUNT_DISTINCT tile visible at T); read them
// with receiveRead and the same T.
func (am *aggMaterialization) sendRead(c redis.Conn, key string, T int64) error {
	s := stateKey(key, am.name)
	if len(am.tileRead) > 0 {
		if err := c.Send("HMGET", append([]any{s}, am.tileRead...)...); err != nil {
			return fmt.Errorf("sink: send aggregation read: %w", err)
		}
	}
	for _, f := range am.features {
		if f.Spec.Func != window.CountDistinct {
			continue
		}
		first, last := f.Spec.VisibleRange(T)
		keys := make([]any, 0, last-first+1)
		prefix := s + ":d:" + f.Name + ":"
		for b := first; b <= last; b++ {
			keys = append(keys, prefix+strconv.FormatInt(b, 10))
		}
		if err := c.Send("PFCOUNT", keys...); err != nil {
			return fmt.Errorf("sink: send aggregation read: %w", err)
		}
	}
	return nil
}

// receiveRead reads the replies of one sendRead into out, one value per
// feature: the value at T converted to the feature's type (see
// window.Output), nil when null.
func (am *aggMaterialization) receiveRead(c redis.Conn, T int64, out []any) error {
	var tiles [][]byte
	if len(am.tileRead) > 0 {
		var err error
		if tiles, err = redis.ByteSlices(c.Receive()); err != nil {
			return fmt.Errorf("sink: aggregation read: %w", err)
		}
	}
	var ts []window.Tile
	var acc window.Tile
	i := 0
	for j, f := range am.features {
		if f.Spec.Func == window.CountDistinct {
			n, err := redis.Int64(c.Receive())
			if err != nil {
				return fmt.Errorf("sink: aggregation read %s: %w", f.Name, err)
			}
			out[j] = nil
			if n > 0 {
				out[j] = window.Output(n, f.Type)
			}
			continue
		}
		raw := tiles[i]
		i++
		if cached(f.Spec.Func) {
			raw = stateTiles(raw, tiles[i])
			i++
		}
		var err error
		if ts, err = window.DecodeTiles(ts, f.Spec.Func, raw); err != nil {
			return fmt.Errorf("sink: aggregation read %s: %w", f.Name, err)
		}
		f.Spec.Fold(&acc, ts, T)
		v := f.Spec.Func.Value(&acc)
		switch {
		case v == nil:
			out[j] = nil
		case f.Spec.Func == window.Latest:
			if out[j], err = DecodeValue(v.([]byte)); err != nil {
				return fmt.Errorf("sink: aggregation read %s: %w", f.Name, err)
			}
		default:
			out[j] = window.Output(v, f.Type)
		}
	}
	return nil
}
