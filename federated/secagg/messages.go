package secagg

import (
	"errors"

	"github.com/edgedl/edgedl/federated"
)

var (
	// ErrBelowThreshold: fewer than the threshold of clients took part in a
	// step, so the protocol stops without revealing anything.
	ErrBelowThreshold = errors.New("secagg: fewer clients than the threshold")
	// ErrProtocol wraps every refusal of a malformed, unexpected or
	// out-of-order message.
	ErrProtocol = errors.New("secagg: protocol violation")
	// ErrReconstruct: the shares revealed for unmasking are inconsistent.
	ErrReconstruct = errors.New("secagg: reconstruction failed")
)

// Config is shared by the server and all clients of one aggregation.
type Config struct {
	// Session identifies the aggregation (the FL round); it is bound into
	// every key derivation, so masks and keys never repeat across sessions.
	Session uint64
	// Threshold t: any t clients can recover a dropped client's masks; fewer
	// than t learn nothing. Bonawitz et al. need t > n/2 against a curious
	// server (2n/3 + 1 is usual).
	Threshold int
	// Dim is the length of the vectors (uint32 words) being summed.
	Dim int
}

// Messages below are plain structs; a transport ships them. WireSize gives
// the size of a compact binary encoding (ids 4 bytes, keys 32, shares 33,
// ciphertexts as they are, vector words 4), the number used to report
// communication cost.

// AdvertiseKeys (round 0, client → server): the client's two X25519 public
// keys, one for encrypting shares (c) and one for mask agreement (s).
type AdvertiseKeys struct {
	Client  federated.ClientID
	EncKey  [32]byte
	MaskKey [32]byte
}

func (m AdvertiseKeys) WireSize() int { return 4 + 32 + 32 }

// KeyList (round 0, server → clients): everyone's keys (the set U1), sorted
// by client.
type KeyList struct {
	Session uint64
	Keys    []AdvertiseKeys
}

func (m KeyList) WireSize() int { return 8 + 4 + len(m.Keys)*AdvertiseKeys{}.WireSize() }

// EncryptedShare carries, encrypted for To, From's shares of its mask key
// and of its self-mask seed.
type EncryptedShare struct {
	From, To   federated.ClientID
	Ciphertext []byte
}

func (m EncryptedShare) WireSize() int { return 4 + 4 + len(m.Ciphertext) }

// ShareKeys (round 1, client → server): one EncryptedShare for every other
// client in U1.
type ShareKeys struct {
	From   federated.ClientID
	Shares []EncryptedShare
}

func (m ShareKeys) WireSize() int {
	n := 4 + 4
	for _, s := range m.Shares {
		n += 4 + len(s.Ciphertext) // From is implied by the message
	}
	return n
}

// SharesFor (round 1, server → client To): the shares addressed to To from
// every other client in U2 (the clients whose ShareKeys arrived).
type SharesFor struct {
	To     federated.ClientID
	Shares []EncryptedShare
}

func (m SharesFor) WireSize() int {
	n := 4 + 4
	for _, s := range m.Shares {
		n += 4 + len(s.Ciphertext)
	}
	return n
}

// MaskedInput (round 2, client → server): y = x + PRG(b) + Σ ±PRG(s_uv) mod 2^32.
type MaskedInput struct {
	From   federated.ClientID
	Masked []uint32
}

func (m MaskedInput) WireSize() int { return 4 + 4*len(m.Masked) }

// Survivors (round 2, server → clients): U3, the clients whose masked input
// arrived.
type Survivors struct {
	Session uint64
	Clients []federated.ClientID
}

func (m Survivors) WireSize() int { return 8 + 4 + 4*len(m.Clients) }

// RevealedShare is a share of Owner's secret, held by the sender.
type RevealedShare struct {
	Owner federated.ClientID
	Y     [ShareSize]byte
}

// Unmask (round 3, client → server): shares of the mask keys of the clients
// that dropped (U2 \ U3) and of the self-mask seeds of the survivors (U3) —
// never both for the same client.
type Unmask struct {
	From          federated.ClientID
	MaskKeyShares []RevealedShare
	SeedShares    []RevealedShare
}

func (m Unmask) WireSize() int {
	return 4 + 4 + 4 + (len(m.MaskKeyShares)+len(m.SeedShares))*(4+ShareSize)
}
