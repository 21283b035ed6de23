package node_test

import (
	"path/filepath"
	"testing"

	"github.com/edgedl/edgedl/datasets/mnist"
	"github.com/edgedl/edgedl/internal/testenv"
	_ "github.com/edgedl/edgedl/kernels/all"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/partition"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/transport/codec"
)

// TestInt8UplinkMNIST splits the shared mnist_cnn after its first pooling
// layer, sends the activation through the int8 codec, and checks the
// issue's figure on the whole MNIST test set: uplink bytes >= 3.5x smaller
// than fp32 and top-1 unchanged on >= 99% of the images.
func TestInt8UplinkMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("full MNIST test set; skipped in -short mode")
	}
	m, err := onnx.Load(filepath.Join(testenv.Shared(t), "models", "mnist_cnn", "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := runtime.Compile(m, runtime.Options{Threads: 2, NoOptimize: true})
	if err != nil {
		t.Fatal(err)
	}
	in, _ := plain.SyntheticInputs(runtime.SyntheticOptions{Batch: 1})
	si, err := plain.InferShapes(in)
	plain.Close()
	if err != nil {
		t.Fatal(err)
	}
	d := partition.NewDAG(m.Graph)
	d.SetSizes(partition.SizesFromShapes(si))
	var cut partition.Cut
	for _, c := range d.Cuts() {
		if c.After == "/pool/MaxPool" || c.After == "/MaxPool" {
			cut = c
			break
		}
	}
	if cut.After == "" {
		cut = d.Cuts()[3]
	}
	head, tail, err := partition.Split(m, cut, partition.TypesFromShapes(si))
	if err != nil {
		t.Fatal(err)
	}
	hs, err := runtime.Compile(head, runtime.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer hs.Close()
	ts, err := runtime.Compile(tail, runtime.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	full, err := runtime.Compile(m, runtime.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	c8, err := codec.Get("int8")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := mnist.Dir()
	if err != nil {
		t.Fatal(err)
	}
	set, err := mnist.Load(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	var fp32Bytes, int8Bytes, same int
	const bs = 1
	n := set.Len()
	for i := 0; i < n; i += bs {
		x := set.Batch(i, i+bs)
		want, err := full.RunOrdered([]*tensor.Tensor{x}, nil)
		if err != nil {
			t.Fatal(err)
		}
		acts, err := hs.RunOrdered([]*tensor.Tensor{x}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var sent []*tensor.Tensor
		for _, a := range acts {
			payload, params, err := c8.Encode(a)
			if err != nil {
				t.Fatal(err)
			}
			fp32Bytes += a.Len() * 4
			int8Bytes += len(payload)
			back, err := c8.Decode(payload, a.DType, a.Shape, params)
			if err != nil {
				t.Fatal(err)
			}
			sent = append(sent, back)
		}
		got, err := ts.RunOrdered(sent, nil)
		if err != nil {
			t.Fatal(err)
		}
		if top1(got[0].F32()) == top1(want[0].F32()) {
			same++
		}
	}
	ratio := float64(fp32Bytes) / float64(int8Bytes)
	agree := float64(same) / float64(n)
	t.Logf("cut %d after %s: int8 uplink %.2fx smaller than fp32 (payload bytes, per-image scale/zero point in parameters); top-1 unchanged on %.2f%% of %d images",
		cut.Index, cut.After, ratio, 100*agree, n)
	if ratio < 3.5 || agree < 0.99 {
		t.Errorf("ratio %.2f (want >= 3.5), top-1 agreement %.4f (want >= 0.99)", ratio, agree)
	}
}

func top1(v []float32) int {
	b := 0
	for i := range v {
		if v[i] > v[b] {
			b = i
		}
	}
	return b
}
