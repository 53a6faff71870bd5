// Package hotpath holds the Go microbenchmarks of weir's request path that
// have no home of their own: the whole pipeline in process (parse, route,
// translate, relay, metrics, access log) against an in-memory upstream,
// routing, and the per-request metrics; and BenchmarkIdleStreams, the heap
// and stack each idle stream holds in the pipeline (the HTTP server's share
// left out). The benchmarks of the pieces live beside them (sse, tokens,
// ratelimit, auth, provider/*, agent); the baseline of them all is
// bench/baseline.txt (make bench-micro compares a new run against it with
// benchstat).
package hotpath
