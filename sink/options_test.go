package sink

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Options
	}{
		{"redis://localhost:6379", Options{Addr: "localhost:6379"}},
		{"redis://localhost", Options{Addr: "localhost:6379"}},
		{"localhost:6390", Options{Addr: "localhost:6390"}},
		{"redis://:pw@h:1/2", Options{Addr: "h:1", Password: "pw", DB: 2}},
		{"redis://user:p%40ss@h:1/0", Options{Addr: "h:1", Username: "user", Password: "p@ss"}},
		{"redis://user@h:1", Options{Addr: "h:1", Username: "user"}},
		{"rediss://h.example.com:6380/15", Options{Addr: "h.example.com:6380", TLS: true, DB: 15}},
		{"redis://[::1]:7000/", Options{Addr: "[::1]:7000"}},
		{"redis+cluster://a:7000,b,[::1]:7002", Options{Addr: "a:7000,b:6379,[::1]:7002", Cluster: true}},
		{"rediss+cluster://u:p%2Cw@h:7000/0", Options{Addr: "h:7000", Username: "u", Password: "p,w", TLS: true, Cluster: true}},
		{"redis+cluster://:pw@h1:1,h2:2/", Options{Addr: "h1:1,h2:2", Password: "pw", Cluster: true}},
	} {
		got, err := ParseURL(c.in)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("ParseURL(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
	for _, in := range []string{
		"http://h:1", "redis://h:99999", "redis://h:1/db", "redis://:1", "redis://h:1/-1",
		"redis://u:secret@h:1/x", "redis://u:secret@h:1?db=2", "redis://u:secret@h:x%zz",
		"redis://a:1,b:2", "redis+cluster://u:secret@a:1,b:2/3", "redis+cluster://u:secret@a:1,,b:2",
		"redis+cluster://u:secret@a:1,b:x", "redis+cluster://u:secret@", "redis+cluster://a:1/b:2",
	} {
		_, err := ParseURL(in)
		if err == nil {
			t.Errorf("ParseURL(%q): no error", in)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseURL(%q) error leaks the password: %v", in, err)
		}
	}
}

// TestParseURLSecret checks that no error quotes any part of a password,
// even one with characters a URL must percent-encode.
func TestParseURLSecret(t *testing.T) {
	for _, in := range []string{
		"redis://:s3cr/et@h",
		"redis://:s3cr?et@h:1",
		"redis://:s3cr#et@h:1/0",
		"redis://u:s3cr/et@h:1/x",
		"redis://:s3cr/et@h:99999",
		"redis://:s3cr%zzet@h:1",
		"redis://:s3cr et@h:1",
		"redis://:s3cr@et@h:x",
		"rediss://user:s3cr/et/@h:1",
		"redis+cluster://:s3cr/et@h1:7000",
		"redis+cluster://:s3cr?et@h1:7000,h2:7001",
		"redis+cluster://u:s3cr%zzet@h1:7000",
		"redis+cluster://u:s3cr#et@h1:7000,,h2",
		"s3cr:et@h:x",
		"s3cr/et@h",
	} {
		_, err := ParseURL(in)
		if err == nil {
			t.Errorf("ParseURL(%q): no error", in)
			continue
		}
		for _, part := range []string{"s3cr", "et@", "u:"} {
			if strings.Contains(err.Error(), part) {
				t.Errorf("ParseURL(%q) error quotes %q of the user info: %v", in, part, err)
			}
		}
	}
	for _, in := range []string{"redis://:s3cr/et@h", "redis+cluster://:s3cr?et@h1:7000"} {
		if _, err := ParseURL(in); err == nil || !strings.Contains(err.Error(), "percent-encode the password") {
			t.Errorf("ParseURL(%q) = %v, want a hint to percent-encode the password", in, err)
		}
	}
}

func TestOptionsString(t *testing.T) {
	o := Options{Addr: "h:1", Username: "u", Password: "secret", TLS: true, DB: 2}
	if s := o.String(); s != "rediss://u:***@h:1/2" {
		t.Errorf("String() = %q", s)
	}
	if s := (Options{Addr: "a:1,b:2", Cluster: true, Password: "secret"}).String(); s != "redis+cluster://:***@a:1,b:2/0" {
		t.Errorf("cluster String() = %q", s)
	}
	if s := (Options{}).String(); s != "redis://localhost:6379/0" {
		t.Errorf("zero String() = %q", s)
	}
}
