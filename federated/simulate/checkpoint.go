package simulate

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgedl/edgedl/federated"
	"github.com/edgedl/edgedl/federated/flnet"
)

// simMagic starts a simulation checkpoint; the version follows it.
const simMagic = "edgedl-fl-simulate-checkpoint\x00"

// simState is what a simulation needs to continue after a restart, on top
// of what the coordinator saves: the simulated clock, the records so far
// (for totals and the plot), and the clients' error-feedback residuals.
// Client training, selection and the partition are functions of the seed
// and the round, so they need no state.
type simState struct {
	Version   int
	Config    string // the settings that must not change across a resume
	NowNS     int64  // simulated time since the start
	WallS     float64
	UpTot     int64
	DownTot   int64
	Records   []Record
	Residuals map[uint32][]float32
	Coord     []byte // flnet.Coordinator.SaveCheckpoint
}

// fingerprint names the settings a resumed run must share with the saved
// one (more rounds, other evaluation or output settings are fine).
func (cfg *Config) fingerprint() string {
	return fmt.Sprintf("clients=%d fraction=%g E=%d B=%d lr=%g opt=%s mom=%g decay=%g partition=%s algorithm=%s compress=%s dp=%g/%g secagg=%v deadline=%g dropout=%g spread=%g slow=%g/%g attackers=%d/%s seed=%d",
		cfg.Clients, cfg.Fraction, cfg.LocalEpochs, cfg.Batch, cfg.LR, cfg.Optimizer, cfg.Momentum, cfg.LRDecay,
		cfg.Partition, cfg.Algorithm, cfg.Compress, cfg.DPNoise, cfg.DPClip, cfg.SecAgg, cfg.Deadline, cfg.Dropout,
		cfg.SpeedSpread, cfg.SlowFraction, cfg.SlowFactor, cfg.Attackers, cfg.Attack, cfg.Seed)
}

// saveCheckpoint writes the state after a completed round, atomically (a
// temporary file renamed over the old one), so that a crash mid-write
// leaves the previous checkpoint intact.
func (r *runner) saveCheckpoint(svc *flnet.Service) error {
	if r.cfg.Checkpoint == "" {
		return nil
	}
	var coord bytes.Buffer
	var err error
	svc.Do(func(c *flnet.Coordinator) { err = c.SaveCheckpoint(&coord) })
	if err != nil {
		return fmt.Errorf("simulate: checkpoint: %w", err)
	}
	st := simState{Version: 1, Config: r.cfg.fingerprint(), NowNS: int64(r.now.Sub(r.t0)),
		WallS: time.Since(r.wall).Seconds(), UpTot: r.upTot, DownTot: r.downTot, Records: r.records,
		Coord: coord.Bytes()}
	r.resid.mu.Lock()
	if len(r.resid.m) > 0 {
		st.Residuals = make(map[uint32][]float32, len(r.resid.m))
		for id, v := range r.resid.m {
			st.Residuals[uint32(id)] = v
		}
	}
	r.resid.mu.Unlock()
	var buf bytes.Buffer
	buf.WriteString(simMagic)
	if err := gob.NewEncoder(&buf).Encode(&st); err != nil {
		return fmt.Errorf("simulate: checkpoint: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(r.cfg.Checkpoint), ".simckpt-*")
	if err != nil {
		return fmt.Errorf("simulate: checkpoint: %w", err)
	}
	_, werr := tmp.Write(buf.Bytes())
	if err := errors.Join(werr, tmp.Sync(), tmp.Close()); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("simulate: checkpoint %s: %w", r.cfg.Checkpoint, err)
	}
	if err := os.Rename(tmp.Name(), r.cfg.Checkpoint); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("simulate: checkpoint: %w", err)
	}
	return nil
}

// loadCheckpoint reads a checkpoint written by saveCheckpoint and checks
// that it belongs to this configuration.
func (r *runner) loadCheckpoint() (*simState, error) {
	b, err := os.ReadFile(r.cfg.Checkpoint)
	if err != nil {
		return nil, fmt.Errorf("simulate: resume: %w", err)
	}
	if !bytes.HasPrefix(b, []byte(simMagic)) {
		return nil, fmt.Errorf("simulate: resume: %s is not a simulation checkpoint", r.cfg.Checkpoint)
	}
	var st simState
	if err := gob.NewDecoder(bytes.NewReader(b[len(simMagic):])).Decode(&st); err != nil {
		return nil, fmt.Errorf("simulate: resume: %s: %w", r.cfg.Checkpoint, err)
	}
	if st.Version != 1 {
		return nil, fmt.Errorf("simulate: resume: %s: checkpoint version %d", r.cfg.Checkpoint, st.Version)
	}
	if want := r.cfg.fingerprint(); st.Config != want {
		saved, now := strings.Fields(st.Config), strings.Fields(want)
		var diff []string
		for i := range min(len(saved), len(now)) {
			if saved[i] != now[i] {
				diff = append(diff, fmt.Sprintf("%s (now %s)", saved[i], now[i]))
			}
		}
		return nil, fmt.Errorf("simulate: resume: %s was written by another configuration: %s", r.cfg.Checkpoint,
			strings.Join(diff, ", "))
	}
	if st.NowNS < 0 || len(st.Records) == 0 {
		return nil, fmt.Errorf("simulate: resume: %s: no completed round", r.cfg.Checkpoint)
	}
	return &st, nil
}

// restore applies st to the runner and its coordinator.
func (r *runner) restore(st *simState, coord *flnet.Coordinator) error {
	if err := coord.LoadCheckpoint(bytes.NewReader(st.Coord)); err != nil {
		return fmt.Errorf("simulate: resume: %w", err)
	}
	r.now = r.t0.Add(time.Duration(st.NowNS))
	r.wall = time.Now().Add(-time.Duration(st.WallS * float64(time.Second)))
	r.upTot, r.downTot, r.records = st.UpTot, st.DownTot, st.Records
	for id, v := range st.Residuals {
		r.resid.put(federated.ClientID(id), v)
	}
	return nil
}
