package mnist

import "testing"

func TestLoad(t *testing.T) {
	dir, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Load(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 10000 || s.Images.Shape[2] != 28 {
		t.Fatalf("test split: %d images %v", s.Len(), s.Images.Shape)
	}
	counts := make([]int, 10)
	for _, l := range s.Labels {
		counts[l]++
	}
	// MNIST's test split has 980 zeros and 1135 ones.
	if counts[0] != 980 || counts[1] != 1135 {
		t.Errorf("label counts %v", counts)
	}
	b := s.Batch(3, 5)
	if b.Shape[0] != 2 || b.Len() != 2*784 {
		t.Errorf("batch %v", b.Shape)
	}
}
