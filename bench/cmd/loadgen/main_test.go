package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/weir-gateway/weir/bench/mockupstream"
)

func TestRun(t *testing.T) {
	mock := mockupstream.New(mockupstream.Options{Words: 5, APIKey: "k"})
	srv := httptest.NewServer(mock)
	t.Cleanup(srv.Close)
	t.Cleanup(mock.Close)
	okLine := regexp.MustCompile(`^req/s \d+ ok (\d+) errors 0 p50 \S+ p99 \S+ p99.9 \S+\n`)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want *regexp.Regexp
	}{
		{"closed loop", []string{"-key", "k", "-c", "2"}, 0, okLine},
		{"open loop", []string{"-key", "k", "-rate", "200", "-c", "4"}, 0, okLine},
		{"stream", []string{"-key", "k", "-c", "2", "-stream"}, 0, regexp.MustCompile(`(?s)^req/s \d+ ok [1-9]\d* errors 0 .*\nttfb p50 \S+ p99 \S+\n$`)},
		{"wrong key", []string{"-key", "bad", "-c", "1"}, 1, regexp.MustCompile(`ok 0 errors [1-9]\d* .*\nerror status 401: \d+\n`)},
		{"bad flag", []string{"-c"}, 2, regexp.MustCompile(`^$`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errs bytes.Buffer
			args := append([]string{"-url", srv.URL, "-d", "200ms", "-warmup", "0"}, tc.args...)
			if code := run(context.Background(), args, &out, &errs); code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, tc.code, out.String(), errs.String())
			}
			if !tc.want.MatchString(out.String()) {
				t.Fatalf("stdout %q does not match %s", out.String(), tc.want)
			}
			if m := okLine.FindStringSubmatch(out.String()); m != nil {
				if n, _ := strconv.Atoi(m[1]); n == 0 {
					t.Errorf("no request succeeded: %q", out.String())
				}
			}
			if tc.code == 2 && !strings.Contains(errs.String(), "flag needs an argument") {
				t.Errorf("stderr %q", errs.String())
			}
		})
	}
}
