package packaging

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnit verifies systemd/wharf.service with
// systemd-analyze. ExecStart points at /usr/bin/wharf, which the test
// machine need not have: the unit is checked as a copy whose ExecStart
// names a stand-in executable. Any complaint about the unit fails, even
// the ones systemd-analyze only warns about (an unknown key is ignored
// by systemd, so a typo would silently drop a hardening setting).
func TestSystemdUnit(t *testing.T) {
	const unit = "systemd/wharf.service"
	body, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Type=notify", "NotifyAccess=main", "WatchdogSec=30", "DynamicUser=yes", "StateDirectory=wharf",
		"ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes",
		"Restart=on-failure", "ExecStart=/usr/bin/wharf serve", "CapabilityBoundingSet=\n",
		"#AmbientCapabilities=CAP_NET_BIND_SERVICE",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("%s lacks %q", unit, strings.TrimSpace(want))
		}
	}
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "AmbientCapabilities=") {
			t.Errorf("%s grants capabilities by default: %q", unit, line)
		}
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		msg := "systemd-analyze not installed (apt-get install systemd): the unit was not verified"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg) // .ci/run installs systemd
		}
		fmt.Fprintf(os.Stderr, "\n!!! SKIPPING %s: %s\n\n", t.Name(), msg)
		t.Skip(msg)
	}
	dir := t.TempDir()
	stub := filepath.Join(dir, "wharf")
	if err := os.WriteFile(stub, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyUnit := filepath.Join(dir, "wharf.service")
	if err := os.WriteFile(copyUnit, []byte(strings.ReplaceAll(string(body), "/usr/bin/wharf", stub)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(analyze, "verify", "--man=no", copyUnit)
	out, err := cmd.CombinedOutput()
	var complaints []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "wharf.service") {
			complaints = append(complaints, l)
		}
	}
	if err != nil || len(complaints) > 0 {
		if err != nil && len(complaints) == 0 && os.Getenv("CI") != "true" {
			// systemd-analyze itself could not run here (no systemd as
			// PID 1 in some containers): say so, but only CI must pass.
			t.Skipf("SKIPPED LOUDLY: systemd-analyze verify failed without naming the unit (%v):\n%s", err, out)
		}
		t.Fatalf("systemd-analyze verify %s: %v\n%s", unit, err, out)
	}
}
