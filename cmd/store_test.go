package cmd

import (
	"context"
	"strings"
	"testing"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/internal/testenv"
	"github.com/feathrgo/feathr/sink"
)

// TestStoreOptionsSecure connects, as storeOptions configures it, to a
// real TLS-only redis-server that requires a client certificate and a
// password, and that has an ACL user: through a file's online_store and
// through rediss:// URLs with FEATHR_REDIS_CA_FILE, _CERT_FILE and
// _KEY_FILE. A wrong password and a missing CA fail, without the password
// in the error.
func TestStoreOptionsSecure(t *testing.T) {
	const admin, user = "admin-pw-6a1f", "user-pw-0c3d"
	certs := testenv.NewCerts(t)
	srv := testenv.StartRedisWith(t, testenv.RedisOptions{TLS: certs, Args: []string{"--requirepass", admin}})
	addr := srv.Addr()
	tlsEnv := map[string]string{
		sink.CAFileEnv: certs.CAFile, sink.CertFileEnv: certs.ClientCert, sink.KeyFileEnv: certs.ClientKey,
	}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	file := func(r config.Redis) *config.File { return &config.File{OnlineStore: config.OnlineStore{Redis: r}} }
	fileTLS := config.Redis{Addr: addr, Password: admin, TLS: true, CAFile: certs.CAFile, CertFile: certs.ClientCert, KeyFile: certs.ClientKey}

	// Create the ACL user as the default user.
	o, err := storeOptions("rediss://:"+admin+"@"+addr, nil, lookupIn(tlsEnv))
	if err != nil {
		t.Fatal(err)
	}
	redisDo(t, o, "ACL", "SETUSER", "feathr", "on", ">"+user, "~*", "&*", "+@all")

	for _, c := range []struct {
		name    string
		flag    string
		file    *config.File
		env     map[string]string
		wantErr string // "" to succeed
	}{
		{name: "file", file: file(fileTLS)},
		{name: "file ACL user", file: file(func() config.Redis { r := fileTLS; r.Username, r.Password = "feathr", user; return r }())},
		{name: "flag", flag: "rediss://:" + admin + "@" + addr, env: tlsEnv},
		{name: "env URL ACL user", env: with(tlsEnv, "FEATHR_REDIS_URL", "rediss://feathr:"+user+"@"+addr)},
		{name: "wrong password", env: with(tlsEnv, "FEATHR_REDIS_URL", "rediss://feathr:wrong-"+user+"@"+addr), wantErr: "WRONGPASS"},
		{name: "no CA", flag: "rediss://:" + admin + "@" + addr, wantErr: "certificate signed by unknown authority"},
		{name: "no client certificate", flag: "rediss://:" + admin + "@" + addr, env: map[string]string{sink.CAFileEnv: certs.CAFile}, wantErr: "client certificate"},
		{name: "plain URL with TLS files", flag: "redis://" + addr, env: tlsEnv, wantErr: "is not rediss://"},
		{name: "cert without key", flag: "rediss://" + addr, env: map[string]string{sink.CertFileEnv: certs.ClientCert}, wantErr: "needs both"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o, err := storeOptions(c.flag, c.file, lookupIn(c.env))
			if err == nil {
				var st *sink.Store
				if st, err = sink.Open(o); err == nil {
					defer st.Close()
					err = st.Ping(context.Background())
				}
			}
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatal(err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, c.wantErr)
			case err != nil && (strings.Contains(err.Error(), admin) || strings.Contains(err.Error(), user)):
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

// lookupIn returns a lookupEnv over m.
func lookupIn(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// redisDo runs one command on the Redis of o.
func redisDo(t *testing.T, o sink.Options, cmd string, args ...any) {
	t.Helper()
	pool := sink.NewPool(o)
	defer pool.Close()
	c := pool.Get()
	defer c.Close()
	if _, err := c.Do(cmd, args...); err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
}
