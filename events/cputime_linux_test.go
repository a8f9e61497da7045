//go:build linux

package events

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time the process has used, user and system: a cost
// that other load on the machine does not inflate, unlike wall time.
func cpuTime() time.Duration { return rusage(syscall.RUSAGE_SELF) }

// threadCPUTime is the CPU time the calling thread has used; the caller
// locks its goroutine to the thread.
func threadCPUTime() time.Duration { return rusage(1) } // RUSAGE_THREAD

func rusage(who int) time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(who, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
