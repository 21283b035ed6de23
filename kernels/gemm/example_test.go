package gemm_test

import (
	"fmt"

	"github.com/edgedl/edgedl/kernels/gemm"
)

func ExampleSgemm() {
	// C[2×2] = A[2×3] · B[3×2]
	a := []float32{1, 2, 3, 4, 5, 6}
	b := []float32{1, 0, 0, 1, 1, 1}
	c := make([]float32, 4)
	gemm.Sgemm(false, false, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2)
	fmt.Println(c)
	// Output: [4 5 10 11]
}

// A 1×1 convolution with 2 output channels over 3 input channels and 4
// pixels, with bias and ReLU: the weights are packed once, as A.
func ExampleSgemmPackedA() {
	const cout, cin, hw = 2, 3, 4
	weights := []float32{ // [cout × cin]
		1, 0, -1,
		0.5, 0.5, 0.5,
	}
	bias := []float32{0, -1}
	pw := gemm.PackA(false, cout, cin, weights, cin) // at build time

	x := []float32{ // [cin × hw]
		1, 2, 3, 4,
		1, 1, 1, 1,
		4, 3, 2, 1,
	}
	y := make([]float32, cout*hw)
	opt := &gemm.Options{Epilogue: gemm.Epilogue{RowBias: bias, Act: gemm.ActReLU}}
	// opt.Parallel = ctx.Parallel to use the engine's worker pool.
	gemm.SgemmPackedA(cout, hw, cin, 1, pw, false, x, hw, 0, y, hw, opt)
	fmt.Println(y)
	// Output: [0 0 1 3 2 2 2 2]
}

// A fully connected layer y = x·W + b with W[K×N] packed once, as B.
func ExampleSgemmPackedB() {
	const batch, k, n = 1, 2, 3
	w := []float32{1, 2, 3, 4, 5, 6}
	pw := gemm.PackB(false, k, n, w, n)
	x := []float32{1, 1}
	y := make([]float32, batch*n)
	opt := &gemm.Options{Epilogue: gemm.Epilogue{ColBias: []float32{0.5, 0.5, 0.5}}}
	gemm.SgemmPackedB(false, batch, n, k, 1, x, k, pw, 0, y, n, opt)
	fmt.Println(y)
	// Output: [5.5 7.5 9.5]
}
