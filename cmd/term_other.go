//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package cmd

import (
	"errors"
	"os"
)

// isTerminal is false where wharf does not know the terminal ioctls: login
// then reads plain lines and push prints plain progress lines.
func isTerminal(*os.File) bool { return false }

func noEcho(*os.File) (func(), error) {
	return nil, errors.New("cannot turn terminal echo off on this system")
}
