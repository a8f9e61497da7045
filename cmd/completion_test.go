package cmd

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompletionRunsNothing: asking for completions after a command's
// arguments must list, never run the command (wharf user add bob would
// create bob).
func TestCompletionRunsNothing(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	for _, args := range [][]string{
		{"wharf", "--data", data, "user", "add", "bob", completionFlag},
		{"wharf", "--data", data, "user", "add", "--admin", "bob", completionFlag},
		{"wharf", "--data", data, "user", "add", "--", "bob", completionFlag},
		{"wharf", "--data", data, "serve", "--listen", "127.0.0.1:0", completionFlag},
	} {
		var stdout, stderr bytes.Buffer
		app := New("dev", strings.NewReader(""), &stdout, &stderr)
		if err := app.RunContext(context.Background(), Args(app, args)); err != nil {
			t.Errorf("%q: %v", args, err)
		}
		if _, err := os.Stat(data); err == nil {
			t.Fatalf("%q ran the command: %s exists", args, data)
		}
	}
	var stdout bytes.Buffer
	app := New("dev", strings.NewReader(""), &stdout, io.Discard)
	if err := app.Run([]string{"wharf", "completion", "tcsh"}); err == nil || !strings.Contains(err.Error(), "want bash, zsh or fish") {
		t.Errorf("wharf completion tcsh: %v", err)
	}
	for shell := range completionScripts {
		stdout.Reset()
		if err := app.Run([]string{"wharf", "completion", shell}); err != nil || !strings.Contains(stdout.String(), completionFlag) {
			t.Errorf("wharf completion %s: %v\n%s", shell, err, stdout.String())
		}
	}
}
