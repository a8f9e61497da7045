// Command fsyncbench times the three flushes a durable small-file write
// needs on a disk, alone and one after the other, the floor under a
// one-connection PUT (docs/benchmarks.md, issue 21; internal/flushfloor
// says what is written and flushed).
//
//	go run ./bench/fsyncbench -dir /tmp -n 300
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/wharfhq/wharf/internal/flushfloor"
)

func main() {
	dir := flag.String("dir", os.TempDir(), "where to write (on the disk to measure)")
	n := flag.Int("n", 300, "writes")
	flag.Parse()
	t, err := flushfloor.Measure(*dir, *n)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%d writes of 4 KiB under %s:\n", *n, *dir)
	for _, r := range []struct {
		what string
		d    []time.Duration
	}{
		{"fsync of a new 4 KiB file", t.File},
		{"fsync of its folder after the rename", t.Dir},
		{"fdatasync of 4 KiB rewritten in an existing file", t.Commit},
		{"the whole write, the three in a row", t.All},
	} {
		fmt.Printf("  %-50s median %8s  p90 %8s\n", r.what, flushfloor.Median(r.d).Round(time.Microsecond), flushfloor.P90(r.d).Round(time.Microsecond))
	}
}
