// Package hdr is a log-linear latency histogram in the manner of
// HdrHistogram: every value from 0 to about 73 minutes (in nanoseconds) is
// counted in a bucket no wider than 1/128 of the value, so any percentile is
// within 0.8% of the exact one, in fixed memory, with O(1) recording.
package hdr

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"time"
)

const (
	// subBits sets the precision: values are kept to subBits significant bits.
	subBits = 8
	half    = 1 << (subBits - 1)
	// maxBits bounds the range: values of 2^maxBits ns (~73 min) and more are
	// counted as the largest bucket.
	maxBits  = 42
	nBuckets = (maxBits-subBits+1)*half + half
	maxValue = 1<<maxBits - 1
)

// Histogram counts durations. The zero value is ready to use; it is not safe
// for concurrent use (give each goroutine its own and Merge them).
type Histogram struct {
	counts   []uint64
	total    uint64
	sum      float64
	min, max int64
	// clamped counts values above the range (recorded as the maximum).
	clamped uint64
}

// New returns an empty histogram.
func New() *Histogram { return &Histogram{} }

func index(v int64) int {
	if v < 2*half {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - subBits
	return shift*half + int(v>>shift)
}

// bucketRange is the smallest and largest value counted in bucket i.
func bucketRange(i int) (lo, hi int64) {
	if i < 2*half {
		return int64(i), int64(i)
	}
	shift := i/half - 1
	top := int64(i - shift*half)
	return top << shift, (top+1)<<shift - 1
}

// Record counts one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) { h.RecordValue(int64(d)) }

// RecordValue counts one value in nanoseconds.
func (h *Histogram) RecordValue(v int64) {
	if h.counts == nil {
		h.counts = make([]uint64, nBuckets)
	}
	if v < 0 {
		v = 0
	}
	if v > maxValue {
		v = maxValue
		h.clamped++
	}
	h.counts[index(v)]++
	if h.total == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.total++
	h.sum += float64(v)
}

// Merge adds the counts of o.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.total == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, nBuckets)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.total += o.total
	h.sum += o.sum
	h.clamped += o.clamped
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.total }

// Min is the smallest recorded value (0 when empty).
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Max is the largest recorded value.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean is the exact mean of the recorded values.
func (h *Histogram) Mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.total))
}

// Quantile returns the value at quantile q (0 < q ≤ 1): the highest value
// equivalent to the bucket holding the ceil(q·count)-th smallest value,
// capped at Max. It is 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	rank = min(max(rank, 1), h.total)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			_, hi := bucketRange(i)
			return time.Duration(min(max(hi, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

// Summary is a histogram reduced to the numbers a report shows.
type Summary struct {
	Count uint64        `json:"count"`
	Mean  time.Duration `json:"mean_ns"`
	Min   time.Duration `json:"min_ns"`
	P50   time.Duration `json:"p50_ns"`
	P90   time.Duration `json:"p90_ns"`
	P99   time.Duration `json:"p99_ns"`
	P999  time.Duration `json:"p999_ns"`
	Max   time.Duration `json:"max_ns"`
}

// Summarize returns the standard percentiles.
func (h *Histogram) Summarize() Summary {
	return Summary{
		Count: h.total, Mean: h.Mean(), Min: h.Min(), Max: h.Max(),
		P50: h.Quantile(0.5), P90: h.Quantile(0.9), P99: h.Quantile(0.99), P999: h.Quantile(0.999),
	}
}

// String prints the summary in microseconds.
func (s Summary) String() string {
	us := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/1e3) }
	return fmt.Sprintf("n=%d p50=%sµs p90=%sµs p99=%sµs p99.9=%sµs max=%sµs", s.Count, us(s.P50), us(s.P90), us(s.P99), us(s.P999), us(s.Max))
}

// Bucket is one non-empty bucket of a histogram, for plots and raw export.
type Bucket struct {
	// Hi is the largest value counted in the bucket.
	Hi    time.Duration `json:"hi_ns"`
	Count uint64        `json:"count"`
}

// Buckets returns the non-empty buckets in ascending order.
func (h *Histogram) Buckets() []Bucket {
	var out []Bucket
	for i, c := range h.counts {
		if c > 0 {
			_, hi := bucketRange(i)
			out = append(out, Bucket{Hi: time.Duration(hi), Count: c})
		}
	}
	return out
}

// MarshalJSON writes the summary and the non-empty buckets, so a report
// keeps the whole distribution.
func (h *Histogram) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Summary
		Clamped uint64   `json:"clamped,omitempty"`
		Buckets []Bucket `json:"buckets"`
	}{h.Summarize(), h.clamped, h.Buckets()})
}
