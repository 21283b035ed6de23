package train

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
)

// Checkpoint is the bookkeeping saved beside the weights: where a run was.
type Checkpoint struct {
	Epoch int   `json:"epoch"` // epochs completed
	Step  int64 `json:"step"`  // optimiser steps completed
	// Optimizer names the optimiser that wrote the state (informative).
	Optimizer string `json:"optimizer"`
	// Privacy records the DP-SGD settings of the run (PrivacySettings; empty
	// without DP). A resumed run must train with the same ones, or the
	// privacy spent before the checkpoint is accounted wrongly.
	Privacy string `json:"privacy,omitempty"`
}

// PrivacySettings describes the DP-SGD settings of cfg on a training set
// of n examples, everything the privacy accounting depends on, or "" when
// cfg does not train with DP.
func PrivacySettings(cfg Config, n int) string {
	if cfg.PerExampleClip <= 0 || cfg.NoiseMultiplier <= 0 {
		return ""
	}
	return fmt.Sprintf("dp-sgd clip=%g noise=%g batch=%d examples=%d poisson=%v", cfg.PerExampleClip,
		cfg.NoiseMultiplier, cfg.Batch, n, cfg.PoissonSampling)
}

// Checkpoint file layout: the magic "EDGEDLCK", a little-endian uint32
// header length, a JSON header (ckHeader), then the float32 values of every
// listed tensor, little-endian, in header order.
const ckMagic = "EDGEDLCK"

// ErrCheckpoint is wrapped by errors about malformed checkpoint files.
var ErrCheckpoint = errors.New("train: bad checkpoint")

type ckTensor struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // param, buffer or slot
	Len  int    `json:"len"`
}

type ckHeader struct {
	Version  int        `json:"version"`
	Run      Checkpoint `json:"run"`
	OptSteps int64      `json:"opt_steps"`
	Tensors  []ckTensor `json:"tensors"`
}

// SaveCheckpoint writes p's parameters and buffers, opt's state (opt may
// be nil) and ck to w.
func SaveCheckpoint(w io.Writer, p *Program, opt Optimizer, ck *Checkpoint) error {
	h := ckHeader{Version: 1}
	if ck != nil {
		h.Run = *ck
	}
	var blobs [][]float32
	for _, v := range p.vars {
		h.Tensors = append(h.Tensors, ckTensor{v.Name, "param", len(v.Data)})
		blobs = append(blobs, v.Data)
	}
	for _, v := range p.bufs {
		h.Tensors = append(h.Tensors, ckTensor{v.Name, "buffer", len(v.Data)})
		blobs = append(blobs, v.Data)
	}
	if opt != nil {
		st := opt.State()
		h.OptSteps = st.Steps
		h.Run.Optimizer = opt.String()
		keys := make([]string, 0, len(st.Slots))
		for k := range st.Slots {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			h.Tensors = append(h.Tensors, ckTensor{k, "slot", len(st.Slots[k])})
			blobs = append(blobs, st.Slots[k])
		}
	}
	hb, err := json.Marshal(h)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	bw.WriteString(ckMagic)
	binary.Write(bw, binary.LittleEndian, uint32(len(hb)))
	bw.Write(hb)
	var buf [4]byte
	for _, b := range blobs {
		for _, f := range b {
			binary.LittleEndian.PutUint32(buf[:], math.Float32bits(f))
			bw.Write(buf[:])
		}
	}
	return bw.Flush()
}

// LoadCheckpoint restores what SaveCheckpoint wrote into p and opt (opt
// may be nil to skip the optimiser state). Every parameter and buffer of p
// must be in the file with the same size.
func LoadCheckpoint(r io.Reader, p *Program, opt Optimizer) (*Checkpoint, error) {
	br := bufio.NewReader(r)
	magic := make([]byte, len(ckMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != ckMagic {
		return nil, fmt.Errorf("%w: not an edgedl checkpoint", ErrCheckpoint)
	}
	var hl uint32
	if err := binary.Read(br, binary.LittleEndian, &hl); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	if hl > 64<<20 {
		return nil, fmt.Errorf("%w: header of %d bytes", ErrCheckpoint, hl)
	}
	hb := make([]byte, hl)
	if _, err := io.ReadFull(br, hb); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	var h ckHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrCheckpoint, err)
	}
	if h.Version != 1 {
		return nil, fmt.Errorf("%w: version %d", ErrCheckpoint, h.Version)
	}
	vars := map[string]*Var{}
	for _, v := range p.vars {
		vars["param:"+v.Name] = v
	}
	for _, v := range p.bufs {
		vars["buffer:"+v.Name] = v
	}
	slots := map[string][]float32{}
	found := 0
	var buf [4]byte
	for _, t := range h.Tensors {
		if t.Len < 0 || t.Len > 1<<30 {
			return nil, fmt.Errorf("%w: tensor %q of length %d", ErrCheckpoint, t.Name, t.Len)
		}
		var dst []float32
		switch t.Kind {
		case "param", "buffer":
			v, ok := vars[t.Kind+":"+t.Name]
			if !ok {
				return nil, fmt.Errorf("%w: %s %q is not in the model", ErrCheckpoint, t.Kind, t.Name)
			}
			if len(v.Data) != t.Len {
				return nil, fmt.Errorf("%w: %s has %d values, the model's %d", ErrCheckpoint, t.Name, t.Len, len(v.Data))
			}
			dst = v.Data
			found++
		case "slot":
			dst = make([]float32, t.Len)
			slots[t.Name] = dst
		default:
			return nil, fmt.Errorf("%w: tensor kind %q", ErrCheckpoint, t.Kind)
		}
		for i := range dst {
			if _, err := io.ReadFull(br, buf[:]); err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrCheckpoint, t.Name, err)
			}
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[:]))
		}
	}
	if found != len(vars) {
		return nil, fmt.Errorf("%w: holds %d of the model's %d parameters and buffers", ErrCheckpoint, found, len(vars))
	}
	if opt != nil {
		if err := opt.SetState(OptState{Steps: h.OptSteps, Slots: slots}); err != nil {
			return nil, err
		}
	}
	ck := h.Run
	return &ck, nil
}

// SaveCheckpointFile writes a checkpoint atomically (temporary file, then
// rename).
func SaveCheckpointFile(path string, p *Program, opt Optimizer, ck *Checkpoint) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".ckpt-*")
	if err != nil {
		return err
	}
	if err := SaveCheckpoint(f, p, opt, ck); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), path)
}

// LoadCheckpointFile reads a checkpoint file into p and opt.
func LoadCheckpointFile(path string, p *Program, opt Optimizer) (*Checkpoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return LoadCheckpoint(f, p, opt)
}
