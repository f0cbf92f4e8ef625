package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSignalAtStart sends SIGTERM (and SIGINT) to the binary in its first moments — as soon
// as it has written its first line (the window, logged before the source or destination is
// opened), and a few milliseconds later, when it is opening stores, discovering folders or
// running the pipeline — many times: every time the process exits 143 (130) with the
// summary on standard output, status interrupted. (A signal that lands before the Go
// runtime has started cannot be caught by any program; from the first line of main on, one
// is: package earlysignal subscribes to them while the packages are initialized, some 1.5 ms
// after exec on a 2-core machine, where the dependencies' initialization then takes 3-5 ms
// more before main runs.)
func TestSignalAtStart(t *testing.T) {
	trials := 0
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		for _, delay := range []time.Duration{0, 0, 0, time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond} {
			trials++
			dest := t.TempDir()
			cmd := exec.Command(binary, "run", "--source", sampleTrail, "--dest", dest, "--from", "2024-03-01", "--to", "2024-03-03")
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
			var stdout bytes.Buffer
			cmd.Stdout = &stdout
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(stderr)
			first, _ := r.ReadString('\n')
			time.Sleep(delay)
			cmd.Process.Signal(sig)
			rest, _ := io.ReadAll(r)
			err = cmd.Wait()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode() // -1: killed by the signal
			}
			want := 143
			if sig == syscall.SIGINT {
				want = 130
			}
			var rep struct {
				Status   string `json:"status"`
				ExitCode int    `json:"exit_code"`
			}
			jerr := json.Unmarshal(stdout.Bytes(), &rep)
			if code != want || jerr != nil || rep.Status != "interrupted" || rep.ExitCode != want {
				t.Errorf("%v %v after the first line: exit %d, summary %q (%v); want exit %d and an interrupted summary\nstderr: %s%s",
					sig, delay, code, stdout.String(), jerr, want, first, rest)
			}
			if !strings.Contains(first, "window 2024-03-01 to 2024-03-03 (3 days)") {
				t.Errorf("first line %q does not give the window", first)
			}
		}
	}
	t.Logf("%d trials", trials)
}
