package codec

import "math/bits"

// bitWriter packs bits MSB-first into bytes.
type bitWriter struct {
	buf  []byte
	acc  uint64 // pending bits, right-aligned
	nacc uint   // number of pending bits (< 8 between calls)
}

// write appends the low n bits of v (n <= 32), most significant first.
func (w *bitWriter) write(v uint32, n uint) {
	w.acc = w.acc<<n | uint64(v)&(1<<n-1)
	w.nacc += n
	for w.nacc >= 8 {
		w.nacc -= 8
		w.buf = append(w.buf, byte(w.acc>>w.nacc))
	}
	w.acc &= 1<<w.nacc - 1
}

// gamma appends the Elias gamma code of x >= 1: floor(log2 x) zeros, then x
// in binary.
func (w *bitWriter) gamma(x uint32) {
	n := uint(bits.Len32(x)) // >= 1
	w.write(0, n-1)
	w.write(x, n)
}

// bytes flushes the pending bits (zero-padded) and returns the buffer.
func (w *bitWriter) bytes() []byte {
	if w.nacc > 0 {
		w.buf = append(w.buf, byte(w.acc<<(8-w.nacc)))
		w.acc, w.nacc = 0, 0
	}
	return w.buf
}

// bitReader reads bits MSB-first; reading past the end sets err.
type bitReader struct {
	buf []byte
	pos uint64 // bit position
	bad bool
}

func (r *bitReader) remaining() uint64 { return uint64(len(r.buf))*8 - r.pos }

// read returns the next n bits (n <= 32).
func (r *bitReader) read(n uint) uint32 {
	if uint64(n) > r.remaining() {
		r.bad = true
		r.pos = uint64(len(r.buf)) * 8
		return 0
	}
	var v uint32
	for n > 0 {
		byteIdx := r.pos >> 3
		off := uint(r.pos & 7)
		avail := 8 - off
		take := min(avail, n)
		b := uint32(r.buf[byteIdx]) >> (avail - take) & (1<<take - 1)
		v = v<<take | b
		n -= take
		r.pos += uint64(take)
	}
	return v
}

// gamma reads an Elias gamma code whose value has at most maxBits bits.
func (r *bitReader) gamma(maxBits uint) uint32 {
	zeros := uint(0)
	for {
		if r.remaining() == 0 {
			r.bad = true
			return 0
		}
		if r.read(1) == 1 {
			break
		}
		zeros++
		if zeros >= maxBits {
			r.bad = true
			return 0
		}
	}
	return 1<<zeros | r.read(zeros)
}

// finish reports whether the stream ended cleanly: no overrun, fewer than 8
// bits left, and those zero.
func (r *bitReader) finish() bool {
	if r.bad {
		return false
	}
	rem := r.remaining()
	if rem >= 8 {
		return false
	}
	return rem == 0 || r.read(uint(rem)) == 0
}
