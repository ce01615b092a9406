package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

func (p *parser) source(e entry) *Source {
	s := &Source{Name: e.key.Value, Pos: e.keyPos()}
	c := ctx{thing: fmt.Sprintf("source %q", s.Name)}
	m := p.object(e.val, c, "kafka", "format", "schema", "timestamp", "registry", "max_future_skew", "max_record_bytes")

	if k := m["kafka"]; k.present() {
		p.kafka(k, s)
	} else {
		p.required(m, "kafka", s.Pos, c, " (its brokers and topics)")
	}

	s.Format = enum(p, m["format"], DefaultFormat, formatNames)
	s.FormatPos = s.Pos
	if f := m["format"]; f.present() {
		s.FormatPos = f.valPos()
	}

	s.SchemaPos = s.Pos
	if sc := m["schema"]; sc.present() {
		p.schema(sc, s)
	} else if s.Format == FormatAvro {
		p.required(m, "schema", s.Pos, c, " for format avro: the Avro schema JSON, e.g. schema: |")
	}

	s.TimestampPos = s.Pos
	if t := m["timestamp"]; t.present() {
		var ok bool
		s.Timestamp, ok = p.scalar(t)
		s.TimestampPos = t.valPos()
		if ok && s.Timestamp == "" {
			p.errorf(t.valPos(), "%s: is empty; leave it out to use the Kafka record timestamp", t.ctx)
		}
	}

	s.MaxFutureSkew = p.duration(m["max_future_skew"], DefaultMaxFutureSkew)
	if e := m["max_future_skew"]; e.present() && s.MaxFutureSkew == 0 {
		p.errorf(e.valPos(), "%s: must be more than 0 (an event time is a bad record only this far ahead of the clock)", e.ctx)
		s.MaxFutureSkew = DefaultMaxFutureSkew
	}
	s.MaxRecordBytes = p.size(m["max_record_bytes"], DefaultMaxRecord)

	if r := m["registry"]; r.present() {
		s.Registry = p.registry(r)
		if s.Format != FormatConfluent {
			p.errorf(r.keyPos(), "%s: is only used with format confluent", r.ctx)
		}
	} else if s.Format == FormatConfluent {
		p.required(m, "registry", s.Pos, c, " for format confluent: the schema registry's url")
	}
	return s
}

// schema decodes the Avro schema text and checks that it is JSON.
func (p *parser) schema(e *entry, s *Source) {
	if e.val.Kind != yaml.ScalarNode {
		p.errorf(e.valPos(), "%s: want the schema's JSON as text, got a %s (write schema: | and the JSON on the next lines)", e.ctx, kindName(e.val))
		return
	}
	s.schemaLoc = p.src.locate(e.val)
	s.Schema = p.str(e)
	s.SchemaPos = s.SchemaAt(1, 1)
	if strings.TrimSpace(s.Schema) == "" {
		if s.Format == FormatAvro {
			p.errorf(e.valPos(), "%s: is empty; format avro needs the Avro schema JSON", e.ctx)
		}
		return
	}
	var v any
	err := json.Unmarshal([]byte(s.Schema), &v)
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		off := int(syn.Offset) - 1 // the byte read last is the bad one
		if strings.HasPrefix(syn.Error(), "unexpected end") {
			off = len(strings.TrimRight(s.Schema, " \t\r\n"))
		}
		p.errorf(s.SchemaAtOffset(off), "%s: invalid JSON: %w", e.ctx, err)
	case err != nil:
		p.errorf(s.SchemaPos, "%s: invalid JSON: %w", e.ctx, err)
	}
}

func (p *parser) kafka(e *entry, s *Source) {
	k := &s.Kafka
	k.Pos = e.keyPos()
	m := p.object(e.val, e.ctx, "brokers", "topics", "group", "start", "isolation", "security")

	var pos []Pos
	k.Brokers, pos, _ = p.requiredNames(m, "brokers", k.Pos, e.ctx, " (host:port of at least one broker)")
	for i, b := range k.Brokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			p.errorf(pos[i], "%s: broker %q: want host:port", m["brokers"].ctx, b)
		}
	}

	k.Topics, pos, _ = p.requiredNames(m, "topics", k.Pos, e.ctx, " (at least one topic)")
	for i, t := range k.Topics {
		if msg := checkTopic(t); msg != "" {
			p.errorf(pos[i], "%s: %s", m["topics"].ctx, msg)
		}
	}

	k.Group = p.str(m["group"])
	if k.Group == "" {
		k.Group = DefaultGroupPrefix + s.Name
	}
	k.Start = enum(p, m["start"], DefaultStart, startNames)
	k.Isolation = enum(p, m["isolation"], DefaultIsolation, isolationNames)
	k.Security.Protocol = DefaultProtocol
	if sec := m["security"]; sec.present() {
		p.security(sec, &k.Security)
	}
}

// requiredNames reads the list of names m[name], which must not be
// missing or empty: its items, their positions, and the list's position
// (owner's when it is missing). A missing or empty list is reported.
func (p *parser) requiredNames(m fields, name string, owner Pos, c ctx, hint string) (items []string, pos []Pos, at Pos) {
	at = owner
	if e := m[name]; e.present() {
		at = e.valPos()
		items, pos, _ = p.list(e)
	}
	if len(items) == 0 {
		p.requiredList(m, name, owner, c, hint)
	}
	return items, pos, at
}

// requiredList reports a list that is missing or empty.
func (p *parser) requiredList(m fields, name string, owner Pos, c ctx, hint string) {
	if e := m[name]; e.present() {
		if e.val.Kind == yaml.SequenceNode && len(e.val.Content) == 0 {
			p.errorf(e.valPos(), "%s: is empty; want%s", e.ctx, hint)
		}
		return // items were reported
	}
	p.required(m, name, owner, c, hint)
}

// checkTopic returns what is wrong with a Kafka topic name, or "".
func checkTopic(t string) string {
	switch {
	case t == "":
		return "a topic name must not be empty"
	case t == "." || t == "..":
		return fmt.Sprintf("%q is not a valid topic name", t)
	case len(t) > 249:
		return "a topic name is at most 249 characters long"
	}
	for _, r := range t {
		if !(r == '.' || r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return fmt.Sprintf("topic %q: a topic name has only letters, digits, '.', '_' and '-'", t)
		}
	}
	return ""
}

func (p *parser) security(e *entry, sec *Security) {
	sec.Pos = e.keyPos()
	m := p.object(e.val, e.ctx, "protocol", "mechanism", "username", "password", "password_file",
		"ca_file", "cert_file", "key_file", "insecure_skip_verify")
	sec.Protocol = enum(p, m["protocol"], DefaultProtocol, protocolNames)
	sasl, tls := sec.Protocol.SASL(), sec.Protocol.TLS()

	if sasl {
		sec.Mechanism = enum(p, m["mechanism"], DefaultMechanism, mechanismNames)
	} else if me := m["mechanism"]; me.present() {
		sec.Mechanism = enum(p, me, Mechanism(0), mechanismNames)
		p.errorf(me.keyPos(), "%s: is only used with protocol SASL_PLAINTEXT or SASL_SSL", me.ctx)
	}

	user, pass, passFile := m["username"], m["password"], m["password_file"]
	hasPass := pass.present() || passFile.present()
	switch {
	case !sasl:
		for _, f := range []*entry{user, pass, passFile} {
			if f.present() {
				p.errorf(f.keyPos(), "%s: is only used with protocol SASL_PLAINTEXT or SASL_SSL", f.ctx)
			}
		}
	case user.present() && !hasPass:
		p.errorf(user.keyPos(), "%s: username without password: SASL needs both (password or password_file)", user.ctx)
	case hasPass && !user.present():
		f := pass
		if !f.present() {
			f = passFile
		}
		p.errorf(f.keyPos(), "%s: password without username: SASL needs both", f.ctx)
	case !user.present():
		p.errorf(sec.Pos, "%s: protocol %s needs username and password (or password_file)", e.ctx, sec.Protocol)
	}
	sec.Username = p.str(user)
	if sasl {
		sec.Password, sec.PasswordFile, _ = p.password(pass, passFile)
	}

	for _, name := range []string{"ca_file", "cert_file", "key_file", "insecure_skip_verify"} {
		if f := m[name]; f.present() && !tls {
			p.errorf(f.keyPos(), "%s: is only used with protocol SSL or SASL_SSL", f.ctx)
		}
	}
	sec.InsecureSkipVerify = p.boolean(m["insecure_skip_verify"])
	cert, key := m["cert_file"], m["key_file"]
	if cert.present() != key.present() {
		if cert.present() {
			p.errorf(cert.keyPos(), "%s: cert_file without key_file: a client certificate needs both", cert.ctx)
		} else {
			p.errorf(key.keyPos(), "%s: key_file without cert_file: a client certificate needs both", key.ctx)
		}
	}
	if !tls || cert.present() != key.present() {
		sec.CAFile, sec.CertFile, sec.KeyFile = p.str(m["ca_file"]), p.str(cert), p.str(key)
		return
	}
	// Only files that will be used are opened.
	sec.CAFile = p.pemFile(m["ca_file"], false)
	sec.CertFile = p.pemFile(cert, false)
	sec.KeyFile = p.pemFile(key, true)
}

func (p *parser) registry(e *entry) *Registry {
	r := &Registry{Pos: e.keyPos()}
	m := p.object(e.val, e.ctx, "url", "username", "password")
	if u := m["url"]; u.present() {
		var ok bool
		r.URL, ok = p.scalar(u)
		// The URL may hold credentials: it is never quoted back.
		if pu, err := url.Parse(r.URL); ok && (err != nil || pu.Scheme != "http" && pu.Scheme != "https" || pu.Host == "") {
			p.errorf(u.valPos(), "%s: want an http:// or https:// URL", u.ctx)
		}
	} else {
		p.required(m, "url", r.Pos, e.ctx, "")
	}
	user, pass := m["username"], m["password"]
	r.Username, r.Password = p.str(user), p.str(pass)
	if user.present() && !pass.present() {
		p.errorf(user.keyPos(), "%s: username without password: basic authentication needs both", user.ctx)
	} else if pass.present() && !user.present() {
		p.errorf(pass.keyPos(), "%s: password without username: basic authentication needs both", pass.ctx)
	}
	return r
}

// SchemaAt returns the file position of line and column (1-based, column
// in characters) of the schema text; see Feature.TransformAt.
func (s *Source) SchemaAt(line, col int) Pos {
	return textAt(s.schemaLoc, s.SchemaPos, s.Pos, line, col)
}

// SchemaAtOffset returns the file position of the byte at offset off of
// Schema, as found in a JSON decoder's error.
func (s *Source) SchemaAtOffset(off int) Pos {
	off = max(0, min(off, len(s.Schema)))
	before := s.Schema[:off]
	line := 1 + strings.Count(before, "\n")
	col := 1 + utf8.RuneCountInString(before[strings.LastIndexByte(before, '\n')+1:])
	return s.SchemaAt(line, col)
}
