package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Scheme identifies how a message's body is coded.
type Scheme uint8

const (
	SchemeDense  Scheme = 1 // float32 per coordinate
	SchemeQSGD   Scheme = 2 // per-bucket norm + stochastic levels
	SchemeSign   Scheme = 3 // one scale + one sign bit per coordinate
	SchemeSparse Scheme = 4 // (index, float32) pairs, indices ascending
)

func (s Scheme) String() string {
	switch s {
	case SchemeDense:
		return "dense"
	case SchemeQSGD:
		return "qsgd"
	case SchemeSign:
		return "sign"
	case SchemeSparse:
		return "sparse"
	}
	return fmt.Sprintf("Scheme(%d)", uint8(s))
}

const (
	magic        = 0xED
	flagZstd     = 0x80
	schemeMask   = 0x3F
	maxQSGDLevel = 1<<15 - 1
	// MaxDim bounds the dimension a message may declare (2^28, the same cap
	// the tensor package puts on one tensor).
	MaxDim = 1 << 28
)

var (
	// ErrCorrupt is wrapped by every error about a malformed message.
	ErrCorrupt = errors.New("codec: corrupt message")
	// ErrDim is wrapped when a message's dimension differs from the
	// receiver's.
	ErrDim = errors.New("codec: dimension mismatch")
)

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// Encoder compresses update vectors into messages. Stateful encoders (error
// feedback residuals, DGC momentum) change their state on every Encode, so a
// sender keeps one encoder per stream: one per client for the uplink, one on
// the server for the downlink. Encode does not retain v. After an error
// (non-finite input, or overflow of a residual) a stateful encoder's state
// is unspecified: reset it (zero value) before reuse.
type Encoder interface {
	Encode(v []float32) ([]byte, error)
}

// Info describes a message without decoding its body.
type Info struct {
	Scheme     Scheme
	Dim        int
	Compressed bool // body is zstd-coded
}

// Inspect parses a message's header.
func Inspect(msg []byte) (Info, error) {
	info, _, err := parseHeader(msg)
	return info, err
}

func parseHeader(msg []byte) (Info, []byte, error) {
	if len(msg) < 3 {
		return Info{}, nil, corrupt("%d bytes is shorter than a header", len(msg))
	}
	if msg[0] != magic {
		return Info{}, nil, corrupt("bad magic byte %#x", msg[0])
	}
	info := Info{Scheme: Scheme(msg[1] & schemeMask), Compressed: msg[1]&flagZstd != 0}
	if msg[1]&^(schemeMask|flagZstd) != 0 {
		return Info{}, nil, corrupt("reserved flag bits set in %#x", msg[1])
	}
	switch info.Scheme {
	case SchemeDense, SchemeQSGD, SchemeSign, SchemeSparse:
	default:
		return Info{}, nil, corrupt("unknown scheme %d", info.Scheme)
	}
	dim, n := binary.Uvarint(msg[2:])
	if n <= 0 {
		return Info{}, nil, corrupt("bad dimension varint")
	}
	if dim > MaxDim {
		return Info{}, nil, corrupt("dimension %d exceeds %d", dim, MaxDim)
	}
	info.Dim = int(dim)
	return info, msg[2+n:], nil
}

// frame writes the header and the body, zstd-coding the body if asked.
func frame(s Scheme, dim int, body []byte, lossless bool) []byte {
	flags := byte(s)
	if lossless {
		flags |= flagZstd
		body = zstdEncode(body)
	}
	out := make([]byte, 0, 2+binary.MaxVarintLen64+len(body))
	out = append(out, magic, flags)
	out = binary.AppendUvarint(out, uint64(dim))
	return append(out, body...)
}

// maxBody bounds the body size of a well-formed message of a scheme and
// dimension; it caps zstd decompression.
func maxBody(s Scheme, dim int) int {
	d := dim
	switch s {
	case SchemeDense:
		return 4 * d
	case SchemeQSGD:
		// header + one norm per coordinate (bucket 1) + at most 32 bits per
		// coordinate (Elias gamma of a 15-bit level plus a sign).
		return 32 + 8*d
	case SchemeSign:
		return 4 + (d+7)/8
	case SchemeSparse:
		return binary.MaxVarintLen64 + 9*d
	}
	return 0
}

// Decode decodes msg into a new vector of dim coordinates; the message must
// declare exactly dim. Allocation is bounded by dim (never by what the
// message claims), and any malformation is an error wrapping ErrCorrupt or
// ErrDim, never a panic.
func Decode(msg []byte, dim int) ([]float32, error) {
	if dim < 0 || dim > MaxDim {
		return nil, fmt.Errorf("%w: receiver dimension %d", ErrDim, dim)
	}
	dst := make([]float32, dim)
	if err := DecodeInto(dst, msg); err != nil {
		return nil, err
	}
	return dst, nil
}

// DecodeInto decodes msg into dst, whose length must equal the message's
// dimension. dst is overwritten (coordinates a sparse message does not carry
// become zero). On error dst's contents are unspecified.
func DecodeInto(dst []float32, msg []byte) error {
	return decode(dst, msg, false, 0)
}

// AddInto decodes msg and adds w times it to dst, touching only the
// coordinates a sparse message carries. On error dst's contents are
// unspecified.
func AddInto(dst []float32, msg []byte, w float64) error {
	return decode(dst, msg, true, w)
}

func decode(dst []float32, msg []byte, add bool, w float64) error {
	info, body, err := parseHeader(msg)
	if err != nil {
		return err
	}
	if info.Dim != len(dst) {
		return fmt.Errorf("%w: message has %d coordinates, receiver %d", ErrDim, info.Dim, len(dst))
	}
	if info.Compressed {
		body, err = zstdDecode(body, maxBody(info.Scheme, info.Dim))
		if err != nil {
			return err
		}
	}
	put := func(i int, v float64) { dst[i] = float32(v) }
	if add {
		put = func(i int, v float64) { dst[i] = float32(float64(dst[i]) + w*v) }
	} else if info.Scheme == SchemeSparse {
		clear(dst)
	}
	switch info.Scheme {
	case SchemeDense:
		return decodeDense(body, len(dst), put)
	case SchemeQSGD:
		return decodeQSGD(body, len(dst), put)
	case SchemeSign:
		return decodeSign(body, len(dst), put)
	case SchemeSparse:
		return decodeSparse(body, len(dst), put)
	}
	return corrupt("unknown scheme %d", info.Scheme)
}

// Dense sends float32 values unchanged: the uncompressed baseline, and what a
// server sends when clients need the exact global model.
type Dense struct {
	Lossless bool // zstd the body
}

func (d Dense) Encode(v []float32) ([]byte, error) {
	if err := checkInput(v); err != nil {
		return nil, err
	}
	body := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(body[4*i:], math.Float32bits(x))
	}
	return frame(SchemeDense, len(v), body, d.Lossless), nil
}

func decodeDense(body []byte, dim int, put func(int, float64)) error {
	if len(body) != 4*dim {
		return corrupt("dense body of %d bytes for %d coordinates", len(body), dim)
	}
	for i := 0; i < dim; i++ {
		x := math.Float32frombits(binary.LittleEndian.Uint32(body[4*i:]))
		if x-x != 0 {
			return corrupt("non-finite value at %d", i)
		}
		put(i, float64(x))
	}
	return nil
}

func checkInput(v []float32) error {
	if len(v) > MaxDim {
		return fmt.Errorf("codec: %d coordinates exceeds %d", len(v), MaxDim)
	}
	return checkFinite(v)
}

func checkFinite(v []float32) error {
	for i, x := range v {
		if x-x != 0 {
			return fmt.Errorf("codec: non-finite input at %d (%v)", i, x)
		}
	}
	return nil
}
