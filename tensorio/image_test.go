package tensorio

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgedl/edgedl/tensor"
)

func pngBytes(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func near(a, b float32) bool { return math.Abs(float64(a-b)) < 1e-5 }

// A 2x1 PNG decoded and normalised with ImageNet's mean and std gives
// (v/255-mean)/std per channel, in NCHW and NHWC order.
func TestImageTensorNormalises(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	img.Set(0, 0, color.NRGBA{255, 0, 51, 255})
	img.Set(1, 0, color.NRGBA{0, 102, 255, 255})
	dec, err := DecodeImage(bytes.NewReader(pngBytes(t, img)))
	if err != nil {
		t.Fatal(err)
	}
	mean := []float32{0.485, 0.456, 0.406}
	std := []float32{0.229, 0.224, 0.225}
	x, err := ImageTensor(dec, ImageOptions{Mean: mean, Std: std})
	if err != nil {
		t.Fatal(err)
	}
	if x.DType != tensor.Float32 || !tensor.EqualShapes(x.Shape, []int{1, 3, 1, 2}) {
		t.Fatalf("got %v%v, want float32[1,3,1,2]", x.DType, x.Shape)
	}
	pix := [2][3]float32{{255, 0, 51}, {0, 102, 255}}
	for c := 0; c < 3; c++ {
		for i := 0; i < 2; i++ {
			want := (pix[i][c]/255 - mean[c]) / std[c]
			if got := x.F32()[c*2+i]; !near(got, want) {
				t.Errorf("nchw c=%d x=%d: %v, want %v", c, i, got, want)
			}
		}
	}
	y, err := ImageTensor(dec, ImageOptions{Layout: "NHWC", Mean: mean, Std: std, NoBatch: true})
	if err != nil {
		t.Fatal(err)
	}
	if !tensor.EqualShapes(y.Shape, []int{1, 2, 3}) {
		t.Fatalf("nhwc shape %v", y.Shape)
	}
	for c := 0; c < 3; c++ {
		for i := 0; i < 2; i++ {
			if y.F32()[i*3+c] != x.F32()[c*2+i] {
				t.Errorf("nhwc c=%d x=%d differs from nchw", c, i)
			}
		}
	}
	// Raw bytes for uint8 models; scale 1 keeps 0..255.
	u, _ := ImageTensor(dec, ImageOptions{DType: tensor.Uint8})
	if got := u.Data.([]uint8); got[0] != 255 || got[3] != 102 || got[5] != 255 {
		t.Errorf("uint8 pixels %v", got)
	}
	s, _ := ImageTensor(dec, ImageOptions{Scale: 1})
	if s.F32()[4] != 51 {
		t.Errorf("scale 1: %v", s.F32())
	}
}

func TestImageTensorGrayscale(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 1, 2))
	img.Set(0, 0, color.RGBA{100, 200, 50, 255})
	img.Set(0, 1, color.RGBA{255, 255, 255, 255})
	x, err := ImageTensor(img, ImageOptions{Channels: 1, Scale: 1})
	if err != nil {
		t.Fatal(err)
	}
	// PIL's convert("L"): round(0.299R+0.587G+0.114B).
	if want := []float32{153, 255}; !tensor.EqualShapes(x.Shape, []int{1, 1, 2, 1}) || x.F32()[0] != want[0] || x.F32()[1] != want[1] {
		t.Errorf("grayscale %v, want %v", x, want)
	}
	g := image.NewGray(image.Rect(0, 0, 2, 1))
	g.Pix = []uint8{7, 250}
	x, _ = ImageTensor(g, ImageOptions{Channels: 1})
	if !near(x.F32()[0], 7.0/255) || !near(x.F32()[1], 250.0/255) {
		t.Errorf("gray image %v", x)
	}
	x, _ = ImageTensor(g, ImageOptions{Scale: 1}) // gray to RGB repeats the value
	if got := x.F32(); got[0] != 7 || got[2] != 7 || got[4] != 7 {
		t.Errorf("gray as RGB %v", got)
	}
}

func TestResizeMatchesPILBilinear(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 2, 1))
	g.Pix = []uint8{0, 100}
	x, err := ImageTensor(g, ImageOptions{Channels: 1, Scale: 1, Width: 4, Height: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Half-pixel centres: 0, 25, 75, 100 (what PIL's resize((4,1), BILINEAR) gives).
	for i, want := range []float32{0, 25, 75, 100} {
		if x.F32()[i] != want {
			t.Errorf("upscale %v, want [0 25 75 100]", x.F32())
			break
		}
	}
	// Shrinking 4->2 averages with the widened triangle filter: the
	// weights over [10 20 30 40] for the first output are 3/8,3/8,1/4... of
	// PIL's support-2 kernel centred at 1.0: 1-|x-1+0.5|/2 for x=0,1,2 =
	// 0.75, 0.75, 0.25 -> (7.5+15+7.5)/1.75 = 17.14 -> 17.
	g4 := image.NewGray(image.Rect(0, 0, 4, 1))
	g4.Pix = []uint8{10, 20, 30, 40}
	x, _ = ImageTensor(g4, ImageOptions{Channels: 1, Scale: 1, Width: 2, Height: 1})
	if x.F32()[0] != 17 || x.F32()[1] != 33 {
		t.Errorf("downscale %v, want [17 33]", x.F32())
	}
	// Short side then centre crop (torchvision's Resize(4) + CenterCrop(2)).
	big := image.NewGray(image.Rect(0, 0, 8, 4))
	for i := range big.Pix {
		big.Pix[i] = uint8(i)
	}
	x, err = ImageTensor(big, ImageOptions{Channels: 1, Scale: 1, ShortSide: 2, CropWidth: 2, CropHeight: 2})
	if err != nil || !tensor.EqualShapes(x.Shape, []int{1, 1, 2, 2}) {
		t.Fatalf("short side + crop: %v, %v", x, err)
	}
}

func TestLoadImageJPEG(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for i := 0; i < len(img.Pix); i += 4 {
		copy(img.Pix[i:], []uint8{200, 100, 50, 255})
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "x.jpg")
	os.WriteFile(p, b.Bytes(), 0o644)
	dec, err := LoadImage(p)
	if err != nil {
		t.Fatal(err)
	}
	x, err := ImageTensor(dec, ImageOptions{Scale: 1, Width: 8, Height: 8})
	if err != nil {
		t.Fatal(err)
	}
	for c, want := range []float32{200, 100, 50} {
		if got := x.F32()[c*64+27]; math.Abs(float64(got-want)) > 3 {
			t.Errorf("channel %d: %v, want about %v", c, got, want)
		}
	}
	os.WriteFile(p, []byte("not an image"), 0o644)
	if _, err := LoadImage(p); err == nil || !strings.HasPrefix(err.Error(), p+": tensorio: decoding image") {
		t.Errorf("bad image error: %v", err)
	}
}

func TestImageTensorErrors(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 2, 2))
	for _, c := range []struct {
		opts ImageOptions
		want string
	}{
		{ImageOptions{Channels: 2}, "1, 3 or 4 channels"},
		{ImageOptions{Mean: []float32{1, 2}}, "mean has 2 values for 3 channels"},
		{ImageOptions{Std: []float32{0}}, "std must not be 0"},
		{ImageOptions{Layout: "chw"}, "unknown layout"},
		{ImageOptions{Width: 3}, "both width and height"},
		{ImageOptions{CropWidth: 3, CropHeight: 1}, "cannot crop 3x1 out of a 2x2 image"},
		{ImageOptions{DType: tensor.Int64}, "float32 or uint8"},
	} {
		if _, err := ImageTensor(img, c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.opts, err, c.want)
		}
	}
}
