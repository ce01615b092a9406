package config

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"strings"
)

// maxSecretFile bounds how much of a password, certificate or key file is
// read: such files are small, and a path such as /dev/zero must not make
// the loader read forever.
const maxSecretFile = 1 << 20

// readSmallFile reads the regular file at path, up to maxSecretFile bytes.
// Its errors name the path, never the contents.
func readSmallFile(path string) ([]byte, error) {
	// Stat first: opening a FIFO would block.
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSecretFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxSecretFile)
	}
	return b, nil
}

// password returns the secret given by exactly one of the password and
// password_file entries: the expanded value, or the file's contents less a
// final line break. file is the path read, "" for a password in the file.
// ok is false when neither is given or the secret cannot be had (reported).
// No message quotes the secret.
func (p *parser) password(pass, file *entry) (secret, path string, ok bool) {
	switch {
	case pass.present() && file.present():
		p.errorf(file.keyPos(), "%s: give either password or password_file, not both", file.ctx)
		return "", "", false
	case pass.present():
		s, ok := p.scalar(pass)
		return s, "", ok
	case !file.present():
		return "", "", false
	}
	path, ok = p.scalar(file)
	if !ok {
		return "", "", false
	}
	if path == "" {
		p.errorf(file.valPos(), "%s: is empty; want the path of a file holding the password", file.ctx)
		return "", "", false
	}
	b, err := readSmallFile(path)
	if err != nil {
		p.errorf(file.valPos(), "%s: %w", file.ctx, err)
		return "", path, false
	}
	secret = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if secret == "" {
		p.errorf(file.valPos(), "%s: %s is empty", file.ctx, path)
		return "", path, false
	}
	return secret, path, true
}

// pemFile returns the path given by e and checks that the file holds PEM
// data: a certificate, or with key set a private key. A problem is
// reported at the value; the contents are never quoted.
func (p *parser) pemFile(e *entry, key bool) string {
	path, ok := p.scalar(e)
	if !ok {
		return ""
	}
	if path == "" {
		p.errorf(e.valPos(), "%s: is empty; want the path of a PEM file", e.ctx)
		return ""
	}
	b, err := readSmallFile(path)
	if err != nil {
		p.errorf(e.valPos(), "%s: %w", e.ctx, err)
		return path
	}
	want := "PEM certificate (-----BEGIN CERTIFICATE-----)"
	if key {
		want = "PEM private key (-----BEGIN ... PRIVATE KEY-----)"
	}
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if key && strings.HasSuffix(blk.Type, "PRIVATE KEY") || !key && blk.Type == "CERTIFICATE" {
			return path
		}
	}
	if !key && bytes.Contains(b, []byte("PRIVATE KEY-----")) {
		want += "; it holds a private key"
	}
	p.errorf(e.valPos(), "%s: %s holds no %s", e.ctx, path, want)
	return path
}
