package train

import (
	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
)

// bnOp is BatchNormalization. In training mode it normalises with the
// batch's statistics and updates the running mean and variance (inputs 3
// and 4, when they are initializers) as
//
//	running = momentum*running + (1-momentum)*batch
//
// with ONNX's momentum (default 0.9, PyTorch's 1-momentum) and, like
// PyTorch, the unbiased batch variance for the running estimate. Outside
// training it uses the running statistics.
type bnOp[F float] struct {
	eps, momentum F
	n, ch, s      int
	mean, invstd  []F
	y             *tens[F]
	trained       bool // the last forward used batch statistics
}

func (o *bnOp[F]) setup(n *graph.Node, _ int64) error {
	a := kernels.AttrsOf(n)
	o.eps, o.momentum = F(a.Float("epsilon", 1e-5)), F(a.Float("momentum", 0.9))
	if a.Int("spatial", 1) != 1 {
		return errorString("spatial=0 is not supported")
	}
	return nil
}

func (o *bnOp[F]) forward(c *call[F]) error {
	x := c.in[0]
	if len(c.in) < 5 || c.in[1] == nil || c.in[2] == nil || c.in[3] == nil || c.in[4] == nil {
		return c.errorf("needs float X, scale, B, mean and var")
	}
	if len(x.shape) < 2 {
		return c.errorf("X must have rank >= 2, has shape %v", x.shape)
	}
	o.n, o.ch, o.s = x.shape[0], x.shape[1], numel(x.shape[2:])
	for i := 1; i <= 4; i++ {
		if len(c.in[i].data) != o.ch {
			return c.errorf("input %d has %d elements, want %d", i, len(c.in[i].data), o.ch)
		}
	}
	scale, bias, rm, rv := c.in[1].data, c.in[2].data, c.in[3].data, c.in[4].data
	y := ensure(&o.y, x.shape)
	o.mean, o.invstd = resize(o.mean, o.ch), resize(o.invstd, o.ch)
	o.trained = c.training
	m := o.n * o.s
	update := c.training && !c.e.noStats && c.e.vals[c.nd.in[3]].buffer && c.e.vals[c.nd.in[4]].buffer
	c.e.par(o.ch, 1, func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			var mean, v F
			if c.training {
				var s F
				for ni := 0; ni < o.n; ni++ {
					for _, xv := range x.data[(ni*o.ch+ch)*o.s : (ni*o.ch+ch+1)*o.s] {
						s += xv
					}
				}
				mean = s / F(m)
				var ss F
				for ni := 0; ni < o.n; ni++ {
					for _, xv := range x.data[(ni*o.ch+ch)*o.s : (ni*o.ch+ch+1)*o.s] {
						d := xv - mean
						ss += d * d
					}
				}
				v = ss / F(m)
				if update {
					rm[ch] = o.momentum*rm[ch] + (1-o.momentum)*mean
					unb := v
					if m > 1 {
						unb = ss / F(m-1)
					}
					rv[ch] = o.momentum*rv[ch] + (1-o.momentum)*unb
				}
			} else {
				mean, v = rm[ch], rv[ch]
			}
			inv := 1 / sqrtF(v+o.eps)
			o.mean[ch], o.invstd[ch] = mean, inv
			a, b := scale[ch]*inv, bias[ch]-scale[ch]*inv*mean
			for ni := 0; ni < o.n; ni++ {
				off := (ni*o.ch + ch) * o.s
				ys := y.data[off : off+o.s]
				for j, xv := range x.data[off : off+o.s] {
					ys[j] = a*xv + b
				}
			}
		}
	})
	c.out[0] = y
	return nil
}

func (o *bnOp[F]) backward(c *call[F]) error {
	x, scale, dy := c.in[0].data, c.in[1].data, c.dout[0].data
	gx, gs, gb := c.din[0], c.din[1], c.din[2]
	m := F(o.n * o.s)
	c.e.par(o.ch, 1, func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			mean, inv := o.mean[ch], o.invstd[ch]
			var sdy, sdyx F
			for ni := 0; ni < o.n; ni++ {
				off := (ni*o.ch + ch) * o.s
				ds := dy[off : off+o.s]
				for j, xv := range x[off : off+o.s] {
					sdy += ds[j]
					sdyx += ds[j] * (xv - mean) * inv
				}
			}
			if gs != nil {
				gs.data[ch] += sdyx
			}
			if gb != nil {
				gb.data[ch] += sdy
			}
			if gx == nil {
				continue
			}
			k := scale[ch] * inv
			for ni := 0; ni < o.n; ni++ {
				off := (ni*o.ch + ch) * o.s
				ds, gxs := dy[off:off+o.s], gx.data[off:off+o.s]
				for j, xv := range x[off : off+o.s] {
					if o.trained {
						xh := (xv - mean) * inv
						gxs[j] += k * (ds[j] - sdy/m - xh*sdyx/m)
					} else {
						gxs[j] += k * ds[j]
					}
				}
			}
		}
	})
	return nil
}
