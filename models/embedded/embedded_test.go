package embedded

import "testing"

func TestEmbedded(t *testing.T) {
	m, err := MNISTModel()
	if err != nil {
		t.Fatal(err)
	}
	if m.Graph.Inputs[0].ShapeString() != "[batch,1,28,28]" {
		t.Errorf("input shape %s", m.Graph.Inputs[0].ShapeString())
	}
	x, labels, err := MNISTSamples()
	if err != nil {
		t.Fatal(err)
	}
	if x.Shape[0] != 200 || len(labels) != 200 || labels[0] != 7 {
		// The first MNIST test digit is a 7.
		t.Errorf("samples %v, first label %d", x.Shape, labels[0])
	}
}
