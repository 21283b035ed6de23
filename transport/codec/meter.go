package codec

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/edgedl/edgedl/tensor"
)

// Stats are the running totals of a Metered codec.
type Stats struct {
	Encodes, Decodes int64
	// RawBytes is the size of the encoded tensors in plain raw form;
	// EncodedBytes the size of their payloads; DecodedBytes the raw size of
	// the decoded tensors.
	RawBytes, EncodedBytes, DecodedBytes int64
	EncodeTime, DecodeTime               time.Duration
}

// Ratio is RawBytes / EncodedBytes (0 before the first encode).
func (s Stats) Ratio() float64 {
	if s.EncodedBytes == 0 {
		return 0
	}
	return float64(s.RawBytes) / float64(s.EncodedBytes)
}

// EncodeThroughput is raw bytes encoded per second of encode time.
func (s Stats) EncodeThroughput() float64 { return perSecond(s.RawBytes, s.EncodeTime) }

// DecodeThroughput is raw bytes produced per second of decode time.
func (s Stats) DecodeThroughput() float64 { return perSecond(s.DecodedBytes, s.DecodeTime) }

func perSecond(b int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(b) / d.Seconds()
}

// Metered wraps a Codec and accumulates sizes and times of every call, so a
// planner can cost a codec from what it actually did. It is safe for
// concurrent use.
type Metered struct {
	Codec
	mu sync.Mutex
	s  Stats
}

// NewMetered returns c wrapped in a meter.
func NewMetered(c Codec) *Metered { return &Metered{Codec: c} }

// Encode encodes with the wrapped codec and records the call.
func (m *Metered) Encode(t *tensor.Tensor) ([]byte, Params, error) {
	start := time.Now()
	p, params, err := m.Codec.Encode(t)
	d := time.Since(start)
	if err == nil {
		raw := rawBytes(t)
		m.mu.Lock()
		m.s.Encodes++
		m.s.RawBytes += int64(raw)
		m.s.EncodedBytes += int64(len(p))
		m.s.EncodeTime += d
		m.mu.Unlock()
	}
	return p, params, err
}

// Decode decodes with the wrapped codec and records the call.
func (m *Metered) Decode(payload []byte, dt tensor.DType, shape []int, params Params) (*tensor.Tensor, error) {
	start := time.Now()
	t, err := m.Codec.Decode(payload, dt, shape, params)
	d := time.Since(start)
	if err == nil {
		m.mu.Lock()
		m.s.Decodes++
		m.s.DecodedBytes += int64(rawBytes(t))
		m.s.DecodeTime += d
		m.mu.Unlock()
	}
	return t, err
}

// Stats returns the totals so far.
func (m *Metered) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.s
}

// Reset zeroes the totals.
func (m *Metered) Reset() {
	m.mu.Lock()
	m.s = Stats{}
	m.mu.Unlock()
}

func rawBytes(t *tensor.Tensor) int {
	if t.DType == tensor.String {
		return 4*t.Len() + t.Bytes()
	}
	return t.Bytes()
}

// Measurement is what one encode/decode round trip of a tensor cost and how
// much it changed the tensor.
type Measurement struct {
	Codec        string // the codec asked for
	Applied      string // the codec actually applied (see Codec)
	RawBytes     int
	EncodedBytes int
	Ratio        float64 // RawBytes / EncodedBytes
	EncodeTime   time.Duration
	DecodeTime   time.Duration
	// RelL2 is ||decoded - t|| / ||t|| over float32 tensors (0 when
	// decoding was exact, NaN for other dtypes).
	RelL2 float64
}

func (m Measurement) String() string {
	return fmt.Sprintf("%-10s %9d -> %9d bytes (x%.2f)  enc %v  dec %v  relL2 %.2e",
		m.Codec, m.RawBytes, m.EncodedBytes, m.Ratio, m.EncodeTime, m.DecodeTime, m.RelL2)
}

// Measure encodes and decodes t once with c and reports sizes, times and
// the relative L2 error. Time a few runs and take the minimum for stable
// numbers; one run includes cold caches.
func Measure(c Codec, t *tensor.Tensor) (Measurement, error) {
	start := time.Now()
	p, params, err := c.Encode(t)
	enc := time.Since(start)
	if err != nil {
		return Measurement{}, err
	}
	start = time.Now()
	d, err := c.Decode(p, t.DType, t.Shape, params)
	dec := time.Since(start)
	if err != nil {
		return Measurement{}, err
	}
	m := Measurement{
		Codec: c.Name(), RawBytes: rawBytes(t), EncodedBytes: len(p),
		EncodeTime: enc, DecodeTime: dec, RelL2: math.NaN(),
	}
	if a, ok := params[ParamCodec]; ok {
		m.Applied = a.GetStringParam()
	}
	if len(p) > 0 {
		m.Ratio = float64(m.RawBytes) / float64(len(p))
	}
	if t.DType == tensor.Float32 {
		m.RelL2 = RelL2(d.F32(), t.F32())
	}
	return m, nil
}

// RelL2 returns ||got - want||_2 / ||want||_2 (the absolute error norm when
// want is all zeros).
func RelL2(got, want []float32) float64 {
	var num, den float64
	for i := range want {
		e := float64(got[i]) - float64(want[i])
		num += e * e
		den += float64(want[i]) * float64(want[i])
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}
