// Package e2e holds black-box tests of the built wharf binary: they start it
// on a loopback port with a temporary data directory and drive it the way
// users and their clients do.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the wharf binary built once for the whole package by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wharf-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "wharf")
	build := exec.Command("go", "build", "-o", binary, "..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building wharf:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cmdResult is what one run of the binary printed and how it ended.
type cmdResult struct {
	stdout, stderr string
	code           int
}

// wharf runs a command of the binary against data dir (through WHARF_DATA,
// as scripts do) with stdin, and waits for it.
func wharf(t *testing.T, data, stdin string, args ...string) cmdResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(append(cleanEnv(), "WHARF_DATA="+data), e2eDB(t, data)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := cmdResult{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("wharf %v: %v", args, err)
	}
	return res
}

// mustWharf is wharf for commands that must succeed; it returns stdout
// without the final newline.
func mustWharf(t *testing.T, data, stdin string, args ...string) string {
	t.Helper()
	res := wharf(t, data, stdin, args...)
	if res.code != 0 {
		t.Fatalf("wharf %v: exit %d\nstderr: %s", args, res.code, res.stderr)
	}
	return strings.TrimSuffix(res.stdout, "\n")
}

// cleanEnv is the test's environment without any WHARF_ variable a developer
// may have set, so tests see only what they set themselves.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		// JOURNAL_STREAM, INVOCATION_ID: a CI runner under systemd would
		// otherwise get JSON logs, which the harness does not read.
		if !strings.HasPrefix(kv, "WHARF_") && !strings.HasPrefix(kv, "STATE_DIRECTORY=") &&
			!strings.HasPrefix(kv, "JOURNAL_STREAM=") && !strings.HasPrefix(kv, "INVOCATION_ID=") {
			env = append(env, kv)
		}
	}
	return env
}

// instance is a running "wharf serve".
type instance struct {
	t    *testing.T
	cmd  *exec.Cmd
	URL  string // http://127.0.0.1:port
	Data string

	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan struct{}
}

var servingLine = regexp.MustCompile(`msg=serving addr=(\S+)`)

// start runs "wharf serve" on a free loopback port with data dir data and
// the extra environment env, and waits until it listens. The server is
// stopped (SIGTERM) when the test ends.
func start(t *testing.T, data string, env ...string) *instance {
	t.Helper()
	in, err := tryStart(t, data, env...)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// tryStart is start, returning why the server did not come up instead of
// failing the test (for a test that picks its own ports and may retry
// with others when one was taken meanwhile: errAddrInUse).
func tryStart(t *testing.T, data string, env ...string) (*instance, error) {
	t.Helper()
	cmd := exec.Command(binary, "serve")
	cmd.Env = append(append(append(cleanEnv(), "WHARF_DATA="+data, "WHARF_LISTEN=127.0.0.1:0"), e2eDB(t, data)...), env...)
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	cmd.Stdout = pw
	in := &instance{t: t, cmd: cmd, Data: data, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			in.mu.Lock()
			in.stderr.WriteString(line + "\n")
			in.mu.Unlock()
			if m := servingLine.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	go func() {
		cmd.Wait()
		pw.Close()
		close(in.done)
	}()
	t.Cleanup(func() { in.stop() })
	select {
	case a := <-addr:
		in.URL = "http://" + a
	case <-in.done:
		if strings.Contains(in.output(), "address already in use") {
			return nil, fmt.Errorf("%w:\n%s", errAddrInUse, in.output())
		}
		return nil, fmt.Errorf("wharf serve exited before listening:\n%s", in.output())
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("wharf serve did not listen within 30s:\n%s", in.output())
	}
	return in, nil
}

// errAddrInUse: a port given to the server was taken by another process
// between the test choosing it and the server binding it.
var errAddrInUse = errors.New("wharf serve exited before listening: a port it was given is taken")

// output is everything the server printed so far.
func (in *instance) output() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.stderr.String()
}

// stop sends SIGTERM and waits for a clean exit; it returns the exit code.
func (in *instance) stop() int {
	select {
	case <-in.done:
		return in.cmd.ProcessState.ExitCode()
	default:
	}
	in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.done:
	case <-time.After(20 * time.Second):
		in.cmd.Process.Kill()
		<-in.done
		in.t.Errorf("wharf serve did not stop within 20s of SIGTERM")
	}
	return in.cmd.ProcessState.ExitCode()
}

// kill stops the server with SIGKILL, as a power cut or the OOM killer
// would, and waits until it is gone.
func (in *instance) kill() {
	in.cmd.Process.Kill()
	<-in.done
}

// do sends a request with Basic credentials user:pass (none when user is "").
func (in *instance) do(method, path, user, pass string, body io.Reader) *http.Response {
	in.t.Helper()
	req, err := http.NewRequestWithContext(in.t.Context(), method, in.URL+path, body)
	if err != nil {
		in.t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		in.t.Fatal(err)
	}
	in.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
