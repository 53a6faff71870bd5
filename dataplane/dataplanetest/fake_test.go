package dataplanetest

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/weir-gateway/weir/dataplane"
)

func TestFake(t *testing.T) {
	f := New()
	if err := f.Block("a", time.Now().Add(time.Hour)); !errors.Is(err, dataplane.ErrUnknownTenant) {
		t.Errorf("block before sync: %v", err)
	}
	d := dataplane.Desired{Tenants: []dataplane.Tenant{{Name: "a", Sources: []dataplane.Source{{Prefix: netip.MustParsePrefix("10.0.0.0/8")}}}}}
	if err := f.Sync(d); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(dataplane.Desired{Tenants: []dataplane.Tenant{{Name: "x"}, {Name: "x"}}}); err == nil {
		t.Error("invalid desired accepted")
	}
	if got := len(f.Syncs()); got != 1 {
		t.Errorf("%d syncs recorded, want 1", got)
	}
	until := time.Now().Add(time.Hour)
	if err := f.Block("a", until); err != nil {
		t.Fatal(err)
	}
	if got, ok := f.BlockedUntil("a"); !ok || !got.Equal(until) {
		t.Errorf("BlockedUntil = %v %t", got, ok)
	}
	if err := f.Block("a", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.BlockedUntil("a"); ok {
		t.Error("still blocked after unblock")
	}
	f.Block("a", until)
	if err := f.Sync(dataplane.Desired{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.BlockedUntil("a"); ok {
		t.Error("a removed tenant stays blocked")
	}
	f.Close()
	if err := f.Sync(d); err == nil || !f.Closed() {
		t.Error("sync after close accepted")
	}
}
