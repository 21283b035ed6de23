package arch

import "testing"

func TestDPCNNParams(t *testing.T) {
	m, err := Build("dp-cnn", 1)
	if err != nil {
		t.Fatal(err)
	}
	// conv1 16·1·8·8+16, conv2 32·16·4·4+32, fc1 512·32+32, fc2 32·10+10
	if got, want := NumParams(m), 1040+8224+16416+330; got != want {
		t.Errorf("dp-cnn: %d parameters, want %d", got, want)
	}
}
