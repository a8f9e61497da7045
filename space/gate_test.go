package space

import (
	"context"
	"errors"
	"path"
	"strings"
	"sync"
	"testing"
)

// denyExe is a Gate that refuses *.exe in space "b", and everything in
// space "shut", and records what it was asked.
type denyExe struct {
	mu    sync.Mutex
	asked [][]Landing
}

func (g *denyExe) Admit(_ context.Context, spaceID string, files []Landing) error {
	g.mu.Lock()
	g.asked = append(g.asked, files)
	g.mu.Unlock()
	for _, f := range files {
		if spaceID == "shut" || strings.HasSuffix(f.Path, ".exe") {
			return &PolicyError{Reason: path.Base(f.Path) + " refused"}
		}
	}
	return nil
}

// TestGate: renames, moves to another space and copies meet the
// destination's gate, and a refusal changes nothing, on disk or in the
// index; what changes no file's name or space asks nothing.
func TestGate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	g := &denyExe{}
	f.tree.gate = g
	for _, s := range []string{"a", "b", "shut"} {
		f.space(t, s, 0)
	}
	f.put(t, "a", "run.txt", "echo hi")
	f.mkdir(t, "a", "dir")
	f.put(t, "a", "dir/tool.exe", "MZ")
	f.put(t, "a", "dir/readme.md", "# tool")

	refused := func(what string, err error) {
		t.Helper()
		var pe *PolicyError
		if !errors.Is(err, ErrPolicy) || !errors.As(err, &pe) {
			t.Errorf("%s: %v, want a policy refusal", what, err)
		}
	}
	_, err := f.tree.Move(ctx, "a", "run.txt", "a", "run.exe", false)
	refused("rename run.txt to run.exe", err)
	_, err = f.tree.Move(ctx, "a", "dir", "b", "dir", false)
	refused("move a folder holding an .exe to another space", err)
	_, err = f.tree.Copy(ctx, "a", "dir", "b", "dir", false, -1)
	refused("copy a folder holding an .exe", err)
	_, err = f.tree.Copy(ctx, "a", "run.txt", "a", "copy.exe", false, 0)
	refused("copy to an .exe name in the same space", err)
	_, err = f.tree.Move(ctx, "a", "dir/readme.md", "shut", "readme.md", false)
	refused("move into a space that takes nothing", err)
	// Nothing moved, on disk or in the index.
	for _, p := range []string{"run.txt", "dir/tool.exe", "dir/readme.md"} {
		if got, err := f.read("a", p); err != nil || got == "" {
			t.Errorf("a/%s after the refusals: %q %v", p, got, err)
		}
	}
	for _, sp := range []string{"b", "shut"} {
		if ns, err := f.tree.List(ctx, sp, ""); err != nil || len(ns) != 0 {
			t.Errorf("space %s after the refusals: %d nodes, %v", sp, len(ns), err)
		}
	}
	if problems, err := f.tree.Verify(ctx, "a", true); err != nil || len(problems) != 0 {
		t.Errorf("Verify(a) after the refusals: %v %v", problems, err)
	}

	// The gate sees the files as they would land: new paths, the type
	// the file has (not one guessed from the new name).
	g.asked = nil
	if _, err := f.tree.Move(ctx, "a", "run.txt", "a", "run.sh", false); err != nil {
		t.Fatalf("rename run.txt to run.sh: %v", err)
	}
	if len(g.asked) != 1 || len(g.asked[0]) != 1 || g.asked[0][0].Path != "run.sh" || g.asked[0][0].MIME != mimeFor("run.txt") || g.asked[0][0].Size != 7 {
		t.Errorf("the gate was asked %+v, want run.sh as %s, 7 bytes", g.asked, mimeFor("run.txt"))
	}
	// A folder renamed within its space renames no file: not asked, even
	// holding a file the gate refuses.
	g.asked = nil
	if _, err := f.tree.Move(ctx, "a", "dir", "a", "tools", false); err != nil {
		t.Fatalf("rename dir to tools: %v", err)
	}
	if len(g.asked) != 0 {
		t.Errorf("a folder rename asked the gate %+v", g.asked)
	}
	// A file moved between folders under its own name is not asked either.
	if _, err := f.tree.Move(ctx, "a", "tools/readme.md", "a", "readme.md", false); err != nil || len(g.asked) != 0 {
		t.Errorf("moving readme.md up: %v, asked %+v", err, g.asked)
	}
}
