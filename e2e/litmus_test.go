package e2e

import (
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"
)

var (
	litmusSummary = regexp.MustCompile("<- summary for `(\\w+)': of (\\d+) tests run: (\\d+) passed, (\\d+) failed")
	litmusWarned  = regexp.MustCompile(`-> (\d+) warnings? (was|were) issued`)
)

// TestLitmus runs the litmus 0.13 WebDAV suite (all five groups) against
// the binary with Basic auth and wants every test passed, none skipped and
// no warning: 104/104.
func TestLitmus(t *testing.T) {
	litmus := requireTool(t, "litmus", "litmus")
	const pw = "litmus test password"
	in := start(t, t.TempDir(), "WHARF_ADMIN_PASSWORD="+pw)
	runLitmus(t, litmus, in.URL, "admin", pw)
}

// runLitmus runs litmus at base's /dav/spaces/files/ as user and wants
// 104/104 passed, none skipped, no warning.
func runLitmus(t *testing.T, litmus, base, user, pw string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, litmus, "-k", base+"/dav/spaces/files/", user, pw)
	cmd.Dir = t.TempDir() // litmus writes debug.log to the current directory
	out, err := cmd.CombinedOutput()
	t.Logf("litmus output:\n%s", out)
	if ctx.Err() != nil {
		t.Fatalf("litmus did not finish within 5 minutes")
	}

	groups := map[string][3]int{}
	total, passed, failed := 0, 0, 0
	for _, m := range litmusSummary.FindAllStringSubmatch(string(out), -1) {
		run, _ := strconv.Atoi(m[2])
		ok, _ := strconv.Atoi(m[3])
		bad, _ := strconv.Atoi(m[4])
		groups[m[1]] = [3]int{run, ok, bad}
		total += run
		passed += ok
		failed += bad
	}
	warnings := 0
	for _, m := range litmusWarned.FindAllStringSubmatch(string(out), -1) {
		n, _ := strconv.Atoi(m[1])
		warnings += n
	}
	skipped := 104 - total // litmus does not run the tests whose setup failed
	t.Logf("litmus: %d run, %d passed, %d failed, %d skipped, %d warnings; groups %v", total, passed, failed, skipped, warnings, groups)
	if len(groups) != 5 {
		t.Errorf("litmus ran %d groups %v, want basic, copymove, props, locks, http (exit: %v)", len(groups), groups, err)
	}
	if passed != 104 || failed != 0 || skipped != 0 || warnings != 0 {
		t.Errorf("litmus: %d/%d passed, %d failed, %d skipped, %d warnings; want 104/104 with no failure, skip or warning", passed, total, failed, skipped, warnings)
	}
}
