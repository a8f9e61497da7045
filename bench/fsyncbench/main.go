// Command fsyncbench times the three flushes a durable small-file write
// needs on a disk, alone and one after the other, the floor under a
// one-connection PUT (docs/benchmarks.md, issue 21): the fsync of a new
// 4 KiB file, the fsync of its folder after it is renamed in, and an
// fdatasync of 4 KiB written into a file that already exists (as SQLite's
// WAL is at a commit).
//
//	go run ./bench/fsyncbench -dir /tmp -n 300
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

func main() {
	dir := flag.String("dir", os.TempDir(), "where to write (on the disk to measure)")
	n := flag.Int("n", 300, "writes")
	flag.Parse()
	root, err := os.MkdirTemp(*dir, "fsyncbench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.RemoveAll(root)
	if err := run(root, *n); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(root string, n int) error {
	stage := filepath.Join(root, "uploads")
	folder := filepath.Join(root, "space")
	for _, d := range []string{stage, folder} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	wal, err := os.OpenFile(filepath.Join(root, "wal"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer wal.Close()
	// The WAL is reused from its start, as SQLite's is after a checkpoint:
	// written once and flushed, so a commit changes no file size.
	page := make([]byte, 4096)
	for i := range 64 {
		if _, err := wal.WriteAt(page, int64(i)*4096); err != nil {
			return err
		}
	}
	if err := wal.Sync(); err != nil {
		return err
	}
	dfd, err := os.Open(folder)
	if err != nil {
		return err
	}
	defer dfd.Close()
	var file, dir, commit, all []time.Duration
	for i := range n {
		page[0] = byte(i)
		t0 := time.Now()
		name := filepath.Join(stage, fmt.Sprintf("f%d", i))
		f, err := os.Create(name)
		if err != nil {
			return err
		}
		if _, err := f.Write(page); err != nil {
			return err
		}
		t1 := time.Now()
		if err := f.Sync(); err != nil {
			return err
		}
		t2 := time.Now()
		f.Close()
		if err := os.Rename(name, filepath.Join(folder, fmt.Sprintf("f%d", i%16))); err != nil {
			return err
		}
		t3 := time.Now()
		if err := dfd.Sync(); err != nil {
			return err
		}
		t4 := time.Now()
		if _, err := wal.WriteAt(page, int64(i%64)*4096); err != nil {
			return err
		}
		t5 := time.Now()
		if err := fdatasync(wal); err != nil {
			return err
		}
		t6 := time.Now()
		file = append(file, t2.Sub(t1))
		dir = append(dir, t4.Sub(t3))
		commit = append(commit, t6.Sub(t5))
		all = append(all, t6.Sub(t0))
	}
	fmt.Printf("%d writes of 4 KiB in %s:\n", n, root)
	for _, r := range []struct {
		what string
		d    []time.Duration
	}{
		{"fsync of a new 4 KiB file", file},
		{"fsync of its folder after the rename", dir},
		{"fdatasync of 4 KiB rewritten in an existing file", commit},
		{"the whole write, the three in a row", all},
	} {
		slices.Sort(r.d)
		fmt.Printf("  %-50s median %8s  p90 %8s\n", r.what, r.d[len(r.d)/2].Round(time.Microsecond), r.d[len(r.d)*9/10].Round(time.Microsecond))
	}
	return nil
}
