//go:build !unix

package journal

func cpuTime() int64 { return 0 }
