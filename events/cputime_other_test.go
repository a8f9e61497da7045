//go:build !linux

package events

import "time"

// cpuTime and threadCPUTime are not measured here.
func cpuTime() time.Duration       { return 0 }
func threadCPUTime() time.Duration { return 0 }
