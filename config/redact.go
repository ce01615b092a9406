package config

import (
	"fmt"
	"strings"
)

// redacted replaces a secret when a value is printed.
const redacted = "<redacted>"

func redact(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

// String formats r as %+v would, with the password redacted.
func (r Redis) String() string {
	type plain Redis // without methods
	r.Password = redact(r.Password)
	return fmt.Sprintf("%+v", plain(r))
}

// GoString formats r as %#v would, with the password redacted.
func (r Redis) GoString() string {
	type plain Redis
	r.Password = redact(r.Password)
	return goString("Redis", plain(r))
}

// String formats s as %+v would, with the password redacted.
func (s Security) String() string {
	type plain Security
	s.Password = redact(s.Password)
	return fmt.Sprintf("%+v", plain(s))
}

// GoString formats s as %#v would, with the password redacted.
func (s Security) GoString() string {
	type plain Security
	s.Password = redact(s.Password)
	return goString("Security", plain(s))
}

// String formats r as %+v would, with the password redacted.
func (r Registry) String() string {
	type plain Registry
	r.Password = redact(r.Password)
	return fmt.Sprintf("%+v", plain(r))
}

// GoString formats r as %#v would, with the password redacted.
func (r Registry) GoString() string {
	type plain Registry
	r.Password = redact(r.Password)
	return goString("Registry", plain(r))
}

// goString formats v, of a local type named plain, as %#v would format a
// value of the type name.
func goString(name string, v any) string {
	return strings.Replace(fmt.Sprintf("%#v", v), "config.plain", "config."+name, 1)
}
