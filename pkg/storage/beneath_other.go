//go:build !linux

package storage

import "os"

// beneath is Linux's one-call open below a folder (beneath_linux.go); elsewhere there is
// none, and Local opens everything through its os.Root.
type beneath struct{}

func openBeneath(string) *beneath { return nil }

func (*beneath) close() error { return nil }

func (*beneath) open(string, bool) (*os.File, error) { panic("no beneath on this system") }

func (*beneath) readDir(string) ([]localEntry, error) { panic("no beneath on this system") }
