// Package flushfloor times the three flushes a durable small-file write
// needs on a disk, the floor under a one-connection PUT (docs/benchmarks.md,
// issue 21): the fsync of a new 4 KiB file, the fsync of its folder after
// it is renamed in, and an fdatasync of 4 KiB written into a file that
// already exists (as SQLite's WAL is at a commit), each alone and the
// three one after the other. bench/fsyncbench prints them; davbench
// -small measures them in turns with the servers, so that a PUT's latency
// can be read against what the disk took in the same minutes.
package flushfloor

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Times are the durations of each write's flushes, one per write.
type Times struct {
	File   []time.Duration // the fsync of the new file
	Dir    []time.Duration // the fsync of its folder after the rename
	Commit []time.Duration // the fdatasync of 4 KiB rewritten in place
	All    []time.Duration // the whole write, the three in a row
}

// Median and P90 of d (sorted in place); 0 when d is empty.
func Median(d []time.Duration) time.Duration { return quantile(d, 50) }
func P90(d []time.Duration) time.Duration    { return quantile(d, 90) }

func quantile(d []time.Duration, pct int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[len(d)*pct/100]
}

// Measure makes n durable writes of 4 KiB in a temporary folder under dir
// (on the disk to measure), which it removes, and returns their times.
func Measure(dir string, n int) (Times, error) {
	root, err := os.MkdirTemp(dir, "flushfloor-")
	if err != nil {
		return Times{}, err
	}
	defer os.RemoveAll(root)
	stage := filepath.Join(root, "uploads")
	folder := filepath.Join(root, "space")
	for _, d := range []string{stage, folder} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return Times{}, err
		}
	}
	wal, err := os.OpenFile(filepath.Join(root, "wal"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return Times{}, err
	}
	defer wal.Close()
	// The WAL is reused from its start, as SQLite's is after a checkpoint:
	// written once and flushed, so a commit changes no file size.
	page := make([]byte, 4096)
	for i := range 64 {
		if _, err := wal.WriteAt(page, int64(i)*4096); err != nil {
			return Times{}, err
		}
	}
	if err := wal.Sync(); err != nil {
		return Times{}, err
	}
	dfd, err := os.Open(folder)
	if err != nil {
		return Times{}, err
	}
	defer dfd.Close()
	var t Times
	for i := range n {
		page[0] = byte(i)
		t0 := time.Now()
		name := filepath.Join(stage, fmt.Sprintf("f%d", i))
		f, err := os.Create(name)
		if err != nil {
			return Times{}, err
		}
		if _, err := f.Write(page); err != nil {
			return Times{}, err
		}
		t1 := time.Now()
		if err := f.Sync(); err != nil {
			return Times{}, err
		}
		t2 := time.Now()
		f.Close()
		if err := os.Rename(name, filepath.Join(folder, fmt.Sprintf("f%d", i%16))); err != nil {
			return Times{}, err
		}
		t3 := time.Now()
		if err := dfd.Sync(); err != nil {
			return Times{}, err
		}
		t4 := time.Now()
		if _, err := wal.WriteAt(page, int64(i%64)*4096); err != nil {
			return Times{}, err
		}
		t5 := time.Now()
		if err := fdatasync(wal); err != nil {
			return Times{}, err
		}
		t6 := time.Now()
		t.File = append(t.File, t2.Sub(t1))
		t.Dir = append(t.Dir, t4.Sub(t3))
		t.Commit = append(t.Commit, t6.Sub(t5))
		t.All = append(t.All, t6.Sub(t0))
	}
	return t, nil
}
