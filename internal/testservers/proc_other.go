//go:build !linux

package testservers

import "os/exec"

// dieWithParent: only Linux can tie a child's life to its parent's; the
// cleanup kills the server everywhere else.
func dieWithParent(*exec.Cmd) {}
