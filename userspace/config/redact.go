package config

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Redacted renders the configuration as indented JSON for the admin /config
// endpoint. Secrets (provider keys, extra header values, the Redis password)
// show as "[redacted]"; tenant key digests are redacted as well, since a
// digest of a weak key can be brute-forced offline.
func (c *Config) Redacted() ([]byte, error) {
	cp := *c
	cp.Tenants = slices.Clone(c.Tenants)
	for i := range cp.Tenants {
		cp.Tenants[i].Keys = slices.Clone(cp.Tenants[i].Keys)
		for j := range cp.Tenants[i].Keys {
			if cp.Tenants[i].Keys[j].SHA256 != "" {
				cp.Tenants[i].Keys[j].SHA256 = Secret("x").String()
			}
		}
	}
	b, err := json.MarshalIndent(&cp, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("redact config: %w", err)
	}
	return b, nil
}
