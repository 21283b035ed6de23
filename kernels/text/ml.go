package text

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

const mlDomain = "ai.onnx.ml"

func init() {
	kernels.Register(mlDomain, "LabelEncoder", 2, buildLabelEncoder)
	kernels.Register(mlDomain, "Binarizer", 1, buildBinarizer)
	kernels.Register(mlDomain, "ArrayFeatureExtractor", 1, buildArrayFeatureExtractor)
}

// labelEncoder maps keys to values through a table built at compile time.
type labelEncoder struct {
	keyKind tensor.DType // String, Int64 or Float64 (any float key)
	strIdx  map[string]int
	intIdx  map[int64]int
	fltIdx  map[float64]int
	nanIdx  int // index of a NaN key, or -1
	values  *tensor.Tensor
	def     *tensor.Tensor // one element of values' dtype
}

// attrTensor returns the first of the named attributes that is set, as a
// tensor: strings, int64s, floats or a tensor attribute.
func attrTensor(a kernels.Attrs, prefix string) *tensor.Tensor {
	if v := a.Strings(prefix+"_strings", nil); v != nil {
		return &tensor.Tensor{DType: tensor.String, Shape: []int{len(v)}, Data: v}
	}
	if v := a.Ints(prefix+"_int64s", nil); v != nil {
		return tensor.Int64s([]int{len(v)}, v)
	}
	if v := a.Floats(prefix+"_floats", nil); v != nil {
		return tensor.Float32s([]int{len(v)}, v)
	}
	return a.Tensor(prefix + "_tensor")
}

func buildLabelEncoder(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	keys, vals := attrTensor(a, "keys"), attrTensor(a, "values")
	if keys == nil || vals == nil {
		return nil, b.Errorf("needs keys and values")
	}
	if keys.Len() != vals.Len() {
		return nil, b.Errorf("%d keys but %d values", keys.Len(), vals.Len())
	}
	k := &labelEncoder{values: vals, nanIdx: -1}
	switch keys.DType {
	case tensor.String:
		k.keyKind, k.strIdx = tensor.String, map[string]int{}
		for i, s := range keys.Data.([]string) {
			if _, dup := k.strIdx[s]; !dup {
				k.strIdx[s] = i
			}
		}
	case tensor.Int64, tensor.Int32, tensor.Int16, tensor.Int8, tensor.Uint8, tensor.Uint16, tensor.Uint32, tensor.Uint64:
		k.keyKind, k.intIdx = tensor.Int64, map[int64]int{}
		for i := 0; i < keys.Len(); i++ {
			if _, dup := k.intIdx[keys.Int64At(i)]; !dup {
				k.intIdx[keys.Int64At(i)] = i
			}
		}
	case tensor.Float32, tensor.Float64:
		k.keyKind, k.fltIdx = tensor.Float64, map[float64]int{}
		for i := 0; i < keys.Len(); i++ {
			v := keys.Float64At(i)
			if math.IsNaN(v) {
				if k.nanIdx < 0 {
					k.nanIdx = i
				}
			} else if _, dup := k.fltIdx[v]; !dup {
				k.fltIdx[v] = i
			}
		}
	default:
		return nil, kernels.Unsupported("LabelEncoder", "key dtype %v", keys.DType)
	}
	// Default value: default_tensor, or the typed default attribute.
	if d := a.Tensor("default_tensor"); d != nil {
		if d.DType != vals.DType || d.Len() != 1 {
			return nil, b.Errorf("default_tensor must be one %v", vals.DType)
		}
		k.def = d
	} else {
		k.def, _ = tensor.Make(vals.DType, []int{1})
		if k.def == nil {
			return nil, kernels.Unsupported("LabelEncoder", "value dtype %v", vals.DType)
		}
		switch d := k.def.Data.(type) {
		case []string:
			d[0] = a.String("default_string", "_Unused")
		case []int64:
			d[0] = a.Int("default_int64", -1)
		case []float32:
			d[0] = a.Float("default_float", float32(math.Copysign(0, -1)))
		}
	}
	return k, nil
}

func (k *labelEncoder) lookup(x *tensor.Tensor, i int) int {
	var j int
	var ok bool
	switch k.keyKind {
	case tensor.String:
		j, ok = k.strIdx[x.Data.([]string)[i]]
	case tensor.Int64:
		j, ok = k.intIdx[x.Int64At(i)]
	default:
		v := x.Float64At(i)
		if math.IsNaN(v) {
			return k.nanIdx
		}
		j, ok = k.fltIdx[v]
	}
	if !ok {
		return -1
	}
	return j
}

func (k *labelEncoder) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x := in[0]
	if (x.DType == tensor.String) != (k.keyKind == tensor.String) {
		return fmt.Errorf("input dtype %v does not match the keys", x.DType)
	}
	y, err := ctx.Alloc(k.values.DType, x.Shape)
	if err != nil {
		return err
	}
	idx := make([]int, x.Len())
	for i := range idx {
		idx[i] = k.lookup(x, i)
	}
	switch d := y.Data.(type) {
	case []string:
		pick(d, k.values.Data.([]string), k.def.Data.([]string)[0], idx)
	case []float32:
		pick(d, k.values.Data.([]float32), k.def.Data.([]float32)[0], idx)
	case []float64:
		pick(d, k.values.Data.([]float64), k.def.Data.([]float64)[0], idx)
	case []int64:
		pick(d, k.values.Data.([]int64), k.def.Data.([]int64)[0], idx)
	case []int32:
		pick(d, k.values.Data.([]int32), k.def.Data.([]int32)[0], idx)
	case []int16:
		pick(d, k.values.Data.([]int16), k.def.Data.([]int16)[0], idx)
	case []int8:
		pick(d, k.values.Data.([]int8), k.def.Data.([]int8)[0], idx)
	case []uint8:
		pick(d, k.values.Data.([]uint8), k.def.Data.([]uint8)[0], idx)
	case []uint16:
		pick(d, k.values.Data.([]uint16), k.def.Data.([]uint16)[0], idx)
	case []uint32:
		pick(d, k.values.Data.([]uint32), k.def.Data.([]uint32)[0], idx)
	case []uint64:
		pick(d, k.values.Data.([]uint64), k.def.Data.([]uint64)[0], idx)
	case []bool:
		pick(d, k.values.Data.([]bool), k.def.Data.([]bool)[0], idx)
	default:
		return kernels.Unsupported("LabelEncoder", "value dtype %v", k.values.DType)
	}
	out[0] = y
	return nil
}

// pick sets dst[i] = vals[idx[i]], or def where idx[i] < 0.
func pick[T any](dst, vals []T, def T, idx []int) {
	for i, j := range idx {
		if j < 0 {
			dst[i] = def
		} else {
			dst[i] = vals[j]
		}
	}
}

// binarizer maps each element to 1 if it exceeds threshold, else 0.
type binarizer struct{ threshold float64 }

func buildBinarizer(b *kernels.BuildContext) (kernels.Kernel, error) {
	return &binarizer{threshold: float64(b.Attrs().Float("threshold", 0))}, nil
}

func binarize[T float32 | float64 | int32 | int64](dst, src []T, th float64) {
	for i, v := range src {
		if float64(v) > th {
			dst[i] = 1
		} else {
			dst[i] = 0
		}
	}
}

func (k *binarizer) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x := in[0]
	y, err := ctx.Alloc(x.DType, x.Shape)
	if err != nil {
		return err
	}
	switch d := y.Data.(type) {
	case []float32:
		binarize(d, x.Data.([]float32), k.threshold)
	case []float64:
		binarize(d, x.Data.([]float64), k.threshold)
	case []int32:
		binarize(d, x.Data.([]int32), k.threshold)
	case []int64:
		binarize(d, x.Data.([]int64), k.threshold)
	default:
		return kernels.Unsupported("Binarizer", "dtype %v", x.DType)
	}
	out[0] = y
	return nil
}

// arrayFeatureExtractor selects entries of the last axis.
type arrayFeatureExtractor struct{}

func buildArrayFeatureExtractor(b *kernels.BuildContext) (kernels.Kernel, error) {
	if len(b.Inputs) != 2 {
		return nil, b.Errorf("needs X and Y")
	}
	return arrayFeatureExtractor{}, nil
}

func (arrayFeatureExtractor) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x, ind := in[0], in[1]
	if len(x.Shape) == 0 {
		return fmt.Errorf("X must have at least one dimension")
	}
	idx := ind.Int64Values()
	n := x.Shape[len(x.Shape)-1]
	for _, v := range idx {
		if v < 0 || v >= int64(n) {
			return fmt.Errorf("index %d out of range [0,%d)", v, n)
		}
	}
	shape := append(append([]int{}, x.Shape[:len(x.Shape)-1]...), len(idx))
	if len(x.Shape) == 1 {
		shape = []int{1, len(idx)}
	}
	y, err := ctx.Alloc(x.DType, shape)
	if err != nil {
		return err
	}
	rows := 1
	for _, d := range x.Shape[:len(x.Shape)-1] {
		rows *= d
	}
	switch d := y.Data.(type) {
	case []float32:
		extract(d, x.Data.([]float32), idx, rows, n)
	case []float64:
		extract(d, x.Data.([]float64), idx, rows, n)
	case []int64:
		extract(d, x.Data.([]int64), idx, rows, n)
	case []int32:
		extract(d, x.Data.([]int32), idx, rows, n)
	case []string:
		extract(d, x.Data.([]string), idx, rows, n)
	default:
		return kernels.Unsupported("ArrayFeatureExtractor", "dtype %v", x.DType)
	}
	out[0] = y
	return nil
}

func extract[T any](dst, src []T, idx []int64, rows, n int) {
	k := len(idx)
	for r := 0; r < rows; r++ {
		for j, i := range idx {
			dst[r*k+j] = src[r*n+int(i)]
		}
	}
}
