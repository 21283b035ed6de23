package dp

import (
	"errors"
	"math"
	"testing"
)

func relErr(got, want float64) float64 {
	if want == 0 {
		return math.Abs(got)
	}
	return math.Abs(got-want) / math.Abs(want)
}

// dpsgd is TF Privacy's compute_dp_sgd_privacy: q = batch/N, steps =
// ceil(epochs*N/batch), TFPrivacyOrders.
func dpsgd(t *testing.T, n, batch int, sigma, epochs, delta float64, conv Conversion) (float64, float64) {
	t.Helper()
	q := float64(batch) / float64(n)
	steps := int(math.Ceil(epochs * float64(n) / float64(batch)))
	a := NewAccountant(TFPrivacyOrders)
	if err := a.Compose(q, sigma, steps); err != nil {
		t.Fatal(err)
	}
	eps, order, err := a.Epsilon(delta, conv)
	if err != nil {
		t.Fatal(err)
	}
	return eps, order
}

// Published values, each with its source. Tolerances are far tighter than
// the two significant digits asked for where the source prints many digits.
func TestAgreesWithPublishedValues(t *testing.T) {
	cases := []struct {
		source               string
		n, batch             int
		sigma, epochs, delta float64
		conv                 Conversion
		wantEps, wantOrder   float64
		rtol                 float64
	}{
		// TF Privacy, tutorials/README.md ("Select Parameters", first row,
		// the MNIST tutorial's default) and the docstring of
		// tensorflow_privacy/privacy/analysis/compute_dp_sgd_privacy.py:
		// "--N=60000 --batch_size=256 --noise_multiplier=1.12 --epochs=60
		// --delta=1e-5 ... satisfies (2.92, 1e-5)-DP". Classic conversion (the
		// release of that time). Printed to 3 digits.
		{"TF Privacy MNIST tutorial", 60000, 256, 1.12, 60, 1e-5, ConversionClassic, 2.92, 9, 0.002},
		// compute_dp_sgd_privacy_test.py, older release (classic conversion):
		// ('Test0', 60000, 150, 1.3, 15, 1e-5, 0.941870567, 19.0),
		// ('Test1', 100000, 100, 1.0, 30, 1e-7, 1.70928734, 13.0),
		// ('Test2', 100000000, 1024, 0.1, 10, 1e-7, 5907984.81339406, 1.25).
		{"TF Privacy test0 (classic)", 60000, 150, 1.3, 15, 1e-5, ConversionClassic, 0.941870567, 19, 1e-8},
		{"TF Privacy test1 (classic)", 100000, 100, 1.0, 30, 1e-7, ConversionClassic, 1.70928734, 13, 1e-8},
		{"TF Privacy test2 (classic)", 100000000, 1024, 0.1, 10, 1e-7, ConversionClassic, 5907984.81339406, 1.25, 1e-9},
		// The same test file in current releases (dp_accounting's
		// RdpAccountant, improved conversion):
		// ('Test0', ..., 0.7242234026109595, 19.0),
		// ('Test1', ..., 1.4154988495444845, 13.0),
		// ('Test2', ..., 5907982.31138195, 1.25).
		{"TF Privacy test0 (improved)", 60000, 150, 1.3, 15, 1e-5, ConversionImproved, 0.7242234026109595, 19, 1e-9},
		{"TF Privacy test1 (improved)", 100000, 100, 1.0, 30, 1e-7, ConversionImproved, 1.4154988495444845, 13, 1e-9},
		{"TF Privacy test2 (improved)", 100000000, 1024, 0.1, 10, 1e-7, ConversionImproved, 5907982.31138195, 1.25, 1e-9},
	}
	for _, c := range cases {
		eps, order := dpsgd(t, c.n, c.batch, c.sigma, c.epochs, c.delta, c.conv)
		t.Logf("%-28s eps = %.10g at order %v (published %v at %v)", c.source, eps, order, c.wantEps, c.wantOrder)
		if relErr(eps, c.wantEps) > c.rtol || order != c.wantOrder {
			t.Errorf("%s: eps %.12g at order %v, want %.12g at %v", c.source, eps, order, c.wantEps, c.wantOrder)
		}
	}
}

// The brief's example: noise 1.1 instead of the tutorial's 1.12.
func TestMNISTNoise11(t *testing.T) {
	classic, _ := dpsgd(t, 60000, 256, 1.1, 60, 1e-5, ConversionClassic)
	improved, _ := dpsgd(t, 60000, 256, 1.1, 60, 1e-5, ConversionImproved)
	t.Logf("N=60000, batch 256, sigma 1.1, 60 epochs, delta 1e-5: eps = %.4f (classic), %.4f (improved)", classic, improved)
	// 3.009 and 2.597 (this implementation; the classic figure rounds to the
	// "eps ~ 3.0" usually quoted for this setting).
	if math.Abs(classic-3.01) > 0.005 || math.Abs(improved-2.60) > 0.005 {
		t.Errorf("got %v / %v", classic, improved)
	}
	if improved > classic {
		t.Error("improved conversion gave a larger epsilon")
	}
}

// Opacus, opacus/tests/accountants_test.py: test_rdp_accountant
// (noise 1.5, sample rate 0.04, steps int(90/0.04), delta 1e-5 ->
// 7.32911117143 with DEFAULT_ALPHAS and the improved conversion).
func TestAgreesWithOpacus(t *testing.T) {
	a := NewAccountant(OpacusOrders)
	if err := a.Compose(0.04, 1.5, int(90/0.04)); err != nil {
		t.Fatal(err)
	}
	eps, _, err := a.Epsilon(1e-5, ConversionImproved)
	if err != nil {
		t.Fatal(err)
	}
	if relErr(eps, 7.32911117143) > 1e-9 {
		t.Errorf("eps = %.12g, Opacus 7.32911117143", eps)
	}
	// test_get_noise_multiplier: target eps 8, delta 1e-5, rate 0.04, 90
	// epochs -> 1.425307617. Our search (Opacus's current algorithm, tolerance
	// 0.01 in eps) returns 1.416; both lie in the accepted band just under eps
	// 8, and agree to two significant digits.
	sigma, err := NoiseMultiplier(8, 1e-5, 0.04, int(90/0.04), OpacusOrders, ConversionImproved, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []float64{sigma, 1.425307617} {
		r, _ := ComputeRDP(0.04, s, int(90/0.04), OpacusOrders)
		e, _, _ := Epsilon(OpacusOrders, r, 1e-5, ConversionImproved)
		t.Logf("sigma %.6f -> eps %.4f", s, e)
		if e > 8 || e < 7.9 {
			t.Errorf("sigma %v gives eps %v, want in [7.9, 8]", s, e)
		}
	}
	if math.Abs(sigma-1.425307617) > 0.01 {
		t.Errorf("noise multiplier %v vs Opacus 1.4253", sigma)
	}
}

// Abadi et al., "Deep Learning with Differential Privacy" (CCS 2016),
// Section 3.1: q = 0.01, sigma = 4, delta = 1e-5, T = 10000 gives eps ~ 1.26
// with the moments accountant (integer-order RDP with the classic
// conversion, in today's terms).
func TestAbadiMomentsAccountant(t *testing.T) {
	a := NewAccountant(nil)
	if err := a.Compose(0.01, 4, 10000); err != nil {
		t.Fatal(err)
	}
	eps, _, _ := a.Epsilon(1e-5, ConversionClassic)
	if math.Abs(eps-1.26) > 0.005 {
		t.Errorf("eps = %v, Abadi et al. 1.26", eps)
	}
}

// TF Privacy rdp_accountant_test.py: test_compute_rdp_scalar and
// test_compute_rdp_sequence (values printed to 5-6 decimals, compared there
// with delta 1e-5).
func TestRDPValues(t *testing.T) {
	r, err := ComputeRDP(0.1, 2, 10, []float64{5})
	if err != nil || math.Abs(r[0]-0.07737) > 1e-5 {
		t.Errorf("compute_rdp(0.1, 2, 10, 5) = %v, %v; want 0.07737", r, err)
	}
	orders := []float64{1.5, 2.5, 5, 50, 100, math.Inf(1)}
	want := []float64{0.00065, 0.001085, 0.00218075, 0.023846, 167.416307, math.Inf(1)}
	r, err = ComputeRDP(0.01, 2.5, 50, orders)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if !(math.Abs(r[i]-want[i]) <= 1e-5 || (math.IsInf(r[i], 1) && math.IsInf(want[i], 1))) {
			t.Errorf("order %v: %v, want %v", orders[i], r[i], want[i])
		}
	}
	// q = 0 costs nothing; q = 1 is the Gaussian mechanism, alpha/(2 sigma^2).
	if r, _ := RDP(0, 10, 20); r != 0 {
		t.Errorf("q=0: %v", r)
	}
	if r, _ := RDP(1, 10, 20); r != 0.1 {
		t.Errorf("q=1: %v", r)
	}
	if r, _ := RDP(0.5, 0, 20); !math.IsInf(r, 1) {
		t.Errorf("sigma=0: %v", r)
	}
}

// log A_alpha against numerical integration in 50-digit arithmetic, at the
// extreme parameters of TF Privacy's test_compute_log_a_equals_mp (rtol 1e-4
// there and here) plus two typical ones. The references were computed with
// mpmath (mp.dps = 50):
//
//	A = quad(lambda z: npdf(z, 0, sigma) *
//	         ((1-q) + q*exp((2z-1)/(2 sigma^2)))**alpha, [-inf, 0, 1, inf])
func TestLogAAgainstQuadrature(t *testing.T) {
	cases := []struct{ q, sigma, alpha, logA float64 }{
		{1e-7, .1, 1.01, 4.0034123225264e-8},
		{1e-6, .1, 256, 3260455.83690471},
		{1e-5, .1, 256.1, 3263603.44607569},
		{1e-6, 1, 27, 8.7695113048485e-10},
		{1e-4, 1., 1.5, 6.44268695383665e-9},
		{1e-3, 1., 2, 1.71828035221452e-6},
		{.01, 10, 20, 0.00019129699912843},
		{.1, 100, 20.5, 0.000199918184580683},
		{.99, .1, 256, 3263990.03472157},
		{.999, 100, 256.1, 3.26010803797311},
		{0.01, 1.1, 7.5, 0.00351168644177209},
		{0.004, 1.12, 2.25, 2.74805540330915e-5},
	}
	for _, c := range cases {
		r, err := RDP(c.q, c.sigma, c.alpha)
		if err != nil {
			t.Fatal(err)
		}
		logA := r * (c.alpha - 1)
		if relErr(logA, c.logA) > 1e-4 {
			t.Errorf("q=%v sigma=%v alpha=%v: log A = %.12g, quadrature %.12g", c.q, c.sigma, c.alpha, logA, c.logA)
		}
	}
}

// TF Privacy test_get_privacy_spent_check_target_delta / _eps: constant RDP
// 1.1 over orders 2..32 is pure DP; at delta 1e-5 the improved conversion
// gives eps 1.32783806176 at order 32, and back.
func TestConversions(t *testing.T) {
	var orders, rdp []float64
	for a := 2; a <= 32; a++ {
		orders = append(orders, float64(a))
		rdp = append(rdp, 1.1)
	}
	eps, order, err := Epsilon(orders, rdp, 1e-5, ConversionImproved)
	if err != nil || relErr(eps, 1.32783806176) > 1e-10 || order != 32 {
		t.Errorf("eps %v at %v (%v), want 1.32783806176 at 32", eps, order, err)
	}
	delta, order, err := Delta(orders, rdp, 1.32783806176, ConversionImproved)
	if err != nil || relErr(delta, 1e-5) > 1e-8 || order != 32 {
		t.Errorf("delta %v at %v (%v), want 1e-5 at 32", delta, order, err)
	}
	// Classic: eps = 1.1 + log(1e5)/31.
	eps, _, _ = Epsilon(orders, rdp, 1e-5, ConversionClassic)
	if relErr(eps, 1.1+math.Log(1e5)/31) > 1e-12 {
		t.Errorf("classic eps %v", eps)
	}
	// Gaussian mechanism with sigma = 4.530877117 is exactly (1, 1e-6)-DP
	// (TF Privacy test, fine order grid 1.000..99.999).
	var fine []float64
	for i := 1000; i < 100000; i++ {
		fine = append(fine, 0.001*float64(i))
	}
	fine = fine[1:] // order 1 itself is not an RDP order
	r, _ := ComputeRDP(1, 4.530877117, 1, fine)
	eps, _, _ = Epsilon(fine, r, 1e-6, ConversionImproved)
	if math.Abs(eps-1) > 1e-6 {
		t.Errorf("Gaussian eps %v, want 1", eps)
	}
	delta, _, _ = Delta(fine, r, 1, ConversionImproved)
	if relErr(delta, 1e-6) > 1e-4 {
		t.Errorf("Gaussian delta %v, want 1e-6", delta)
	}
}

// Epsilon and Delta invert each other, and the improved conversion is never
// worse than the classic one (TF Privacy test_get_privacy_spent_consistency).
func TestConversionConsistency(t *testing.T) {
	var orders []float64
	for a := 2; a < 50; a++ {
		orders = append(orders, float64(a))
	}
	for _, q := range []float64{0.01, 0.1, 0.8, 1} {
		for _, sigma := range []float64{0.1, 1, 3, 10, 100} {
			r, err := ComputeRDP(q, sigma, 1, orders)
			if err != nil {
				t.Fatal(err)
			}
			for _, delta := range []float64{.5, .1, 1e-3, 1e-6, 1e-12} {
				e1, o1, _ := Epsilon(orders, r, delta, ConversionImproved)
				ec, _, _ := Epsilon(orders, r, delta, ConversionClassic)
				if e1 > ec+1e-12 {
					t.Errorf("q=%v sigma=%v delta=%v: improved %v > classic %v", q, sigma, delta, e1, ec)
				}
				d2, o2, _ := Delta(orders, r, e1, ConversionImproved)
				if e1 != 0 {
					if o1 != o2 || relErr(d2, delta) > 1e-6 {
						t.Errorf("q=%v sigma=%v: delta %v -> eps %v (order %v) -> delta %v (order %v)", q, sigma, delta, e1, o1, d2, o2)
					}
				} else if d2 > delta {
					t.Errorf("degenerate case: delta %v > %v", d2, delta)
				}
			}
		}
	}
}

func TestComposeAdds(t *testing.T) {
	a := NewAccountant(nil)
	b := NewAccountant(nil)
	_ = a.Compose(0.01, 1.1, 100)
	_ = a.Compose(0.01, 1.1, 50)
	_ = b.Compose(0.01, 1.1, 150)
	for i := range a.RDP {
		if relErr(a.RDP[i], b.RDP[i]) > 1e-12 {
			t.Fatalf("order %v: %v vs %v", a.Orders[i], a.RDP[i], b.RDP[i])
		}
	}
	// More steps never cost less.
	e1, _, _ := b.Epsilon(1e-5, ConversionImproved)
	_ = b.Compose(0.02, 2, 10)
	e2, _, _ := b.Epsilon(1e-5, ConversionImproved)
	if e2 <= e1 {
		t.Errorf("eps went from %v to %v", e1, e2)
	}
}

func TestAccountantErrors(t *testing.T) {
	for _, c := range []struct{ q, sigma, alpha float64 }{
		{-0.1, 1, 2}, {1.1, 1, 2}, {0.1, -1, 2}, {0.1, 1, 1}, {0.1, 1, 0.5}, {math.NaN(), 1, 2},
	} {
		if _, err := RDP(c.q, c.sigma, c.alpha); !errors.Is(err, ErrAccountant) {
			t.Errorf("RDP(%v, %v, %v): %v", c.q, c.sigma, c.alpha, err)
		}
	}
	if _, _, err := Epsilon([]float64{2}, []float64{1}, 0, ConversionImproved); err == nil {
		t.Error("delta 0 accepted")
	}
	if _, _, err := Epsilon([]float64{2, 3}, []float64{1}, 1e-5, ConversionImproved); err == nil {
		t.Error("length mismatch accepted")
	}
	if _, err := NoiseMultiplier(1e-9, 1e-9, 0.01, 1000000, nil, ConversionImproved, 0); err == nil {
		t.Error("impossible budget accepted")
	}
}
