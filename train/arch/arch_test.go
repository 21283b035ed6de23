package arch

import (
	"fmt"
	"testing"

	_ "github.com/edgedl/edgedl/kernels/all"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

func TestParamCounts(t *testing.T) {
	want := map[string]int{"mnist-cnn": 1663370, "mnist-2nn": 199210, "lenet-300-100": 266610, "lenet-5": 431080}
	for name, n := range want {
		m, err := Build(name, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := NumParams(m); got != n {
			t.Errorf("%s: %d parameters, want %d", name, got, n)
		}
	}
	if _, err := Build("nope", 1); err == nil {
		t.Error("Build of an unknown name succeeded")
	}
}

func TestRuntimeRunsModels(t *testing.T) {
	x := tensor.New(tensor.Float32, 3, 1, 28, 28)
	for i := range x.F32() {
		x.F32()[i] = float32(i%29) / 29
	}
	for _, name := range Names() {
		m, _ := Build(name, 7)
		b, err := onnx.Encode(m)
		if err != nil {
			t.Fatalf("%s: encode: %v", name, err)
		}
		m2, err := onnx.Decode(b, "")
		if err != nil {
			t.Fatalf("%s: decode: %v", name, err)
		}
		s, err := runtime.Compile(m2, runtime.Options{Threads: 1})
		if err != nil {
			t.Fatalf("%s: compile: %v", name, err)
		}
		out, err := s.RunOrdered([]*tensor.Tensor{x}, nil)
		s.Close()
		if err != nil {
			t.Fatalf("%s: run: %v", name, err)
		}
		if fmt.Sprint(out[0].Shape) != "[3 10]" {
			t.Errorf("%s: output shape %v", name, out[0].Shape)
		}
	}
	ts := TimeSeriesCNN(6, 100, 4, 1)
	s, err := runtime.Compile(ts, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.RunOrdered([]*tensor.Tensor{tensor.New(tensor.Float32, 2, 6, 100)}, nil)
	if err != nil || fmt.Sprint(out[0].Shape) != "[2 4]" {
		t.Fatalf("ts-cnn: %v %v", out, err)
	}
}

func TestSeedDeterminism(t *testing.T) {
	a, b, c := MNIST2NN(3), MNIST2NN(3), MNIST2NN(4)
	wa, wb, wc := a.Graph.Initializers["fc1.weight"].F32(), b.Graph.Initializers["fc1.weight"].F32(), c.Graph.Initializers["fc1.weight"].F32()
	if wa[17] != wb[17] || wa[17] == wc[17] {
		t.Errorf("seeded init: %v %v %v", wa[17], wb[17], wc[17])
	}
}

func ExampleBuild() {
	m, err := Build("mnist-cnn", 1)
	if err != nil {
		panic(err)
	}
	fmt.Println(m.Graph.Inputs[0].ShapeString(), "->", m.Graph.Outputs[0].ShapeString(), NumParams(m))
	// Output: [batch,1,28,28] -> [batch,10] 1663370
}
