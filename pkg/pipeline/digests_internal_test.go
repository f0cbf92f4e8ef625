package pipeline

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"testing"

	"github.com/klauspost/compress/gzip"
)

func gzipped(parts ...[]byte) []byte {
	var b bytes.Buffer
	for _, p := range parts {
		zw := gzip.NewWriter(&b)
		zw.Write(p)
		zw.Close()
	}
	return b.Bytes()
}

// TestHashedRead: the hash is of the uncompressed content, byte-order mark and every gzip
// member included, whatever part of the object fn reads.
func TestHashedRead(t *testing.T) {
	content := append([]byte("\xef\xbb\xbf"), bytes.Repeat([]byte(`{"Records":[{"eventVersion":"1.08"}]}`), 5000)...)
	want := sha256.Sum256(content)
	readAll := func(r io.Reader) error { _, err := io.ReadAll(r); return err }
	readSome := func(r io.Reader) error { _, err := r.Read(make([]byte, 10)); return err }
	for _, tt := range []struct {
		name   string
		object []byte
		fn     func(io.Reader) error
	}{
		{"plain", content, readAll},
		{"gzip", gzipped(content), readAll},
		{"two gzip members", gzipped(content[:1000], content[1000:]), readAll},
		{"fn stops early", gzipped(content), readSome},
	} {
		sum, err := hashedRead(bytes.NewReader(tt.object), tt.fn)
		if err != nil || !bytes.Equal(sum, want[:]) {
			t.Errorf("%s: %x, %v; want %x", tt.name, sum, err, want)
		}
	}
	boom := errors.New("boom")
	if sum, err := hashedRead(bytes.NewReader(gzipped(content)), func(io.Reader) error { return boom }); err != boom || sum != nil {
		t.Errorf("fn failing: %x, %v", sum, err)
	}
	// A corrupt gzip gives no hash, and does not fail what fn did.
	bad := gzipped(content)
	bad[len(bad)/2] ^= 0xff
	if sum, err := hashedRead(bytes.NewReader(bad), func(r io.Reader) error { _, err := io.Copy(io.Discard, r); return err }); err != nil || sum != nil {
		t.Errorf("corrupt gzip: %x, %v", sum, err)
	}
}
