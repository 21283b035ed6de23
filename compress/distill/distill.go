package distill

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/train"
	"github.com/edgedl/edgedl/train/data"
)

// Teacher gives the logits a trained model assigns to a batch of inputs
// [N, ...] as a float32 tensor [N, C].
type Teacher interface {
	Logits(x *tensor.Tensor) (*tensor.Tensor, error)
}

// ONNXTeacher runs an ONNX model (its first input and output) with
// edgedl's inference engine.
type ONNXTeacher struct {
	s *runtime.Session
}

var _ Teacher = (*ONNXTeacher)(nil)

// NewONNXTeacher compiles m for inference with threads threads (0: one
// per CPU). The model must have one input.
func NewONNXTeacher(m *graph.Model, threads int) (*ONNXTeacher, error) {
	if m == nil || m.Graph == nil {
		return nil, errors.New("distill: nil teacher model")
	}
	s, err := runtime.Compile(m, runtime.Options{Threads: threads})
	if err != nil {
		return nil, fmt.Errorf("distill: teacher: %w", err)
	}
	if len(s.Inputs()) != 1 || len(s.Outputs()) == 0 {
		s.Close()
		return nil, fmt.Errorf("distill: the teacher has %d inputs and %d outputs; want one input", len(s.Inputs()), len(s.Outputs()))
	}
	return &ONNXTeacher{s: s}, nil
}

// Logits implements Teacher.
func (t *ONNXTeacher) Logits(x *tensor.Tensor) (*tensor.Tensor, error) {
	outs, err := t.s.RunOrdered([]*tensor.Tensor{x}, nil)
	if err != nil {
		return nil, fmt.Errorf("distill: teacher: %w", err)
	}
	return outs[0], nil
}

// Close releases the teacher's session.
func (t *ONNXTeacher) Close() { t.s.Close() }

// Targets is a data set whose targets (data.Targeted) are the teacher's
// logits for each sample: what Loss reads from a batch's Y.
type Targets struct {
	data.Dataset
	logits  []float32
	classes int
	// Probabilities reports that the teacher's outputs were probabilities
	// (non-negative rows summing to 1, a model ending in Softmax); their
	// logarithms are stored, which are logits up to a per-row constant.
	Probabilities bool
}

var (
	_ data.Dataset  = (*Targets)(nil)
	_ data.Labeler  = (*Targets)(nil)
	_ data.Targeted = (*Targets)(nil)
)

// SoftTargets runs the teacher over ds once, batch samples at a time
// (default 256), and returns ds with the teacher's logits as targets.
func SoftTargets(ctx context.Context, t Teacher, ds data.Dataset, batch int) (*Targets, error) {
	if t == nil || ds == nil {
		return nil, errors.New("distill: nil teacher or data set")
	}
	if ds.Len() == 0 {
		return nil, errors.New("distill: empty data set")
	}
	if batch <= 0 {
		batch = 256
	}
	out := &Targets{Dataset: ds}
	l := &data.Loader{Data: ds, Batch: batch}
	for b := range l.Epoch(0) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		y, err := t.Logits(b.X)
		if err != nil {
			return nil, err
		}
		if y.DType != tensor.Float32 || y.Rank() < 2 || y.Shape[0] != b.Len() {
			return nil, fmt.Errorf("distill: teacher output is %v%v for a batch of %d; want float32 logits [N, C]", y.DType, y.Shape, b.Len())
		}
		c := y.Len() / b.Len()
		if out.classes == 0 {
			out.classes = c
			out.logits = make([]float32, 0, ds.Len()*c)
		} else if c != out.classes {
			return nil, fmt.Errorf("distill: teacher gave %d classes, then %d", out.classes, c)
		}
		out.logits = append(out.logits, y.F32()...)
	}
	for _, v := range out.logits {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, errors.New("distill: the teacher's outputs contain NaN or Inf")
		}
	}
	if isProbabilities(out.logits, out.classes) {
		out.Probabilities = true
		for i, v := range out.logits {
			out.logits[i] = float32(math.Log(max(float64(v), 1e-30)))
		}
	}
	return out, nil
}

// isProbabilities reports whether every row is non-negative and sums to 1.
func isProbabilities(v []float32, c int) bool {
	for i := 0; i < len(v); i += c {
		var s float64
		for _, x := range v[i : i+c] {
			if x < 0 {
				return false
			}
			s += float64(x)
		}
		if math.Abs(s-1) > 1e-3 {
			return false
		}
	}
	return true
}

// Classes is the number of teacher outputs per sample.
func (t *Targets) Classes() int { return t.classes }

// Label implements data.Labeler.
func (t *Targets) Label(i int) int {
	if l, ok := t.Dataset.(data.Labeler); ok {
		return l.Label(i)
	}
	x := make([]float32, numel(t.Shape()))
	return t.Sample(i, x)
}

// TargetShape implements data.Targeted: [C].
func (t *Targets) TargetShape() []int { return []int{t.classes} }

// Target implements data.Targeted: the teacher's logits for sample i.
func (t *Targets) Target(i int, y []float32) {
	copy(y, t.logits[i*t.classes:(i+1)*t.classes])
}

func numel(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// Loss is the knowledge-distillation loss of Hinton, Vinyals and Dean
// (2015), averaged over the batch:
//
//	Alpha * T² * KL(softmax(teacher/T) || softmax(student/T)) + (1-Alpha) * CE(student, labels)
//
// The teacher's logits come from the batch's targets (Y [N, C], see
// SoftTargets), the student's are the model output. The T² factor keeps
// the soft term's gradient, T·(q-p)/N, on the scale of the hard term's as
// T changes. With Alpha 1 the labels are not read (unlabelled data).
type Loss struct {
	Temperature float64 // T > 0
	Alpha       float64 // weight of the soft term, in [0, 1]
}

var _ train.Loss = Loss{}

func (l Loss) String() string {
	return fmt.Sprintf("distillation (T=%g, alpha=%g)", l.Temperature, l.Alpha)
}

func (l Loss) check() error {
	if !(l.Temperature > 0) || math.IsInf(l.Temperature, 0) {
		return fmt.Errorf("distill: temperature %v must be positive and finite", l.Temperature)
	}
	if !(l.Alpha >= 0 && l.Alpha <= 1) {
		return fmt.Errorf("distill: alpha %v must be in [0, 1]", l.Alpha)
	}
	return nil
}

// Eval implements train.Loss.
func (l Loss) Eval(out *tensor.Tensor, b *data.Batch, grad []float32) (float64, error) {
	if err := l.check(); err != nil {
		return 0, err
	}
	if out.DType != tensor.Float32 || out.Rank() < 2 || out.Shape[0] != b.Len() {
		return 0, fmt.Errorf("distill: the student's output is %v%v for a batch of %d; want float32 logits [N, C]", out.DType, out.Shape, b.Len())
	}
	if b.Y == nil {
		return 0, errors.New("distill: the batch has no teacher logits (train on the data set SoftTargets returns)")
	}
	if b.Y.Len() != out.Len() {
		return 0, fmt.Errorf("distill: teacher logits %v do not match the student's output %v", b.Y.Shape, out.Shape)
	}
	n := b.Len()
	c := out.Len() / max(n, 1)
	return kdLoss(out.F32(), b.Y.F32(), b.Labels, n, c, l.Temperature, l.Alpha, grad)
}

// kdLoss computes the loss over logits [n, c] and, if grad is not nil,
// writes d(loss)/d(student) into it.
func kdLoss[F float32 | float64](student, teacher []F, labels []int, n, c int, temp, alpha float64, grad []F) (float64, error) {
	var total float64
	q := make([]float64, c)  // softmax(student/T)
	p := make([]float64, c)  // softmax(teacher/T)
	s1 := make([]float64, c) // softmax(student)
	for i := 0; i < n; i++ {
		zs, zt := student[i*c:(i+1)*c], teacher[i*c:(i+1)*c]
		lq := logSoftmax(zs, 1/temp, q)
		lp := logSoftmax(zt, 1/temp, p)
		var kl float64
		for j := range p {
			kl += p[j] * (lp[j] - lq[j])
		}
		loss := alpha * temp * temp * kl
		var y int
		if alpha < 1 {
			y = labels[i]
			if y < 0 || y >= c {
				return 0, fmt.Errorf("distill: label %d of sample %d is outside [0, %d)", y, i, c)
			}
			ls := logSoftmax(zs, 1, s1)
			loss += (1 - alpha) * -ls[y]
		}
		total += loss
		if grad != nil {
			g := grad[i*c : (i+1)*c]
			for j := range g {
				v := alpha * temp * (q[j] - p[j])
				if alpha < 1 {
					h := s1[j]
					if j == y {
						h--
					}
					v += (1 - alpha) * h
				}
				g[j] = F(v / float64(n))
			}
		}
	}
	return total / float64(max(n, 1)), nil
}

// logSoftmax writes softmax(z*k) into prob and returns its logarithm (a
// new slice).
func logSoftmax[F float32 | float64](z []F, k float64, prob []float64) []float64 {
	m := math.Inf(-1)
	for _, v := range z {
		m = max(m, float64(v)*k)
	}
	var s float64
	for _, v := range z {
		s += math.Exp(float64(v)*k - m)
	}
	lse := m + math.Log(s)
	out := make([]float64, len(z))
	for j, v := range z {
		out[j] = float64(v)*k - lse
		prob[j] = math.Exp(out[j])
	}
	return out
}

// Config configures Distill.
type Config struct {
	// Train is the training run: epochs, batch, learning rate or schedule,
	// optimiser, seed (see train.Config). Its Loss is replaced by the
	// distillation loss, and its Eval set, if any, is scored by
	// cross-entropy against the labels (the teacher does not see it).
	Train train.Config
	// Temperature T (default 4).
	Temperature float64
	// Alpha, the weight of the soft term in (0, 1] (default 0.9). Training
	// on labels alone is train.Fit with the cross-entropy loss.
	Alpha float64
	// Threads for the student's program and the teacher (0: one per CPU).
	Threads int
	// TeacherBatch is the teacher's batch size (default 256).
	TeacherBatch int
}

// Distill trains student (an inference graph: a train/arch model or an
// ONNX file) on trainSet against the teacher's soft targets, computed
// once over trainSet, and returns the trained student (ready for
// onnx.Save) and the metrics of each epoch. A trainSet made by SoftTargets
// is used as it is (the teacher, which may then be nil, is not run): one
// pass of the teacher serves several students.
func Distill(ctx context.Context, student *graph.Model, teacher Teacher, trainSet data.Dataset, cfg Config,
	cb train.Callbacks) (*graph.Model, []train.EpochMetrics, error) {
	if cfg.Temperature == 0 {
		cfg.Temperature = 4
	}
	if cfg.Alpha == 0 {
		cfg.Alpha = 0.9
	}
	loss := Loss{Temperature: cfg.Temperature, Alpha: cfg.Alpha}
	if err := loss.check(); err != nil {
		return nil, nil, err
	}
	if student == nil || student.Graph == nil {
		return nil, nil, errors.New("distill: nil student model")
	}
	if trainSet == nil || trainSet.Len() == 0 {
		return nil, nil, errors.New("distill: empty training set")
	}
	p, err := train.Compile(student, train.Options{Threads: cfg.Threads, Seed: cfg.Train.Seed})
	if err != nil {
		return nil, nil, fmt.Errorf("distill: student: %w", err)
	}
	defer p.Close()
	targets, ok := trainSet.(*Targets)
	if !ok {
		if targets, err = SoftTargets(ctx, teacher, trainSet, cfg.TeacherBatch); err != nil {
			return nil, nil, err
		}
	}
	tc := cfg.Train
	tc.Loss = loss
	eval := tc.Eval
	tc.Eval = nil
	evalBatch := tc.EvalBatch
	if evalBatch <= 0 {
		evalBatch = 256
	}
	type score struct{ loss, acc float64 }
	scores := map[int]score{}
	userEpoch := cb.Epoch
	cb.Epoch = func(m train.EpochMetrics) error {
		if eval != nil {
			l, a, err := p.Evaluate(eval, evalBatch, train.CrossEntropy{})
			if err != nil {
				return fmt.Errorf("distill: evaluation after epoch %d: %w", m.Epoch, err)
			}
			m.EvalLoss, m.EvalAcc = l, a
			scores[m.Epoch] = score{l, a}
		}
		if userEpoch != nil {
			return userEpoch(m)
		}
		return nil
	}
	hist, err := train.Fit(ctx, p, targets, tc, cb)
	for i := range hist {
		if s, ok := scores[hist[i].Epoch]; ok {
			hist[i].EvalLoss, hist[i].EvalAcc = s.loss, s.acc
		}
	}
	if err != nil {
		return nil, hist, fmt.Errorf("distill: %w", err)
	}
	out := p.Export()
	if out.Metadata == nil {
		out.Metadata = map[string]string{}
	}
	out.Metadata["edgedl.distill"] = fmt.Sprintf("distilled: %s, %d epochs", loss, len(hist))
	return out, hist, nil
}

// FromONNX distils the ONNX model teacher into student on trainSet: the
// function behind `edgedl compress STUDENT --distill-from TEACHER.onnx`.
// It is Distill with an ONNXTeacher.
func FromONNX(ctx context.Context, student, teacher *graph.Model, trainSet data.Dataset, cfg Config,
	cb train.Callbacks) (*graph.Model, []train.EpochMetrics, error) {
	t, err := NewONNXTeacher(teacher, cfg.Threads)
	if err != nil {
		return nil, nil, err
	}
	defer t.Close()
	return Distill(ctx, student, t, trainSet, cfg, cb)
}
