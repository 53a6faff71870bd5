package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
)

// maxKeyFileBytes bounds a provider key file; credentials are far smaller,
// and a bound keeps a mistaken path (a log file, /dev/zero) from hurting.
const maxKeyFileBytes = 64 << 10

// KeyDigests returns the SHA-256 digest of each of the tenant's keys, in
// order, for the auth code to compare against the digest of a presented key.
// Keys given by env are resolved by Load; on a Tenant built in Go rather than
// loaded, an env key is an error, so auth fails closed instead of open.
func (t Tenant) KeyDigests() ([][32]byte, error) {
	out := make([][32]byte, 0, len(t.Keys))
	for i, k := range t.Keys {
		d, ok := k.digest()
		if !ok {
			return nil, fmt.Errorf("tenant %q: keys[%d]: no usable digest (sha256 must be 64 hex characters; env keys are resolved only by config.Load)", t.Name, i)
		}
		out = append(out, d)
	}
	return out, nil
}

// digest returns the key's SHA-256 when it is known.
func (k Key) digest() ([32]byte, bool) {
	var d [32]byte
	switch {
	case k.SHA256 != "" && k.Env != "":
		return d, false
	case k.SHA256 != "":
		if len(k.SHA256) != 2*len(d) {
			return d, false
		}
		if _, err := hex.Decode(d[:], []byte(k.SHA256)); err != nil {
			return d, false
		}
		return d, true
	case k.Env != "" && k.envResolved:
		return k.envDigest, true
	}
	return d, false
}

// resolve does the load-time work that reads outside the file: provider
// key files and tenant key variables. Messages never include what was read.
func resolve(c *Config, lookup func(string) (string, bool)) []Problem {
	var k checker
	for i := range c.Providers {
		p := &c.Providers[i]
		if p.APIKeyFile == "" {
			continue
		}
		fp := field(at("providers", i), "api_key_file")
		if p.APIKey != "" {
			k.add(fp, "set either api_key or api_key_file, not both")
			continue
		}
		key, err := readKeyFile(p.APIKeyFile)
		if err != nil {
			k.add(fp, "%s", err.Error())
			continue
		}
		p.APIKey = Secret(key)
	}
	for i := range c.Tenants {
		for j := range c.Tenants[i].Keys {
			key := &c.Tenants[i].Keys[j]
			if key.Env == "" || key.SHA256 != "" || !validEnvName(key.Env) {
				continue // check reports these
			}
			ep := field(at(field(at("tenants", i), "keys"), j), "env")
			v, ok := lookup(key.Env)
			switch {
			case !ok:
				k.add(ep, "environment variable %s is not set", key.Env)
			case v == "":
				k.add(ep, "environment variable %s is empty", key.Env)
			default:
				key.envDigest = sha256.Sum256([]byte(v))
				key.envResolved = true
			}
		}
	}
	return k.problems
}

// readKeyFile reads a credential file, trimming the surrounding white space
// (a trailing newline is the norm). Only regular files are read, so a FIFO
// or device cannot block a reload.
func readKeyFile(name string) (string, error) {
	// Stat before opening: opening a FIFO for reading blocks until a writer
	// comes. The second check below catches a file swapped in between.
	if st, err := os.Stat(name); err != nil {
		return "", fmt.Errorf("cannot read key file: %w", err)
	} else if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", name)
	}
	f, err := os.Open(name)
	if err != nil {
		return "", fmt.Errorf("cannot read key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("cannot read key file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", name)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileBytes+1))
	if err != nil {
		return "", fmt.Errorf("cannot read key file: %w", err)
	}
	if len(b) > maxKeyFileBytes {
		return "", fmt.Errorf("%s is larger than %d bytes", name, maxKeyFileBytes)
	}
	key := strings.TrimSpace(string(b))
	switch {
	case key == "":
		return "", fmt.Errorf("%s is empty", name)
	case hasControl(key):
		return "", fmt.Errorf("%s contains a line break or control character inside the key", name)
	}
	return key, nil
}
