//go:build ort

// Package ortref runs models with ONNX Runtime (through cgo and
// github.com/yalue/onnxruntime_go), as the reference that edgedl's engine
// is compared with in benchmarks and numerical checks. It is compiled only
// with the build tag "ort", so the default edgedl build stays pure Go.
//
// The shared library comes from the npm package onnxruntime-node
// (scripts/setup-ort.sh installs it); set ONNXRUNTIME_LIB to use another.
package ortref

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/edgedl/edgedl/tensor"
)

var (
	initOnce sync.Once
	initErr  error
)

// LibraryPath finds libonnxruntime.so.1: $ONNXRUNTIME_LIB, or the copy that
// scripts/setup-ort.sh installs under .cache/ort in the repository.
func LibraryPath() (string, error) {
	if p := os.Getenv("ONNXRUNTIME_LIB"); p != "" {
		return p, nil
	}
	arch := map[string]string{"amd64": "x64", "arm64": "arm64"}[runtime.GOARCH]
	rel := filepath.Join(".cache", "ort", "node_modules", "onnxruntime-node", "bin", "napi-v6", "linux", arch, "libonnxruntime.so.1")
	dir, _ := os.Getwd()
	for {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", fmt.Errorf("ortref: libonnxruntime.so.1 not found: run scripts/setup-ort.sh or set ONNXRUNTIME_LIB")
}

func initORT() error {
	initOnce.Do(func() {
		var p string
		if p, initErr = LibraryPath(); initErr != nil {
			return
		}
		ort.SetSharedLibraryPath(p)
		initErr = ort.InitializeEnvironment()
	})
	return initErr
}

// Session is an ONNX Runtime session on one model.
type Session struct {
	s       *ort.DynamicAdvancedSession
	inputs  []string
	outputs []string
}

// Open loads a model with the given intra-op thread count (0: ORT's default).
func Open(path string, threads int) (*Session, error) {
	if err := initORT(); err != nil {
		return nil, err
	}
	ins, outs, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return nil, fmt.Errorf("ortref: %s: %w", path, err)
	}
	s := &Session{}
	for _, i := range ins {
		s.inputs = append(s.inputs, i.Name)
	}
	for _, o := range outs {
		s.outputs = append(s.outputs, o.Name)
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	if threads > 0 {
		if err := opts.SetIntraOpNumThreads(threads); err != nil {
			return nil, err
		}
		if err := opts.SetInterOpNumThreads(1); err != nil {
			return nil, err
		}
	}
	// ORTREF_PROFILE=prefix writes ONNX Runtime's own per-node profile
	// (Chrome trace JSON) next to prefix, for comparing node times.
	if pre := os.Getenv("ORTREF_PROFILE"); pre != "" {
		if err := opts.EnableProfiling(pre); err != nil {
			return nil, err
		}
	}
	s.s, err = ort.NewDynamicAdvancedSession(path, s.inputs, s.outputs, opts)
	if err != nil {
		return nil, fmt.Errorf("ortref: %s: %w", path, err)
	}
	return s, nil
}

// Close releases the session.
func (s *Session) Close() { s.s.Destroy() }

func toORT(t *tensor.Tensor) (ort.Value, error) {
	shape := make(ort.Shape, len(t.Shape))
	for i, d := range t.Shape {
		shape[i] = int64(d)
	}
	switch d := t.Data.(type) {
	case []float32:
		return ort.NewTensor(shape, d)
	case []int64:
		return ort.NewTensor(shape, d)
	case []int32:
		return ort.NewTensor(shape, d)
	case []uint8:
		return ort.NewTensor(shape, d)
	case []int8:
		return ort.NewTensor(shape, d)
	case []float64:
		return ort.NewTensor(shape, d)
	}
	return nil, fmt.Errorf("ortref: input dtype %v not supported", t.DType)
}

func fromORT(v ort.Value) (*tensor.Tensor, error) {
	shape := make([]int, len(v.GetShape()))
	for i, d := range v.GetShape() {
		shape[i] = int(d)
	}
	switch t := v.(type) {
	case *ort.Tensor[float32]:
		return tensor.FromSlice(tensor.Float32, shape, append([]float32(nil), t.GetData()...))
	case *ort.Tensor[int64]:
		return tensor.FromSlice(tensor.Int64, shape, append([]int64(nil), t.GetData()...))
	case *ort.Tensor[uint8]:
		return tensor.FromSlice(tensor.Uint8, shape, append([]uint8(nil), t.GetData()...))
	case *ort.Tensor[int8]:
		return tensor.FromSlice(tensor.Int8, shape, append([]int8(nil), t.GetData()...))
	case *ort.Tensor[int32]:
		return tensor.FromSlice(tensor.Int32, shape, append([]int32(nil), t.GetData()...))
	}
	return nil, fmt.Errorf("ortref: output type %T not supported", v)
}

// Run executes the model on inputs given in graph order.
func (s *Session) Run(inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(inputs) != len(s.inputs) {
		return nil, fmt.Errorf("ortref: model takes %d inputs, got %d", len(s.inputs), len(inputs))
	}
	in := make([]ort.Value, len(inputs))
	for i, t := range inputs {
		v, err := toORT(t)
		if err != nil {
			return nil, err
		}
		defer v.Destroy()
		in[i] = v
	}
	out := make([]ort.Value, len(s.outputs))
	if err := s.s.Run(in, out); err != nil {
		return nil, fmt.Errorf("ortref: %w", err)
	}
	res := make([]*tensor.Tensor, len(out))
	for i, v := range out {
		t, err := fromORT(v)
		v.Destroy()
		if err != nil {
			return nil, err
		}
		res[i] = t
	}
	return res, nil
}
