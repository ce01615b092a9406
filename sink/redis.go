package sink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
)

// Options says how to connect to Redis.
type Options struct {
	Addr      string      // host:port; default "localhost:6379"
	Username  string      // ACL user; empty: AUTH with the password only
	Password  string      // empty: no AUTH
	TLS       bool        // connect with TLS
	TLSConfig *tls.Config // TLS settings; nil: defaults, server name from Addr
	DB        int         // database number, SELECTed after connecting

	DialTimeout  time.Duration // default 5s
	ReadTimeout  time.Duration // per reply; default 10s
	WriteTimeout time.Duration // default 10s
	MaxIdle      int           // idle connections kept by the pool; default 16
}

// String describes o without its password, for logs and errors.
func (o Options) String() string {
	scheme := "redis"
	if o.TLS {
		scheme = "rediss"
	}
	user := ""
	switch {
	case o.Username != "" && o.Password != "":
		user = o.Username + ":***@"
	case o.Username != "":
		user = o.Username + "@"
	case o.Password != "":
		user = ":***@"
	}
	return fmt.Sprintf("%s://%s%s/%d", scheme, user, o.addr(), o.DB)
}

func (o Options) addr() string {
	if o.Addr == "" {
		return "localhost:6379"
	}
	return o.Addr
}

// ParseURL parses a Redis URL: redis://[[user]:password@]host[:port][/db]
// or rediss://... for TLS. A bare host:port is read as redis://host:port.
// The port defaults to 6379 and the database to 0. Errors never include
// the password.
func ParseURL(s string) (Options, error) {
	if !strings.Contains(s, "://") {
		s = "redis://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, password included
		}
		return Options{}, fmt.Errorf("invalid redis URL: %w", err)
	}
	var o Options
	switch u.Scheme {
	case "redis":
	case "rediss":
		o.TLS = true
	default:
		return Options{}, fmt.Errorf("invalid redis URL: scheme %q: want redis or rediss", u.Scheme)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return Options{}, errors.New("invalid redis URL: no host")
	}
	if port == "" {
		port = "6379"
	} else if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return Options{}, fmt.Errorf("invalid redis URL: port %q", port)
	}
	o.Addr = net.JoinHostPort(host, port)
	if u.User != nil {
		o.Username = u.User.Username()
		o.Password, _ = u.User.Password()
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		db, err := strconv.Atoi(p)
		if err != nil || db < 0 {
			return Options{}, fmt.Errorf("invalid redis URL: database %q: want a number", p)
		}
		o.DB = db
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return Options{}, errors.New("invalid redis URL: query and fragment are not supported")
	}
	return o, nil
}

// NewPool returns a connection pool for o. Each new connection AUTHs (with
// the username when set) and SELECTs the database; a connection idle for
// more than a few seconds is PINGed before it is handed out again.
func NewPool(o Options) *redis.Pool {
	dialTimeout := orDefault(o.DialTimeout, 5*time.Second)
	opts := []redis.DialOption{
		redis.DialConnectTimeout(dialTimeout),
		redis.DialTLSHandshakeTimeout(dialTimeout),
		redis.DialReadTimeout(orDefault(o.ReadTimeout, 10*time.Second)),
		redis.DialWriteTimeout(orDefault(o.WriteTimeout, 10*time.Second)),
		redis.DialDatabase(o.DB),
	}
	if o.Password != "" {
		opts = append(opts, redis.DialPassword(o.Password), redis.DialUsername(o.Username))
	}
	if o.TLS {
		opts = append(opts, redis.DialUseTLS(true), redis.DialTLSConfig(o.TLSConfig))
	}
	maxIdle := o.MaxIdle
	if maxIdle <= 0 {
		maxIdle = 16
	}
	addr := o.addr()
	desc := o.String()
	return &redis.Pool{
		DialContext: func(ctx context.Context) (redis.Conn, error) {
			c, err := redis.DialContext(ctx, "tcp", addr, opts...)
			if err != nil {
				// %w keeps a redis.Error (a reply to AUTH or SELECT)
				// visible to the writer's fatal-error check.
				return nil, fmt.Errorf("connect to %s: %w", desc, err)
			}
			return c, nil
		},
		TestOnBorrow: func(c redis.Conn, lastUsed time.Time) error {
			if time.Since(lastUsed) < 5*time.Second {
				return nil
			}
			_, err := c.Do("PING")
			return err
		},
		MaxIdle:     maxIdle,
		IdleTimeout: 5 * time.Minute,
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
