// Package tensor provides the dense n-dimensional arrays that flow through
// edgedl: a dtype, a shape and a typed Go slice, in row-major order.
//
// The dtype numbering is ONNX's (TensorProto.DataType), so conversion to and
// from the wire format is a cast. Data holds one of []float32, []float64,
// []int8, []uint8, []int16, []uint16, []int32, []uint32, []int64, []uint64,
// []bool or []string; float16 and bfloat16 are stored as their raw bits in
// []uint16 (convert with HalfToFloat / FloatToHalf).
//
// Allocation is guarded: Make refuses shapes whose element count overflows or
// exceeds MaxElements, so a hostile model or request cannot make the process
// allocate unbounded memory before validation.
package tensor
