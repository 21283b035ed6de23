package flnet

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/edgedl/edgedl/federated"
	"github.com/edgedl/edgedl/federated/flnet/flpb"
	"github.com/edgedl/edgedl/federated/secagg"
)

// Secure aggregation over the Federation service. A round with
// Config.SecAgg runs the four steps of federated/secagg through the SecAgg
// call, driven by the coordinator's clock:
//
//	advertise   selected clients send their public keys (until all did, or
//	            SecAggKeyTimeout after the round's start)
//	share keys  they fetch the key list and send encrypted shares (until all
//	            did, or SecAggKeyTimeout later)
//	masked      each trains, then fetches the shares addressed to it and
//	            sends its masked [w·Δ, w] (until all did, or the deadline)
//	unmask      survivors fetch the survivor list and reveal shares (until
//	            all did, or SecAggKeyTimeout later); the coordinator then
//	            has Σ w·Δ and Σ w, and nothing about any one client
//
// Fewer than the threshold at any step abandon the round. Individual
// updates are never seen, so only the fixed-point clipping (±bound per
// coordinate) limits what one client contributes: robust aggregators and
// per-update validation do not apply.

type secaggStep = flpb.SecAggResponse_Step

type secaggRound struct {
	cfg      secagg.Config
	srv      *secagg.Server
	task     *flpb.SecAggConfig
	fp       secagg.FixedPoint
	step     secaggStep
	until    time.Time // when the current step closes at the latest
	keys     *flpb.SecAggKeyList
	fwd      map[federated.ClientID]*flpb.SecAggShares
	surv     *flpb.SecAggSurvivors
	sent     map[federated.ClientID]bool // the client's message of the current step arrived
	samples  int
	reason   string
	u1, u2   int
	contribs []federated.ClientID
}

func sessionOf(session string, round uint64) uint64 {
	h := fnv.New64a()
	h.Write([]byte(session))
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], round)
	h.Write(b[:])
	return h.Sum64()
}

// startSecAgg sets up the secure aggregation of the round just opened.
func (c *Coordinator) startSecAgg(now time.Time, r *roundState) {
	n := len(r.selected)
	bound := c.cfg.SecAggBound
	if bound <= 0 {
		bound = 1
		if c.cfg.DP.Enabled() {
			bound = c.cfg.DP.Clip
		}
	}
	sa := &secaggRound{step: flpb.SecAggResponse_ADVERTISE, until: now.Add(c.secaggTimeout()), sent: map[federated.ClientID]bool{}}
	r.sa = sa
	if n < 2 {
		sa.step, sa.reason = flpb.SecAggResponse_ABORTED, fmt.Sprintf("needs two clients, %d selected", n)
		return
	}
	sa.cfg = secagg.Config{Session: sessionOf(c.cfg.Session, r.num), Threshold: max(2, (2*n+2)/3), Dim: c.dim + 1}
	var err error
	if sa.srv, err = secagg.NewServer(sa.cfg); err == nil {
		sa.fp, err = secagg.NewFixedPoint(bound, n)
	}
	if err != nil {
		sa.step, sa.reason = flpb.SecAggResponse_ABORTED, err.Error()
		return
	}
	scale := 1.0
	for id := range r.selected {
		scale = max(scale, float64(c.clients[id].samples))
	}
	sa.task = &flpb.SecAggConfig{Session: sa.cfg.Session, Threshold: int32(sa.cfg.Threshold), Bound: bound, Clients: int32(n),
		WeightScale: scale, UnitWeights: c.cfg.DP.Enabled()}
}

func (c *Coordinator) secaggTimeout() time.Duration {
	if c.cfg.SecAggKeyTimeout > 0 {
		return c.cfg.SecAggKeyTimeout
	}
	return max(c.cfg.RoundTimeout/10, time.Second)
}

// advanceSecAgg closes the current step (all messages in, or its time is
// up) and opens the next; the last one closes the round.
func (c *Coordinator) advanceSecAgg(now time.Time) {
	r := c.round
	sa := r.sa
	var err error
	switch sa.step {
	case flpb.SecAggResponse_ADVERTISE:
		var kl secagg.KeyList
		if kl, err = sa.srv.EndAdvertise(); err == nil {
			sa.keys = keyListPB(kl)
			sa.u1 = len(kl.Keys)
			sa.step, sa.until = flpb.SecAggResponse_SHARE_KEYS, now.Add(c.secaggTimeout())
		}
	case flpb.SecAggResponse_SHARE_KEYS:
		var fwd map[federated.ClientID]secagg.SharesFor
		if fwd, err = sa.srv.EndShareKeys(); err == nil {
			sa.fwd = map[federated.ClientID]*flpb.SecAggShares{}
			for id, sf := range fwd {
				sa.fwd[id] = sharesPB(sf.Shares)
			}
			sa.u2 = len(fwd)
			sa.step, sa.until = flpb.SecAggResponse_MASKED_INPUT, r.deadline
		}
	case flpb.SecAggResponse_MASKED_INPUT:
		var s secagg.Survivors
		if s, err = sa.srv.EndMaskedInput(); err == nil {
			sa.surv = &flpb.SecAggSurvivors{Session: s.Session}
			for _, id := range s.Clients {
				sa.surv.Clients = append(sa.surv.Clients, uint32(id))
			}
			sa.step, sa.until = flpb.SecAggResponse_UNMASK, now.Add(c.secaggTimeout())
		}
	case flpb.SecAggResponse_UNMASK:
		var res secagg.Result
		if res, err = sa.srv.Finish(); err == nil {
			sum := make([]float32, c.dim+1)
			if err = sa.fp.Decode(sum, res.Sum); err == nil {
				sa.step = flpb.SecAggResponse_FINISHED
				sa.contribs = res.Contributors
				r.sum, r.sumWeight, r.sumClients, r.sumSamples, r.sumSubmitted = sum[:c.dim], float64(sum[c.dim]), res.Contributors, sa.samples, true
				c.closeRound(now)
				return
			}
		}
	default:
		return
	}
	if err != nil {
		sa.step, sa.reason = flpb.SecAggResponse_ABORTED, err.Error()
		c.closeRound(now)
		return
	}
	clear(sa.sent)
}

// tickSecAgg closes a step whose time is up.
func (c *Coordinator) tickSecAgg(now time.Time) {
	sa := c.round.sa
	if sa.step == flpb.SecAggResponse_ABORTED {
		c.closeRound(now)
		return
	}
	if !now.Before(sa.until) {
		c.advanceSecAgg(now)
	}
}

// SecAgg handles one message (or poll) of secure aggregation.
func (c *Coordinator) SecAgg(now time.Time, token string, req *flpb.SecAggRequest) (*flpb.SecAggResponse, error) {
	round := req.GetRound()
	cs, err := c.client(now, token, req.GetClientId(), round, true)
	if err != nil {
		return nil, err
	}
	r := c.round
	if r == nil || r.num != round || r.sa == nil {
		if round < c.Round() {
			// The round is over (the client may have missed its end).
			return &flpb.SecAggResponse{Step: flpb.SecAggResponse_FINISHED, Reason: fmt.Sprintf("round %d is over", round)}, nil
		}
		return nil, c.refuse(cs.id, round, codes.FailedPrecondition, federated.ReasonFuture.String(), "no securely aggregated round %d is open", round)
	}
	if !r.selected[cs.id] {
		return nil, c.refuse(cs.id, round, codes.PermissionDenied, "not selected", "client %d was not selected for round %d", cs.id, round)
	}
	sa := r.sa
	if req.GetMessage() != nil {
		if err := c.secaggMessage(now, cs, r, req); err != nil {
			return nil, err
		}
	}
	resp := &flpb.SecAggResponse{Step: sa.step, Reason: sa.reason, RetryAfterMs: 50}
	if sa.step >= flpb.SecAggResponse_SHARE_KEYS && sa.keys != nil {
		resp.KeyList = sa.keys
	}
	if sa.step >= flpb.SecAggResponse_MASKED_INPUT && sa.fwd != nil {
		resp.SharesFor = sa.fwd[cs.id]
	}
	if sa.step >= flpb.SecAggResponse_UNMASK && sa.surv != nil {
		resp.Survivors = sa.surv
	}
	return resp, nil
}

func (c *Coordinator) secaggMessage(now time.Time, cs *clientState, r *roundState, req *flpb.SecAggRequest) error {
	sa := r.sa
	id := cs.id
	bad := func(err error) error {
		return c.refuse(id, r.num, codes.InvalidArgument, "secure aggregation", "%v", err)
	}
	var want secaggStep
	switch req.GetMessage().(type) {
	case *flpb.SecAggRequest_Advertise:
		want = flpb.SecAggResponse_ADVERTISE
	case *flpb.SecAggRequest_ShareKeys:
		want = flpb.SecAggResponse_SHARE_KEYS
	case *flpb.SecAggRequest_MaskedInput:
		want = flpb.SecAggResponse_MASKED_INPUT
	case *flpb.SecAggRequest_Unmask:
		want = flpb.SecAggResponse_UNMASK
	}
	if sa.step != want {
		r.late++
		return c.refuse(id, r.num, codes.FailedPrecondition, "late", "secure aggregation of round %d is at step %s, not %s",
			r.num, sa.step, want)
	}
	var err error
	switch m := req.GetMessage().(type) {
	case *flpb.SecAggRequest_Advertise:
		var adv secagg.AdvertiseKeys
		if len(m.Advertise.GetEncKey()) != 32 || len(m.Advertise.GetMaskKey()) != 32 {
			return bad(errors.New("public keys must be 32 bytes"))
		}
		adv.Client = id
		copy(adv.EncKey[:], m.Advertise.GetEncKey())
		copy(adv.MaskKey[:], m.Advertise.GetMaskKey())
		err = sa.srv.HandleAdvertise(adv)
	case *flpb.SecAggRequest_ShareKeys:
		err = sa.srv.HandleShareKeys(secagg.ShareKeys{From: id, Shares: sharesGo(m.ShareKeys.GetShares())})
	case *flpb.SecAggRequest_MaskedInput:
		b := m.MaskedInput
		if len(b) != 4*sa.cfg.Dim {
			return bad(fmt.Errorf("masked input of %d bytes, want %d", len(b), 4*sa.cfg.Dim))
		}
		words := make([]uint32, sa.cfg.Dim)
		for i := range words {
			words[i] = binary.LittleEndian.Uint32(b[4*i:])
		}
		if err = sa.srv.HandleMaskedInput(secagg.MaskedInput{From: id, Masked: words}); err == nil {
			r.got[id] = true
			sa.samples += int(c.clients[id].samples)
		}
	case *flpb.SecAggRequest_Unmask:
		u := secagg.Unmask{From: id}
		if u.MaskKeyShares, err = revealedGo(m.Unmask.GetMaskKeyShares()); err == nil {
			u.SeedShares, err = revealedGo(m.Unmask.GetSeedShares())
		}
		if err == nil {
			err = sa.srv.HandleUnmask(u)
		}
	}
	if err != nil {
		return bad(err)
	}
	sa.sent[id] = true
	expected := len(r.selected)
	switch sa.step {
	case flpb.SecAggResponse_SHARE_KEYS:
		expected = sa.u1
	case flpb.SecAggResponse_MASKED_INPUT:
		expected = sa.u2
	case flpb.SecAggResponse_UNMASK:
		expected = len(sa.surv.GetClients())
	}
	if len(sa.sent) >= expected {
		c.advanceSecAgg(now)
	}
	return nil
}

// Conversions between federated/secagg's structs and their messages.

func keyListPB(kl secagg.KeyList) *flpb.SecAggKeyList {
	out := &flpb.SecAggKeyList{Session: kl.Session}
	for _, k := range kl.Keys {
		out.Keys = append(out.Keys, &flpb.SecAggKeys{Client: uint32(k.Client), EncKey: slices.Clone(k.EncKey[:]), MaskKey: slices.Clone(k.MaskKey[:])})
	}
	return out
}

func keyListGo(m *flpb.SecAggKeyList) (secagg.KeyList, error) {
	kl := secagg.KeyList{Session: m.GetSession()}
	for _, k := range m.GetKeys() {
		if len(k.GetEncKey()) != 32 || len(k.GetMaskKey()) != 32 {
			return kl, fmt.Errorf("flnet: key list: client %d's keys are not 32 bytes", k.GetClient())
		}
		a := secagg.AdvertiseKeys{Client: federated.ClientID(k.GetClient())}
		copy(a.EncKey[:], k.GetEncKey())
		copy(a.MaskKey[:], k.GetMaskKey())
		kl.Keys = append(kl.Keys, a)
	}
	return kl, nil
}

func sharesPB(ss []secagg.EncryptedShare) *flpb.SecAggShares {
	out := &flpb.SecAggShares{}
	for _, s := range ss {
		out.Shares = append(out.Shares, &flpb.SecAggShare{From: uint32(s.From), To: uint32(s.To), Ciphertext: s.Ciphertext})
	}
	return out
}

func sharesGo(ss []*flpb.SecAggShare) []secagg.EncryptedShare {
	out := make([]secagg.EncryptedShare, len(ss))
	for i, s := range ss {
		out[i] = secagg.EncryptedShare{From: federated.ClientID(s.GetFrom()), To: federated.ClientID(s.GetTo()), Ciphertext: s.GetCiphertext()}
	}
	return out
}

func revealedPB(rs []secagg.RevealedShare) []*flpb.SecAggRevealed {
	out := make([]*flpb.SecAggRevealed, len(rs))
	for i, r := range rs {
		out[i] = &flpb.SecAggRevealed{Owner: uint32(r.Owner), Y: slices.Clone(r.Y[:])}
	}
	return out
}

func revealedGo(rs []*flpb.SecAggRevealed) ([]secagg.RevealedShare, error) {
	out := make([]secagg.RevealedShare, len(rs))
	for i, r := range rs {
		if len(r.GetY()) != secagg.ShareSize {
			return nil, fmt.Errorf("revealed share of %d bytes, want %d", len(r.GetY()), secagg.ShareSize)
		}
		out[i].Owner = federated.ClientID(r.GetOwner())
		copy(out[i].Y[:], r.GetY())
	}
	return out, nil
}

// SecureTask is a client's side of one securely aggregated round, as
// steps a driver calls: Start (advertise keys), then Step until it reports
// done; the update (Delta, Samples) must be set before the masked-input
// step can complete. Run drives it with real time; simulations call Step
// at simulated times.
type SecureTask struct {
	c       *Client
	task    *flpb.Task
	cfg     *flpb.SecAggConfig
	sc      *secagg.Client
	Delta   []float32
	Samples int
	shared  bool
	masked  bool
	done    bool
	Aborted string // why the coordinator abandoned the round, if it did
}

// StartSecure begins secure aggregation for a task that asks for it:
// it creates the client's key pairs (entropy: crypto/rand when nil) and
// advertises them.
func (c *Client) StartSecure(ctx context.Context, t *flpb.Task, entropy io.Reader) (*SecureTask, error) {
	sc := t.GetSecagg()
	if sc == nil {
		return nil, fmt.Errorf("flnet: round %d is not securely aggregated", t.GetRound())
	}
	if entropy == nil {
		entropy = rand.Reader
	}
	cfg := secagg.Config{Session: sc.GetSession(), Threshold: int(sc.GetThreshold()), Dim: c.dim + 1}
	cl, adv, err := secagg.NewClient(cfg, c.ID, entropy)
	if err != nil {
		return nil, err
	}
	st := &SecureTask{c: c, task: t, cfg: sc, sc: cl}
	_, err = c.secagg(ctx, &flpb.SecAggRequest{ClientId: uint32(c.ID), Round: t.GetRound(),
		Message: &flpb.SecAggRequest_Advertise{Advertise: &flpb.SecAggKeys{Client: uint32(c.ID), EncKey: adv.EncKey[:], MaskKey: adv.MaskKey[:]}}})
	return st, err
}

func (c *Client) secagg(ctx context.Context, req *flpb.SecAggRequest) (*flpb.SecAggResponse, error) {
	var resp *flpb.SecAggResponse
	err := retry(ctx, c.log(), "secure aggregation", func() (err error) {
		resp, err = c.Conn.SecAgg(ctx, req)
		return err
	})
	return resp, err
}

// Shared reports whether the key-sharing step is done (training may start).
func (s *SecureTask) Shared() bool { return s.shared }

// Step does whatever the coordinator's progress allows: share keys once
// the key list is out, send the masked update once the shares addressed
// to this client are out and Delta is set, reveal shares once the
// survivors are known. It returns done when the client has nothing left
// to do (the sum is computed, or the round was abandoned).
func (s *SecureTask) Step(ctx context.Context) (done bool, err error) {
	if s.done {
		return true, nil
	}
	c := s.c
	id, round := uint32(c.ID), s.task.GetRound()
	resp, err := c.secagg(ctx, &flpb.SecAggRequest{ClientId: id, Round: round})
	if err != nil {
		return false, err
	}
	switch resp.GetStep() {
	case flpb.SecAggResponse_ABORTED:
		s.done, s.Aborted = true, resp.GetReason()
		return true, nil
	case flpb.SecAggResponse_FINISHED:
		s.done = true
		return true, nil
	}
	if !s.shared && resp.GetKeyList() != nil {
		kl, err := keyListGo(resp.GetKeyList())
		if err != nil {
			return false, err
		}
		m, err := s.sc.ShareKeys(kl)
		if err != nil {
			return false, err
		}
		req := &flpb.SecAggRequest{ClientId: id, Round: round, Message: &flpb.SecAggRequest_ShareKeys{ShareKeys: sharesPB(m.Shares)}}
		if resp, err = c.secagg(ctx, req); err != nil {
			return false, err
		}
		s.shared = true
	}
	if s.shared && !s.masked && s.Delta != nil && resp.GetSharesFor() != nil {
		fp, err := secagg.NewFixedPoint(s.cfg.GetBound(), int(s.cfg.GetClients()))
		if err != nil {
			return false, err
		}
		w := 1.0
		if !s.cfg.GetUnitWeights() {
			w = float64(s.Samples) / max(s.cfg.GetWeightScale(), 1)
		}
		vec := make([]float32, len(s.Delta)+1)
		for i, x := range s.Delta {
			vec[i] = float32(w * float64(x))
		}
		vec[len(s.Delta)] = float32(w)
		words := make([]uint32, len(vec))
		if _, err := fp.Encode(words, vec); err != nil {
			return false, err
		}
		sf := secagg.SharesFor{To: c.ID, Shares: sharesGo(resp.GetSharesFor().GetShares())}
		m, err := s.sc.MaskInput(sf, words)
		if err != nil {
			return false, err
		}
		b := make([]byte, 4*len(m.Masked))
		for i, x := range m.Masked {
			binary.LittleEndian.PutUint32(b[4*i:], x)
		}
		req := &flpb.SecAggRequest{ClientId: id, Round: round, Message: &flpb.SecAggRequest_MaskedInput{MaskedInput: b}}
		if resp, err = c.secagg(ctx, req); err != nil {
			return false, err
		}
		s.masked = true
	}
	if s.masked && resp.GetSurvivors() != nil {
		sv := secagg.Survivors{Session: resp.GetSurvivors().GetSession()}
		for _, id := range resp.GetSurvivors().GetClients() {
			sv.Clients = append(sv.Clients, federated.ClientID(id))
		}
		if !slices.Contains(sv.Clients, c.ID) {
			s.done = true
			return true, nil
		}
		m, err := s.sc.Unmask(sv)
		if err != nil {
			return false, err
		}
		req := &flpb.SecAggRequest{ClientId: id, Round: round, Message: &flpb.SecAggRequest_Unmask{Unmask: &flpb.SecAggUnmask{
			MaskKeyShares: revealedPB(m.MaskKeyShares), SeedShares: revealedPB(m.SeedShares)}}}
		if _, err = c.secagg(ctx, req); err != nil {
			return false, err
		}
		s.done = true
		return true, nil
	}
	return false, nil
}
