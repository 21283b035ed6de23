package codec

import (
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// The lossless stages. zstd payloads are standard zstd frames (the frame
// header declares the content size, which must equal the size the shape
// implies). lz4 payloads are one tag byte — 0: stored, 1: an LZ4 block —
// followed by the data, since an LZ4 block has no header and incompressible
// input is better stored.

var (
	zstdOnce sync.Once
	zstdEnc  *zstd.Encoder
	zstdDec  *zstd.Decoder
	zstdErr  error
)

func zstdCoders() (*zstd.Encoder, *zstd.Decoder, error) {
	zstdOnce.Do(func() {
		zstdEnc, zstdErr = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithEncoderConcurrency(1),
			zstd.WithZeroFrames(true))
		if zstdErr != nil {
			return
		}
		zstdDec, zstdErr = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0),
			zstd.WithDecodeAllCapLimit(true),
			zstd.WithDecoderMaxWindow(64<<20))
	})
	return zstdEnc, zstdDec, zstdErr
}

var lz4Pool = sync.Pool{New: func() any { return new(lz4.Compressor) }}

const (
	lz4Stored     = 0
	lz4Compressed = 1
)

// compress applies a lossless stage to body.
func compress(stage string, body []byte) ([]byte, error) {
	switch stage {
	case "":
		return body, nil
	case "zstd":
		enc, _, err := zstdCoders()
		if err != nil {
			return nil, fmt.Errorf("codec: zstd: %w", err)
		}
		return enc.EncodeAll(body, make([]byte, 0, len(body)/2+64)), nil
	case "lz4":
		bound := lz4.CompressBlockBound(len(body))
		out := make([]byte, 1+bound)
		c := lz4Pool.Get().(*lz4.Compressor)
		n, err := c.CompressBlock(body, out[1:])
		lz4Pool.Put(c)
		if err != nil || n == 0 || n >= len(body) {
			out = append(out[:0], lz4Stored)
			return append(out, body...), nil
		}
		out[0] = lz4Compressed
		return out[:1+n], nil
	}
	return nil, fmt.Errorf("%w: lossless stage %q", ErrUnknown, stage)
}

// decompress undoes a lossless stage. size is the exact size of the original
// body (known from the shape); nothing larger is ever allocated.
func decompress(stage string, payload []byte, size int) ([]byte, error) {
	switch stage {
	case "":
		return payload, nil
	case "zstd":
		_, dec, err := zstdCoders()
		if err != nil {
			return nil, fmt.Errorf("codec: zstd: %w", err)
		}
		var h zstd.Header
		if err := h.Decode(payload); err != nil {
			return nil, fmt.Errorf("%w: zstd header: %v", ErrInvalid, err)
		}
		// Frames of 256 bytes or more always declare their size (frames
		// below may not); checking it first means a forged frame cannot make
		// us allocate the declared shape's bytes.
		if (h.HasFCS || size >= 256) && (!h.HasFCS || h.FrameContentSize != uint64(size)) {
			return nil, fmt.Errorf("%w: zstd frame declares %d bytes (known: %v), the shape needs %d",
				ErrSize, h.FrameContentSize, h.HasFCS, size)
		}
		out, err := dec.DecodeAll(payload, make([]byte, 0, size))
		if err != nil {
			return nil, fmt.Errorf("%w: zstd: %v", ErrInvalid, err)
		}
		return out, nil
	case "lz4":
		if len(payload) == 0 {
			return nil, fmt.Errorf("%w: empty lz4 payload", ErrInvalid)
		}
		switch payload[0] {
		case lz4Stored:
			return payload[1:], nil
		case lz4Compressed:
			// An LZ4 block expands at most about 255 times; refuse to
			// allocate for a shape the payload cannot possibly fill.
			if size/255 > len(payload) {
				return nil, fmt.Errorf("%w: %d lz4 bytes cannot expand to %d", ErrSize, len(payload)-1, size)
			}
			out := make([]byte, size)
			n, err := lz4.UncompressBlock(payload[1:], out)
			if err != nil {
				return nil, fmt.Errorf("%w: lz4: %v", ErrInvalid, err)
			}
			return out[:n], nil
		}
		return nil, fmt.Errorf("%w: lz4 tag %d", ErrInvalid, payload[0])
	}
	return nil, fmt.Errorf("%w: lossless stage %q", ErrUnknown, stage)
}
