//go:build pprof

// A profiling build (go build -tags pprof) serves net/http/pprof on the
// address in PPROF_ADDR (e.g. 127.0.0.1:6060), for docs/benchmarks.md's
// profiles; release builds do not contain it.
package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
)

func startProfiling() {
	addr := os.Getenv("PPROF_ADDR")
	if addr == "" {
		return
	}
	runtime.MemProfileRate = 64 << 10
	go http.ListenAndServe(addr, nil)
}
