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

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/internal/tlsconf"
)

// Options says how to connect to Redis.
type Options struct {
	// Addr is the server's host:port; default "localhost:6379". With
	// Cluster it lists one or more nodes of the cluster, comma-separated
	// ("h1:7000,h2:7001"): the writer and reader learn the others.
	Addr      string
	Cluster   bool        // Redis Cluster: route each key to its slot's master (see Open)
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
	if o.Cluster {
		scheme += "+cluster"
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

// nodes returns the addresses in Addr, for a cluster's seed nodes.
func (o Options) nodes() []string {
	var out []string
	for _, a := range strings.Split(o.addr(), ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
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
//
// A Redis Cluster is redis+cluster://[[user]:password@]host[:port][,host[:port]...]
// (rediss+cluster:// for TLS): one or more of its nodes, comma-separated;
// its database can only be 0.
func ParseURL(s string) (Options, error) {
	if !strings.Contains(s, "://") {
		s = "redis://" + s
	}
	// The user info is parsed apart, so that no error quotes it: it
	// ends at the last '@', and url.Parse would end it at the first '/',
	// '?' or '#', quoting the rest of the password as a host or path.
	scheme, rest, _ := strings.Cut(s, "://")
	var user *url.Userinfo
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		info := rest[:at]
		if strings.ContainsAny(info, "/?#") {
			return Options{}, errors.New("invalid redis URL: '/', '?' or '#' before the '@' of the user info: percent-encode the password")
		}
		iu, err := url.Parse("redis://" + info + "@h")
		if err != nil || iu.User == nil {
			return Options{}, errors.New("invalid redis URL: invalid user info: percent-encode the password")
		}
		user, rest = iu.User, rest[at+1:]
	}
	// url.Parse takes one host: parse a cluster's node list apart.
	var hosts []string
	if strings.HasSuffix(scheme, "+cluster") {
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		hosts = strings.Split(rest[:end], ",")
		rest = "cluster.invalid" + rest[end:]
	}
	u, err := url.Parse(scheme + "://" + rest)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL
		}
		return Options{}, fmt.Errorf("invalid redis URL: %w", err)
	}
	u.User = user
	var o Options
	switch u.Scheme {
	case "redis":
	case "rediss":
		o.TLS = true
	case "redis+cluster":
		o.Cluster = true
	case "rediss+cluster":
		o.TLS, o.Cluster = true, true
	default:
		return Options{}, fmt.Errorf("invalid redis URL: scheme %q: want redis, rediss, redis+cluster or rediss+cluster", u.Scheme)
	}
	if !o.Cluster {
		if strings.Contains(u.Host, ",") {
			return Options{}, fmt.Errorf("invalid redis URL: several hosts: a Redis Cluster is %s+cluster://host:port,host:port,...", u.Scheme)
		}
		if o.Addr, err = hostPort(u.Hostname(), u.Port()); err != nil {
			return Options{}, err
		}
	} else {
		addrs := make([]string, 0, len(hosts))
		for _, h := range hosts {
			hu, err := url.Parse("redis://" + h)
			if err != nil || hu.Host != h {
				return Options{}, fmt.Errorf("invalid redis URL: cluster node %q: want host[:port]", h)
			}
			a, err := hostPort(hu.Hostname(), hu.Port())
			if err != nil {
				return Options{}, err
			}
			addrs = append(addrs, a)
		}
		o.Addr = strings.Join(addrs, ",")
	}
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
	if o.Cluster && o.DB != 0 {
		return Options{}, fmt.Errorf("invalid redis URL: database %d: a Redis Cluster has only database 0", o.DB)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return Options{}, errors.New("invalid redis URL: query and fragment are not supported")
	}
	return o, nil
}

// Environment variables naming the PEM files of a TLS connection given
// as a rediss:// URL (see WithEnvTLS); a feature file's online_store has
// ca_file, cert_file and key_file instead (see OptionsFromConfig).
const (
	CAFileEnv   = "FEATHR_REDIS_CA_FILE"   // the CA that verifies the server
	CertFileEnv = "FEATHR_REDIS_CERT_FILE" // a client certificate, with KeyFileEnv
	KeyFileEnv  = "FEATHR_REDIS_KEY_FILE"  // the client certificate's key
)

// OptionsFromConfig returns the options of a feature file's
// online_store.redis, with TLS settings from its ca_file, cert_file and
// key_file.
func OptionsFromConfig(r config.Redis) (Options, error) {
	o := Options{Addr: r.Addr, Cluster: r.Cluster, Username: r.Username, Password: r.Password, TLS: r.TLS, DB: r.DB}
	if r.TLS && (r.CAFile != "" || r.CertFile != "") {
		tc, err := tlsconf.Client(tlsconf.Files{CAFile: r.CAFile, CertFile: r.CertFile, KeyFile: r.KeyFile})
		if err != nil {
			return o, fmt.Errorf("online_store.redis: %w", err)
		}
		o.TLSConfig = tc
	}
	return o, nil
}

// WithEnvTLS returns o, the options of a URL, with TLS settings from the
// PEM files named by CAFileEnv, CertFileEnv and KeyFileEnv, as lookupEnv
// (os.LookupEnv, say) finds them. Naming files for a URL without TLS, or
// a certificate without its key, is an error.
func (o Options) WithEnvTLS(lookupEnv func(string) (string, bool)) (Options, error) {
	get := func(k string) string { v, _ := lookupEnv(k); return v }
	files := tlsconf.Files{CAFile: get(CAFileEnv), CertFile: get(CertFileEnv), KeyFile: get(KeyFileEnv)}
	if files == (tlsconf.Files{}) {
		return o, nil
	}
	if !o.TLS {
		return o, fmt.Errorf("%s, %s or %s is set, but the Redis URL is not rediss:// (TLS)", CAFileEnv, CertFileEnv, KeyFileEnv)
	}
	if (files.CertFile == "") != (files.KeyFile == "") {
		return o, fmt.Errorf("%s and %s: a client certificate needs both", CertFileEnv, KeyFileEnv)
	}
	tc, err := tlsconf.Client(files)
	if err != nil {
		return o, fmt.Errorf("redis TLS: %w", err)
	}
	o.TLSConfig = tc
	return o, nil
}

// hostPort joins a URL's host and port, the port defaulting to 6379.
func hostPort(host, port string) (string, error) {
	if host == "" {
		return "", errors.New("invalid redis URL: no host")
	}
	if port == "" {
		port = "6379"
	} else if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return "", fmt.Errorf("invalid redis URL: port %q", port)
	}
	return net.JoinHostPort(host, port), nil
}

// NewPool returns a pool of connections to the one server at o.Addr (a
// Store has one, or one per node of a cluster). Each new connection AUTHs
// (with the username when set) and SELECTs the database; a connection
// idle for more than a few seconds is PINGed before it is handed out
// again.
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
