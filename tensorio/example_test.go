package tensorio_test

import (
	"bytes"
	"fmt"
	"image"
	"image/color"

	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/tensorio"
)

// An array written as .npy reads back with its dtype and shape.
func Example() {
	x := tensor.Float32s([]int{2, 2}, []float32{1, 2, 3, 4.5})
	var b bytes.Buffer
	if err := tensorio.WriteNPY(&b, x); err != nil {
		panic(err)
	}
	y, err := tensorio.ReadNPY(&b)
	if err != nil {
		panic(err)
	}
	fmt.Println(y)
	// Output: float32[2 2][1 2 3 4.5]
}

// A 2x2 RGB image becomes a normalised [1,3,1,1] tensor after shrinking.
func ExampleImageTensor() {
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	for y := 0; y < 2; y++ {
		for x := 0; x < 2; x++ {
			img.Set(x, y, color.RGBA{R: 255, G: 128, B: 0, A: 255})
		}
	}
	t, err := tensorio.ImageTensor(img, tensorio.ImageOptions{
		Width: 1, Height: 1,
		Mean: []float32{0.5}, Std: []float32{0.5}, // one value for every channel
	})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%v %.3f\n", t.Shape, t.F32())
	// Output: [1 3 1 1] [1.000 0.004 -1.000]
}
