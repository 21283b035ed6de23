// Package codec encodes activation tensors for the wire and back.
//
// A codec is a base representation followed by an optional lossless stage,
// named "base" or "base+stage":
//
//	fp32    raw little-endian bytes: exact, for every dtype
//	fp16    IEEE binary16, round to nearest even, saturating at ±65504
//	int8    affine per tensor: scale = (max-min)/255 over [min(x,0), max(x,0)],
//	        q = saturate(roundHalfEven(x/scale) + zp); zero is exact
//	int8c   affine per channel along axis 1 (NCHW's C): one scale and zero
//	        point per channel, carried in the payload's header
//	+zstd   zstd frame (klauspost/compress, fastest level)
//	+lz4    LZ4 block (pierrec/lz4), stored when incompressible
//
// Lossy bases apply to float32 tensors only; other dtypes take fp32 with the
// same lossless stage, and the parameters record the codec actually used.
// Encode returns the payload and KServe parameters (ParamCodec, and the
// int8 scale and zero point); Decode takes them back with the logical dtype
// and shape:
//
//	c, _ := codec.Get("int8c+lz4")
//	payload, params, err := c.Encode(x)
//	...
//	y, err := codec.Decode(payload, x.DType, x.Shape, params)
//
// Decoders trust nothing: every size follows from the declared shape and is
// checked before allocation (a zstd frame must declare exactly that size; an
// LZ4 block cannot claim more than 255 times its length), so garbage yields
// an error, never a panic or an outsized allocation. Errors wrap the
// package's sentinels (ErrSize, ErrInvalid, ...).
//
// Metered wraps a codec and keeps totals of sizes and encode/decode times;
// Measure costs one round trip, with the relative L2 error, for a planner or
// a benchmark table. All codecs are safe for concurrent use.
package codec
