package data

import (
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"

	"github.com/edgedl/edgedl/tensor"
)

// Dataset is an indexed set of samples with integer class labels.
//
// Implementations must be safe for concurrent calls of Sample with
// different x (loaders fill batches from several goroutines).
type Dataset interface {
	// Len is the number of samples.
	Len() int
	// Shape is the shape of one sample's features, e.g. [1 28 28].
	Shape() []int
	// Sample copies the features of sample i into x, whose length is the
	// product of Shape, and returns its label (-1 if it has none).
	Sample(i int, x []float32) int
}

// Labeler is a Dataset that can report a label without copying features
// (partitioners use it; Labels falls back to Sample).
type Labeler interface {
	Label(i int) int
}

// Targeted is a Dataset with a float target per sample (regression),
// used by the MSE loss instead of one-hot labels.
type Targeted interface {
	TargetShape() []int
	Target(i int, y []float32)
}

// Labels returns every sample's label.
func Labels(ds Dataset) []int {
	out := make([]int, ds.Len())
	if l, ok := ds.(Labeler); ok {
		for i := range out {
			out[i] = l.Label(i)
		}
		return out
	}
	x := make([]float32, numel(ds.Shape()))
	for i := range out {
		out[i] = ds.Sample(i, x)
	}
	return out
}

// NumClasses is one more than the largest label.
func NumClasses(ds Dataset) int {
	n := 0
	for _, l := range Labels(ds) {
		n = max(n, l+1)
	}
	return n
}

func numel(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// InMemory is a Dataset held in one float32 slice.
type InMemory struct {
	// X holds the samples back to back, each of SampleShape.
	X           []float32
	SampleShape []int
	// Y holds the labels (nil: unlabelled).
	Y []int
	// T, if not nil, holds a float target per sample, each of TShape.
	T      []float32
	TShape []int
	// Classes optionally names the labels.
	Classes []string
}

var (
	_ Dataset  = (*InMemory)(nil)
	_ Labeler  = (*InMemory)(nil)
	_ Targeted = (*InMemory)(nil)
)

// NewInMemory checks the sizes and returns the data set.
func NewInMemory(x []float32, shape []int, y []int) (*InMemory, error) {
	per := numel(shape)
	if per == 0 || len(x)%per != 0 {
		return nil, fmt.Errorf("data: %d values do not split into samples of shape %v", len(x), shape)
	}
	if y != nil && len(y) != len(x)/per {
		return nil, fmt.Errorf("data: %d samples but %d labels", len(x)/per, len(y))
	}
	return &InMemory{X: x, SampleShape: slices.Clone(shape), Y: y}, nil
}

// Len implements Dataset.
func (d *InMemory) Len() int { return len(d.X) / numel(d.SampleShape) }

// Shape implements Dataset.
func (d *InMemory) Shape() []int { return d.SampleShape }

// Sample implements Dataset.
func (d *InMemory) Sample(i int, x []float32) int {
	per := numel(d.SampleShape)
	copy(x, d.X[i*per:(i+1)*per])
	return d.Label(i)
}

// Label implements Labeler.
func (d *InMemory) Label(i int) int {
	if d.Y == nil {
		return -1
	}
	return d.Y[i]
}

// TargetShape implements Targeted; nil when the set has no targets.
func (d *InMemory) TargetShape() []int { return d.TShape }

// Target implements Targeted.
func (d *InMemory) Target(i int, y []float32) {
	per := numel(d.TShape)
	copy(y, d.T[i*per:(i+1)*per])
}

// Subset is a view of some samples of a Dataset, in the given order.
type Subset struct {
	Data    Dataset
	Indices []int
}

// Len implements Dataset.
func (s *Subset) Len() int { return len(s.Indices) }

// Shape implements Dataset.
func (s *Subset) Shape() []int { return s.Data.Shape() }

// Sample implements Dataset.
func (s *Subset) Sample(i int, x []float32) int { return s.Data.Sample(s.Indices[i], x) }

// Label implements Labeler.
func (s *Subset) Label(i int) int {
	if l, ok := s.Data.(Labeler); ok {
		return l.Label(s.Indices[i])
	}
	x := make([]float32, numel(s.Data.Shape()))
	return s.Data.Sample(s.Indices[i], x)
}

// TargetShape implements Targeted (nil if the underlying set has none).
func (s *Subset) TargetShape() []int {
	if t, ok := s.Data.(Targeted); ok {
		return t.TargetShape()
	}
	return nil
}

// Target implements Targeted.
func (s *Subset) Target(i int, y []float32) { s.Data.(Targeted).Target(s.Indices[i], y) }

// Split divides ds into two random subsets, the first holding frac of the
// samples, deterministically by seed.
func Split(ds Dataset, frac float64, seed uint64) (*Subset, *Subset) {
	perm := Permutation(ds.Len(), seed, 0)
	k := int(frac*float64(len(perm)) + 0.5)
	k = min(max(k, 0), len(perm))
	return &Subset{ds, perm[:k]}, &Subset{ds, perm[k:]}
}

// Permutation returns a random permutation of [0,n) determined by (seed,
// stream): the loaders use the epoch as stream.
func Permutation(n int, seed, stream uint64) []int {
	r := rand.New(rand.NewPCG(seed, stream^0x9e3779b97f4a7c15))
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	r.Shuffle(n, func(i, j int) { p[i], p[j] = p[j], p[i] })
	return p
}

// Batch is a minibatch: features stacked along a new first dim.
type Batch struct {
	// X is [len(Index), Shape...].
	X *tensor.Tensor
	// Labels are the samples' labels (-1 for none).
	Labels []int
	// Y holds the targets of a Targeted data set, [len(Index), TargetShape...], else nil.
	Y *tensor.Tensor
	// Index lists the samples' indices in the data set.
	Index []int
}

// Len is the batch size.
func (b *Batch) Len() int { return len(b.Index) }

// Fill loads the samples idx of ds into b, reusing b's storage.
func (b *Batch) Fill(ds Dataset, idx []int) {
	shape := ds.Shape()
	per := numel(shape)
	n := len(idx)
	if b.X == nil || cap(b.X.F32()) < n*per {
		b.X = tensor.Float32s(append([]int{n}, shape...), make([]float32, n*per))
	}
	x := b.X.F32()[:n*per]
	b.X.Data, b.X.Shape = x, append(append(b.X.Shape[:0], n), shape...)
	b.Labels = resize(b.Labels, n)
	b.Index = append(b.Index[:0], idx...)
	for k, i := range idx {
		b.Labels[k] = ds.Sample(i, x[k*per:(k+1)*per])
	}
	b.Y = nil
	if t, ok := ds.(Targeted); ok && t.TargetShape() != nil {
		ts := t.TargetShape()
		tp := numel(ts)
		y := make([]float32, n*tp)
		for k, i := range idx {
			t.Target(i, y[k*tp:(k+1)*tp])
		}
		b.Y = tensor.Float32s(append([]int{n}, ts...), y)
	}
}

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// Loader cuts a Dataset into minibatches.
type Loader struct {
	Data  Dataset
	Batch int
	// Shuffle draws a new order each epoch from (Seed, epoch).
	Shuffle bool
	Seed    uint64
	// DropLast skips a final partial batch.
	DropLast bool
}

// NumBatches is the number of batches per epoch.
func (l *Loader) NumBatches() int {
	n := l.Data.Len()
	if l.DropLast {
		return n / l.Batch
	}
	return (n + l.Batch - 1) / l.Batch
}

// Epoch yields the batches of one epoch. The yielded *Batch is reused:
// it is valid until the next iteration.
func (l *Loader) Epoch(epoch int) iter.Seq[*Batch] {
	return func(yield func(*Batch) bool) {
		n := l.Data.Len()
		bs := l.Batch
		if bs <= 0 {
			bs = n
		}
		var order []int
		if l.Shuffle {
			order = Permutation(n, l.Seed, uint64(epoch))
		} else {
			order = make([]int, n)
			for i := range order {
				order[i] = i
			}
		}
		b := &Batch{}
		for lo := 0; lo < n; lo += bs {
			hi := min(n, lo+bs)
			if l.DropLast && hi-lo < bs {
				return
			}
			b.Fill(l.Data, order[lo:hi])
			if !yield(b) {
				return
			}
		}
	}
}
