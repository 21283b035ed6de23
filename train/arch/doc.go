// Package arch builds the reference network architectures of edgedl's
// experiments as graph.Models, ready for train.Compile, onnx.Save and
// runtime.Compile.
//
// Every model takes one float32 input named "input" with a symbolic batch
// dimension and returns logits named "logits". The MNIST family takes
// [batch,1,28,28] pixels in [0,1]. Parameters are named like PyTorch's
// state dict ("conv1.weight", "fc2.bias") and initialised like PyTorch's
// defaults: weights and biases of Conv and Linear layers uniform in
// ±1/sqrt(fan_in) (kaiming_uniform with a=sqrt(5)), from a seeded PCG, so
// the same seed gives the same model.
//
//	m, _ := arch.Build("mnist-cnn", 1)
//	p, _ := train.Compile(m, train.Options{})
package arch
