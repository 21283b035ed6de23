package secagg

import (
	"fmt"
	"io"
	"slices"

	"github.com/edgedl/edgedl/federated"
)

type clientPhase uint8

const (
	phaseAdvertised clientPhase = iota + 1
	phaseShared
	phaseMasked
	phaseDone
	phaseFailed
)

// Client is one participant's side of the protocol, a state machine that
// consumes the server's messages and returns its own:
//
//	c, adv, _ := NewClient(cfg, id, entropy)   // round 0
//	sk, _ := c.ShareKeys(keyList)              // round 1
//	mi, _ := c.MaskInput(sharesFor, x)         // round 2
//	um, _ := c.Unmask(survivors)               // round 3
//
// Every method may be called once, in this order; after an error the client
// refuses to continue. The client never reveals both secrets of the same
// peer.
type Client struct {
	cfg   Config
	id    federated.ClientID
	rng   io.Reader
	phase clientPhase

	enc, mask keyPair
	seed      [32]byte                      // b_u
	encShared map[federated.ClientID][]byte // X25519 secrets with peers' encryption keys

	u1      map[federated.ClientID]AdvertiseKeys
	ownSK   Share // own share of own mask key
	ownSeed Share // own share of own seed
	u2      []federated.ClientID
	skOf    map[federated.ClientID][ShareSize]byte // peers' mask-key shares held by this client
	seedOf  map[federated.ClientID][ShareSize]byte // peers' seed shares held by this client
}

// NewClient creates the client's key pairs (round 0) and returns the message
// advertising them. entropy must be a cryptographic source (crypto/rand.Reader)
// outside tests.
func NewClient(cfg Config, id federated.ClientID, entropy io.Reader) (*Client, AdvertiseKeys, error) {
	if cfg.Threshold < 2 || cfg.Dim < 0 {
		return nil, AdvertiseKeys{}, fmt.Errorf("%w: threshold %d, dim %d", ErrProtocol, cfg.Threshold, cfg.Dim)
	}
	c := &Client{cfg: cfg, id: id, rng: entropy}
	var err error
	if c.enc, err = newKeyPair(entropy); err != nil {
		return nil, AdvertiseKeys{}, err
	}
	if c.mask, err = newKeyPair(entropy); err != nil {
		return nil, AdvertiseKeys{}, err
	}
	c.phase = phaseAdvertised
	return c, AdvertiseKeys{Client: id, EncKey: c.enc.pub, MaskKey: c.mask.pub}, nil
}

// ID returns the client's id.
func (c *Client) ID() federated.ClientID { return c.id }

func (c *Client) fail(format string, args ...any) error {
	c.phase = phaseFailed
	return fmt.Errorf("%w: client %d: %s", ErrProtocol, c.id, fmt.Sprintf(format, args...))
}

// ShareKeys (round 1) checks the key list, draws the self-mask seed, splits
// the mask private key and the seed t-of-|U1|, and encrypts each peer's pair
// of shares for that peer.
func (c *Client) ShareKeys(list KeyList) (ShareKeys, error) {
	if c.phase != phaseAdvertised {
		return ShareKeys{}, c.fail("ShareKeys out of order")
	}
	if list.Session != c.cfg.Session {
		return ShareKeys{}, c.fail("key list for session %d, want %d", list.Session, c.cfg.Session)
	}
	if len(list.Keys) < c.cfg.Threshold {
		c.phase = phaseFailed
		return ShareKeys{}, fmt.Errorf("%w: client %d: %d clients advertised keys, threshold %d", ErrBelowThreshold, c.id, len(list.Keys), c.cfg.Threshold)
	}
	c.u1 = make(map[federated.ClientID]AdvertiseKeys, len(list.Keys))
	seenKeys := map[[32]byte]bool{}
	for _, k := range list.Keys {
		if _, dup := c.u1[k.Client]; dup {
			return ShareKeys{}, c.fail("client %d listed twice", k.Client)
		}
		if seenKeys[k.EncKey] || seenKeys[k.MaskKey] {
			return ShareKeys{}, c.fail("repeated public key (client %d)", k.Client)
		}
		seenKeys[k.EncKey], seenKeys[k.MaskKey] = true, true
		c.u1[k.Client] = k
	}
	if me, ok := c.u1[c.id]; !ok || me.EncKey != c.enc.pub || me.MaskKey != c.mask.pub {
		return ShareKeys{}, c.fail("own keys missing or altered in the key list")
	}
	if _, err := io.ReadFull(c.rng, c.seed[:]); err != nil {
		c.phase = phaseFailed
		return ShareKeys{}, fmt.Errorf("secagg: entropy: %w", err)
	}
	ids := sortedIDs(c.u1)
	xs := make([]uint64, len(ids))
	for i, id := range ids {
		xs[i] = uint64(id) + 1
	}
	skShares, err := splitSecret(c.mask.secret(), c.cfg.Threshold, xs, c.rng)
	if err != nil {
		c.phase = phaseFailed
		return ShareKeys{}, err
	}
	seedShares, err := splitSecret(c.seed, c.cfg.Threshold, xs, c.rng)
	if err != nil {
		c.phase = phaseFailed
		return ShareKeys{}, err
	}
	out := ShareKeys{From: c.id, Shares: make([]EncryptedShare, 0, len(ids)-1)}
	c.encShared = make(map[federated.ClientID][]byte, len(ids))
	for i, v := range ids {
		if v == c.id {
			c.ownSK, c.ownSeed = skShares[i], seedShares[i]
			continue
		}
		shared, err := c.enc.agree(c.u1[v].EncKey)
		if err != nil {
			c.phase = phaseFailed
			return ShareKeys{}, err
		}
		c.encShared[v] = shared
		key := encKey(shared, c.cfg.Session, c.id, v)
		out.Shares = append(out.Shares, EncryptedShare{
			From: c.id, To: v,
			Ciphertext: sealShares(key, c.cfg.Session, c.id, v, skShares[i], seedShares[i]),
		})
	}
	c.phase = phaseShared
	return out, nil
}

// MaskInput (round 2) decrypts the shares it received (which fixes U2) and
// returns its input x masked with the self mask and the pairwise masks with
// every other member of U2. len(x) must be Config.Dim.
func (c *Client) MaskInput(in SharesFor, x []uint32) (MaskedInput, error) {
	if c.phase != phaseShared {
		return MaskedInput{}, c.fail("MaskInput out of order")
	}
	if in.To != c.id {
		return MaskedInput{}, c.fail("shares addressed to client %d", in.To)
	}
	if len(x) != c.cfg.Dim {
		return MaskedInput{}, c.fail("input of %d words, want %d", len(x), c.cfg.Dim)
	}
	c.skOf = map[federated.ClientID][ShareSize]byte{c.id: c.ownSK.Y}
	c.seedOf = map[federated.ClientID][ShareSize]byte{c.id: c.ownSeed.Y}
	for _, s := range in.Shares {
		if s.To != c.id {
			return MaskedInput{}, c.fail("share for client %d", s.To)
		}
		shared, ok := c.encShared[s.From]
		if !ok {
			return MaskedInput{}, c.fail("share from client %d outside U1", s.From)
		}
		if _, dup := c.skOf[s.From]; dup {
			return MaskedInput{}, c.fail("two shares from client %d", s.From)
		}
		sk, b, err := openShares(encKey(shared, c.cfg.Session, s.From, c.id), c.cfg.Session, s.From, c.id, s.Ciphertext)
		if err != nil {
			c.phase = phaseFailed
			return MaskedInput{}, fmt.Errorf("client %d: %w", c.id, err)
		}
		c.skOf[s.From], c.seedOf[s.From] = sk, b
	}
	if len(c.skOf) < c.cfg.Threshold {
		c.phase = phaseFailed
		return MaskedInput{}, fmt.Errorf("%w: client %d: U2 has %d clients, threshold %d", ErrBelowThreshold, c.id, len(c.skOf), c.cfg.Threshold)
	}
	c.u2 = sortedIDs(c.skOf)
	y := slices.Clone(x)
	addPRG(y, selfMaskKey(c.seed, c.cfg.Session, c.id), +1)
	for _, v := range c.u2 {
		if v == c.id {
			continue
		}
		shared, err := c.mask.agree(c.u1[v].MaskKey)
		if err != nil {
			c.phase = phaseFailed
			return MaskedInput{}, err
		}
		addPRG(y, pairMaskKey(shared, c.cfg.Session, c.id, v), pairSign(c.id, v))
	}
	c.phase = phaseMasked
	return MaskedInput{From: c.id, Masked: y}, nil
}

// pairSign is +1 when u > v and -1 when u < v, so p_uv + p_vu = 0.
func pairSign(u, v federated.ClientID) int {
	if u > v {
		return +1
	}
	return -1
}

// Unmask (round 3) reveals, for each member of U2, exactly one of its
// secrets' shares: the mask-key share if it is not among the survivors
// (its masked input is missing, so its pairwise masks must be removed), the
// seed share if it is (its self mask must be removed).
func (c *Client) Unmask(s Survivors) (Unmask, error) {
	if c.phase != phaseMasked {
		return Unmask{}, c.fail("Unmask out of order")
	}
	if s.Session != c.cfg.Session {
		return Unmask{}, c.fail("survivors of session %d, want %d", s.Session, c.cfg.Session)
	}
	alive := map[federated.ClientID]bool{}
	for _, v := range s.Clients {
		if _, ok := c.skOf[v]; !ok {
			return Unmask{}, c.fail("survivor %d was not in U2", v)
		}
		if alive[v] {
			return Unmask{}, c.fail("survivor %d listed twice", v)
		}
		alive[v] = true
	}
	if len(alive) < c.cfg.Threshold {
		c.phase = phaseFailed
		return Unmask{}, fmt.Errorf("%w: client %d: %d survivors, threshold %d", ErrBelowThreshold, c.id, len(alive), c.cfg.Threshold)
	}
	out := Unmask{From: c.id}
	for _, v := range c.u2 {
		if alive[v] {
			out.SeedShares = append(out.SeedShares, RevealedShare{Owner: v, Y: c.seedOf[v]})
		} else {
			out.MaskKeyShares = append(out.MaskKeyShares, RevealedShare{Owner: v, Y: c.skOf[v]})
		}
	}
	c.phase = phaseDone
	return out, nil
}

func sortedIDs[V any](m map[federated.ClientID]V) []federated.ClientID {
	ids := make([]federated.ClientID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
