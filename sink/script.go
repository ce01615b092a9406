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

// cmdBuilder builds and sends the commands of writes: a call of
// setIfNewerScript for event-time writes, HSET and (with a TTL) PEXPIRE
// for arrival writes. The arguments that recur in every batch are boxed
// once: each table's time field and TTL, and the field names. It belongs
// to one goroutine at a time.
type cmdBuilder struct {
	script *redis.Script
	tables map[*Table]tableArgs
	names  []boxedName // field names as command arguments
	args   []any       // the arguments of the command being sent
}

// send sends the commands of ws on c, each after ASKING when asking: one
// call of the script when ws are event-time writes (all of one table, at
// most scriptKeys), else the HSET, and with a TTL the PEXPIRE, of ws[0],
// its only write (see commandsOf).
func (cb *cmdBuilder) send(c redis.Conn, ws []write, asking bool) error {
	wr := &ws[0]
	if wr.table.byEventTime() {
		cb.args = cb.appendScript(cb.args[:0], ws)
		return cb.sendArgs(c, "EVALSHA", asking)
	}
	cb.args = append(cb.args[:0], wr.key)
	for _, f := range wr.fields {
		cb.args = append(cb.args, cb.name(f.name), f.value)
	}
	if err := cb.sendArgs(c, "HSET", asking); err != nil || wr.table.TTL <= 0 {
		return err
	}
	cb.args = append(cb.args[:0], wr.key, cb.tableArgs(wr.table).ttl)
	return cb.sendArgs(c, "PEXPIRE", asking)
}

// sendArgs sends cmd with the arguments in cb.args, after ASKING when
// asking, and drops the references cb.args holds, keeping its memory.
func (cb *cmdBuilder) sendArgs(c redis.Conn, cmd string, asking bool) error {
	var err error
	if asking {
		err = c.Send("ASKING")
	}
	if err == nil {
		err = c.Send(cmd, cb.args...)
	}
	clear(cb.args)
	cb.args = cb.args[:0]
	return err
}

// boxedName is a field name boxed as a command argument. Names are told
// apart by their memory: they come from the plan, the same strings in
// every update.
type boxedName struct {
	data *byte
	len  int
	arg  any
}

// maxBoxedNames bounds cb.names; names past it are boxed at every use.
const maxBoxedNames = 64

// name returns name as a command argument, without allocating for a name
// seen before.
func (cb *cmdBuilder) name(name string) any {
	data := unsafe.StringData(name)
	for i := range cb.names {
		if n := &cb.names[i]; n.data == data && n.len == len(name) {
			return n.arg
		}
	}
	var arg any = name
	if len(cb.names) < maxBoxedNames {
		cb.names = append(cb.names, boxedName{data, len(name), arg})
	}
	return arg
}

// tableArgs holds a table's command arguments, boxed once.
type tableArgs struct {
	timeField any
	ttl       any
}

// tableArgs returns t's arguments, boxing them the first time.
func (cb *cmdBuilder) tableArgs(t *Table) tableArgs {
	ta, ok := cb.tables[t]
	if !ok {
		if cb.tables == nil {
			cb.tables = make(map[*Table]tableArgs)
		}
		ta = tableArgs{timeField: t.timeField(), ttl: t.TTL.Milliseconds()}
		cb.tables[t] = ta
	}
	return ta
}

// appendScript appends the arguments of the EVALSHA that calls
// setIfNewerScript for ws, all of one table: the script's hash, the
// keys, then ARGV as the script reads it.
func (cb *cmdBuilder) appendScript(args []any, ws []write) []any {
	ta := cb.tableArgs(ws[0].table)
	args = append(args, cb.script.Hash(), len(ws))
	for i := range ws {
		args = append(args, ws[i].key)
	}
	args = append(args, ta.timeField, ta.ttl)
	for i := range ws {
		wr := &ws[i]
		if wr.sameTime() {
			args = append(args, len(wr.fields), wr.newest)
			for _, f := range wr.fields {
				args = append(args, cb.name(f.name), f.value)
			}
			continue
		}
		args = append(args, -len(wr.fields))
		for _, f := range wr.fields {
			args = append(args, cb.name(f.name), f.time, f.value)
		}
	}
	return args
}
