package flnet

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/edgedl/edgedl/federated"
	"github.com/edgedl/edgedl/federated/dp"
)

// Coordinator checkpoint layout: the magic "EDGEDLFL", a little-endian
// uint32 header length, a JSON header (ckptHeader), then the float32 vectors
// the header lists (global model, server optimiser moments), little-endian.
const ckptMagic = "EDGEDLFL"

// ErrCheckpoint is wrapped by errors about unreadable or mismatched
// coordinator checkpoints.
var ErrCheckpoint = errors.New("flnet: bad checkpoint")

type ckptClient struct {
	ID      uint32 `json:"id"`
	Name    string `json:"name"`
	Token   string `json:"token_sha256"`
	Samples int64  `json:"samples"`
	Next    uint64 `json:"next"`
}

type ckptHeader struct {
	Version  int            `json:"version"`
	Session  string         `json:"session"`
	Strategy string         `json:"strategy"`
	Dim      int            `json:"dim"`
	Round    uint64         `json:"round"` // sync: next round; async: model version
	Done     bool           `json:"done"`
	NextID   uint32         `json:"next_id"`
	Clients  []ckptClient   `json:"clients"`
	Refusals map[string]int `json:"refusals,omitempty"`
	// Server optimiser (FedAdam and kin).
	OptSteps uint64 `json:"opt_steps,omitempty"`
	// DP accountant.
	DPOrders []float64 `json:"dp_orders,omitempty"`
	DPRDP    []float64 `json:"dp_rdp,omitempty"`
	DPRounds int       `json:"dp_rounds,omitempty"`
	// FedBuff's buffered updates: their count, and their float64 sum as the
	// vectors fedbuff_hi + fedbuff_lo (float32 high part and remainder).
	FedBuffCount int      `json:"fedbuff_count,omitempty"`
	Vectors      []string `json:"vectors"` // names of the float32 vectors that follow, each Dim long
}

// SaveCheckpoint writes the coordinator's durable state: the round, the
// global model, the server optimiser's state, FedBuff's buffered updates,
// the registered clients (with token hashes and replay marks) and the
// privacy spent. An open round is not
// saved: after a restart it runs again from its start.
func (c *Coordinator) SaveCheckpoint(w io.Writer) error {
	h := ckptHeader{Version: 1, Session: c.cfg.Session, Strategy: c.cfg.Strategy.String(), Dim: c.dim,
		Round: c.Round(), Done: c.done, NextID: uint32(c.nextID), Refusals: c.refusals, Vectors: []string{"global"}}
	ids := make([]federated.ClientID, 0, len(c.clients))
	for id := range c.clients {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		cs := c.clients[id]
		h.Clients = append(h.Clients, ckptClient{ID: uint32(id), Name: cs.name, Token: hex.EncodeToString(cs.token[:]),
			Samples: cs.samples, Next: cs.next})
	}
	vecs := [][]float32{c.global}
	if c.opt != nil && c.opt.M != nil {
		h.OptSteps = c.opt.Steps
		h.Vectors = append(h.Vectors, "opt_m", "opt_v")
		vecs = append(vecs, c.opt.M, c.opt.V)
	}
	if c.acct != nil {
		h.DPOrders, h.DPRDP, h.DPRounds = c.acct.Orders, c.acct.RDP, c.dpRounds
	}
	if fb, ok := c.async.(*federated.FedBuff); ok {
		if sum, n := fb.Buffered(); n > 0 && len(sum) == c.dim {
			hi, lo := make([]float32, len(sum)), make([]float32, len(sum))
			for i, x := range sum {
				hi[i] = float32(x)
				lo[i] = float32(x - float64(hi[i]))
			}
			h.FedBuffCount = n
			h.Vectors = append(h.Vectors, "fedbuff_hi", "fedbuff_lo")
			vecs = append(vecs, hi, lo)
		}
	}
	hdr, err := json.Marshal(h)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	bw.WriteString(ckptMagic)
	binary.Write(bw, binary.LittleEndian, uint32(len(hdr)))
	bw.Write(hdr)
	buf := make([]byte, 4)
	for _, v := range vecs {
		for _, x := range v {
			binary.LittleEndian.PutUint32(buf, math.Float32bits(x))
			bw.Write(buf)
		}
	}
	return bw.Flush()
}

// LoadCheckpoint restores state saved by SaveCheckpoint into a coordinator
// built with the same model and strategy (other settings may change, e.g.
// more rounds). Clients keep their ids and tokens.
func (c *Coordinator) LoadCheckpoint(r io.Reader) error {
	br := bufio.NewReader(r)
	magic := make([]byte, len(ckptMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != ckptMagic {
		return fmt.Errorf("%w: not a coordinator checkpoint", ErrCheckpoint)
	}
	var n uint32
	if err := binary.Read(br, binary.LittleEndian, &n); err != nil || n > 1<<28 {
		return fmt.Errorf("%w: bad header length", ErrCheckpoint)
	}
	hdr := make([]byte, n)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return fmt.Errorf("%w: truncated header", ErrCheckpoint)
	}
	var h ckptHeader
	if err := json.Unmarshal(hdr, &h); err != nil {
		return fmt.Errorf("%w: header: %v", ErrCheckpoint, err)
	}
	if h.Version != 1 {
		return fmt.Errorf("%w: version %d", ErrCheckpoint, h.Version)
	}
	if h.Dim != c.dim {
		return fmt.Errorf("%w: it holds %d parameters, the model has %d", ErrCheckpoint, h.Dim, c.dim)
	}
	if h.Strategy != c.cfg.Strategy.String() {
		return fmt.Errorf("%w: written by strategy %s, the coordinator runs %s", ErrCheckpoint, h.Strategy, c.cfg.Strategy)
	}
	vecs := map[string][]float32{}
	buf := make([]byte, 4*c.dim)
	for _, name := range h.Vectors {
		if _, err := io.ReadFull(br, buf); err != nil {
			return fmt.Errorf("%w: truncated vector %q", ErrCheckpoint, name)
		}
		v := make([]float32, c.dim)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
		}
		vecs[name] = v
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return fmt.Errorf("%w: trailing bytes", ErrCheckpoint)
	}
	global, ok := vecs["global"]
	if !ok {
		return fmt.Errorf("%w: no global model", ErrCheckpoint)
	}
	if i := slices.IndexFunc(global, func(x float32) bool { return x-x != 0 }); i >= 0 {
		return fmt.Errorf("%w: global parameter %d is not finite", ErrCheckpoint, i)
	}
	clients := map[federated.ClientID]*clientState{}
	byName := map[string]federated.ClientID{}
	for _, cc := range h.Clients {
		tok, err := hex.DecodeString(cc.Token)
		if err != nil || len(tok) != 32 || cc.ID >= h.NextID {
			return fmt.Errorf("%w: client %d", ErrCheckpoint, cc.ID)
		}
		cs := &clientState{id: federated.ClientID(cc.ID), name: cc.Name, samples: cc.Samples, next: cc.Next}
		copy(cs.token[:], tok)
		clients[cs.id] = cs
		byName[cc.Name] = cs.id
	}
	// FedBuff's buffer, checked before the coordinator changes.
	var fbSum []float64
	fbCount := h.FedBuffCount
	if fbCount > 0 {
		hi, lo := vecs["fedbuff_hi"], vecs["fedbuff_lo"]
		if hi == nil || lo == nil {
			return fmt.Errorf("%w: %d buffered FedBuff updates without their sum", ErrCheckpoint, fbCount)
		}
		fbSum = make([]float64, len(hi))
		for i := range fbSum {
			fbSum[i] = float64(hi[i]) + float64(lo[i])
		}
		if err := (&federated.FedBuff{K: c.cfg.Strategy.K}).Restore(fbSum, fbCount); err != nil {
			return fmt.Errorf("%w: %v", ErrCheckpoint, err)
		}
	}
	c.setupStrategy()
	if c.opt != nil && vecs["opt_m"] != nil && vecs["opt_v"] != nil {
		c.opt.M, c.opt.V, c.opt.Steps = vecs["opt_m"], vecs["opt_v"], h.OptSteps
	}
	switch a := c.async.(type) {
	case *federated.FedAsync:
		a.Version = h.Round
	case *federated.FedBuff:
		a.Version = h.Round
		if fbCount > 0 {
			a.Restore(fbSum, fbCount) // checked before anything was applied
		}
	case nil:
		c.srv.Round = h.Round
	}
	if c.acct != nil && len(h.DPRDP) == len(h.DPOrders) && len(h.DPOrders) > 0 {
		c.acct = &dp.Accountant{Orders: h.DPOrders, RDP: h.DPRDP}
		c.dpRounds = h.DPRounds
	}
	c.global, c.clients, c.byName, c.nextID = global, clients, byName, federated.ClientID(h.NextID)
	c.cfg.Session = h.Session
	c.refusals = map[string]int{}
	for k, v := range h.Refusals {
		c.refusals[k] = v
	}
	c.round, c.inflight, c.cacheKey, c.sinceRep = nil, map[federated.ClientID]asyncJob{}, 0, nil
	// Done follows from the rounds alone (the only thing that ends a
	// federation), so a finished run resumed with more rounds goes on.
	c.done = c.cfg.Rounds > 0 && h.Round >= uint64(c.cfg.Rounds)
	return nil
}

// SaveCheckpointFile writes a checkpoint atomically: to a temporary file in
// the same directory, synced, then renamed over path (and the directory
// synced), so a crash leaves either the old checkpoint or the new one.
func (c *Coordinator) SaveCheckpointFile(path string) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".flckpt-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("flnet: checkpoint %s: %w", path, err)
	}
	if err := c.SaveCheckpoint(f); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("flnet: checkpoint %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("flnet: checkpoint %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // best effort: not every platform syncs directories
		d.Close()
	}
	return nil
}

// LoadCheckpointFile restores a checkpoint file (see LoadCheckpoint).
func (c *Coordinator) LoadCheckpointFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := c.LoadCheckpoint(f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
