// Package entropy codes streams of byte symbols (alphabets of up to 256
// symbols) with canonical Huffman codes or with rANS, in a self-describing
// format: a stream carries its coder, symbol count, alphabet size and code
// table, so Decode needs nothing else.
//
// Stream layout (integers are unsigned LEB128 varints unless noted):
//
//	coder     byte: 1 Huffman, 2 rANS
//	count     number of symbols
//	alphabet  1..256 (0 when count is 0)
//	Huffman:  code lengths, 4 bits per symbol (0 = unused, 1..15), two per
//	          byte, first symbol in the high nibble; then the payload length
//	          and the payload: canonical codes, most significant bit first
//	rANS:     the frequency of each symbol (summing to 4096), then the
//	          payload length and the payload: the 32-bit final state, little
//	          endian, followed by the renormalisation bytes (Giesen's
//	          byte-wise rANS, 12-bit probabilities, state in [2^23, 2^31))
//
// Decoding checks every field, rejects streams that claim more symbols than
// their payload can hold or than the caller allows, and never panics.
package entropy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// Coder selects the entropy coder.
type Coder byte

// Coders.
const (
	Huffman Coder = 1
	RANS    Coder = 2
)

func (c Coder) String() string {
	switch c {
	case Huffman:
		return "huffman"
	case RANS:
		return "rans"
	}
	return fmt.Sprintf("Coder(%d)", byte(c))
}

// ParseCoder maps "huffman" and "rans" to a Coder.
func ParseCoder(s string) (Coder, error) {
	switch s {
	case "huffman":
		return Huffman, nil
	case "rans":
		return RANS, nil
	}
	return 0, fmt.Errorf("entropy: unknown coder %q (huffman, rans)", s)
}

// ErrCorrupt is wrapped by every decoding error.
var ErrCorrupt = errors.New("entropy: corrupt stream")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// maxLen is the longest Huffman code.
const maxLen = 15

// Encode codes syms, whose values must be below alphabet (1..256).
func Encode(c Coder, syms []byte, alphabet int) ([]byte, error) {
	if alphabet < 1 || alphabet > 256 {
		return nil, fmt.Errorf("entropy: alphabet size %d is out of range [1, 256]", alphabet)
	}
	freq := make([]int, alphabet)
	for _, s := range syms {
		if int(s) >= alphabet {
			return nil, fmt.Errorf("entropy: symbol %d is outside the alphabet of %d", s, alphabet)
		}
		freq[s]++
	}
	out := []byte{byte(c)}
	out = binary.AppendUvarint(out, uint64(len(syms)))
	if len(syms) == 0 {
		return binary.AppendUvarint(out, 0), nil
	}
	out = binary.AppendUvarint(out, uint64(alphabet))
	switch c {
	case Huffman:
		return encodeHuffman(out, syms, freq), nil
	case RANS:
		return encodeRANS(out, syms, freq), nil
	}
	return nil, fmt.Errorf("entropy: unknown coder %d", c)
}

// Decode reads a stream written by Encode, refusing more than maxCount
// symbols. It returns the symbols and the number of bytes read.
func Decode(b []byte, maxCount int) ([]byte, int, error) {
	if len(b) < 1 {
		return nil, 0, corrupt("empty")
	}
	c := Coder(b[0])
	pos := 1
	n, err := uvarint(b, &pos)
	if err != nil {
		return nil, 0, err
	}
	if n > uint64(maxCount) {
		return nil, 0, corrupt("%d symbols, more than the %d allowed", n, maxCount)
	}
	alpha, err := uvarint(b, &pos)
	if err != nil {
		return nil, 0, err
	}
	if n == 0 {
		if alpha != 0 {
			return nil, 0, corrupt("empty stream with an alphabet")
		}
		if c != Huffman && c != RANS {
			return nil, 0, corrupt("unknown coder %d", c)
		}
		return []byte{}, pos, nil
	}
	if alpha < 1 || alpha > 256 {
		return nil, 0, corrupt("alphabet size %d", alpha)
	}
	var syms []byte
	switch c {
	case Huffman:
		syms, err = decodeHuffman(b, &pos, int(n), int(alpha))
	case RANS:
		syms, err = decodeRANS(b, &pos, int(n), int(alpha))
	default:
		return nil, 0, corrupt("unknown coder %d", c)
	}
	if err != nil {
		return nil, 0, err
	}
	return syms, pos, nil
}

func uvarint(b []byte, pos *int) (uint64, error) {
	if *pos > len(b) {
		return 0, corrupt("truncated")
	}
	v, k := binary.Uvarint(b[*pos:])
	if k <= 0 {
		return 0, corrupt("bad varint at byte %d", *pos)
	}
	*pos += k
	return v, nil
}

// payload reads a length-prefixed byte string.
func payload(b []byte, pos *int) ([]byte, error) {
	n, err := uvarint(b, pos)
	if err != nil {
		return nil, err
	}
	if n > uint64(len(b)-*pos) {
		return nil, corrupt("payload of %d bytes, %d left", n, len(b)-*pos)
	}
	p := b[*pos : *pos+int(n)]
	*pos += int(n)
	return p, nil
}

// ---- canonical Huffman ----

// CodeLengths returns Huffman code lengths (at most 15 bits) for the
// frequencies; unused symbols get 0, and a lone symbol gets 1.
func CodeLengths(freq []int) []uint8 {
	type node struct {
		w           int
		left, right int // children, -1 for leaves
		sym         int
	}
	var nodes []node
	var live []int
	for s, f := range freq {
		if f > 0 {
			nodes = append(nodes, node{w: f, left: -1, right: -1, sym: s})
			live = append(live, len(nodes)-1)
		}
	}
	lens := make([]uint8, len(freq))
	if len(live) == 0 {
		return lens
	}
	if len(live) == 1 {
		lens[nodes[0].sym] = 1
		return lens
	}
	// A simple O(n²) merge is fine for 256 symbols.
	for len(live) > 1 {
		sort.SliceStable(live, func(i, j int) bool { return nodes[live[i]].w < nodes[live[j]].w })
		a, b := live[0], live[1]
		nodes = append(nodes, node{w: nodes[a].w + nodes[b].w, left: a, right: b, sym: -1})
		live = append([]int{len(nodes) - 1}, live[2:]...)
	}
	depth := make([]int, len(freq))
	var walk func(i, d int)
	walk = func(i, d int) {
		if nodes[i].left < 0 {
			depth[nodes[i].sym] = d
			return
		}
		walk(nodes[i].left, d+1)
		walk(nodes[i].right, d+1)
	}
	walk(live[0], 0)
	maxD := 0
	for _, d := range depth {
		maxD = max(maxD, d)
	}
	bl := make([]int, max(maxD, maxLen)+1)
	for s, d := range depth {
		if freq[s] > 0 {
			bl[d]++
		}
	}
	// Limit the lengths (JPEG, Annex K.3): move pairs of codes up the tree.
	for i := maxD; i > maxLen; i-- {
		for bl[i] > 0 {
			j := i - 2
			for bl[j] == 0 {
				j--
			}
			bl[i] -= 2
			bl[i-1]++
			bl[j+1] += 2
			bl[j]--
		}
	}
	// Hand the lengths out, shortest to the most frequent.
	syms := make([]int, 0, len(freq))
	for s, f := range freq {
		if f > 0 {
			syms = append(syms, s)
		}
	}
	sort.SliceStable(syms, func(i, j int) bool { return freq[syms[i]] > freq[syms[j]] })
	k := 0
	for l := 1; l <= maxLen; l++ {
		for c := 0; c < bl[l]; c++ {
			lens[syms[k]] = uint8(l)
			k++
		}
	}
	return lens
}

// canonical assigns canonical codes to lengths; it fails on an
// over-subscribed set of lengths.
func canonical(lens []uint8) (codes []uint32, count [maxLen + 1]int, sorted []int, err error) {
	for _, l := range lens {
		if l > maxLen {
			return nil, count, nil, corrupt("code length %d", l)
		}
		count[l]++
	}
	count[0] = 0
	left := 1
	for l := 1; l <= maxLen; l++ {
		left <<= 1
		left -= count[l]
		if left < 0 {
			return nil, count, nil, corrupt("over-subscribed Huffman code")
		}
	}
	var next [maxLen + 2]uint32
	code := uint32(0)
	for l := 1; l <= maxLen; l++ {
		code = (code + uint32(count[l-1])) << 1
		next[l] = code
	}
	codes = make([]uint32, len(lens))
	for s, l := range lens {
		if l > 0 {
			codes[s] = next[l]
			next[l]++
		}
	}
	for l := 1; l <= maxLen; l++ {
		for s, sl := range lens {
			if int(sl) == l {
				sorted = append(sorted, s)
			}
		}
	}
	return codes, count, sorted, nil
}

func encodeHuffman(out, syms []byte, freq []int) []byte {
	lens := CodeLengths(freq)
	codes, _, _, _ := canonical(lens)
	for i := 0; i < len(lens); i += 2 {
		b := lens[i] << 4
		if i+1 < len(lens) {
			b |= lens[i+1]
		}
		out = append(out, b)
	}
	var w bitWriter
	for _, s := range syms {
		w.write(codes[s], uint(lens[s]))
	}
	p := w.bytes()
	out = binary.AppendUvarint(out, uint64(len(p)))
	return append(out, p...)
}

func decodeHuffman(b []byte, pos *int, n, alpha int) ([]byte, error) {
	nb := (alpha + 1) / 2
	if nb > len(b)-*pos {
		return nil, corrupt("truncated code lengths")
	}
	lens := make([]uint8, alpha)
	for i := range lens {
		v := b[*pos+i/2]
		if i%2 == 0 {
			lens[i] = v >> 4
		} else {
			lens[i] = v & 15
		}
	}
	if alpha%2 == 1 && b[*pos+nb-1]&15 != 0 {
		return nil, corrupt("padding nibble is not zero")
	}
	*pos += nb
	_, count, sorted, err := canonical(lens)
	if err != nil {
		return nil, err
	}
	if len(sorted) == 0 {
		return nil, corrupt("no codes for %d symbols", n)
	}
	p, err := payload(b, pos)
	if err != nil {
		return nil, err
	}
	if uint64(n) > 8*uint64(len(p)) {
		return nil, corrupt("%d symbols cannot fit in %d bytes", n, len(p))
	}
	out := make([]byte, n)
	r := bitReader{b: p}
	for i := range out {
		code, first, index := 0, 0, 0
		found := false
		for l := 1; l <= maxLen; l++ {
			bit, ok := r.bit()
			if !ok {
				return nil, corrupt("Huffman payload ends after %d of %d symbols", i, n)
			}
			code |= int(bit)
			c := count[l]
			if code-c < first {
				out[i] = byte(sorted[index+code-first])
				found = true
				break
			}
			index += c
			first += c
			first <<= 1
			code <<= 1
		}
		if !found {
			return nil, corrupt("invalid Huffman code")
		}
	}
	return out, nil
}

type bitWriter struct {
	buf  []byte
	acc  uint64
	nacc uint
}

func (w *bitWriter) write(code uint32, n uint) {
	w.acc = w.acc<<n | uint64(code)
	w.nacc += n
	for w.nacc >= 8 {
		w.nacc -= 8
		w.buf = append(w.buf, byte(w.acc>>w.nacc))
	}
}

func (w *bitWriter) bytes() []byte {
	if w.nacc > 0 {
		w.buf = append(w.buf, byte(w.acc<<(8-w.nacc)))
		w.nacc = 0
	}
	return w.buf
}

type bitReader struct {
	b   []byte
	pos int // in bits
}

func (r *bitReader) bit() (uint32, bool) {
	if r.pos >= 8*len(r.b) {
		return 0, false
	}
	v := r.b[r.pos>>3] >> (7 - uint(r.pos&7)) & 1
	r.pos++
	return uint32(v), true
}

// ---- rANS ----

const (
	scaleBits = 12
	probScale = 1 << scaleBits
	ransL     = 1 << 23
)

// normalize scales counts to frequencies summing to 4096, each used symbol
// keeping at least 1.
func normalize(freq []int) []int {
	total := 0
	for _, f := range freq {
		total += f
	}
	out := make([]int, len(freq))
	sum := 0
	for s, f := range freq {
		if f > 0 {
			out[s] = max(1, int(int64(f)*probScale/int64(total)))
			sum += out[s]
		}
	}
	for sum != probScale {
		// adjust the symbol where it costs least: the largest frequency
		best := -1
		for s := range out {
			if out[s] > 0 && (sum < probScale || out[s] > 1) && (best < 0 || out[s] > out[best]) {
				best = s
			}
		}
		if sum < probScale {
			out[best]++
			sum++
		} else {
			out[best]--
			sum--
		}
	}
	return out
}

func encodeRANS(out, syms []byte, counts []int) []byte {
	freq := normalize(counts)
	cum := make([]int, len(freq)+1)
	for s, f := range freq {
		cum[s+1] = cum[s] + f
		out = binary.AppendUvarint(out, uint64(f))
	}
	var rev []byte
	x := uint32(ransL)
	for i := len(syms) - 1; i >= 0; i-- {
		s := syms[i]
		f, c := uint32(freq[s]), uint32(cum[s])
		xmax := ((ransL >> scaleBits) << 8) * f
		for x >= xmax {
			rev = append(rev, byte(x))
			x >>= 8
		}
		x = (x/f)<<scaleBits + x%f + c
	}
	rev = append(rev, byte(x>>24), byte(x>>16), byte(x>>8), byte(x))
	p := make([]byte, len(rev))
	for i, v := range rev {
		p[len(rev)-1-i] = v
	}
	out = binary.AppendUvarint(out, uint64(len(p)))
	return append(out, p...)
}

// maxRANSPerByte bounds the symbols a byte of rANS payload can carry (a
// symbol costs at least -log2(4095/4096) bits).
const maxRANSPerByte = 24 << 10

func decodeRANS(b []byte, pos *int, n, alpha int) ([]byte, error) {
	freq := make([]uint32, alpha)
	cum := make([]uint32, alpha+1)
	for s := range freq {
		f, err := uvarint(b, pos)
		if err != nil {
			return nil, err
		}
		if f > probScale {
			return nil, corrupt("frequency %d", f)
		}
		freq[s] = uint32(f)
		cum[s+1] = cum[s] + uint32(f)
		if cum[s+1] > probScale {
			return nil, corrupt("frequencies exceed %d", probScale)
		}
	}
	if cum[alpha] != probScale {
		return nil, corrupt("frequencies sum to %d, not %d", cum[alpha], probScale)
	}
	p, err := payload(b, pos)
	if err != nil {
		return nil, err
	}
	if len(p) < 4 || uint64(n) > maxRANSPerByte*uint64(len(p)) {
		return nil, corrupt("%d symbols cannot fit in %d bytes", n, len(p))
	}
	lookup := make([]byte, probScale)
	for s := range freq {
		for i := cum[s]; i < cum[s+1]; i++ {
			lookup[i] = byte(s)
		}
	}
	x := binary.LittleEndian.Uint32(p)
	if x < ransL || x >= ransL<<8 {
		return nil, corrupt("rANS state %#x out of range", x)
	}
	r := 4
	out := make([]byte, n)
	for i := range out {
		slot := x & (probScale - 1)
		s := lookup[slot]
		out[i] = s
		x = freq[s]*(x>>scaleBits) + slot - cum[s]
		for x < ransL {
			if r >= len(p) {
				return nil, corrupt("rANS payload ends after %d of %d symbols", i+1, n)
			}
			x = x<<8 | uint32(p[r])
			r++
		}
	}
	if x != ransL || r != len(p) {
		return nil, corrupt("rANS stream does not end in its initial state")
	}
	return out, nil
}
