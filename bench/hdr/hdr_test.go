package hdr

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketsAreContiguous(t *testing.T) {
	prevHi := int64(-1)
	for i := range nBuckets {
		lo, hi := bucketRange(i)
		if lo != prevHi+1 || hi < lo {
			t.Fatalf("bucket %d = [%d,%d], previous ended at %d", i, lo, hi, prevHi)
		}
		if index(lo) != i || index(hi) != i {
			t.Fatalf("bucket %d = [%d,%d] but index(lo)=%d index(hi)=%d", i, lo, hi, index(lo), index(hi))
		}
		if hi > lo && float64(hi-lo+1)/float64(lo) > 1.0/half {
			t.Fatalf("bucket %d = [%d,%d] is wider than 1/%d of its values", i, lo, hi, half)
		}
		prevHi = hi
	}
	if prevHi != maxValue {
		t.Fatalf("last bucket ends at %d, want %d", prevHi, maxValue)
	}
}

func TestQuantilesMatchExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dists := map[string]func() int64{
		"uniform_us":   func() int64 { return rng.Int64N(1_000_000) },
		"lognormal":    func() int64 { return int64(math.Exp(rng.NormFloat64()*1.5 + 11)) },
		"bimodal":      func() int64 { return []int64{50_000, 5_000_000}[rng.IntN(2)] + rng.Int64N(1000) },
		"small_exact":  func() int64 { return rng.Int64N(200) },
		"single_value": func() int64 { return 123_456 },
	}
	for name, gen := range dists {
		t.Run(name, func(t *testing.T) {
			h := New()
			vals := make([]int64, 20000)
			for i := range vals {
				vals[i] = gen()
				h.RecordValue(vals[i])
			}
			slices.Sort(vals)
			for _, q := range []float64{0.001, 0.5, 0.9, 0.99, 0.999, 1} {
				exact := vals[int(math.Ceil(q*float64(len(vals))))-1]
				got := int64(h.Quantile(q))
				if got < exact || float64(got-exact) > float64(exact)/half {
					t.Errorf("q%.3f = %d, exact %d (allowed +%.2f%%)", q, got, exact, 100.0/half)
				}
			}
			if h.Count() != uint64(len(vals)) || int64(h.Min()) != vals[0] || int64(h.Max()) != vals[len(vals)-1] {
				t.Errorf("count %d min %d max %d", h.Count(), h.Min(), h.Max())
			}
			var sum float64
			for _, v := range vals {
				sum += float64(v)
			}
			if mean := sum / float64(len(vals)); math.Abs(float64(h.Mean())-mean) > 1 {
				t.Errorf("mean %v, exact %v", h.Mean(), mean)
			}
		})
	}
}

func TestMergeEqualsRecordingTogether(t *testing.T) {
	a, b, both := New(), New(), New()
	for i := range int64(5000) {
		v := i * i * 37
		if i%3 == 0 {
			a.RecordValue(v)
		} else {
			b.RecordValue(v)
		}
		both.RecordValue(v)
	}
	a.Merge(b)
	a.Merge(nil)
	a.Merge(New())
	if a.Summarize() != both.Summarize() {
		t.Fatalf("merged %+v, together %+v", a.Summarize(), both.Summarize())
	}
	var empty Histogram
	empty.Merge(both)
	if empty.Summarize() != both.Summarize() {
		t.Fatalf("merge into zero value %+v", empty.Summarize())
	}
}

func TestEdgeCases(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Mean() != 0 || len(h.Buckets()) != 0 {
		t.Fatal("empty histogram is not zero")
	}
	h.Record(-time.Second)
	h.Record(3 * time.Hour)
	if h.Min() != 0 || h.Max() != maxValue || h.clamped != 1 {
		t.Fatalf("min %v max %v clamped %d", h.Min(), h.Max(), h.clamped)
	}
	b, err := json.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Count   uint64   `json:"count"`
		Clamped uint64   `json:"clamped"`
		Buckets []Bucket `json:"buckets"`
	}
	if err := json.Unmarshal(b, &back); err != nil || back.Count != 2 || back.Clamped != 1 || len(back.Buckets) != 2 {
		t.Fatalf("json %s: %+v %v", b, back, err)
	}
}

func BenchmarkRecord(b *testing.B) {
	h := New()
	v := int64(1)
	for b.Loop() {
		v = v*6364136223846793005 + 1442695040888963407
		h.RecordValue(v & (1<<30 - 1))
	}
}
