// Command rsswrap runs a command and then writes its CPU time (user and system, its own and
// that of the children it waited for) and its peak resident memory on standard error, as
// two last lines "rsswrap-cpu-us: N" and "rsswrap-maxrss-kb: N". perftable starts every measured command through it:
// Linux counts in a process's peak RSS the memory of the process that forked it, up to its
// exec, so a command started straight from perftable (large, and linked with DuckDB) would
// seem as large as perftable. Started from this small process, it is measured alone (give
// or take this process's couple of megabytes).
package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: rsswrap COMMAND [ARG...]")
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	if cmd.ProcessState == nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		fmt.Fprintf(os.Stderr, "\nrsswrap-cpu-us: %d\nrsswrap-maxrss-kb: %d\n", (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Microseconds(), ru.Maxrss)
	}
	os.Exit(cmd.ProcessState.ExitCode())
}
