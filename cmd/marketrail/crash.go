package main

import (
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// crashEnv names the test-only switch that makes marketrail kill itself (SIGKILL) at a named
// point, to prove that a run killed at the most dangerous moments leaves nothing the next
// run does not repair: MARKETRAIL_TEST_CRASH=POINT[:N] kills the process the Nth time (default
// the first) POINT is reached. Points: upload (halfway through sending an output file),
// published (a day's files published, its manifest not yet), between-days (a day complete,
// the next not yet published).
const crashEnv = "MARKETRAIL_TEST_CRASH"

// crashHook returns the hook for the switch's value, or nil when it is unset.
func crashHook(spec string) func(point string) {
	if spec == "" {
		return nil
	}
	point, nth, _ := strings.Cut(spec, ":")
	n, err := strconv.Atoi(nth)
	if err != nil || n < 1 {
		n = 1
	}
	var hits atomic.Int64
	return func(p string) {
		if p != point {
			return
		}
		// The upload hook runs on whatever goroutine sends the body (the HTTP transport's,
		// for S3), hence the atomic count.
		if hits.Add(1) == int64(n) {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // never return: the kill is on its way
		}
	}
}
