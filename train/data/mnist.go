package data

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/edgedl/edgedl/datasets/mnist"
)

// FashionMNISTDefaultDir is where Debian's dataset-fashion-mnist package
// installs the IDX files.
const FashionMNISTDefaultDir = "/usr/share/datasets/fashion-mnist"

// FashionMNISTClasses names Fashion-MNIST's labels.
var FashionMNISTClasses = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

// MNISTDir locates the MNIST files (see datasets/mnist.Dir).
func MNISTDir() (string, error) { return mnist.Dir() }

// FashionMNISTDir returns $EDGEDL_FASHION_MNIST_DIR or the Debian location.
func FashionMNISTDir() string {
	if d := os.Getenv("EDGEDL_FASHION_MNIST_DIR"); d != "" {
		return d
	}
	return FashionMNISTDefaultDir
}

// MNIST loads the "train" or "test" split from dir as [1,28,28] samples in
// [0,1] with labels 0..9.
func MNIST(dir, split string) (*InMemory, error) {
	s, err := mnist.Load(dir, split)
	if err != nil {
		return nil, err
	}
	return fromIDX(s), nil
}

// FashionMNIST loads the "train" or "test" split of Fashion-MNIST from dir
// (same IDX layout as MNIST). A missing directory is reported with the way
// to get it.
func FashionMNIST(dir, split string) (*InMemory, error) {
	probe := filepath.Join(dir, "train-images-idx3-ubyte.gz")
	if _, err := os.Stat(probe); errors.Is(err, os.ErrNotExist) {
		if _, err2 := os.Stat(filepath.Join(dir, "train-images-idx3-ubyte")); err2 != nil {
			return nil, fmt.Errorf("data: Fashion-MNIST not found in %s (install Debian's dataset-fashion-mnist, "+
				"which puts it in %s, or set EDGEDL_FASHION_MNIST_DIR)", dir, FashionMNISTDefaultDir)
		}
		return nil, fmt.Errorf("data: %s holds uncompressed IDX files; the loader reads the .gz ones", dir)
	}
	s, err := mnist.Load(dir, split)
	if err != nil {
		return nil, err
	}
	d := fromIDX(s)
	d.Classes = FashionMNISTClasses
	return d, nil
}

func fromIDX(s *mnist.Set) *InMemory {
	y := make([]int, len(s.Labels))
	for i, l := range s.Labels {
		y[i] = int(l)
	}
	return &InMemory{X: s.Images.F32(), SampleShape: s.Images.Shape[1:], Y: y}
}
