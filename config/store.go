package config

import (
	"fmt"
	"net"
	"strings"
	"time"
)

func (p *parser) redis(e *entry, r *Redis) {
	r.Pos = e.keyPos()
	m := p.object(e.val, e.ctx, "addr", "addrs", "cluster", "username", "password", "password_file",
		"tls", "db", "ca_file", "cert_file", "key_file")
	if a := m["addr"]; a.present() {
		var ok bool
		r.Addr, ok = p.scalar(a)
		if _, port, err := net.SplitHostPort(r.Addr); ok && (err != nil || port == "") {
			p.errorf(a.valPos(), "%s: want host:port, got %q", a.ctx, r.Addr)
		}
	}
	p.cluster(m, r)
	user, pass, passFile := m["username"], m["password"], m["password_file"]
	r.Username = p.str(user)
	r.Password, r.PasswordFile, _ = p.password(pass, passFile)
	if user.present() && !pass.present() && !passFile.present() {
		p.errorf(user.keyPos(), "%s: username without password: Redis needs both (a password alone is fine)", user.ctx)
	}
	r.TLS = p.boolean(m["tls"])
	r.DB = p.integer(m["db"], 0)
	if r.DB < 0 {
		p.errorf(m["db"].valPos(), "%s: must not be negative", m["db"].ctx)
	}
	if db := m["db"]; r.Cluster && r.DB != 0 {
		p.errorf(db.valPos(), "%s: a Redis Cluster has only database 0, got %d", db.ctx, r.DB)
	}
	p.redisTLS(m, r)
}

// redisTLS reads the TLS files of the Redis store.
func (p *parser) redisTLS(m fields, r *Redis) {
	ca, cert, key := m["ca_file"], m["cert_file"], m["key_file"]
	for _, f := range []*entry{ca, cert, key} {
		if f.present() && !r.TLS {
			p.errorf(f.keyPos(), "%s: is only used with tls: true", f.ctx)
		}
	}
	if cert.present() != key.present() {
		if cert.present() {
			p.errorf(cert.keyPos(), "%s: cert_file without key_file: a client certificate needs both", cert.ctx)
		} else {
			p.errorf(key.keyPos(), "%s: key_file without cert_file: a client certificate needs both", key.ctx)
		}
	}
	if !r.TLS || cert.present() != key.present() {
		r.CAFile, r.CertFile, r.KeyFile = p.str(ca), p.str(cert), p.str(key)
		return
	}
	r.CAFile = p.pemFile(ca, false)
	r.CertFile = p.pemFile(cert, false)
	r.KeyFile = p.pemFile(key, true)
}

// cluster reads cluster and addrs: addrs lists some nodes of a Redis
// Cluster (and implies cluster: true); cluster: true with addr makes addr
// the one node to start from. Redis.Addr becomes the nodes, comma-separated.
func (p *parser) cluster(m fields, r *Redis) {
	c := m["cluster"]
	r.Cluster = p.boolean(c)
	as := m["addrs"]
	if !as.present() {
		return
	}
	items, pos, _ := p.list(as)
	var addrs []string
	for i, item := range items {
		// One item may list several nodes, e.g. from an environment variable.
		for _, a := range strings.Split(item, ",") {
			a = strings.TrimSpace(a)
			if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
				p.errorf(pos[i], "%s: want host:port, got %q", as.ctx, a)
				continue
			}
			addrs = append(addrs, a)
		}
	}
	switch {
	case m["addr"].present():
		p.errorf(as.keyPos(), "%s: addr and addrs are exclusive: list every node in addrs", as.ctx)
	case c.present() && !r.Cluster:
		p.errorf(c.valPos(), "%s: addrs lists the nodes of a Redis Cluster: remove cluster: false, or use addr for one server", c.ctx)
	case len(items) == 0:
		p.errorf(as.valPos(), "%s: want a list of host:port, at least one", as.ctx)
	default:
		r.Cluster = true
		r.Addr = strings.Join(addrs, ",")
	}
}

func (p *parser) materialization(e entry) *Materialization {
	mt := &Materialization{Name: e.key.Value, Pos: e.keyPos()}
	c := ctx{thing: fmt.Sprintf("materialization %q", mt.Name)}
	if strings.IndexByte(mt.Name, 0) >= 0 {
		p.errorf(mt.Pos, "%s: a name must not contain a NUL byte", c)
	}
	m := p.object(e.val, c, "sink", "features", "timeout", "on_error", "dead_letter")

	mt.Sink = RedisSink{Ordering: DefaultOrdering, BatchSize: DefaultBatchSize, FlushInterval: DefaultFlushInterval}
	if s := m["sink"]; s.present() {
		sm := p.object(s.val, s.ctx, "redis")
		if r := sm["redis"]; r.present() {
			p.sink(r, &mt.Sink)
		} else {
			p.required(sm, "redis", s.keyPos(), c.field("sink"), " (its table)")
		}
	} else {
		p.required(m, "sink", mt.Pos, c, " (sink: {redis: {table: ...}})")
	}

	mt.Features, mt.FeaturePos, mt.FeaturesPos = p.requiredNames(m, "features", mt.Pos, c, " (a list of at least one feature name)")

	mt.Timeout = p.duration(m["timeout"], 0)
	mt.OnError = enum(p, m["on_error"], DefaultOnError, onErrorNames)
	if dl := m["dead_letter"]; dl.present() {
		var ok bool
		mt.DeadLetter, ok = p.scalar(dl)
		if mt.OnError != DeadLetter {
			p.errorf(dl.keyPos(), "%s: is only used with on_error: dead-letter", dl.ctx)
		} else if msg := checkTopic(mt.DeadLetter); ok && msg != "" {
			p.errorf(dl.valPos(), "%s: %s", dl.ctx, msg)
		}
	} else if mt.OnError == DeadLetter {
		p.required(m, "dead_letter", mt.Pos, c, " with on_error: dead-letter (the topic that receives failed records)")
	}
	return mt
}

func (p *parser) sink(e *entry, s *RedisSink) {
	m := p.object(e.val, e.ctx, "table", "ttl", "ordering", "batch_size", "flush_interval")
	if t := m["table"]; t.present() {
		var ok bool
		s.Table, ok = p.scalar(t)
		if ok && s.Table == "" {
			p.errorf(t.valPos(), "%s: must not be empty", t.ctx)
		}
		if strings.IndexByte(s.Table, 0) >= 0 {
			// The state keys of aggregations hold NUL bytes: no table
			// key can be one (see package sink).
			p.errorf(t.valPos(), "%s: must not contain a NUL byte", t.ctx)
		}
	} else {
		p.required(m, "table", e.keyPos(), e.ctx, " (the Redis table name, the prefix of its keys)")
	}
	s.TTL = p.duration(m["ttl"], 0)
	if s.TTL > 0 && s.TTL < time.Millisecond {
		// Redis expires keys in whole milliseconds: PEXPIRE 0 would
		// delete the key at once.
		p.errorf(m["ttl"].valPos(), "%s: must be at least 1ms (Redis expires keys in whole milliseconds), got %s", m["ttl"].ctx, s.TTL)
		s.TTL = 0
	}
	s.Ordering = enum(p, m["ordering"], DefaultOrdering, orderingNames)
	s.BatchSize = p.integer(m["batch_size"], DefaultBatchSize)
	if s.BatchSize <= 0 {
		p.errorf(m["batch_size"].valPos(), "%s: must be at least 1, got %d", m["batch_size"].ctx, s.BatchSize)
		s.BatchSize = DefaultBatchSize
	}
	s.FlushInterval = p.duration(m["flush_interval"], DefaultFlushInterval)
}
