package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/wharfhq/wharf"

// layers is the import direction of docs/architecture.md, top to bottom: a
// package may import only packages of a lower layer, never its own layer
// (feature packages do not import each other) nor a higher one.
var layers = [][]string{
	{"", "e2e", "bench/davbench", "bench/xnetdav", "bench/tusbench", "bench/blobbench", "bench/fsyncbench", "packaging"}, // main, black-box tests, benchmark tools, packaging tests
	{"cmd"}, // the command line: flags -> config and calls; only main (and the packaging tests) import it
	// the Phraseanet simulator the e2e tests drive, and the login, push and
	// pull engines (cmd imports them); neither imports anything of the
	// server (client writes its files with internal/diskio)
	{"e2e/phrasesim", "client"},
	{"server", "ops"}, // ops: backup, restore, check; server does not import it
	{"dav", "tus", "web", "publish", "ocs", "links", "server/tlsconf"}, // ocs: the sync clients' discovery and login flow; links: share links
	// publish makes the Phraseanet commits of finalizations: the one
	// surface that calls another, so phraseanet sits below the others.
	{"phraseanet"},
	{"postproc"},
	// the error vocabulary and the route type every surface shares
	{"internal/api"},
	{"internal/testenv"}, // the base of package tests: store, auth and the space tree
	// natsbus: the bus shared by replicas through NATS (imports events only)
	{"space", "auth", "events/natsbus"},
	// test support: the object stores object-store mode is tested on
	{"internal/teststores"},
	// the blob stores (a directory, S3) and, below them, their conformance
	// suite; they import blob (and internal/diskio) only
	{"blob/local", "blob/s3"},
	{"blob/blobtest"},
	// the bus and its filters; diskio: the copy loop of uploads and the
	// atomic write of small files; blob: the object store contract; test
	// support: the real clamd, a settable clock; flushfloor: the disk's
	// durable-write floor the benchmarks report. None of them imports
	// anything of Wharf.
	{"store", "events", "internal/diskio", "internal/clamdtest", "internal/fakeclock", "blob", "internal/flushfloor"},
	// real outside servers for tests (S3, NATS, PostgreSQL); store's own
	// tests run on its PostgreSQL, so it sits below store
	{"internal/testservers"},
}

func layerOf(pkg string) (int, bool) {
	for i, l := range layers {
		for _, p := range l {
			if p == pkg {
				return i, true
			}
		}
	}
	return 0, false
}

// TestImportDirection parses every Go file of the module and fails when a
// package imports one of its own layer or of a layer above it, or when a
// package is missing from the table (so a new package has to be placed).
func TestImportDirection(t *testing.T) {
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); p != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" || name == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		pkg := filepath.ToSlash(filepath.Dir(p))
		if pkg == "." {
			pkg = ""
		}
		from, ok := layerOf(pkg)
		if !ok {
			t.Errorf("%s: package %q is not placed in arch_test.go's layers; add it where docs/architecture.md puts it", p, pkg)
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			ip, _ := strconv.Unquote(imp.Path.Value)
			if ip != module && !strings.HasPrefix(ip, module+"/") {
				continue
			}
			target := strings.TrimPrefix(strings.TrimPrefix(ip, module), "/")
			if target == pkg && strings.HasSuffix(f.Name.Name, "_test") {
				continue // external test package of the same package
			}
			to, ok := layerOf(target)
			switch {
			case !ok:
				t.Errorf("%s imports %s, which is not in the layers table", p, ip)
			case to <= from:
				t.Errorf("%s (layer %d, %s) imports %s (layer %d): imports must point down, see docs/architecture.md",
					p, from, path.Join(module, pkg), ip, to)
			}
			checked++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no module-internal imports found: the walk is broken")
	}
}
