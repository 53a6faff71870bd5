package agent

import (
	"testing"

	"github.com/weir-gateway/weir/userspace/config"
)

func TestListenersFor(t *testing.T) {
	base := []config.Listener{{Name: "a", HTTP3: true, HTTP3Workers: 4}, {Name: "b"}}
	for _, tc := range []struct {
		mode string
		want []int
	}{{"auto", []int{4, 0}}, {"on", []int{4, 0}}, {"off", []int{1, 1}}} {
		t.Run(tc.mode, func(t *testing.T) {
			c := &config.Config{Listeners: base, Dataplane: config.Dataplane{Mode: tc.mode}}
			got := listenersFor(c)
			for i, w := range tc.want {
				if got[i].HTTP3Workers != w {
					t.Fatalf("listener %d workers %d, want %d", i, got[i].HTTP3Workers, w)
				}
			}
			if base[0].HTTP3Workers != 4 {
				t.Fatal("listenersFor changed the config it was given")
			}
		})
	}
}
