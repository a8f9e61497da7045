package server

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"
)

// BenchmarkGet4K is a whole server's cost of a 4 KiB WebDAV GET with an
// app password: the real server (Run) on a loopback port, its access log
// formatted (to io.Discard), every middleware, the handler, and net/http
// on both sides, the client being in the same process. "serial" sends one
// request at a time on one connection (ns/op is the latency); "parallel"
// has 8 goroutines per core send on a connection each (ns/op is the
// machine's time per GET, client included). docs/benchmarks.md
// (issue 21) says where the time goes.
func BenchmarkGet4K(b *testing.B) {
	base := runServer(b, b.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	do := func(cl *http.Client, method, path, user, pass string, body []byte) (int, []byte) {
		r, err := http.NewRequest(method, base+path, bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		r.SetBasicAuth(user, pass)
		if body == nil {
			r.Body, r.ContentLength = http.NoBody, 0
		} else if method == http.MethodPost {
			r.Header.Set("Content-Type", "application/json")
		}
		resp, err := cl.Do(r)
		if err != nil {
			b.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			b.Fatal(err)
		}
		return resp.StatusCode, got
	}
	code, out := do(http.DefaultClient, http.MethodPost, "/api/v1/app-passwords", "admin", testAdminPW, []byte(`{"label":"bench"}`))
	var ap struct{ Password string }
	if err := json.Unmarshal(out, &ap); code != http.StatusCreated || err != nil {
		b.Fatalf("app password: %d %s", code, out)
	}
	const path = "/dav/spaces/files/small.bin"
	if code, _ := do(http.DefaultClient, http.MethodPut, path, "admin", ap.Password, bytes.Repeat([]byte{'x'}, 4096)); code/100 != 2 {
		b.Fatalf("PUT: %d", code)
	}
	get := func(cl *http.Client) {
		if code, got := do(cl, http.MethodGet, path, "admin", ap.Password, nil); code != http.StatusOK || len(got) != 4096 {
			b.Fatalf("GET: %d, %d bytes", code, len(got))
		}
	}
	b.Run("serial", func(b *testing.B) {
		cl := &http.Client{Transport: &http.Transport{}}
		defer cl.CloseIdleConnections()
		b.ReportAllocs()
		for b.Loop() {
			get(cl)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(8) // 16 connections on 2 cores, as davbench
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			cl := &http.Client{Transport: &http.Transport{}}
			defer cl.CloseIdleConnections()
			for pb.Next() {
				get(cl)
			}
		})
	})
}
