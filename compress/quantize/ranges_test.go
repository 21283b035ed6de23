package quantize

import (
	"bytes"
	"math"
	"testing"

	"github.com/edgedl/edgedl/compress"
	"github.com/edgedl/edgedl/compress/internal/testmodels"
	"github.com/edgedl/edgedl/onnx"
)

// FromRanges with the ranges a calibration measured writes the same QDQ
// model as that calibration; bad ranges are errors.
func TestFromRanges(t *testing.T) {
	m := testmodels.Residual(3)
	var calib []compress.Batch
	for _, in := range testmodels.Inputs(m, 1, 3, 4, false) {
		calib = append(calib, compress.Batch{Inputs: in})
	}
	c, err := Calibrate(m, calib, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	want, err := c.QDQ()
	if err != nil {
		t.Fatal(err)
	}
	c2, err := FromRanges(c.Model(), c.Ranges(), Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c2.QDQ()
	if err != nil {
		t.Fatal(err)
	}
	a, _ := onnx.Encode(want)
	b, _ := onnx.Encode(got)
	if !bytes.Equal(a, b) {
		t.Error("FromRanges(calibrated ranges) wrote a different model than the calibration")
	}
	r := c.Ranges()
	for name, bad := range map[string]Range{
		"no-such-value": {0, 1},
		"x":             {2, 1},
	} {
		rr := map[string]Range{name: bad}
		if _, err := FromRanges(m, rr, Options{Logger: quiet}); err == nil {
			t.Errorf("range %v for %q accepted", bad, name)
		}
	}
	r["x"] = Range{float32(math.NaN()), 1}
	if _, err := FromRanges(m, r, Options{Logger: quiet}); err == nil {
		t.Error("NaN range accepted")
	}
	if _, err := FromRanges(m, nil, Options{Logger: quiet}); err == nil {
		t.Error("no ranges accepted")
	}
}
