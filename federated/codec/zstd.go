package codec

import (
	"sync"

	"github.com/klauspost/compress/zstd"
)

var (
	zOnce sync.Once
	zEnc  *zstd.Encoder
	zDec  *zstd.Decoder
	zErr  error
)

func zstdInit() {
	zEnc, zErr = zstd.NewWriter(nil,
		zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderLevel(zstd.SpeedDefault))
	if zErr != nil {
		return
	}
	zDec, zErr = zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecodeAllCapLimit(true),
		zstd.WithDecoderMaxWindow(1<<30))
}

func zstdEncode(body []byte) []byte {
	zOnce.Do(zstdInit)
	if zErr != nil {
		panic("codec: zstd: " + zErr.Error()) // unreachable: fixed, valid options
	}
	return zEnc.EncodeAll(body, nil)
}

// zstdDecode decompresses body, refusing output larger than limit. It
// allocates at most limit bytes (less when the frame declares its size).
func zstdDecode(body []byte, limit int) ([]byte, error) {
	zOnce.Do(zstdInit)
	if zErr != nil {
		return nil, zErr
	}
	var h zstd.Header
	if err := h.Decode(body); err != nil {
		return nil, corrupt("zstd header: %v", err)
	}
	size := limit
	if h.HasFCS {
		if h.FrameContentSize > uint64(limit) {
			return nil, corrupt("zstd frame declares %d bytes, at most %d expected", h.FrameContentSize, limit)
		}
		size = int(h.FrameContentSize)
	}
	// DecodeAll is limited to cap(dst): one extra byte tells "too long" apart
	// from "exactly full".
	out, err := zDec.DecodeAll(body, make([]byte, 0, size+1))
	if err != nil {
		return nil, corrupt("zstd: %v", err)
	}
	if len(out) > limit {
		return nil, corrupt("zstd body exceeds %d bytes", limit)
	}
	return out, nil
}
