package dp

import (
	"errors"
	"fmt"
	"math"
)

// TFPrivacyOrders are the RDP orders of TensorFlow Privacy's
// compute_dp_sgd_privacy (1.25 … 4.5, 5 … 63, 128, 256, 512).
var TFPrivacyOrders = func() []float64 {
	o := []float64{1.25, 1.5, 1.75, 2, 2.25, 2.5, 3, 3.5, 4, 4.5}
	for a := 5; a < 64; a++ {
		o = append(o, float64(a))
	}
	return append(o, 128, 256, 512)
}()

// OpacusOrders are Opacus's RDPAccountant.DEFAULT_ALPHAS (1.1 … 10.9 in steps
// of 0.1, then 12 … 63), which TF Privacy's newer tutorials use too.
var OpacusOrders = func() []float64 {
	var o []float64
	for x := 1; x < 100; x++ {
		o = append(o, 1+float64(x)/10)
	}
	for a := 12; a < 64; a++ {
		o = append(o, float64(a))
	}
	return o
}()

// DefaultOrders is the order list Accountant uses when given none:
// TFPrivacyOrders.
var DefaultOrders = TFPrivacyOrders

// ErrAccountant wraps invalid accountant arguments.
var ErrAccountant = errors.New("dp: invalid accountant argument")

// RDP returns the Rényi differential privacy ε(α) of one application of the
// sampled Gaussian mechanism with sampling rate q (Poisson sampling) and noise
// multiplier sigma (noise std / L2 sensitivity), at order alpha > 1, following
// Mironov, Talwar and Zhang, "Rényi Differential Privacy of the Sampled
// Gaussian Mechanism" (2019), Section 3.3: ε(α) = log(A_α)/(α-1), with A_α
// summed in closed form for integer α and as the two-sided series with
// complementary error functions for fractional α. It is a line-by-line
// reading of TF Privacy's rdp_accountant (_compute_rdp), which Opacus copies;
// see the tests for agreement with both.
func RDP(q, sigma, alpha float64) (float64, error) {
	switch {
	case !(q >= 0 && q <= 1):
		return 0, fmt.Errorf("%w: sampling rate %v outside [0, 1]", ErrAccountant, q)
	case !(sigma >= 0):
		return 0, fmt.Errorf("%w: noise multiplier %v", ErrAccountant, sigma)
	case !(alpha > 1):
		return 0, fmt.Errorf("%w: order %v, need > 1", ErrAccountant, alpha)
	}
	switch {
	case q == 0:
		return 0, nil
	case sigma == 0:
		return math.Inf(1), nil
	case q == 1:
		return alpha / (2 * sigma * sigma), nil
	case math.IsInf(alpha, 1):
		return math.Inf(1), nil
	}
	var logA float64
	var err error
	if alpha == math.Trunc(alpha) && alpha < 1<<30 {
		logA = logAInt(q, sigma, int(alpha))
	} else {
		logA, err = logAFrac(q, sigma, alpha)
		if err != nil {
			return 0, err
		}
	}
	return logA / (alpha - 1), nil
}

// logAInt: A_α = Σ_{i=0}^{α} C(α,i) q^i (1-q)^{α-i} exp((i²-i)/(2σ²)).
func logAInt(q, sigma float64, alpha int) float64 {
	logA := math.Inf(-1)
	lq, l1q := math.Log(q), math.Log1p(-q)
	a := float64(alpha)
	la1, _ := math.Lgamma(a + 1)
	for i := 0; i <= alpha; i++ {
		fi := float64(i)
		li1, _ := math.Lgamma(fi + 1)
		lai1, _ := math.Lgamma(a - fi + 1)
		logCoef := la1 - li1 - lai1 + fi*lq + (a-fi)*l1q
		s := logCoef + (fi*fi-fi)/(2*sigma*sigma)
		logA = logAdd(logA, s)
	}
	return logA
}

// logAFrac sums the two halves of A_α (integrals over (-∞, z0] and [z0, ∞))
// term by term until both terms fall below e^-30.
func logAFrac(q, sigma, alpha float64) (float64, error) {
	logA0, logA1 := math.Inf(-1), math.Inf(-1)
	z0 := sigma*sigma*math.Log(1/q-1) + 0.5
	lq, l1q := math.Log(q), math.Log1p(-q)
	la1, _ := math.Lgamma(alpha + 1)
	s2 := math.Sqrt2 * sigma
	for i := 0; ; i++ {
		if i > 1_000_000 {
			return 0, fmt.Errorf("%w: RDP series did not converge (q=%v, sigma=%v, alpha=%v)", ErrAccountant, q, sigma, alpha)
		}
		fi := float64(i)
		// C(α, i) = Γ(α+1) / (Γ(i+1) Γ(α-i+1)); its sign is that of Γ(α-i+1).
		li1, _ := math.Lgamma(fi + 1)
		lg, sign := math.Lgamma(alpha - fi + 1)
		logCoef := la1 - li1 - lg
		j := alpha - fi
		logT0 := logCoef + fi*lq + j*l1q
		logT1 := logCoef + j*lq + fi*l1q
		logE0 := math.Log(0.5) + logErfc((fi-z0)/s2)
		logE1 := math.Log(0.5) + logErfc((z0-j)/s2)
		logS0 := logT0 + (fi*fi-fi)/(2*sigma*sigma) + logE0
		logS1 := logT1 + (j*j-j)/(2*sigma*sigma) + logE1
		if sign > 0 {
			logA0 = logAdd(logA0, logS0)
			logA1 = logAdd(logA1, logS1)
		} else {
			var err error
			if logA0, err = logSub(logA0, logS0); err != nil {
				return 0, err
			}
			if logA1, err = logSub(logA1, logS1); err != nil {
				return 0, err
			}
		}
		if max(logS0, logS1) < -30 {
			break
		}
	}
	return logAdd(logA0, logA1), nil
}

func logAdd(x, y float64) float64 {
	a, b := min(x, y), max(x, y)
	if math.IsInf(a, -1) {
		return b
	}
	return math.Log1p(math.Exp(a-b)) + b
}

func logSub(x, y float64) (float64, error) {
	if x < y {
		return 0, fmt.Errorf("%w: RDP series: negative intermediate", ErrAccountant)
	}
	if math.IsInf(y, -1) {
		return x, nil
	}
	if x == y {
		return math.Inf(-1), nil
	}
	d := x - y
	if d > 700 {
		return x, nil // exp(d) would overflow; exp(x)-exp(y) ≈ exp(x)
	}
	return math.Log(math.Expm1(d)) + y, nil
}

// logErfc returns log(erfc(x)), accurate also where erfc underflows (x ≳
// 26), through the asymptotic series erfc(x) ~ exp(-x²)/(x√π) ·
// exp(-1/(2x²) + 5/(8x⁴) - 37/(24x⁶) + 353/(64x⁸)).
func logErfc(x float64) float64 {
	if r := math.Erfc(x); r > 1e-300 {
		return math.Log(r)
	}
	x2 := x * x
	return -math.Log(math.Pi)/2 - math.Log(x) - x2 - 0.5/x2 + 0.625/(x2*x2) - 37.0/24.0/(x2*x2*x2) + 353.0/64.0/(x2*x2*x2*x2)
}

// ComputeRDP returns steps times the per-step RDP at each order (RDP
// composes additively).
func ComputeRDP(q, sigma float64, steps int, orders []float64) ([]float64, error) {
	if steps < 0 {
		return nil, fmt.Errorf("%w: %d steps", ErrAccountant, steps)
	}
	out := make([]float64, len(orders))
	for i, a := range orders {
		r, err := RDP(q, sigma, a)
		if err != nil {
			return nil, err
		}
		out[i] = r * float64(steps)
	}
	return out, nil
}

// Conversion selects the RDP → (ε, δ) conversion.
type Conversion uint8

const (
	// ConversionImproved is Balle et al., "Hypothesis Testing
	// Interpretations and Rényi Differential Privacy" (AISTATS 2020),
	// Theorem 21 (also Canonne, Kamath and Steinke 2020, Prop. 12 of
	// arXiv:2004.00010): ε = r + log((α-1)/α) - (log δ + log α)/(α-1). This is
	// what Opacus and TF Privacy ≥ 0.6 (dp_accounting) report. Orders α ≤ 1.01
	// are skipped as numerically unstable, and when δ² + expm1(-r) ≥ 0 the KL
	// bound gives ε = 0, both as in dp_accounting.
	ConversionImproved Conversion = iota
	// ConversionClassic is Mironov, "Rényi Differential Privacy" (CSF 2017),
	// Proposition 3: ε = r + log(1/δ)/(α-1). Older TF Privacy releases (the
	// MNIST tutorial's published figures) use it. Always at least the improved
	// bound.
	ConversionClassic
)

func (c Conversion) String() string {
	switch c {
	case ConversionImproved:
		return "improved (Balle et al. 2020)"
	case ConversionClassic:
		return "classic (Mironov 2017)"
	}
	return fmt.Sprintf("Conversion(%d)", uint8(c))
}

// Epsilon converts RDP values at orders into the smallest ε for which the
// mechanism is (ε, δ)-DP, and returns the order that attains it.
func Epsilon(orders, rdp []float64, delta float64, conv Conversion) (eps, order float64, err error) {
	if len(orders) != len(rdp) || len(orders) == 0 {
		return 0, 0, fmt.Errorf("%w: %d orders, %d RDP values", ErrAccountant, len(orders), len(rdp))
	}
	if !(delta > 0 && delta < 1) {
		return 0, 0, fmt.Errorf("%w: delta %v outside (0, 1)", ErrAccountant, delta)
	}
	best, bestOrder := math.Inf(1), math.NaN()
	for k, a := range orders {
		r := rdp[k]
		if !(a > 1) || r < 0 || math.IsNaN(r) {
			return 0, 0, fmt.Errorf("%w: order %v with RDP %v", ErrAccountant, a, r)
		}
		var e float64
		switch conv {
		case ConversionClassic:
			e = r - math.Log(delta)/(a-1)
		case ConversionImproved:
			switch {
			case delta*delta+math.Expm1(-r) >= 0:
				e = 0
			case a > 1.01:
				e = r + math.Log1p(-1/a) - math.Log(delta*a)/(a-1)
			default:
				e = math.Inf(1)
			}
		default:
			return 0, 0, fmt.Errorf("%w: conversion %d", ErrAccountant, conv)
		}
		if e < best {
			best, bestOrder = e, a
		}
	}
	if math.IsInf(best, 1) {
		return best, bestOrder, nil
	}
	return max(best, 0), bestOrder, nil
}

// Delta converts RDP values at orders into the smallest δ for which the
// mechanism is (ε, δ)-DP, and returns the order that attains it.
func Delta(orders, rdp []float64, eps float64, conv Conversion) (delta, order float64, err error) {
	if len(orders) != len(rdp) || len(orders) == 0 {
		return 0, 0, fmt.Errorf("%w: %d orders, %d RDP values", ErrAccountant, len(orders), len(rdp))
	}
	if !(eps >= 0) {
		return 0, 0, fmt.Errorf("%w: epsilon %v", ErrAccountant, eps)
	}
	best, bestOrder := math.Inf(1), math.NaN()
	for k, a := range orders {
		r := rdp[k]
		if !(a > 1) || r < 0 || math.IsNaN(r) {
			return 0, 0, fmt.Errorf("%w: order %v with RDP %v", ErrAccountant, a, r)
		}
		var logDelta float64
		switch conv {
		case ConversionClassic:
			logDelta = (a - 1) * (r - eps)
		case ConversionImproved:
			// KL bound δ ≤ sqrt(1 - exp(-r)), and for α > 1.01 the RDP bound.
			if r == 0 {
				logDelta = math.Inf(-1)
			} else {
				logDelta = 0.5 * math.Log1p(-math.Exp(-r))
			}
			if a > 1.01 {
				logDelta = min(logDelta, (a-1)*(r-eps+math.Log1p(-1/a))-math.Log(a))
			}
		default:
			return 0, 0, fmt.Errorf("%w: conversion %d", ErrAccountant, conv)
		}
		if logDelta < best {
			best, bestOrder = logDelta, a
		}
	}
	return min(math.Exp(best), 1), bestOrder, nil
}

// Accountant composes sampled Gaussian mechanisms in RDP: each Compose adds
// the RDP of steps applications at every order. It is a value type holding
// only numbers; checkpoint it by copying Orders and RDP.
type Accountant struct {
	Orders []float64
	RDP    []float64
}

// NewAccountant returns an empty accountant over orders (DefaultOrders when
// nil).
func NewAccountant(orders []float64) *Accountant {
	if orders == nil {
		orders = DefaultOrders
	}
	return &Accountant{Orders: append([]float64(nil), orders...), RDP: make([]float64, len(orders))}
}

// Compose records steps applications of the sampled Gaussian mechanism with
// sampling rate q and noise multiplier sigma: DP-SGD steps with q = batch /
// N, or DP-FedAvg rounds with q = expected clients per round / population.
func (a *Accountant) Compose(q, sigma float64, steps int) error {
	r, err := ComputeRDP(q, sigma, steps, a.Orders)
	if err != nil {
		return err
	}
	for i := range r {
		a.RDP[i] += r[i]
	}
	return nil
}

// Epsilon returns the ε spent so far at δ, and the optimal order.
func (a *Accountant) Epsilon(delta float64, conv Conversion) (eps, order float64, err error) {
	return Epsilon(a.Orders, a.RDP, delta, conv)
}

// Delta returns the δ spent so far at ε, and the optimal order.
func (a *Accountant) Delta(eps float64, conv Conversion) (delta, order float64, err error) {
	return Delta(a.Orders, a.RDP, eps, conv)
}

// NoiseMultiplier returns the smallest noise multiplier (to within tol in ε)
// that keeps steps applications at sampling rate q within (targetEps,
// delta), by doubling then bisection — the search Opacus's
// get_noise_multiplier does (with tol = 0.01 it returns the same value).
func NoiseMultiplier(targetEps, delta, q float64, steps int, orders []float64, conv Conversion, tol float64) (float64, error) {
	if orders == nil {
		orders = DefaultOrders
	}
	if tol <= 0 {
		tol = 0.01
	}
	epsAt := func(sigma float64) (float64, error) {
		r, err := ComputeRDP(q, sigma, steps, orders)
		if err != nil {
			return 0, err
		}
		e, _, err := Epsilon(orders, r, delta, conv)
		return e, err
	}
	lo, hi := 0.0, 10.0
	epsHi := math.Inf(1)
	for epsHi > targetEps {
		hi *= 2
		if hi > 1e6 {
			return 0, fmt.Errorf("%w: no noise multiplier up to 1e6 reaches epsilon %v", ErrAccountant, targetEps)
		}
		var err error
		if epsHi, err = epsAt(hi); err != nil {
			return 0, err
		}
	}
	for targetEps-epsHi > tol {
		mid := (lo + hi) / 2
		e, err := epsAt(mid)
		if err != nil {
			return 0, err
		}
		if e < targetEps {
			hi, epsHi = mid, e
		} else {
			lo = mid
		}
	}
	return hi, nil
}
