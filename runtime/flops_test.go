package runtime_test

import (
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/runtime"
)

func TestNodeFLOPs(t *testing.T) {
	n := func(op string, attrs ...*graph.Attr) *graph.Node {
		m := map[string]*graph.Attr{}
		for _, a := range attrs {
			m[a.Name] = a
		}
		return &graph.Node{OpType: op, Attrs: m}
	}
	s := func(dims ...int) []int { return dims }
	cases := []struct {
		name    string
		node    *graph.Node
		in, out [][]int
		want    int64
	}{
		// 2 * out(1*8*5*5) * C/g(3) * 3*3
		{"conv", n("Conv"), [][]int{s(1, 3, 7, 7), s(8, 3, 3, 3), s(8)}, [][]int{s(1, 8, 5, 5)}, 2 * 200 * 27},
		// depthwise: weight [8,1,3,3]
		{"depthwise conv", n("Conv"), [][]int{s(1, 8, 5, 5), s(8, 1, 3, 3)}, [][]int{s(1, 8, 5, 5)}, 2 * 200 * 9},
		{"qlinearconv", n("QLinearConv"), [][]int{s(1, 3, 7, 7), nil, nil, s(8, 3, 3, 3)}, [][]int{s(1, 8, 5, 5)}, 2 * 200 * 27},
		// 2 * in(1*4*3*3) * M/g(2) * 2*2
		{"convtranspose", n("ConvTranspose"), [][]int{s(1, 4, 3, 3), s(4, 2, 2, 2)}, [][]int{s(1, 2, 6, 6)}, 2 * 36 * 8},
		{"gemm", n("Gemm"), [][]int{s(2, 5), s(5, 7), s(7)}, [][]int{s(2, 7)}, 2 * 2 * 7 * 5},
		{"gemm transA", n("Gemm", &graph.Attr{Name: "transA", Type: graph.AttrInt, Int: 1}), [][]int{s(5, 2), s(5, 7)}, [][]int{s(2, 7)}, 2 * 2 * 7 * 5},
		{"batched matmul", n("MatMul"), [][]int{s(3, 2, 4), s(4, 6)}, [][]int{s(3, 2, 6)}, 2 * 36 * 4},
		{"matvec", n("MatMul"), [][]int{s(4), s(4, 6)}, [][]int{s(6)}, 2 * 6 * 4},
		// seq 5, batch 2, 1 direction, 4 gates * hidden 3, input 6 + hidden 3
		{"lstm", n("LSTM"), [][]int{s(5, 2, 6), s(1, 12, 6), s(1, 12, 3)}, [][]int{s(5, 1, 2, 3)}, 2 * 5 * 2 * 12 * 9},
		{"einsum matmul", n("Einsum", &graph.Attr{Name: "equation", Type: graph.AttrString, String: "ij,jk->ik"}),
			[][]int{s(2, 3), s(3, 4)}, [][]int{s(2, 4)}, 2 * 2 * 3 * 4},
		{"einsum transpose", n("Einsum", &graph.Attr{Name: "equation", Type: graph.AttrString, String: "ij->ji"}),
			[][]int{s(2, 3)}, [][]int{s(3, 2)}, 6},
		{"maxpool", n("MaxPool"), [][]int{s(1, 2, 4, 4)}, [][]int{s(1, 2, 2, 2)}, 32},
		{"global pool", n("GlobalAveragePool"), [][]int{s(1, 8, 7, 7)}, [][]int{s(1, 8, 1, 1)}, 392},
		{"reduce", n("ReduceMean"), [][]int{s(3, 4), s(1)}, [][]int{s(3)}, 12},
		{"relu", n("Relu"), [][]int{s(2, 3)}, [][]int{s(2, 3)}, 6},
		{"broadcast add", n("Add"), [][]int{s(2, 3), s(3)}, [][]int{s(2, 3)}, 6},
		{"scalar", n("Neg"), [][]int{{}}, [][]int{{}}, 1},
		{"reshape", n("Reshape"), [][]int{s(2, 3), s(2)}, [][]int{s(3, 2)}, 0},
		{"unknown shapes", n("Conv"), [][]int{nil, nil}, [][]int{nil}, 0},
		// Pre-packed weights: attributes stand in for the weight's shape.
		{"conv packed weight", n("Conv", &graph.Attr{Name: "kernel_shape", Type: graph.AttrInts, Ints: []int64{3, 3}},
			&graph.Attr{Name: "group", Type: graph.AttrInt, Int: 8}),
			[][]int{s(1, 8, 5, 5), nil}, [][]int{s(1, 8, 5, 5)}, 2 * 200 * 9},
		{"convtranspose packed weight", n("ConvTranspose", &graph.Attr{Name: "kernel_shape", Type: graph.AttrInts, Ints: []int64{2, 2}}),
			[][]int{s(1, 4, 3, 3), nil}, [][]int{s(1, 2, 6, 6)}, 2 * 36 * 8},
		{"gemm packed A", n("Gemm", &graph.Attr{Name: "transB", Type: graph.AttrInt, Int: 1}), [][]int{nil, s(7, 5)}, [][]int{s(2, 7)}, 2 * 2 * 7 * 5},
		{"matmul packed A", n("MatMul"), [][]int{nil, s(4, 6)}, [][]int{s(3, 2, 6)}, 2 * 36 * 4},
		{"bidirectional gru packed", n("GRU", &graph.Attr{Name: "hidden_size", Type: graph.AttrInt, Int: 3},
			&graph.Attr{Name: "direction", Type: graph.AttrString, String: "bidirectional"}),
			[][]int{s(5, 2, 6), nil, nil}, [][]int{s(5, 2, 2, 3)}, 2 * 5 * 2 * 2 * 9 * 9},
		// An activation fused by the optimizer adds one FLOP per output.
		{"conv+relu", n("Conv", &graph.Attr{Name: runtime.AttrActivation, Type: graph.AttrString, String: "Relu"}),
			[][]int{s(1, 3, 7, 7), s(8, 3, 3, 3)}, [][]int{s(1, 8, 5, 5)}, 2*200*27 + 200},
		{"custom domain", &graph.Node{OpType: "Conv", Domain: "my.ops"}, [][]int{s(9, 9)}, [][]int{s(2, 2), s(3)}, 7},
	}
	for _, c := range cases {
		if got := runtime.NodeFLOPs(c.node, c.in, c.out); got != c.want {
			t.Errorf("%s: %d FLOPs, want %d", c.name, got, c.want)
		}
	}
	for op, want := range map[string]string{"Conv": "macs", "Softmax": "reduce", "Transpose": "none", "Sigmoid": "elementwise"} {
		if got := runtime.FLOPsClass(op); got != want {
			t.Errorf("FLOPsClass(%s) = %s, want %s", op, got, want)
		}
	}
}
