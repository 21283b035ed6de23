// Package embedded ships a small model inside the edgedl binary so that the
// default demo needs no files and no network: a 28k-parameter MNIST CNN
// trained by tools/train_demo_model.py (97.9% test accuracy), and the first
// 200 MNIST test digits with their labels.
package embedded

import (
	_ "embed"
	"fmt"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/tensor"
)

//go:embed mnist_small.onnx
var mnistSmall []byte

//go:embed mnist_samples.pb
var mnistSamples []byte

//go:embed mnist_labels.pb
var mnistLabels []byte

// MNISTModelBytes is the serialized ONNX model (input "input" [batch,1,28,28]
// pixels in [0,1]; output "logits" [batch,10]).
func MNISTModelBytes() []byte { return mnistSmall }

// MNISTModel decodes the embedded model.
func MNISTModel() (*graph.Model, error) { return onnx.Decode(mnistSmall, "") }

// MNISTSamples returns the embedded digits as float32 [200,1,28,28] in [0,1]
// and their labels.
func MNISTSamples() (*tensor.Tensor, []uint8, error) {
	raw, _, err := onnx.DecodeTensor(mnistSamples)
	if err != nil {
		return nil, nil, err
	}
	lab, _, err := onnx.DecodeTensor(mnistLabels)
	if err != nil {
		return nil, nil, err
	}
	px, ok := raw.Data.([]uint8)
	labels, ok2 := lab.Data.([]uint8)
	if !ok || !ok2 || raw.Shape[0] != len(labels) {
		return nil, nil, fmt.Errorf("embedded: sample files are inconsistent")
	}
	f := make([]float32, len(px))
	for i, p := range px {
		f[i] = float32(p) / 255
	}
	return tensor.Float32s(raw.Shape, f), labels, nil
}
