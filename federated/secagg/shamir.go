package secagg

import (
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
)

// Shamir secret sharing over the prime field GF(p), p = 2^256 + 297 (the
// smallest prime above 2^256), so any 32-byte secret is one field element.
// A share is the evaluation of a random degree-(t-1) polynomial with the
// secret as constant term at the point X = holder's ClientID + 1 (never 0).

// ShareSize is the encoded size of a share's Y value (257 bits).
const ShareSize = 33

var fieldP = func() *big.Int {
	p := new(big.Int).Lsh(big.NewInt(1), 256)
	return p.Add(p, big.NewInt(297))
}()

// Share is one point (X, Y) of a sharing polynomial.
type Share struct {
	X uint64
	Y [ShareSize]byte // big-endian, < p
}

var (
	// ErrShares is wrapped by errors from combining invalid or inconsistent
	// shares.
	ErrShares = errors.New("secagg: invalid shares")
)

// splitSecret shares a 32-byte secret t-of-len(xs) at the evaluation points
// xs (distinct, nonzero), drawing coefficients from rng.
func splitSecret(secret [32]byte, t int, xs []uint64, rng io.Reader) ([]Share, error) {
	if t < 1 || t > len(xs) {
		return nil, fmt.Errorf("%w: threshold %d of %d", ErrShares, t, len(xs))
	}
	coef := make([]*big.Int, t)
	coef[0] = new(big.Int).SetBytes(secret[:])
	for i := 1; i < t; i++ {
		c, err := randField(rng)
		if err != nil {
			return nil, err
		}
		coef[i] = c
	}
	out := make([]Share, len(xs))
	y := new(big.Int)
	xb := new(big.Int)
	for k, x := range xs {
		if x == 0 {
			return nil, fmt.Errorf("%w: evaluation point 0", ErrShares)
		}
		// Horner: y = (((c_{t-1} x + c_{t-2}) x + ...) x + c_0) mod p.
		xb.SetUint64(x)
		y.SetInt64(0)
		for i := t - 1; i >= 0; i-- {
			y.Mul(y, xb)
			y.Add(y, coef[i])
			y.Mod(y, fieldP)
		}
		out[k].X = x
		y.FillBytes(out[k].Y[:])
	}
	return out, nil
}

// randField draws a uniform element of GF(p) by rejection sampling 257-bit
// strings (acceptance probability just under 1/2).
func randField(rng io.Reader) (*big.Int, error) {
	var b [ShareSize]byte
	v := new(big.Int)
	for range 1000 {
		if _, err := io.ReadFull(rng, b[:]); err != nil {
			return nil, fmt.Errorf("secagg: entropy: %w", err)
		}
		b[0] &= 1
		v.SetBytes(b[:])
		if v.Cmp(fieldP) < 0 {
			return v, nil
		}
	}
	return nil, errors.New("secagg: entropy source is not random")
}

// combineShares recovers the secret from at least t shares by Lagrange
// interpolation at 0, using the t shares with the smallest X. It fails on
// fewer than t shares, duplicate or zero points, Y values outside the field,
// or a result that is not a 32-byte value (a sign of inconsistent shares).
func combineShares(shares []Share, t int) ([32]byte, error) {
	var out [32]byte
	if t < 1 || len(shares) < t {
		return out, fmt.Errorf("%w: %d shares, threshold %d", ErrShares, len(shares), t)
	}
	s := slices.Clone(shares)
	slices.SortFunc(s, func(a, b Share) int {
		switch {
		case a.X < b.X:
			return -1
		case a.X > b.X:
			return 1
		}
		return 0
	})
	for i := range s {
		if s[i].X == 0 || (i > 0 && s[i].X == s[i-1].X) {
			return out, fmt.Errorf("%w: duplicate or zero evaluation point %d", ErrShares, s[i].X)
		}
	}
	s = s[:t]
	xs := make([]*big.Int, t)
	for i, sh := range s {
		xs[i] = new(big.Int).SetUint64(sh.X)
	}
	sum := new(big.Int)
	num, den, term, yi := new(big.Int), new(big.Int), new(big.Int), new(big.Int)
	for i, sh := range s {
		yi.SetBytes(sh.Y[:])
		if yi.Cmp(fieldP) >= 0 {
			return out, fmt.Errorf("%w: share value outside the field", ErrShares)
		}
		// l_i(0) = Π_{j≠i} x_j / (x_j - x_i)
		num.SetInt64(1)
		den.SetInt64(1)
		for j := range s {
			if j == i {
				continue
			}
			num.Mul(num, xs[j])
			num.Mod(num, fieldP)
			term.Sub(xs[j], xs[i])
			den.Mul(den, term)
			den.Mod(den, fieldP)
		}
		den.ModInverse(den, fieldP)
		term.Mul(num, den)
		term.Mul(term, yi)
		sum.Add(sum, term)
		sum.Mod(sum, fieldP)
	}
	if sum.BitLen() > 256 {
		return out, fmt.Errorf("%w: reconstructed value is not a 32-byte secret", ErrShares)
	}
	sum.FillBytes(out[:])
	return out, nil
}
