package sink

import (
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/gomodule/redigo/redis"
)

// TestAggStructShim checks agg_struct.lua's pack and unpack against
// Redis's struct library, on a real Redis where the script is made to
// use its own.
func TestAggStructShim(t *testing.T) {
	e := newEnv(t)
	script := "local real = struct\nlocal _G = {}\n" + aggStructLua + `
local bad = {}
local vals = {0, -0.0, 1, -1, 0.1, 1/3, 2^53, -2^60, 1e308, -1e-310, 5e-324, 3.4028234663852886e38, 1e-45, math.huge, -math.huge, 123456.789}
for _, v in ipairs(vals) do
  for _, f in ipairs({'<d', '<f'}) do
    local a, b = real.pack(f, v), struct.pack(f, v)
    if a ~= b then bad[#bad+1] = f .. ' pack ' .. tostring(v) end
    local x = real.unpack(f == '<d' and '<d' or '<d', real.pack('<d', v))
    local y = struct.unpack('<d', real.pack('<d', v))
    if x ~= y or 1/x ~= 1/y then bad[#bad+1] = 'unpack ' .. tostring(v) end
  end
end
for _, n in ipairs({0, 1, -1, 2147483647, -2147483648, 70000}) do
  local s = real.pack('<dddi4', 1.5, -2, 3, n) .. 'xyz'
  if struct.pack('<dddi4', 1.5, -2, 3, n) .. 'xyz' ~= s then bad[#bad+1] = 'pack i4 ' .. n end
  local a1, a2, a3, a4, p = struct.unpack('<dddi4', s, 1)
  if a1 ~= 1.5 or a2 ~= -2 or a3 ~= 3 or a4 ~= n or p ~= 29 then bad[#bad+1] = 'unpack i4 ' .. n end
end
local nan = struct.unpack('<d', real.pack('<d', 0/0))
if nan == nan then bad[#bad+1] = 'NaN' end
return bad`
	bad, err := redis.Strings(e.do("EVAL", script, 0), nil)
	if err != nil || len(bad) > 0 {
		t.Errorf("shim differs from struct: %v %v", bad, err)
	}
}

// TestWriterAggregationsMiniredis runs the aggregation script on
// miniredis, which has no struct library, as feathr dev's sandbox does.
// Its PFCOUNT of several HyperLogLogs adds their counts, so the
// sandbox's COUNT_DISTINCT over more than one tile overcounts.
func TestWriterAggregationsMiniredis(t *testing.T) {
	mr := miniredis.RunT(t)
	st := open(t, Options{Addr: mr.Addr()})
	w := st.NewWriter(WriterOptions{BatchSize: 50})
	defer w.Close()
	wl := newAggWorkload(t, "t", 10, 500, 4)
	wl.sumsHLL = true // miniredis's PFCOUNT of several keys adds their counts
	submitAll(t, w, wl.updates)
	wl.check(t, st)
}
