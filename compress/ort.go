//go:build ort

package compress

import (
	"fmt"
	"time"

	"github.com/edgedl/edgedl/bench"
	"github.com/edgedl/edgedl/bench/ortref"
	"github.com/edgedl/edgedl/tensor"
)

// ORTAccuracy runs the model file with ONNX Runtime (build tag "ort") on
// labelled batches and returns its accuracy, as Accuracy does for edgedl.
func ORTAccuracy(path string, data []Batch, threads int) (float64, error) {
	if len(data) == 0 {
		return 0, ErrNoData
	}
	s, err := ortref.Open(path, threads)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	right, total := 0, 0
	for bi, b := range data {
		if b.Labels == nil {
			return 0, fmt.Errorf("compress: accuracy: batch %d has no labels", bi)
		}
		out, err := s.Run(b.Inputs)
		if err != nil {
			return 0, fmt.Errorf("compress: ONNX Runtime: batch %d: %w", bi, err)
		}
		pred, err := Argmax(out[0])
		if err != nil {
			return 0, err
		}
		for i, p := range pred {
			if i < len(b.Labels) && p == b.Labels[i] {
				right++
			}
		}
		total += len(b.Labels)
	}
	return float64(right) / float64(total), nil
}

// ORTLatency is ONNX Runtime's median latency on inputs (build tag "ort").
func ORTLatency(path string, inputs []*tensor.Tensor, runs, threads int) (time.Duration, error) {
	s, err := ortref.Open(path, threads)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	res, err := bench.Time(func() error {
		_, err := s.Run(inputs)
		return err
	}, bench.Options{Runs: runs})
	if err != nil {
		return 0, err
	}
	return time.Duration(res.MedianMS * float64(time.Millisecond)), nil
}
