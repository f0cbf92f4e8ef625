package main

import (
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// crashEnv names the test-only switch that makes marketrail kill itself (SIGKILL) at a named
// point, to prove that a run killed at the most dangerous moments leaves nothing the next
// run does not repair: MARKETRAIL_TEST_CRASH=POINT[:N] kills the process the Nth time (default
// the first) POINT is reached. Points: upload (halfway through sending an output file),
// published (a day's files published, its manifest not yet), between-days (a day complete,
// the next not yet published), committed (with --table-format iceberg, after each table's
// commit of a day).
const crashEnv = "MARKETRAIL_TEST_CRASH"

// panicEnv names the test-only switch that makes marketrail panic at a named point:
// MARKETRAIL_TEST_PANIC=POINT[:N] panics the Nth time POINT is reached. The points are
// crashEnv's, plus read (in a worker, before it reads a log file), where the pipeline
// recovers the panic and fails the run with exit 1. A panic anywhere else is not recovered:
// Go prints its trace and exits 2.
const panicEnv = "MARKETRAIL_TEST_PANIC"

// delayEnv names the test-only switch that slows marketrail down at a named point:
// MARKETRAIL_TEST_DELAY=POINT:DURATION sleeps DURATION every time POINT is reached (the
// points of panicEnv), so that one of two overlapping runs is the slow one.
const delayEnv = "MARKETRAIL_TEST_DELAY"

// leaseEnv names the test-only switch that shortens the delivery days' leases:
// MARKETRAIL_TEST_LEASE=TTL[:WAIT] (Go durations) sets the lease TTL and how long a run
// waits for a held day, so that tests of held and abandoned leases take seconds, not
// minutes.
const leaseEnv = "MARKETRAIL_TEST_LEASE"

// testLease returns the lease TTL and wait of the switch's value (zero: the defaults).
func testLease(spec string) (ttl, wait time.Duration) {
	a, b, _ := strings.Cut(spec, ":")
	ttl, _ = time.ParseDuration(a)
	wait, _ = time.ParseDuration(b)
	return ttl, wait
}

// delayHook returns the hook for delayEnv's value, or nil when it is unset or malformed.
func delayHook(spec string) func(point string) {
	point, d, _ := strings.Cut(spec, ":")
	delay, err := time.ParseDuration(d)
	if spec == "" || err != nil {
		return nil
	}
	return func(p string) {
		if p == point {
			time.Sleep(delay)
		}
	}
}

// testHook returns the pipeline hook for the test switches' values (delay, crash, then
// panic), or nil when all are unset.
func testHook(crash, panicSpec, delay string) func(point string) {
	c, p := crashHook(crash), pointHook(panicSpec, func(point string) {
		panic("marketrail test panic at " + point + " (" + panicEnv + ")")
	})
	if dh := delayHook(delay); dh != nil {
		inner := testHook(crash, panicSpec, "")
		return func(point string) {
			dh(point)
			if inner != nil {
				inner(point)
			}
		}
	}
	switch {
	case c == nil:
		return p
	case p == nil:
		return c
	}
	return func(point string) { c(point); p(point) }
}

// crashHook returns the hook for the switch's value, or nil when it is unset.
func crashHook(spec string) func(point string) {
	return pointHook(spec, func(string) {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // never return: the kill is on its way
	})
}

// pointHook returns a hook that calls do the Nth time it is called with POINT, for the
// spec POINT[:N], or nil when spec is empty.
func pointHook(spec string, do func(point string)) func(point string) {
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
			do(p)
		}
	}
}
