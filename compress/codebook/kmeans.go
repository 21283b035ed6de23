package codebook

import "sort"

// KMeans clusters values into at most k shared values (1-D Lloyd
// iterations from centroids spread linearly between the smallest and the
// largest value, the initialisation Han et al. found best) and returns the
// centroids, ascending, and the index of each value's centroid. A centroid
// left without values (pruned weights leave a gap around zero) is moved
// into the cluster with the largest squared error, splitting it. It stops
// after iters rounds or when no centroid moves.
func KMeans(values []float32, k, iters int) (centroids []float32, idx []byte) {
	if len(values) == 0 || k <= 0 {
		return nil, make([]byte, len(values))
	}
	k = min(k, 256)
	sorted := make([]float64, len(values))
	for i, v := range values {
		sorted[i] = float64(v)
	}
	sort.Float64s(sorted)
	prefix := make([]float64, len(sorted)+1)
	prefix2 := make([]float64, len(sorted)+1)
	for i, v := range sorted {
		prefix[i+1] = prefix[i] + v
		prefix2[i+1] = prefix2[i] + v*v
	}
	mean := func(a, b int) float64 { return (prefix[b] - prefix[a]) / float64(b-a) }
	sse := func(a, b int) float64 {
		if b-a < 2 {
			return 0
		}
		s := prefix[b] - prefix[a]
		return prefix2[b] - prefix2[a] - s*s/float64(b-a)
	}
	lo, hi := sorted[0], sorted[len(sorted)-1]
	c := make([]float64, k)
	for j := range c {
		if k == 1 {
			c[j] = (lo + hi) / 2
		} else {
			c[j] = lo + (hi-lo)*float64(j)/float64(k-1)
		}
	}
	// start[j] is the first sorted value of cluster j: the first at or
	// above the midpoint between centroids j-1 and j.
	start := make([]int, k+1)
	bounds := func() {
		start[0], start[k] = 0, len(sorted)
		for j := 1; j < k; j++ {
			mid := (c[j-1] + c[j]) / 2
			start[j] = sort.SearchFloat64s(sorted, mid)
			start[j] = max(start[j], start[j-1])
		}
	}
	for it := 0; it < iters; it++ {
		bounds()
		moved := false
		var empty []int
		for j := 0; j < k; j++ {
			a, b := start[j], start[j+1]
			if b <= a {
				empty = append(empty, j)
				continue
			}
			if m := mean(a, b); m != c[j] {
				moved = true
				c[j] = m
			}
		}
		split := make([]bool, k)
		for _, j := range empty {
			// Split the cluster of largest squared error in two halves.
			worst, we := -1, 0.0
			for i := 0; i < k; i++ {
				if e := sse(start[i], start[i+1]); !split[i] && e > we && sortedDistinct(sorted, start[i], start[i+1]) {
					worst, we = i, e
				}
			}
			if worst < 0 {
				break // fewer distinct values than centroids
			}
			a, b := start[worst], start[worst+1]
			mid := a + (b-a)/2
			c[worst], c[j] = mean(a, mid), mean(mid, b)
			split[worst] = true
			moved = true
		}
		if len(empty) > 0 {
			sort.Float64s(c)
		}
		if !moved {
			break
		}
	}
	// Drop empty clusters, so the codebook holds only used values.
	bounds()
	var kept []float64
	for j := 0; j < k; j++ {
		if start[j+1] > start[j] {
			kept = append(kept, c[j])
		}
	}
	centroids = make([]float32, len(kept))
	mids := make([]float64, len(kept))
	for j, v := range kept {
		centroids[j] = float32(v)
		if j > 0 {
			mids[j] = (kept[j-1] + kept[j]) / 2
		}
	}
	idx = make([]byte, len(values))
	for i, v := range values {
		// last j with mids[j] <= v (mids[0] is unused)
		j := sort.Search(len(kept)-1, func(j int) bool { return float64(v) < mids[j+1] })
		idx[i] = byte(j)
	}
	return centroids, idx
}

// sortedDistinct reports whether sorted[a:b] holds two different values.
func sortedDistinct(sorted []float64, a, b int) bool {
	return b-a >= 2 && sorted[a] != sorted[b-1]
}
