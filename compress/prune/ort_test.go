//go:build ort

package prune

import (
	"path/filepath"
	"testing"

	"github.com/edgedl/edgedl/compress"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/runtime"
)

// ONNX Runtime runs the channel-pruned mnist_cnn and the 90%-sparse one
// stored with sparse initializers, with edgedl's accuracy.
func TestORTAgreesPruned(t *testing.T) {
	m := loadShared(t, "mnist_cnn")
	eval, err := compress.MNIST(mnistTest(t), 0, 10000, 1000)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ch, _, err := Channels(m, ChannelOptions{Ratio: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	chPath := filepath.Join(dir, "channels50.onnx")
	if err := onnx.Save(chPath, ch); err != nil {
		t.Fatal(err)
	}
	sp, _, err := Magnitude(m, MagnitudeOptions{Sparsity: 0.9, Scope: Global})
	if err != nil {
		t.Fatal(err)
	}
	spPath := filepath.Join(dir, "sparse90.onnx")
	names, err := SaveSparse(spPath, sp, 0.7)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{chPath, spPath} {
		mm, err := onnx.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		s, err := runtime.Compile(mm, runtime.Options{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		ours, err := compress.Accuracy(s, eval)
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := compress.ORTAccuracy(path, eval, 2)
		if err != nil {
			t.Fatal(err)
		}
		size, _ := compress.FileSize(path)
		t.Logf("%s: %d bytes; edgedl %.2f%%, ONNX Runtime %.2f%%", filepath.Base(path), size, 100*ours, 100*theirs)
		if ours != theirs {
			t.Errorf("%s: accuracy %.4f vs %.4f", path, ours, theirs)
		}
	}
	t.Logf("sparse initializers: %v", names)
}
