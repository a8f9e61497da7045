//go:build !linux && !darwin && !freebsd

package space

// diskLow is false where the standard library cannot tell the free space.
func diskLow(string) bool { return false }
