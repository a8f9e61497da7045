package testenv

import (
	"testing"

	"github.com/wharfhq/wharf/blob"
	"github.com/wharfhq/wharf/internal/teststores"
)

// Stores are the object stores object-store mode is tested on, by name
// (internal/teststores): "local" and "s3". Each call of a function returns
// a new, empty store; call "s3" from one (sub)test.
func Stores() map[string]func(t *testing.T) blob.Backend { return teststores.Stores() }
