package gentrail

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
)

// Tamper rewrites the gzipped file at path with its uncompressed content passed through
// edit, as someone altering an archive after delivery would: tests use it to change log
// files and digests of a generated archive.
func Tamper(path string, edit func([]byte) []byte) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return err
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(edit(plain))
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, out.Bytes(), 0o644)
}
