// Package vec holds the small dense-vector loops that the federated packages
// share. Accumulations run in float64 so that sums over many clients or long
// vectors keep float32 precision in the result.
package vec

import "math"

// Norm2 returns the Euclidean norm of v.
func Norm2(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// Norm1 returns the sum of absolute values of v.
func Norm1(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += math.Abs(float64(x))
	}
	return s
}

// Dist2Sq returns the squared Euclidean distance between a and b (same length).
func Dist2Sq(a, b []float32) float64 {
	var s float64
	for i, x := range a {
		d := float64(x) - float64(b[i])
		s += d * d
	}
	return s
}

// Dist2 returns the Euclidean distance between a and b (same length).
func Dist2(a, b []float32) float64 { return math.Sqrt(Dist2Sq(a, b)) }

// Scale multiplies v by s in place.
func Scale(v []float32, s float64) {
	for i, x := range v {
		v[i] = float32(float64(x) * s)
	}
}

// Axpy computes y += a*x.
func Axpy(y []float32, a float64, x []float32) {
	for i, xi := range x {
		y[i] = float32(float64(y[i]) + a*float64(xi))
	}
}

// FirstNonFinite returns the index of the first NaN or ±Inf in v, or -1.
func FirstNonFinite(v []float32) int {
	for i, x := range v {
		// x-x is NaN exactly when x is NaN or ±Inf.
		if x-x != 0 {
			return i
		}
	}
	return -1
}

// Zero sets v to zero.
func Zero(v []float32) {
	for i := range v {
		v[i] = 0
	}
}
