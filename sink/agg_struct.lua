-- The struct library's pack and unpack, for the formats the aggregation
-- script uses ('<' then d, f and i4), in plain Lua: Redis has struct,
-- but an embedded Lua-scripting server (the miniredis of `feathr dev`)
-- may not. Real Redis uses its own.
local struct = rawget(_G, 'struct') or (function()
  local floor, frexp, ldexp, huge, char, byte = math.floor, math.frexp, math.ldexp, math.huge, string.char, string.byte
  local function le(n, w)
    local t = {}
    for i = 1, w do t[i] = n % 256; n = floor(n / 256) end
    return char(unpack(t))
  end
  -- bits returns the sign, biased exponent and mantissa of x for a format
  -- of mbits mantissa bits and exponent bias.
  local function bits(x, mbits, bias, emax)
    local sign = 0
    if x < 0 or (x == 0 and 1 / x < 0) then sign = 1; x = -x end
    if x ~= x then return 0, emax, 2 ^ (mbits - 1) end
    if x == huge then return sign, emax, 0 end
    if x == 0 then return sign, 0, 0 end
    local m, e = frexp(x)
    local ex = e + bias - 1
    local mant
    if ex <= 0 then
      mant = floor(ldexp(x, bias - 1 + mbits) + 0.5)
      ex = 0
      if mant == 2 ^ mbits then mant, ex = 0, 1 end
    else
      mant = floor((m * 2 - 1) * 2 ^ mbits + 0.5)
      if mant == 2 ^ mbits then mant, ex = 0, ex + 1 end
    end
    if ex >= emax then return sign, emax, 0 end
    return sign, ex, mant
  end
  local function packd(x)
    local s, e, m = bits(x, 52, 1023, 2047)
    local lo = m % 2 ^ 32
    return le(lo, 4) .. le((m - lo) / 2 ^ 32 + e * 2 ^ 20 + s * 2 ^ 31, 4)
  end
  local function packf(x)
    local s, e, m = bits(x, 23, 127, 255)
    return le(m + e * 2 ^ 23 + s * 2 ^ 31, 4)
  end
  local function unpackd(str, pos)
    local b1, b2, b3, b4, b5, b6, b7, b8 = byte(str, pos, pos + 7)
    local sign = 1
    if b8 >= 128 then sign = -1 end
    local e = (b8 % 128) * 16 + floor(b7 / 16)
    local m = (b7 % 16) * 2 ^ 48 + b6 * 2 ^ 40 + b5 * 2 ^ 32 + b4 * 2 ^ 24 + b3 * 2 ^ 16 + b2 * 2 ^ 8 + b1
    if e == 2047 then
      if m == 0 then return sign * huge end
      return 0 / 0
    end
    if e == 0 then return sign * ldexp(m, -1074) end
    return sign * ldexp(m + 2 ^ 52, e - 1075)
  end
  local function unpacki4(str, pos)
    local b1, b2, b3, b4 = byte(str, pos, pos + 3)
    local v = b1 + b2 * 256 + b3 * 65536 + b4 * 16777216
    if v >= 2 ^ 31 then v = v - 2 ^ 32 end
    return v
  end
  local function pack(fmt, ...)
    local args, out, a, i = {...}, {}, 1, 2
    while i <= #fmt do
      local c = fmt:sub(i, i)
      if c == 'd' then out[#out+1] = packd(args[a])
      elseif c == 'f' then out[#out+1] = packf(args[a])
      else
        local n = args[a]
        if n < 0 then n = n + 2 ^ 32 end
        out[#out+1] = le(n, 4)
        i = i + 1 -- the 4 of i4
      end
      a, i = a + 1, i + 1
    end
    return table.concat(out)
  end
  local function unpack_(fmt, str, pos)
    pos = pos or 1
    local out, i = {}, 2
    while i <= #fmt do
      local c = fmt:sub(i, i)
      if c == 'd' then out[#out+1] = unpackd(str, pos); pos = pos + 8
      else out[#out+1] = unpacki4(str, pos); pos = pos + 4; i = i + 1 end
      i = i + 1
    end
    out[#out+1] = pos
    return unpack(out)
  end
  return {pack = pack, unpack = unpack_}
end)()
