package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// A partition assigns every sample index to exactly one client:
// parts[k] lists client k's indices. All partitioners are deterministic
// functions of their arguments and seed.

func newRand(seed, stream uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, stream)) }

// IID shuffles the n samples and deals them into clients parts whose sizes
// differ by at most one.
func IID(n, clients int, seed uint64) ([][]int, error) {
	if clients < 1 || clients > n {
		return nil, fmt.Errorf("data: IID: %d clients for %d samples", clients, n)
	}
	perm := Permutation(n, seed, 1)
	parts := make([][]int, clients)
	for k := range parts {
		parts[k] = perm[k*n/clients : (k+1)*n/clients]
	}
	return parts, nil
}

// Shards is the pathological non-IID split of McMahan et al. (FedAvg):
// sort the samples by label, cut them into clients*perClient shards of
// (nearly) equal size, and give each client perClient shards at random.
// MNIST's 60,000 training images with 100 clients and 2 shards each give
// 200 shards of 300, and most clients see two digits.
func Shards(labels []int, clients, perClient int, seed uint64) ([][]int, error) {
	n := len(labels)
	s := clients * perClient
	if clients < 1 || perClient < 1 || s > n {
		return nil, fmt.Errorf("data: Shards: %d clients × %d shards for %d samples", clients, perClient, n)
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return labels[idx[a]] < labels[idx[b]] })
	order := Permutation(s, seed, 2)
	parts := make([][]int, clients)
	for k := 0; k < clients; k++ {
		for j := 0; j < perClient; j++ {
			sh := order[k*perClient+j]
			parts[k] = append(parts[k], idx[sh*n/s:(sh+1)*n/s]...)
		}
		sort.Ints(parts[k])
	}
	return parts, nil
}

// Dirichlet splits each class over the clients in proportions drawn from
// Dirichlet(alpha) (Hsu et al. 2019): small alpha (0.1) gives each client
// few classes, large alpha (100) approaches IID. A client may receive no
// samples when alpha is small and the data set is small.
func Dirichlet(labels []int, clients int, alpha float64, seed uint64) ([][]int, error) {
	if clients < 1 || !(alpha > 0) {
		return nil, fmt.Errorf("data: Dirichlet: %d clients, alpha %v", clients, alpha)
	}
	r := newRand(seed, 3)
	byClass := map[int][]int{}
	var classes []int
	for i, l := range labels {
		if _, ok := byClass[l]; !ok {
			classes = append(classes, l)
		}
		byClass[l] = append(byClass[l], i)
	}
	sort.Ints(classes)
	parts := make([][]int, clients)
	p := make([]float64, clients)
	for _, c := range classes {
		idx := byClass[c]
		r.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		var sum float64
		for k := range p {
			p[k] = gamma(r, alpha)
			sum += p[k]
		}
		// cumulative cut points; the last one is len(idx) exactly
		acc := 0.0
		lo := 0
		for k := range p {
			acc += p[k] / sum
			hi := int(math.Round(acc * float64(len(idx))))
			if k == clients-1 {
				hi = len(idx)
			}
			hi = min(max(hi, lo), len(idx))
			parts[k] = append(parts[k], idx[lo:hi]...)
			lo = hi
		}
	}
	for k := range parts {
		sort.Ints(parts[k])
	}
	return parts, nil
}

// gamma draws from Gamma(a, 1) (Marsaglia and Tsang; boosted for a < 1).
func gamma(r *rand.Rand, a float64) float64 {
	if a < 1 {
		u := r.Float64()
		for u == 0 {
			u = r.Float64()
		}
		return gamma(r, a+1) * math.Pow(u, 1/a)
	}
	d := a - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := r.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

// Unbalanced deals shuffled samples (IID labels) to clients in sizes drawn
// from a lognormal distribution with log-scale standard deviation sigma
// (sigma 0 is IID), each client getting at least one sample.
func Unbalanced(n, clients int, sigma float64, seed uint64) ([][]int, error) {
	if clients < 1 || clients > n || sigma < 0 {
		return nil, fmt.Errorf("data: Unbalanced: %d clients for %d samples, sigma %v", clients, n, sigma)
	}
	r := newRand(seed, 4)
	w := make([]float64, clients)
	var sum float64
	for k := range w {
		w[k] = math.Exp(sigma * r.NormFloat64())
		sum += w[k]
	}
	// one sample each, the rest by largest remainder
	rest := n - clients
	sizes := make([]int, clients)
	type rem struct {
		k int
		f float64
	}
	rems := make([]rem, clients)
	used := 0
	for k := range w {
		exact := w[k] / sum * float64(rest)
		sizes[k] = 1 + int(exact)
		used += int(exact)
		rems[k] = rem{k, exact - math.Floor(exact)}
	}
	sort.SliceStable(rems, func(a, b int) bool { return rems[a].f > rems[b].f })
	for i := 0; i < rest-used; i++ {
		sizes[rems[i].k]++
	}
	perm := Permutation(n, seed, 5)
	parts := make([][]int, clients)
	off := 0
	for k, s := range sizes {
		parts[k] = perm[off : off+s]
		off += s
	}
	return parts, nil
}

// Partition returns the subsets of ds for the parts of a partition.
func Partition(ds Dataset, parts [][]int) []*Subset {
	out := make([]*Subset, len(parts))
	for k, p := range parts {
		out[k] = &Subset{Data: ds, Indices: p}
	}
	return out
}

// LabelCounts returns, per part, how many samples of each label it holds
// (labels must lie in [0, classes)).
func LabelCounts(labels []int, parts [][]int, classes int) [][]int {
	out := make([][]int, len(parts))
	for k, p := range parts {
		out[k] = make([]int, classes)
		for _, i := range p {
			if l := labels[i]; l >= 0 && l < classes {
				out[k][l]++
			}
		}
	}
	return out
}
