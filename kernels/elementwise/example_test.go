package elementwise_test

import (
	"fmt"

	"github.com/edgedl/edgedl/kernels/elementwise"
)

// A convolution or Gemm kernel fuses its activation by applying it to each
// output tile while the tile is still in cache.
func ExampleActivation() {
	relu6, err := elementwise.NewActivation("Clip", 0, 6) // Clip's alpha is min, beta is max
	if err != nil {
		panic(err)
	}
	tile := []float32{-1, 0.5, 3, 9}
	relu6.Apply(tile)
	fmt.Println(tile)

	hs, _ := elementwise.DefaultActivation("HardSigmoid") // alpha 0.2, beta 0.5
	hs.Apply(tile)
	fmt.Println(tile)
	// Output:
	// [0 0.5 3 6]
	// [0.5 0.6 1 1]
}

func ExampleApplyActivation() {
	x := []float32{-2, -1, 0, 1}
	if err := elementwise.ApplyActivation("LeakyRelu", 0.1, 0, x); err != nil {
		panic(err)
	}
	fmt.Println(x)
	// Output: [-0.2 -0.1 0 1]
}
