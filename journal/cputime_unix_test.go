//go:build unix

package journal

import "syscall"

// cpuTime returns the process's user+system CPU time in nanoseconds. The
// benchmarks report rates per CPU-second beside wall-clock ones: on a
// shared machine the wall clock measures the neighbours too.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
