package quant

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/tensor"
)

// outputStage turns int32 accumulators into output values. Channels are
// output columns of a GEMM (output channels of a convolution).
//
//	Int8, Uint8: y = saturate(round((acc + bias[c]) · mult[c]) + zero)
//	Int32:       y = acc + bias[c]
//	Float32:     y = (acc + bias[c]) · mult[c] + fbias[c]
//
// The product is formed in float64 from a float32 multiplier, which is what
// the ONNX reference computes (an int32 array times a float32 array) and is
// exact for any accumulator.
type outputStage struct {
	dt     tensor.DType
	mult   []float64 // one value, or one per channel
	bias   []int32   // nil, or one per channel
	fbias  []float32 // nil, or one per channel (Float32 output only)
	zero   float64
	lo, hi float64
}

// newOutputStage validates the output type and sets the clamp range; relu
// raises the lower bound to the zero point (a fused ReLU).
func newOutputStage(dt tensor.DType, mult []float32, bias []int32, zero int32, relu bool) (*outputStage, error) {
	s := &outputStage{dt: dt, bias: bias, zero: float64(zero)}
	switch dt {
	case tensor.Int8, tensor.Uint8:
		lo, hi, _ := qrange(dt)
		if int64(zero) < lo || int64(zero) > hi {
			return nil, fmt.Errorf("output zero point %d out of range for %v", zero, dt)
		}
		s.lo, s.hi = float64(lo), float64(hi)
		if relu {
			s.lo = float64(zero)
		}
	case tensor.Float32:
		s.lo, s.hi = math.Inf(-1), math.Inf(1)
		if relu {
			s.lo = 0
		}
	case tensor.Int32:
	default:
		return nil, fmt.Errorf("output dtype %v", dt)
	}
	s.mult = make([]float64, len(mult))
	for i, m := range mult {
		s.mult[i] = float64(m)
	}
	return s, nil
}

func (s *outputStage) multAt(c int) float64 {
	switch len(s.mult) {
	case 0: // raw int32 output
		return 1
	case 1:
		return s.mult[0]
	}
	return s.mult[c]
}

func (s *outputStage) biasAt(c int) int32 {
	if s.bias == nil {
		return 0
	}
	return s.bias[c]
}

// rows writes the rows × n accumulators acc (row stride ldc; column j is
// channel c0+j) to y starting at element off, row-major with stride n.
func (s *outputStage) rows(y *tensor.Tensor, off int, acc []int32, ldc, rows, n, c0 int) {
	switch yd := y.Data.(type) {
	case []int8:
		requantRows(s, yd[off:], acc, ldc, rows, n, c0)
	case []uint8:
		requantRows(s, yd[off:], acc, ldc, rows, n, c0)
	case []int32:
		for i := 0; i < rows; i++ {
			dst, src := yd[off+i*n:off+i*n+n], acc[i*ldc:i*ldc+n]
			for j, v := range src {
				dst[j] = v + s.biasAt(c0+j)
			}
		}
	case []float32:
		for i := 0; i < rows; i++ {
			dst, src := yd[off+i*n:off+i*n+n], acc[i*ldc:i*ldc+n]
			for j, v := range src {
				dst[j] = s.real(v, c0+j)
			}
		}
	}
}

func (s *outputStage) real(v int32, c int) float32 {
	f := float64(v+s.biasAt(c)) * s.multAt(c)
	if s.fbias != nil {
		f += float64(s.fbias[c])
	}
	return float32(max(s.lo, f))
}

func requantRows[TY int8 | uint8](s *outputStage, y []TY, acc []int32, ldc, rows, n, c0 int) {
	for i := 0; i < rows; i++ {
		dst, src := y[i*n:i*n+n], acc[i*ldc:i*ldc+n]
		if len(s.mult) == 1 && s.bias == nil {
			m := s.mult[0]
			for j, v := range src {
				dst[j] = TY(saturate(float64(v)*m, s.zero, s.lo, s.hi))
			}
			continue
		}
		for j, v := range src {
			dst[j] = TY(saturate(float64(v+s.biasAt(c0+j))*s.multAt(c0+j), s.zero, s.lo, s.hi))
		}
	}
}

// columns writes the transpose of a rows × n block of accumulators:
// channel c0+j of position i goes to y[off + j·stride + i] (NCHW output of
// a convolution computed as pixels × channels).
func (s *outputStage) columns(y *tensor.Tensor, off int, acc []int32, ldc, rows, stride, n, c0 int) {
	switch yd := y.Data.(type) {
	case []int8:
		requantCols(s, yd[off:], acc, ldc, rows, stride, n, c0)
	case []uint8:
		requantCols(s, yd[off:], acc, ldc, rows, stride, n, c0)
	case []int32:
		for j := 0; j < n; j++ {
			dst, b := yd[off+j*stride:off+j*stride+rows], s.biasAt(c0+j)
			for i := range dst {
				dst[i] = acc[i*ldc+j] + b
			}
		}
	case []float32:
		for j := 0; j < n; j++ {
			dst := yd[off+j*stride : off+j*stride+rows]
			for i := range dst {
				dst[i] = s.real(acc[i*ldc+j], c0+j)
			}
		}
	}
}

func requantCols[TY int8 | uint8](s *outputStage, y []TY, acc []int32, ldc, rows, stride, n, c0 int) {
	for j := 0; j < n; j++ {
		dst := y[j*stride : j*stride+rows]
		b, mul := s.biasAt(c0+j), s.multAt(c0+j)
		src := acc[j:]
		for i := range dst {
			dst[i] = TY(saturate(float64(src[i*ldc]+b)*mul, s.zero, s.lo, s.hi))
		}
	}
}

// channel writes accumulators that all belong to channel c to y starting
// at element off.
func (s *outputStage) channel(y *tensor.Tensor, off int, acc []int32, c int) {
	b, m := s.biasAt(c), s.multAt(c)
	switch yd := y.Data.(type) {
	case []int8:
		requantChannel(s, yd[off:off+len(acc)], acc, b, m)
	case []uint8:
		requantChannel(s, yd[off:off+len(acc)], acc, b, m)
	case []int32:
		for i, v := range acc {
			yd[off+i] = v + b
		}
	case []float32:
		for i, v := range acc {
			yd[off+i] = s.real(v, c)
		}
	}
}

func requantChannel[TY int8 | uint8](s *outputStage, y []TY, acc []int32, b int32, m float64) {
	for i, v := range acc {
		y[i] = TY(saturate(float64(v+b)*m, s.zero, s.lo, s.hi))
	}
}
