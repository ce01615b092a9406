package sink

import (
	"unsafe"

	"github.com/gomodule/redigo/redis"
)

// setIfNewerScript writes the fields of one or more hashes, each unless
// it holds a newer event. KEYS are the hashes; ARGV[1] is the hidden
// event-time field and ARGV[2] the TTL in milliseconds (0: none); then,
// for each key in turn, a count n and its fields:
//
//   - n > 0: the event time (unix ms) shared by all of them, then n pairs
//     of name and value. They are written when the stored time is absent
//     or not newer, and the stored time becomes theirs. This is the usual
//     case: every field of a write comes from events of one time.
//   - n < 0: -n triples of name, event time and value, when the fields of
//     a coalesced write come from events of different times. A field is
//     written when the stored time is absent or not newer than its own;
//     the stored time becomes the newest time written.
//
// It returns, per key, the number of fields written (0: stale).
//
// Writing many keys per call spreads the cost of running a script over
// them; with Redis Cluster the keys of one call must share a hash slot.
const setIfNewerScript = `
local tf, ttl = ARGV[1], tonumber(ARGV[2])
local res = {}
local i = 3
for k = 1, #KEYS do
  local key = KEYS[k]
  local n = tonumber(ARGV[i])
  local cur = tonumber(redis.call('HGET', key, tf))
  local w = 0
  if n > 0 then
    local t = ARGV[i+1]
    if cur == nil or tonumber(t) >= cur then
      redis.call('HSET', key, tf, t, unpack(ARGV, i+2, i+1+2*n))
      w = n
    end
    i = i + 2 + 2*n
  else
    n = -n
    local args, m, newest, newestArg = {}, 0, nil, nil
    for j = i+1, i+3*n, 3 do
      local t = tonumber(ARGV[j+1])
      if cur == nil or t >= cur then
        args[m+1] = ARGV[j]
        args[m+2] = ARGV[j+2]
        m = m + 2
        if newest == nil or t > newest then
          newest = t
          newestArg = ARGV[j+1]
        end
      end
    end
    if m > 0 then
      args[m+1] = tf
      args[m+2] = newestArg
      redis.call('HSET', key, unpack(args))
      w = m / 2
    end
    i = i + 1 + 3*n
  end
  if w > 0 and ttl > 0 then
    redis.call('PEXPIRE', key, ttl)
  end
  res[k] = w
end
return res
`

// scriptKeys is the most keys one call of setIfNewerScript writes. Past a
// few dozen, the cost of a call is all in its keys.
const scriptKeys = 32

// argCache holds the arguments that recur in every batch's commands,
// boxed once: each table's time field and TTL, and the field names. It
// belongs to one goroutine at a time.
type argCache struct {
	tables map[*Table]tableArgs
	names  []boxedName // field names as command arguments
}

// boxedName is a field name boxed as a command argument. Names are told
// apart by their memory: they come from the plan, the same strings in
// every update.
type boxedName struct {
	data *byte
	len  int
	arg  any
}

// maxBoxedNames bounds ac.names; names past it are boxed at every use.
const maxBoxedNames = 64

// name returns name as a command argument, without allocating for a name
// seen before.
func (ac *argCache) name(name string) any {
	data := unsafe.StringData(name)
	for i := range ac.names {
		if n := &ac.names[i]; n.data == data && n.len == len(name) {
			return n.arg
		}
	}
	var arg any = name
	if len(ac.names) < maxBoxedNames {
		ac.names = append(ac.names, boxedName{data, len(name), arg})
	}
	return arg
}

// tableArgs holds a table's command arguments, boxed once.
type tableArgs struct {
	timeField any
	ttl       any
}

// tableArgs returns t's arguments, boxing them the first time.
func (ac *argCache) tableArgs(t *Table) tableArgs {
	ta, ok := ac.tables[t]
	if !ok {
		if ac.tables == nil {
			ac.tables = make(map[*Table]tableArgs)
		}
		ta = tableArgs{timeField: t.timeField(), ttl: t.TTL.Milliseconds()}
		ac.tables[t] = ta
	}
	return ta
}

// appendScript appends the arguments of EVALSHA that call script
// (setIfNewerScript) for ws, all of one table: the hash, the keys, then
// ARGV as the script reads it.
func (ac *argCache) appendScript(args []any, script *redis.Script, ws []write) []any {
	ta := ac.tableArgs(ws[0].table)
	args = append(args, script.Hash(), len(ws))
	for i := range ws {
		args = append(args, ws[i].key)
	}
	args = append(args, ta.timeField, ta.ttl)
	for i := range ws {
		wr := &ws[i]
		if wr.sameTime() {
			args = append(args, len(wr.fields), wr.newest)
			for _, f := range wr.fields {
				args = append(args, ac.name(f.name), f.value)
			}
			continue
		}
		args = append(args, -len(wr.fields))
		for _, f := range wr.fields {
			args = append(args, ac.name(f.name), f.time, f.value)
		}
	}
	return args
}

// clearArgs drops the references args holds, keeping its memory.
func clearArgs(args []any) []any {
	clear(args)
	return args[:0]
}
