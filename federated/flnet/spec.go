package flnet

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/edgedl/edgedl/federated"
	"github.com/edgedl/edgedl/federated/codec"
)

// Compression is a parsed uplink codec specification:
//
//	none                 dense float32 (4 bytes per parameter)
//	qsgd:BITS[:BUCKET]   QSGD at BITS bits per coordinate (2..16), one norm per
//	                     BUCKET coordinates (default 512)
//	topk:FRACTION        the largest FRACTION of the coordinates, with error
//	                     feedback (the unsent rest is carried to the next task)
//	sign                 one bit per coordinate and one scale, with error
//	                     feedback (EF-signSGD)
//	dgc:FRACTION[:M]     Deep Gradient Compression (Lin et al. 2018) over a
//	                     client's successive updates: top-k with momentum
//	                     correction (momentum M, default 0.9) and momentum
//	                     factor masking (codec.DGC); the state (momentum and
//	                     accumulated velocity) is carried to the next task
//
// Any of them may end in "+zstd" (lossless compression of the body).
type Compression struct {
	Scheme   string // "none", "qsgd", "topk", "sign" or "dgc"
	Bits     int
	Bucket   int
	Fraction float64
	Momentum float64 // dgc
	Zstd     bool
}

// ParseCompression parses a specification ("" means "none").
func ParseCompression(s string) (Compression, error) {
	spec := strings.TrimSpace(strings.ToLower(s))
	var c Compression
	if rest, ok := strings.CutSuffix(spec, "+zstd"); ok {
		spec, c.Zstd = rest, true
	}
	parts := strings.Split(spec, ":")
	bad := func(why string) (Compression, error) {
		return Compression{}, fmt.Errorf("flnet: compression %q: %s (want none, qsgd:BITS[:BUCKET], topk:FRACTION, dgc:FRACTION[:MOMENTUM] or sign, optionally +zstd)", s, why)
	}
	switch parts[0] {
	case "", "none", "dense":
		if len(parts) > 1 {
			return bad("takes no parameter")
		}
		c.Scheme = "none"
	case "qsgd":
		if len(parts) < 2 || len(parts) > 3 {
			return bad("needs the bits per coordinate")
		}
		b, err := strconv.Atoi(parts[1])
		if err != nil || b < 2 || b > 16 {
			return bad("bits must be an integer in 2..16")
		}
		c.Scheme, c.Bits, c.Bucket = "qsgd", b, 512
		if len(parts) == 3 {
			k, err := strconv.Atoi(parts[2])
			if err != nil || k < 1 {
				return bad("bucket must be a positive integer")
			}
			c.Bucket = k
		}
	case "topk":
		if len(parts) != 2 {
			return bad("needs the fraction of coordinates kept")
		}
		f, err := strconv.ParseFloat(parts[1], 64)
		if err != nil || !(f > 0 && f <= 1) {
			return bad("fraction must be in (0, 1]")
		}
		c.Scheme, c.Fraction = "topk", f
	case "dgc":
		if len(parts) < 2 || len(parts) > 3 {
			return bad("needs the fraction of coordinates kept")
		}
		f, err := strconv.ParseFloat(parts[1], 64)
		if err != nil || !(f > 0 && f <= 1) {
			return bad("fraction must be in (0, 1]")
		}
		c.Scheme, c.Fraction, c.Momentum = "dgc", f, 0.9
		if len(parts) == 3 {
			m, err := strconv.ParseFloat(parts[2], 64)
			if err != nil || !(m >= 0 && m < 1) {
				return bad("momentum must be in [0, 1)")
			}
			c.Momentum = m
		}
	case "sign":
		if len(parts) > 1 {
			return bad("takes no parameter")
		}
		c.Scheme = "sign"
	default:
		return bad("unknown scheme")
	}
	return c, nil
}

// String returns the canonical specification.
func (c Compression) String() string {
	var s string
	switch c.Scheme {
	case "qsgd":
		s = fmt.Sprintf("qsgd:%d", c.Bits)
		if c.Bucket != 512 {
			s += fmt.Sprintf(":%d", c.Bucket)
		}
	case "topk":
		s = "topk:" + strconv.FormatFloat(c.Fraction, 'g', -1, 64)
	case "dgc":
		s = "dgc:" + strconv.FormatFloat(c.Fraction, 'g', -1, 64)
		if c.Momentum != 0.9 {
			s += ":" + strconv.FormatFloat(c.Momentum, 'g', -1, 64)
		}
	case "sign":
		s = "sign"
	default:
		s = "none"
	}
	if c.Zstd {
		s += "+zstd"
	}
	return s
}

// Stateful reports whether the scheme keeps an error-feedback residual from
// one task to the next.
func (c Compression) Stateful() bool { return c.StateLen(1) > 0 }

// StateLen is the length of the error-feedback state Encode keeps for
// updates of dim coordinates: dim for top-k and sign, 2·dim for DGC
// (momentum, then accumulated velocity), 0 for stateless schemes.
func (c Compression) StateLen(dim int) int {
	switch c.Scheme {
	case "topk", "sign":
		return dim
	case "dgc":
		return 2 * dim
	}
	return 0
}

// Encode codes v. rng drives QSGD's stochastic rounding; residual is the
// error-feedback state of a stateful scheme (nil starts from zero) and the
// updated residual is returned (nil for stateless schemes).
func (c Compression) Encode(v []float32, rng *rand.Rand, residual []float32) (msg []byte, newResidual []float32, err error) {
	if residual != nil && len(residual) != c.StateLen(len(v)) {
		residual = nil
	}
	switch c.Scheme {
	case "qsgd":
		msg, err = codec.QSGD{Levels: codec.Bits(c.Bits), BucketSize: c.Bucket, Lossless: c.Zstd, Rand: rng}.Encode(v)
		return msg, nil, err
	case "topk":
		enc := &codec.TopK{Fraction: c.Fraction, ErrorFeedback: true, Lossless: c.Zstd, Residual: residual}
		msg, err = enc.Encode(v)
		return msg, enc.Residual, err
	case "sign":
		enc := &codec.EFSign{Lossless: c.Zstd, Residual: residual}
		msg, err = enc.Encode(v)
		return msg, enc.Residual, err
	case "dgc":
		d := len(v)
		if residual == nil {
			residual = make([]float32, 2*d)
		}
		enc := &codec.DGC{Fraction: c.Fraction, Momentum: c.Momentum, Lossless: c.Zstd, U: residual[:d:d], W: residual[d:]}
		msg, err = enc.Encode(v)
		return msg, residual, err
	}
	msg, err = codec.Dense{Lossless: c.Zstd}.Encode(v)
	return msg, nil, err
}

// Strategy is a parsed aggregation strategy:
//
//	fedavg                 sample-weighted mean of the deltas
//	fedprox[:MU]           FedAvg; clients add MU/2 ||w - w_global||² (MU 0.01)
//	fedadam[:LR]           FedAvg then the FedAdam server optimiser (LR 0.01);
//	                       fedyogi and fedadagrad likewise
//	median                 coordinate-wise median
//	trimmed-mean[:BETA]    coordinate-wise mean without the BETA tails (0.1)
//	krum[:F[:M]]           (Multi-)Krum against F Byzantine clients (F 1, M 1)
//	fedasync[:ALPHA]       asynchronous: each update mixed in at once with
//	                       weight ALPHA/sqrt(1+staleness) (ALPHA 0.6); "async"
//	                       is the same
//	fedbuff[:K]            asynchronous: K staleness-weighted deltas buffered
//	                       per server step (K 10)
type Strategy struct {
	Name     string
	Mu       float64 // FedProx
	ServerLR float64 // adaptive server optimisers
	Beta     float64 // trimmed mean
	F, M     int     // Krum
	Alpha    float64 // FedAsync
	K        int     // FedBuff
}

// ParseStrategy parses a specification ("" means "fedavg").
func ParseStrategy(s string) (Strategy, error) {
	spec := strings.TrimSpace(strings.ToLower(s))
	parts := strings.Split(spec, ":")
	bad := func(why string) (Strategy, error) {
		return Strategy{}, fmt.Errorf("flnet: strategy %q: %s (want fedavg, fedprox[:MU], fedadam[:LR], fedyogi[:LR], "+
			"fedadagrad[:LR], median, trimmed-mean[:BETA], krum[:F[:M]], fedasync[:ALPHA] or fedbuff[:K])", s, why)
	}
	num := func(i int, def float64) (float64, error) {
		if len(parts) <= i {
			return def, nil
		}
		return strconv.ParseFloat(parts[i], 64)
	}
	maxParts := map[string]int{"": 1, "fedavg": 1, "median": 1, "fedprox": 2, "fedadam": 2, "fedyogi": 2, "fedadagrad": 2,
		"trimmed-mean": 2, "krum": 3, "fedasync": 2, "async": 2, "fedbuff": 2}
	mp, ok := maxParts[parts[0]]
	if !ok {
		return bad("unknown strategy")
	}
	if len(parts) > mp {
		return bad("too many parameters")
	}
	st := Strategy{Name: parts[0]}
	var err error
	switch parts[0] {
	case "", "fedavg":
		st.Name = "fedavg"
	case "median":
	case "fedprox":
		if st.Mu, err = num(1, 0.01); err != nil || !(st.Mu >= 0) {
			return bad("MU must be a non-negative number")
		}
	case "fedadam", "fedyogi", "fedadagrad":
		if st.ServerLR, err = num(1, 0.01); err != nil || !(st.ServerLR > 0) {
			return bad("LR must be a positive number")
		}
	case "trimmed-mean":
		if st.Beta, err = num(1, 0.1); err != nil || !(st.Beta >= 0 && st.Beta < 0.5) {
			return bad("BETA must be in [0, 0.5)")
		}
	case "krum":
		f, err1 := num(1, 1)
		m, err2 := num(2, 1)
		if err1 != nil || err2 != nil || f < 0 || m < 1 || f != float64(int(f)) || m != float64(int(m)) {
			return bad("F must be a non-negative integer and M a positive one")
		}
		st.F, st.M = int(f), int(m)
	case "fedasync", "async":
		st.Name = "fedasync"
		if st.Alpha, err = num(1, 0.6); err != nil || !(st.Alpha > 0 && st.Alpha <= 1) {
			return bad("ALPHA must be in (0, 1]")
		}
	case "fedbuff":
		k, err := num(1, 10)
		if err != nil || k < 1 || k != float64(int(k)) {
			return bad("K must be a positive integer")
		}
		st.K = int(k)
	}
	return st, nil
}

// String returns the canonical specification.
func (s Strategy) String() string {
	g := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	switch s.Name {
	case "fedprox":
		return "fedprox:" + g(s.Mu)
	case "fedadam", "fedyogi", "fedadagrad":
		return s.Name + ":" + g(s.ServerLR)
	case "trimmed-mean":
		return "trimmed-mean:" + g(s.Beta)
	case "krum":
		return fmt.Sprintf("krum:%d:%d", s.F, s.M)
	case "fedasync":
		return "fedasync:" + g(s.Alpha)
	case "fedbuff":
		return fmt.Sprintf("fedbuff:%d", s.K)
	case "":
		return "fedavg"
	}
	return s.Name
}

// Async reports whether the strategy is asynchronous (no rounds).
func (s Strategy) Async() bool { return s.Name == "fedasync" || s.Name == "fedbuff" }

// Robust reports whether the aggregator looks at individual updates beyond
// their weighted sum (median, trimmed mean, Krum), which secure aggregation
// and client-level DP exclude.
func (s Strategy) Robust() bool {
	return s.Name == "median" || s.Name == "trimmed-mean" || s.Name == "krum"
}

// aggregator returns the strategy's aggregation rule.
func (s Strategy) aggregator() federated.Aggregator {
	switch s.Name {
	case "median":
		return federated.Median{}
	case "trimmed-mean":
		return federated.TrimmedMean{Beta: s.Beta}
	case "krum":
		return federated.Krum{F: s.F, M: s.M}
	}
	return federated.FedAvg{}
}

// serverOptimizer returns a fresh server optimiser (nil: plain FedAvg step).
func (s Strategy) serverOptimizer() *federated.Adaptive {
	switch s.Name {
	case "fedadam":
		return federated.NewFedAdam(s.ServerLR)
	case "fedyogi":
		return federated.NewFedYogi(s.ServerLR)
	case "fedadagrad":
		return federated.NewFedAdagrad(s.ServerLR)
	}
	return nil
}
