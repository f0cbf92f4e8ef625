// Command inflate is perftable's measure of what the machine allows on N cores: it inflates
// whole gzip files with github.com/klauspost/compress/gzip (the inflater marketrail uses) on
// as many goroutines as GOMAXPROCS, discards the output and prints the bytes inflated. It
// does nothing else — no scanning, no decoding, no writing — so the ratio of its times on 2
// cores and on 1 is the best any job over the same files can scale on this machine. It is a
// small program of its own, built as marketrail is (CGO_ENABLED=0), so that its start costs
// what marketrail's does and not what perftable's (linked with DuckDB) would.
//
//	GOMAXPROCS=2 taskset -c 0,1 inflate FILELIST
//
// FILELIST names the files, one per line (perftable's list of an archive's log files).
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: inflate FILELIST")
		os.Exit(2)
	}
	list, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	n, err := inflateAll(strings.Split(strings.TrimSpace(string(list)), "\n"), runtime.GOMAXPROCS(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(n)
}

// inflateAll inflates files on workers goroutines, each taking whole files, and returns the
// bytes inflated.
func inflateAll(files []string, workers int) (int64, error) {
	next := make(chan string)
	var total atomic.Int64
	var once sync.Once
	var failed error
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var zr *gzip.Reader
			br := bufio.NewReaderSize(nil, 64<<10)
			for f := range next {
				n, err := inflate(f, &zr, br)
				if err != nil {
					once.Do(func() { failed = err })
					continue
				}
				total.Add(n)
			}
		}()
	}
	for _, f := range files {
		next <- f
	}
	close(next)
	wg.Wait()
	return total.Load(), failed
}

// inflate inflates one file into io.Discard, reusing the worker's gzip reader (*zr, made on
// first use) and read buffer.
func inflate(path string, zr **gzip.Reader, br *bufio.Reader) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	br.Reset(f)
	if *zr == nil {
		if *zr, err = gzip.NewReader(br); err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
	} else if err := (*zr).Reset(br); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	n, err := io.Copy(io.Discard, *zr)
	if err != nil {
		return n, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}
