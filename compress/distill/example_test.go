package distill_test

import (
	"fmt"

	"github.com/edgedl/edgedl/compress/distill"
	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/train/data"
)

// The loss of one sample whose student is unsure (equal logits) while the
// teacher prefers class 0, and its gradient: the soft term pulls the
// student towards the teacher's softened distribution, the hard term
// towards the label. (By hand: ln 3 = 1.0986; softmax([2 0 0]) =
// [0.7870 0.1065 0.1065], so T²·KL = 4·0.4330 and T·(q-p)[0] = -0.9073.)
func ExampleLoss() {
	student := tensor.Float32s([]int{1, 3}, []float32{0, 0, 0})
	teacher := tensor.Float32s([]int{1, 3}, []float32{4, 0, 0})
	b := &data.Batch{Labels: []int{0}, Index: []int{0}, Y: teacher}
	grad := make([]float32, 3)
	for _, l := range []distill.Loss{{Temperature: 1, Alpha: 0}, {Temperature: 2, Alpha: 1}, {Temperature: 2, Alpha: 0.5}} {
		v, err := l.Eval(student, b, grad)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%v: loss %.4f, gradient [%.4f %.4f %.4f]\n", l, v, grad[0], grad[1], grad[2])
	}
	// Output:
	// distillation (T=1, alpha=0): loss 1.0986, gradient [-0.6667 0.3333 0.3333]
	// distillation (T=2, alpha=1): loss 1.7322, gradient [-0.9073 0.4537 0.4537]
	// distillation (T=2, alpha=0.5): loss 1.4154, gradient [-0.7870 0.3935 0.3935]
}
