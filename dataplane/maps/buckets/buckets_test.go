package buckets

import (
	"testing"

	"github.com/weir-gateway/weir/dataplane/maps/tenants"
)

func TestAvailable(t *testing.T) {
	const ms = 1_000_000
	r := tenants.Rate{PerSecond: 1000, Burst: 50} // 1 token per ms
	tests := []struct {
		name      string
		tat, now  uint64
		rate      tenants.Rate
		want      uint64
		unlimited bool
	}{
		{"untouched bucket is full", 0, 5 * ms, r, 50, false},
		{"20 spent", 100*ms + 20*ms, 100 * ms, r, 30, false},
		{"partly refilled", 100*ms + 20*ms, 105 * ms, r, 35, false},
		{"empty", 100*ms + 50*ms, 100 * ms, r, 0, false},
		{"overdrawn", 100*ms + 80*ms, 100 * ms, r, 0, false},
		{"burst 0 means 1", 0, 1, tenants.Rate{PerSecond: 5}, 1, false},
		{"faster than 1/ns", 0, 1, tenants.Rate{PerSecond: 2_000_000_000, Burst: 3}, 3, false},
		{"unlimited", 0, 1, tenants.Rate{}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, limited := Available(tt.tat, tt.rate, tt.now)
			if got != tt.want || limited == tt.unlimited {
				t.Errorf("Available = %d, %t; want %d, %t", got, limited, tt.want, !tt.unlimited)
			}
		})
	}
}
