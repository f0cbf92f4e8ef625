// Package earlysignal subscribes the process to SIGINT and SIGTERM while the program's
// packages are still being initialized, long before main runs: marketrail's dependencies
// take some milliseconds to initialize (the AWS SDK's endpoint tables, protobuf, ...), and a
// SIGTERM in that time would otherwise kill the process with the Go runtime's default
// action, with no summary. It imports nothing but os/signal and syscall, so Go initializes
// it as soon as those are: among the first packages of the program.
//
// The subscription is the one piece of package-level state in the program, as signal
// delivery itself is process-wide; Signals hands it to main, once.
package earlysignal

import (
	"os"
	"os/signal"
	"syscall"
)

// subscribed receives the signals from the moment this package is initialized.
var subscribed = func() chan os.Signal {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	return ch
}()

// Signals returns the channel that has received SIGINT and SIGTERM since the program's
// first moments.
func Signals() <-chan os.Signal { return subscribed }
