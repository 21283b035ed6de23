package train

import (
	"fmt"
	"math"
	"slices"
)

// Optimizer updates parameters from their gradients.
type Optimizer interface {
	// Step applies one update to vars (Var.Data from Var.Grad) with the
	// learning rate lr. Vars must be passed in the same order every step.
	Step(vars []*Var, lr float64)
	// State returns the optimiser's state for a checkpoint (copies).
	State() OptState
	// SetState restores a state returned by State.
	SetState(OptState) error
	String() string
}

// OptState is an optimiser's checkpointable state: its step count and
// per-variable slot tensors, keyed "varname/slot".
type OptState struct {
	Steps int64
	Slots map[string][]float32
}

func cloneSlots(m map[string][]float32) map[string][]float32 {
	out := make(map[string][]float32, len(m))
	for k, v := range m {
		out[k] = slices.Clone(v)
	}
	return out
}

// slot returns the named state vector for v, allocating zeros.
func slot(m *map[string][]float32, v *Var, name string) ([]float32, bool) {
	if *m == nil {
		*m = map[string][]float32{}
	}
	k := v.Name + "/" + name
	s, ok := (*m)[k]
	if !ok || len(s) != len(v.Data) {
		s = make([]float32, len(v.Data))
		(*m)[k] = s
		ok = false
	}
	return s, ok
}

// SGD is stochastic gradient descent with optional momentum (heavy ball or
// Nesterov) and L2 weight decay, with PyTorch's update rule:
//
//	g = grad + WeightDecay*p
//	buf = Momentum*buf + (1-Dampening)*g   (buf = g on the first step)
//	g = g + Momentum*buf (Nesterov) or buf
//	p -= lr*g
type SGD struct {
	Momentum, Dampening, WeightDecay float64
	Nesterov                         bool
	steps                            int64
	slots                            map[string][]float32
}

// Step implements Optimizer.
func (o *SGD) Step(vars []*Var, lr float64) {
	o.steps++
	mom, damp, wd := float32(o.Momentum), float32(1-o.Dampening), float32(o.WeightDecay)
	l := float32(lr)
	for _, v := range vars {
		p, g := v.Data, v.Grad
		if o.Momentum == 0 {
			for i := range p {
				p[i] -= l * (g[i] + wd*p[i])
			}
			continue
		}
		buf, had := slot(&o.slots, v, "momentum")
		for i := range p {
			gi := g[i] + wd*p[i]
			if had {
				buf[i] = mom*buf[i] + damp*gi
			} else {
				buf[i] = gi
			}
			if o.Nesterov {
				gi += mom * buf[i]
			} else {
				gi = buf[i]
			}
			p[i] -= l * gi
		}
	}
}

// State implements Optimizer.
func (o *SGD) State() OptState { return OptState{Steps: o.steps, Slots: cloneSlots(o.slots)} }

// SetState implements Optimizer.
func (o *SGD) SetState(s OptState) error {
	o.steps, o.slots = s.Steps, cloneSlots(s.Slots)
	return nil
}

func (o *SGD) String() string {
	s := fmt.Sprintf("sgd(momentum=%g", o.Momentum)
	if o.Nesterov {
		s += ",nesterov"
	}
	return s + fmt.Sprintf(",wd=%g)", o.WeightDecay)
}

// Adam is Adam (Kingma & Ba) with bias correction. WeightDecay is an L2
// term added to the gradient, or with Decoupled (AdamW, Loshchilov &
// Hutter) a decay p -= lr*WeightDecay*p applied before the update.
// Zero Beta1, Beta2 and Eps take the defaults 0.9, 0.999 and 1e-8.
type Adam struct {
	Beta1, Beta2, Eps, WeightDecay float64
	Decoupled                      bool
	steps                          int64
	slots                          map[string][]float32
}

// AdamW returns Adam with decoupled weight decay wd.
func AdamW(wd float64) *Adam { return &Adam{WeightDecay: wd, Decoupled: true} }

// Step implements Optimizer.
func (o *Adam) Step(vars []*Var, lr float64) {
	b1, b2, eps := o.Beta1, o.Beta2, o.Eps
	if b1 == 0 {
		b1 = 0.9
	}
	if b2 == 0 {
		b2 = 0.999
	}
	if eps == 0 {
		eps = 1e-8
	}
	o.steps++
	t := float64(o.steps)
	c1, c2 := 1-math.Pow(b1, t), 1-math.Pow(b2, t)
	step := float32(lr / c1)
	sc2 := float32(1 / math.Sqrt(c2))
	fb1, fb2, feps, wd := float32(b1), float32(b2), float32(eps), float32(o.WeightDecay)
	decay := float32(1 - lr*o.WeightDecay)
	for _, v := range vars {
		m, _ := slot(&o.slots, v, "m")
		s, _ := slot(&o.slots, v, "v")
		p, g := v.Data, v.Grad
		for i := range p {
			gi := g[i]
			if o.Decoupled {
				p[i] *= decay
			} else {
				gi += wd * p[i]
			}
			m[i] = fb1*m[i] + (1-fb1)*gi
			s[i] = fb2*s[i] + (1-fb2)*gi*gi
			p[i] -= step * m[i] / (float32(math.Sqrt(float64(s[i])))*sc2 + feps)
		}
	}
}

// State implements Optimizer.
func (o *Adam) State() OptState { return OptState{Steps: o.steps, Slots: cloneSlots(o.slots)} }

// SetState implements Optimizer.
func (o *Adam) SetState(s OptState) error {
	o.steps, o.slots = s.Steps, cloneSlots(s.Slots)
	return nil
}

func (o *Adam) String() string {
	if o.Decoupled {
		return fmt.Sprintf("adamw(wd=%g)", o.WeightDecay)
	}
	return fmt.Sprintf("adam(wd=%g)", o.WeightDecay)
}

// GradNorm is the global L2 norm of the gradients of vars.
func GradNorm(vars []*Var) float64 {
	var s float64
	for _, v := range vars {
		for _, g := range v.Grad {
			s += float64(g) * float64(g)
		}
	}
	return math.Sqrt(s)
}

// ClipGradNorm scales the gradients of vars so that their global L2 norm
// is at most maxNorm, and returns the norm before clipping.
func ClipGradNorm(vars []*Var, maxNorm float64) float64 {
	n := GradNorm(vars)
	if n > maxNorm && n > 0 {
		s := float32(maxNorm / n)
		for _, v := range vars {
			for i := range v.Grad {
				v.Grad[i] *= s
			}
		}
	}
	return n
}

// Schedule gives the learning rate for an optimiser step (0-based).
type Schedule interface {
	LR(step int64) float64
}

// ConstantLR is a fixed learning rate.
type ConstantLR float64

// LR implements Schedule.
func (c ConstantLR) LR(int64) float64 { return float64(c) }

// StepLR multiplies Base by Gamma every Every steps.
type StepLR struct {
	Base  float64
	Every int64
	Gamma float64
}

// LR implements Schedule.
func (s StepLR) LR(step int64) float64 {
	if s.Every <= 0 {
		return s.Base
	}
	return s.Base * math.Pow(s.Gamma, float64(step/s.Every))
}

// CosineLR anneals from Base to Min over Steps steps (then stays at Min).
type CosineLR struct {
	Base, Min float64
	Steps     int64
}

// LR implements Schedule.
func (c CosineLR) LR(step int64) float64 {
	if c.Steps <= 0 || step >= c.Steps {
		return c.Min
	}
	return c.Min + (c.Base-c.Min)*(1+math.Cos(math.Pi*float64(step)/float64(c.Steps)))/2
}

// Warmup ramps the rate linearly from Then.LR(0)/Steps to Then.LR(0) over
// the first Steps steps, then follows Then (shifted by Steps).
type Warmup struct {
	Steps int64
	Then  Schedule
}

// LR implements Schedule.
func (w Warmup) LR(step int64) float64 {
	if step < w.Steps {
		return w.Then.LR(0) * float64(step+1) / float64(w.Steps)
	}
	return w.Then.LR(step - w.Steps)
}
