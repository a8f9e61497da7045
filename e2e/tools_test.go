package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// requireTool returns the path of an outside program a test drives. Missing,
// the test is skipped with a loud message on a developer's machine, and
// fails under CI=true: a skipped client test is not a passed one.
func requireTool(t *testing.T, name, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("%s not found: this test needs it (apt-get install %s)", name, debianPackage)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	fmt.Fprintf(os.Stderr, "\n!!! SKIPPING %s: %s\n\n", t.Name(), msg)
	t.Skip(msg)
	return ""
}
