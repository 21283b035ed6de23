package secagg

import (
	"fmt"
	"slices"

	"github.com/edgedl/edgedl/federated"
)

type serverPhase uint8

const (
	srvAdvertise serverPhase = iota
	srvShareKeys
	srvMaskedInput
	srvUnmask
	srvDone
	srvFailed
)

// Server is the aggregator's side: a state machine fed with client messages
// (Handle*) and told by its driver when each round's collection is over
// (End*, typically at a logical deadline or when every expected message is
// in). It learns the sum of the survivors' inputs and nothing else about
// them, provided at most t-1 clients collude with it and the server follows
// the protocol (the honest-but-curious setting of Bonawitz et al.; the
// signatures and consistency round for an active server are not
// implemented).
type Server struct {
	cfg   Config
	phase serverPhase

	u1     map[federated.ClientID]AdvertiseKeys
	shares map[federated.ClientID]ShareKeys // U2
	masked map[federated.ClientID][]uint32  // U3
	sum    []uint32
	unmask map[federated.ClientID]Unmask // U5
	u2, u3 []federated.ClientID
}

// NewServer starts an aggregation.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Threshold < 2 || cfg.Dim < 0 {
		return nil, fmt.Errorf("%w: threshold %d, dim %d", ErrProtocol, cfg.Threshold, cfg.Dim)
	}
	return &Server{cfg: cfg, u1: map[federated.ClientID]AdvertiseKeys{}}, nil
}

func (s *Server) refuse(format string, args ...any) error {
	return fmt.Errorf("%w: server: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

func (s *Server) below(step string, n int) error {
	s.phase = srvFailed
	return fmt.Errorf("%w: %s: %d clients, threshold %d", ErrBelowThreshold, step, n, s.cfg.Threshold)
}

// HandleAdvertise records a client's public keys (round 0).
func (s *Server) HandleAdvertise(m AdvertiseKeys) error {
	if s.phase != srvAdvertise {
		return s.refuse("keys from client %d after round 0", m.Client)
	}
	if _, dup := s.u1[m.Client]; dup {
		return s.refuse("client %d advertised twice", m.Client)
	}
	s.u1[m.Client] = m
	return nil
}

// EndAdvertise closes round 0 and returns the key list to broadcast.
func (s *Server) EndAdvertise() (KeyList, error) {
	if s.phase != srvAdvertise {
		return KeyList{}, s.refuse("EndAdvertise out of order")
	}
	if len(s.u1) < s.cfg.Threshold {
		return KeyList{}, s.below("advertise keys", len(s.u1))
	}
	list := KeyList{Session: s.cfg.Session}
	for _, id := range sortedIDs(s.u1) {
		list.Keys = append(list.Keys, s.u1[id])
	}
	s.shares = map[federated.ClientID]ShareKeys{}
	s.phase = srvShareKeys
	return list, nil
}

// HandleShareKeys records a client's encrypted shares (round 1): one for
// every other member of U1.
func (s *Server) HandleShareKeys(m ShareKeys) error {
	if s.phase != srvShareKeys {
		return s.refuse("shares from client %d outside round 1", m.From)
	}
	if _, ok := s.u1[m.From]; !ok {
		return s.refuse("shares from client %d outside U1", m.From)
	}
	if _, dup := s.shares[m.From]; dup {
		return s.refuse("client %d shared twice", m.From)
	}
	if len(m.Shares) != len(s.u1)-1 {
		return s.refuse("client %d sent %d shares for %d peers", m.From, len(m.Shares), len(s.u1)-1)
	}
	to := map[federated.ClientID]bool{}
	for _, e := range m.Shares {
		if e.From != m.From || e.To == m.From || to[e.To] || len(e.Ciphertext) != CiphertextSize {
			return s.refuse("client %d sent a malformed share for %d", m.From, e.To)
		}
		if _, ok := s.u1[e.To]; !ok {
			return s.refuse("client %d sent a share for %d outside U1", m.From, e.To)
		}
		to[e.To] = true
	}
	s.shares[m.From] = m
	return nil
}

// EndShareKeys closes round 1 (fixing U2) and returns, for each member of
// U2, the shares addressed to it by the other members.
func (s *Server) EndShareKeys() (map[federated.ClientID]SharesFor, error) {
	if s.phase != srvShareKeys {
		return nil, s.refuse("EndShareKeys out of order")
	}
	if len(s.shares) < s.cfg.Threshold {
		return nil, s.below("share keys", len(s.shares))
	}
	s.u2 = sortedIDs(s.shares)
	out := make(map[federated.ClientID]SharesFor, len(s.u2))
	for _, v := range s.u2 {
		out[v] = SharesFor{To: v}
	}
	for _, u := range s.u2 {
		for _, e := range s.shares[u].Shares {
			if sf, ok := out[e.To]; ok {
				sf.Shares = append(sf.Shares, e)
				out[e.To] = sf
			}
		}
	}
	s.masked = map[federated.ClientID][]uint32{}
	s.phase = srvMaskedInput
	return out, nil
}

// HandleMaskedInput records a client's masked vector (round 2).
func (s *Server) HandleMaskedInput(m MaskedInput) error {
	if s.phase != srvMaskedInput {
		return s.refuse("masked input from client %d outside round 2", m.From)
	}
	if _, ok := s.shares[m.From]; !ok {
		return s.refuse("masked input from client %d outside U2", m.From)
	}
	if _, dup := s.masked[m.From]; dup {
		return s.refuse("client %d sent two masked inputs", m.From)
	}
	if len(m.Masked) != s.cfg.Dim {
		return s.refuse("client %d sent %d words, want %d", m.From, len(m.Masked), s.cfg.Dim)
	}
	s.masked[m.From] = m.Masked
	return nil
}

// EndMaskedInput closes round 2 (fixing U3), sums the masked inputs, and
// returns the survivor list to broadcast.
func (s *Server) EndMaskedInput() (Survivors, error) {
	if s.phase != srvMaskedInput {
		return Survivors{}, s.refuse("EndMaskedInput out of order")
	}
	if len(s.masked) < s.cfg.Threshold {
		return Survivors{}, s.below("masked input", len(s.masked))
	}
	s.u3 = sortedIDs(s.masked)
	s.sum = make([]uint32, s.cfg.Dim)
	for _, u := range s.u3 {
		for i, y := range s.masked[u] {
			s.sum[i] += y
		}
	}
	s.masked = nil // the sum is all that is needed
	s.unmask = map[federated.ClientID]Unmask{}
	s.phase = srvUnmask
	return Survivors{Session: s.cfg.Session, Clients: slices.Clone(s.u3)}, nil
}

// HandleUnmask records a survivor's revealed shares (round 3). It must hold
// a seed share for every survivor and a mask-key share for every dropped
// member of U2, and nothing else.
func (s *Server) HandleUnmask(m Unmask) error {
	if s.phase != srvUnmask {
		return s.refuse("unmasking shares from client %d outside round 3", m.From)
	}
	if !slices.Contains(s.u3, m.From) {
		return s.refuse("unmasking shares from client %d outside U3", m.From)
	}
	if _, dup := s.unmask[m.From]; dup {
		return s.refuse("client %d unmasked twice", m.From)
	}
	dropped := s.dropped()
	if !sameOwners(m.SeedShares, s.u3) || !sameOwners(m.MaskKeyShares, dropped) {
		return s.refuse("client %d revealed the wrong set of shares", m.From)
	}
	s.unmask[m.From] = m
	return nil
}

func (s *Server) dropped() []federated.ClientID {
	var d []federated.ClientID
	for _, v := range s.u2 {
		if !slices.Contains(s.u3, v) {
			d = append(d, v)
		}
	}
	return d
}

func sameOwners(rs []RevealedShare, ids []federated.ClientID) bool {
	if len(rs) != len(ids) {
		return false
	}
	owners := make([]federated.ClientID, len(rs))
	for i, r := range rs {
		owners[i] = r.Owner
	}
	slices.Sort(owners)
	return slices.Equal(owners, ids)
}

// Result is the outcome of an aggregation.
type Result struct {
	// Sum is Σ x_u mod 2^32 over the contributors.
	Sum []uint32
	// Contributors is U3: whose inputs are in the sum.
	Contributors []federated.ClientID
	// Dropped is U2 \ U3: clients that shared keys but whose masked input
	// did not arrive; their pairwise masks were reconstructed and removed.
	Dropped []federated.ClientID
}

// Finish closes round 3: with at least t responders it reconstructs the
// dropped clients' mask keys and the survivors' seeds, removes every
// remaining mask, and returns the sum.
func (s *Server) Finish() (Result, error) {
	if s.phase != srvUnmask {
		return Result{}, s.refuse("Finish out of order")
	}
	if len(s.unmask) < s.cfg.Threshold {
		return Result{}, s.below("unmasking", len(s.unmask))
	}
	t := s.cfg.Threshold
	collect := func(owner federated.ClientID, mask bool) []Share {
		var out []Share
		for _, from := range sortedIDs(s.unmask) {
			m := s.unmask[from]
			list := m.SeedShares
			if mask {
				list = m.MaskKeyShares
			}
			for _, r := range list {
				if r.Owner == owner {
					out = append(out, Share{X: uint64(from) + 1, Y: r.Y})
				}
			}
		}
		return out
	}
	sum := s.sum
	// Self masks of the survivors.
	for _, u := range s.u3 {
		seed, err := combineShares(collect(u, false), t)
		if err != nil {
			s.phase = srvFailed
			return Result{}, fmt.Errorf("%w: seed of client %d: %v", ErrReconstruct, u, err)
		}
		addPRG(sum, selfMaskKey(seed, s.cfg.Session, u), -1)
	}
	// Pairwise masks between survivors and dropped clients.
	dropped := s.dropped()
	for _, v := range dropped {
		sk, err := combineShares(collect(v, true), t)
		if err != nil {
			s.phase = srvFailed
			return Result{}, fmt.Errorf("%w: mask key of client %d: %v", ErrReconstruct, v, err)
		}
		kp, err := keyPairFrom(sk)
		if err != nil || kp.pub != s.u1[v].MaskKey {
			s.phase = srvFailed
			return Result{}, fmt.Errorf("%w: mask key of client %d does not match its public key", ErrReconstruct, v)
		}
		for _, u := range s.u3 {
			shared, err := kp.agree(s.u1[u].MaskKey)
			if err != nil {
				s.phase = srvFailed
				return Result{}, err
			}
			// u added pairSign(u, v) * PRG(s_uv); take it out.
			addPRG(sum, pairMaskKey(shared, s.cfg.Session, u, v), -pairSign(u, v))
		}
	}
	s.phase = srvDone
	return Result{Sum: sum, Contributors: slices.Clone(s.u3), Dropped: dropped}, nil
}
