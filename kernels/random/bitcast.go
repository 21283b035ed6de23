package random

import (
	"encoding/binary"
	"math"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "BitCast", 26, buildBitCast)
}

// bitCast reinterprets the bits of each element as another type of the
// same size (little-endian, as ONNX stores tensors).
type bitCast struct{ to tensor.DType }

func buildBitCast(b *kernels.BuildContext) (kernels.Kernel, error) {
	to := tensor.DType(b.Attrs().Int("to", 0))
	if !to.Supported() || to == tensor.String {
		return nil, kernels.Unsupported("BitCast", "to %v", to)
	}
	if dt := b.Inputs[0].DType; dt != tensor.Undefined && dt.Supported() && dt != tensor.String && dt.Size() != to.Size() {
		return nil, b.Errorf("cannot bitcast %v (%d bytes) to %v (%d bytes)", dt, dt.Size(), to, to.Size())
	}
	return &bitCast{to: to}, nil
}

func (k *bitCast) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x := in[0]
	if x.DType == tensor.String {
		return kernels.Unsupported("BitCast", "dtype %v", x.DType)
	}
	if x.DType.Size() != k.to.Size() {
		return kernels.Unsupported("BitCast", "%v to %v: element sizes differ", x.DType, k.to)
	}
	y, err := ctx.Alloc(k.to, x.Shape)
	if err != nil {
		return err
	}
	n, size := x.Len(), x.DType.Size()
	buf := make([]byte, n*size)
	encode(buf, x.Data)
	decode(y.Data, buf)
	out[0] = y
	return nil
}

// encode writes the elements of a typed slice to buf, little-endian.
func encode(buf []byte, data any) {
	le := binary.LittleEndian
	switch d := data.(type) {
	case []bool:
		for i, v := range d {
			if v {
				buf[i] = 1
			}
		}
	case []int8:
		for i, v := range d {
			buf[i] = byte(v)
		}
	case []uint8:
		copy(buf, d)
	case []int16:
		for i, v := range d {
			le.PutUint16(buf[2*i:], uint16(v))
		}
	case []uint16:
		for i, v := range d {
			le.PutUint16(buf[2*i:], v)
		}
	case []int32:
		for i, v := range d {
			le.PutUint32(buf[4*i:], uint32(v))
		}
	case []uint32:
		for i, v := range d {
			le.PutUint32(buf[4*i:], v)
		}
	case []float32:
		for i, v := range d {
			le.PutUint32(buf[4*i:], math.Float32bits(v))
		}
	case []int64:
		for i, v := range d {
			le.PutUint64(buf[8*i:], uint64(v))
		}
	case []uint64:
		for i, v := range d {
			le.PutUint64(buf[8*i:], v)
		}
	case []float64:
		for i, v := range d {
			le.PutUint64(buf[8*i:], math.Float64bits(v))
		}
	}
}

// decode fills a typed slice from little-endian bytes.
func decode(data any, buf []byte) {
	le := binary.LittleEndian
	switch d := data.(type) {
	case []bool:
		for i := range d {
			d[i] = buf[i] != 0
		}
	case []int8:
		for i := range d {
			d[i] = int8(buf[i])
		}
	case []uint8:
		copy(d, buf)
	case []int16:
		for i := range d {
			d[i] = int16(le.Uint16(buf[2*i:]))
		}
	case []uint16:
		for i := range d {
			d[i] = le.Uint16(buf[2*i:])
		}
	case []int32:
		for i := range d {
			d[i] = int32(le.Uint32(buf[4*i:]))
		}
	case []uint32:
		for i := range d {
			d[i] = le.Uint32(buf[4*i:])
		}
	case []float32:
		for i := range d {
			d[i] = math.Float32frombits(le.Uint32(buf[4*i:]))
		}
	case []int64:
		for i := range d {
			d[i] = int64(le.Uint64(buf[8*i:]))
		}
	case []uint64:
		for i := range d {
			d[i] = le.Uint64(buf[8*i:])
		}
	case []float64:
		for i := range d {
			d[i] = math.Float64frombits(le.Uint64(buf[8*i:]))
		}
	}
}
