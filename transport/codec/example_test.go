package codec_test

import (
	"fmt"

	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/transport/codec"
)

func Example() {
	// A post-ReLU activation: zeros and small positives.
	x := tensor.Float32s([]int{1, 2, 2, 2}, []float32{0, 0.5, 0, 1, 2, 0, 4, 0})
	c, err := codec.Get("int8c")
	if err != nil {
		panic(err)
	}
	payload, params, err := c.Encode(x)
	if err != nil {
		panic(err)
	}
	// 2 channels: 2 float32 scales + 2 zero points + 8 elements.
	fmt.Println(len(payload), "bytes, codec", params[codec.ParamCodec].GetStringParam())
	y, err := codec.Decode(payload, x.DType, x.Shape, params)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%.3f\n", y.F32())
	// Output:
	// 18 bytes, codec int8c
	// [0.000 0.498 0.000 1.000 1.992 0.000 4.000 0.000]
}

func ExampleMeasure() {
	x := tensor.New(tensor.Float32, 1, 8, 32, 32) // all zeros: compresses well
	for _, name := range []string{"fp32", "fp16", "int8+zstd"} {
		c, _ := codec.Get(name)
		m, err := codec.Measure(c, x)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%-9s %6d -> %5d bytes, error %g\n", name, m.RawBytes, m.EncodedBytes, m.RelL2)
	}
	// Output:
	// fp32       32768 -> 32768 bytes, error 0
	// fp16       32768 -> 16384 bytes, error 0
	// int8+zstd  32768 ->    15 bytes, error 0
}
