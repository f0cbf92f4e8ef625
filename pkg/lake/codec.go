package lake

import (
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go/format"
)

// zstdWindow is the window of the codec's encoders. parquet-go compresses one page at a
// time (pages are about 256 KiB, parquet-go's page buffer), so a match can never be further
// back than a page: a window of 1 MiB loses nothing, where klauspost's default of 8 MiB
// makes every encoder keep a 16 MiB history buffer — most of the process's heap.
const zstdWindow = 1 << 20

// zstdCodec is the Parquet ZSTD compression codec (compress.Codec of parquet-go), with
// encoders sized for pages. A Writer's files share its encoders and decoders; it is safe
// for concurrent use.
//
// It compresses at zstd's fastest level: a delivery day's Parquet is mostly small pages
// (on the benchmark archive, 982 pages averaging 10 KB, two thirds under 1 KB), where the
// default level cost a third more time (30 ms against 20 ms a run) for files 4% smaller.
//
// Idle encoders wait on a free list that keeps up to zstdIdle of them for the whole run,
// where a sync.Pool would drop them at every other garbage collection: each new encoder
// brings about 2 MiB of fresh match tables, whose pages the kernel must map (the tables are
// read before they are written, so first as the shared zero page, then copied on write —
// and with threads on several cores every such copy is a TLB shootdown across all of
// them). Measured on the benchmark archive, recreating encoders caused half of a run's
// copy-on-write faults.
type zstdCodec struct {
	encoders chan *zstd.Encoder // idle encoders; nil until first used
	once     sync.Once
	decoders sync.Pool // *zstd.Decoder; only tests read Parquet back through this codec
}

// zstdIdle is how many idle encoders a zstdCodec keeps: one per file a Writer publishes at
// once.
const zstdIdle = publishConcurrency

func (c *zstdCodec) String() string { return "ZSTD" }

func (c *zstdCodec) CompressionCodec() format.CompressionCodec { return format.Zstd }

// Encode writes the compressed src to dst[:0] (reallocated when too small) and returns it.
func (c *zstdCodec) Encode(dst, src []byte) ([]byte, error) {
	c.once.Do(func() { c.encoders = make(chan *zstd.Encoder, zstdIdle) })
	var e *zstd.Encoder
	select {
	case e = <-c.encoders:
	default:
		var err error
		e, err = zstd.NewWriter(nil,
			zstd.WithEncoderConcurrency(1),
			zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithWindowSize(zstdWindow),
			zstd.WithLowerEncoderMem(true),
			zstd.WithZeroFrames(true),
			zstd.WithEncoderCRC(false))
		if err != nil {
			return dst[:0], err
		}
	}
	dst = e.EncodeAll(src, dst[:0])
	select {
	case c.encoders <- e:
	default: // more encoders than files at once: let this one go
	}
	return dst, nil
}

// Decode writes the decompressed src to dst[:0] (reallocated when too small) and returns it.
func (c *zstdCodec) Decode(dst, src []byte) ([]byte, error) {
	d, _ := c.decoders.Get().(*zstd.Decoder)
	if d == nil {
		var err error
		d, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return dst[:0], err
		}
	}
	defer c.decoders.Put(d)
	return d.DecodeAll(src, dst[:0])
}
