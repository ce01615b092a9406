-- The second part of the aggregation script (see aggscript.go):
-- applying events, the values, the FeatureValue encoding, and the writes.
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
