package train

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/train/data"
)

// Loss scores a batch of model outputs.
type Loss interface {
	// Eval returns the mean loss of out over the batch and writes
	// d(loss)/d(out) into grad (len(grad) == out.Len()).
	Eval(out *tensor.Tensor, b *data.Batch, grad []float32) (float64, error)
	String() string
}

// CrossEntropy is softmax followed by negative log-likelihood, fused and
// computed stably (log-sum-exp with the row maximum subtracted), averaged
// over the batch. The output must be logits [N, C] (trailing dims of size
// 1 are allowed) and every label in [0, C).
type CrossEntropy struct{}

// Eval implements Loss.
func (CrossEntropy) Eval(out *tensor.Tensor, b *data.Batch, grad []float32) (float64, error) {
	n, c, err := logitsShape(out, b)
	if err != nil {
		return 0, err
	}
	return softmaxCE(out.F32(), n, c, b.Labels, grad)
}

func (CrossEntropy) String() string { return "cross-entropy" }

func logitsShape(out *tensor.Tensor, b *data.Batch) (n, c int, err error) {
	if out.DType != tensor.Float32 || len(out.Shape) < 2 {
		return 0, 0, fmt.Errorf("train: loss wants float32 logits [N, C], model output is %v%v", out.DType, out.Shape)
	}
	n, c = out.Shape[0], out.Len()/max(out.Shape[0], 1)
	if n != len(b.Labels) {
		return 0, 0, fmt.Errorf("train: %d outputs for %d labels", n, len(b.Labels))
	}
	return n, c, nil
}

// softmaxCE is the fused softmax cross-entropy over logits [n, c]; grad
// (may be nil) receives (softmax - onehot)/n.
func softmaxCE[F float](logits []F, n, c int, labels []int, grad []F) (float64, error) {
	var total float64
	for i := 0; i < n; i++ {
		row := logits[i*c : (i+1)*c]
		y := labels[i]
		if y < 0 || y >= c {
			return 0, fmt.Errorf("train: label %d of sample %d is outside [0, %d)", y, i, c)
		}
		m := math.Inf(-1)
		for _, v := range row {
			m = max(m, float64(v))
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - m)
		}
		lse := m + math.Log(s)
		total += lse - float64(row[y])
		if grad != nil {
			g := grad[i*c : (i+1)*c]
			for j, v := range row {
				g[j] = F(math.Exp(float64(v)-lse) / float64(n))
			}
			g[y] -= F(1 / float64(n))
		}
	}
	return total / float64(max(n, 1)), nil
}

// MSE is the mean squared error over all output elements, against the
// batch's targets (data.Targeted) or, without them, one-hot labels.
type MSE struct{}

// Eval implements Loss.
func (MSE) Eval(out *tensor.Tensor, b *data.Batch, grad []float32) (float64, error) {
	if out.DType != tensor.Float32 {
		return 0, fmt.Errorf("train: MSE wants a float32 output, model output is %v", out.DType)
	}
	var target []float32
	if b.Y != nil {
		target = b.Y.F32()
		if len(target) != out.Len() {
			return 0, fmt.Errorf("train: MSE: output has %d elements, targets %d", out.Len(), len(target))
		}
	} else {
		n, c, err := logitsShape(out, b)
		if err != nil {
			return 0, err
		}
		target = make([]float32, n*c)
		for i, y := range b.Labels {
			if y < 0 || y >= c {
				return 0, fmt.Errorf("train: label %d of sample %d is outside [0, %d)", y, i, c)
			}
			target[i*c+y] = 1
		}
	}
	return mse(out.F32(), target, grad), nil
}

func (MSE) String() string { return "mse" }

func mse[F float](out, target, grad []F) float64 {
	var s float64
	n := float64(max(len(out), 1))
	for i, v := range out {
		d := float64(v) - float64(target[i])
		s += d * d
		if grad != nil {
			grad[i] = F(2 * d / n)
		}
	}
	return s / n
}

// Correct counts the rows of logits [N, C] whose arg max is the label.
func Correct(out *tensor.Tensor, labels []int) int {
	if len(out.Shape) == 0 || out.Shape[0] == 0 {
		return 0
	}
	n := out.Shape[0]
	c := out.Len() / n
	d := out.F32()
	k := 0
	for i := 0; i < n && i < len(labels); i++ {
		row := d[i*c : (i+1)*c]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		if best == labels[i] {
			k++
		}
	}
	return k
}
