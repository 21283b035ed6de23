//go:build ort

package main

import (
	"github.com/edgedl/edgedl/bench"
	"github.com/edgedl/edgedl/bench/ortref"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	ortRunner = func(path string, threads int, inputs []*tensor.Tensor) (bench.Runner, func(), error) {
		s, err := ortref.Open(path, threads)
		if err != nil {
			return nil, nil, err
		}
		return func() error { _, err := s.Run(inputs); return err }, s.Close, nil
	}
}
