package codebook_test

import (
	"fmt"

	"github.com/edgedl/edgedl/compress/codebook"
	"github.com/edgedl/edgedl/compress/internal/testmodels"
	"github.com/edgedl/edgedl/compress/prune"
	_ "github.com/edgedl/edgedl/kernels/all"
	"github.com/edgedl/edgedl/runtime"
)

// Deep Compression without retraining: prune, share weights with 3-bit
// codebooks, entropy-code, and load the container back into the runtime.
func ExampleEncode() {
	m := testmodels.CNN(1, false)
	p, _, _ := prune.Magnitude(m, prune.MagnitudeOptions{Sparsity: 0.8})
	b, rep, err := codebook.Encode(p, codebook.Options{Bits: 3, MinElements: 64})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range rep.Tensors {
		fmt.Printf("%s: %d of %d weights coded with %d shared values\n", t.Name, t.NonZero, t.Elements, t.Codebook)
	}
	d, err := codebook.Decode(b, codebook.DecodeOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := runtime.Compile(d, runtime.Options{Threads: 1})
	fmt.Println("runs:", err == nil)
	s.Close()
	// Output:
	// c1.w: 29 of 144 weights coded with 8 shared values
	// c2.w: 86 of 432 weights coded with 8 shared values
	// f1.w: 192 of 960 weights coded with 8 shared values
	// runs: true
}
