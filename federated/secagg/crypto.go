package secagg

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/edgedl/edgedl/federated"
)

const kdfSalt = "edgedl/secagg/v1"

// keyPair is an X25519 key pair. Agreement uses crypto/ecdh directly: it is
// the implementation behind golang.org/x/crypto/curve25519, whose X25519
// function recomputes the public key on every call (twice the work).
type keyPair struct {
	priv *ecdh.PrivateKey
	pub  [32]byte
}

func newKeyPair(rng io.Reader) (keyPair, error) {
	var b [32]byte
	if _, err := io.ReadFull(rng, b[:]); err != nil {
		return keyPair{}, fmt.Errorf("secagg: entropy: %w", err)
	}
	return keyPairFrom(b)
}

func keyPairFrom(b [32]byte) (keyPair, error) {
	k, err := ecdh.X25519().NewPrivateKey(b[:])
	if err != nil {
		return keyPair{}, err
	}
	var kp keyPair
	kp.priv = k
	copy(kp.pub[:], k.PublicKey().Bytes())
	return kp, nil
}

// secret returns the 32 private key bytes (what is secret-shared).
func (k keyPair) secret() [32]byte {
	var b [32]byte
	copy(b[:], k.priv.Bytes())
	return b
}

// agree runs X25519 with a peer's public key and refuses low-order keys
// (all-zero shared secret).
func (k keyPair) agree(peerPub [32]byte) ([]byte, error) {
	pub, err := ecdh.X25519().NewPublicKey(peerPub[:])
	if err != nil {
		return nil, fmt.Errorf("%w: bad public key: %v", ErrProtocol, err)
	}
	s, err := k.priv.ECDH(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: key agreement: %v", ErrProtocol, err)
	}
	return s, nil
}

// deriveKey is HKDF-SHA256(secret, salt, info = label || session || ids).
func deriveKey(secret []byte, label string, session uint64, ids ...federated.ClientID) [32]byte {
	info := make([]byte, 0, len(label)+8+4*len(ids))
	info = append(info, label...)
	info = binary.BigEndian.AppendUint64(info, session)
	for _, id := range ids {
		info = binary.BigEndian.AppendUint32(info, uint32(id))
	}
	k, err := hkdf.Key(sha256.New, secret, []byte(kdfSalt), string(info), 32)
	if err != nil {
		panic("secagg: hkdf: " + err.Error()) // unreachable: 32 bytes is a valid length
	}
	var out [32]byte
	copy(out[:], k)
	return out
}

// pairMaskKey is the PRG key of the pairwise mask between u and v: the
// shared secret with the ids in ascending order, so both ends (and the
// server, after reconstructing one end's key) derive the same key.
func pairMaskKey(shared []byte, session uint64, u, v federated.ClientID) [32]byte {
	a, b := min(u, v), max(u, v)
	return deriveKey(shared, "pair-mask", session, a, b)
}

func selfMaskKey(seed [32]byte, session uint64, u federated.ClientID) [32]byte {
	return deriveKey(seed[:], "self-mask", session, u)
}

// encKey is the AEAD key for shares sent from -> to. Every key encrypts
// exactly one message, so the nonce can be fixed.
func encKey(shared []byte, session uint64, from, to federated.ClientID) [32]byte {
	return deriveKey(shared, "share-enc", session, from, to)
}

func aead(key [32]byte) cipher.AEAD {
	b, err := aes.NewCipher(key[:])
	if err != nil {
		panic("secagg: aes: " + err.Error()) // unreachable: 32-byte key
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		panic("secagg: gcm: " + err.Error()) // unreachable
	}
	return g
}

func shareAD(session uint64, from, to federated.ClientID) []byte {
	ad := binary.BigEndian.AppendUint64(nil, session)
	ad = binary.BigEndian.AppendUint32(ad, uint32(from))
	return binary.BigEndian.AppendUint32(ad, uint32(to))
}

// plaintext of an encrypted share: from, to, the share of the mask key, the
// share of the self-mask seed.
const sharePlainSize = 4 + 4 + 2*ShareSize

// CiphertextSize is the size of one encrypted share pair (plaintext plus the
// 16-byte GCM tag).
const CiphertextSize = sharePlainSize + 16

var zeroNonce [12]byte

func sealShares(key [32]byte, session uint64, from, to federated.ClientID, sk, b Share) []byte {
	p := make([]byte, 0, sharePlainSize)
	p = binary.BigEndian.AppendUint32(p, uint32(from))
	p = binary.BigEndian.AppendUint32(p, uint32(to))
	p = append(p, sk.Y[:]...)
	p = append(p, b.Y[:]...)
	return aead(key).Seal(nil, zeroNonce[:], p, shareAD(session, from, to))
}

func openShares(key [32]byte, session uint64, from, to federated.ClientID, ct []byte) (sk, b [ShareSize]byte, err error) {
	if len(ct) != CiphertextSize {
		return sk, b, fmt.Errorf("%w: ciphertext of %d bytes from client %d", ErrProtocol, len(ct), from)
	}
	p, err := aead(key).Open(nil, zeroNonce[:], ct, shareAD(session, from, to))
	if err != nil {
		return sk, b, fmt.Errorf("%w: shares from client %d do not authenticate", ErrProtocol, from)
	}
	if federated.ClientID(binary.BigEndian.Uint32(p)) != from || federated.ClientID(binary.BigEndian.Uint32(p[4:])) != to {
		return sk, b, fmt.Errorf("%w: shares from client %d carry the wrong ids", ErrProtocol, from)
	}
	copy(sk[:], p[8:8+ShareSize])
	copy(b[:], p[8+ShareSize:])
	return sk, b, nil
}

// addPRG adds sign * PRG(key) to dst word by word, mod 2^32. The PRG is
// AES-256-CTR with a zero IV, read as little-endian uint32 words.
func addPRG(dst []uint32, key [32]byte, sign int) {
	b, err := aes.NewCipher(key[:])
	if err != nil {
		panic("secagg: aes: " + err.Error()) // unreachable
	}
	var iv [aes.BlockSize]byte
	stream := cipher.NewCTR(b, iv[:])
	const chunk = 4096
	buf := make([]byte, 4*chunk)
	for off := 0; off < len(dst); off += chunk {
		n := min(chunk, len(dst)-off)
		ks := buf[:4*n]
		clear(ks)
		stream.XORKeyStream(ks, ks)
		d := dst[off : off+n]
		if sign > 0 {
			for i := range d {
				d[i] += binary.LittleEndian.Uint32(ks[4*i:])
			}
		} else {
			for i := range d {
				d[i] -= binary.LittleEndian.Uint32(ks[4*i:])
			}
		}
	}
}
