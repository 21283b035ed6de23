package elementwise

import (
	"fmt"
	"math/rand"
	"slices"
	"sync"
	"testing"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// naiveOffset maps output index o (row-major over out) to the flat offset
// in a tensor of shape in broadcast to out.
func naiveOffset(o int, in, out []int) int {
	off := 0
	st := tensor.Strides(in)
	for d := len(out) - 1; d >= 0; d-- {
		i := o % out[d]
		o /= out[d]
		if k := d - (len(out) - len(in)); k >= 0 && in[k] != 1 {
			off += i * st[k]
		}
	}
	return off
}

func TestPlanMerges(t *testing.T) {
	for _, c := range []struct {
		shapes [][]int
		outer  []int
		inner  int
		istr   []int
	}{
		{[][]int{{2, 3, 4}, {2, 3, 4}}, []int{}, 24, []int{1, 1}},
		{[][]int{{2, 3, 4}, {}}, []int{}, 24, []int{1, 0}},
		{[][]int{{2, 3, 4, 5}, {3, 1, 1}}, []int{2, 3}, 20, []int{1, 0}},
		{[][]int{{2, 3, 4, 5}, {4, 5}}, []int{2 * 3}, 20, []int{1, 1}},
		{[][]int{{3, 1}, {1, 4}}, []int{3}, 4, []int{0, 1}},
		{[][]int{{1, 1}, {1}}, []int{}, 1, []int{1, 1}},
		{[][]int{{5, 1, 7}, {5, 1, 7}, {1}}, []int{}, 35, []int{1, 1, 0}},
	} {
		p, err := newPlan(c.shapes...)
		if err != nil {
			t.Fatalf("%v: %v", c.shapes, err)
		}
		if !slices.Equal(p.outer, c.outer) || p.inner != c.inner || !slices.Equal(p.istr, c.istr) {
			t.Errorf("%v: outer %v inner %d istr %v, want %v %d %v", c.shapes, p.outer, p.inner, p.istr, c.outer, c.inner, c.istr)
		}
	}
	if _, err := newPlan([]int{2, 3}, []int{4}); err == nil {
		t.Error("[2,3] and [4] broadcast without error")
	}
}

// TestPlanRuns checks every (output, input) offset the driver produces
// against naiveOffset, for random shapes, with a pool and tiny grains so
// that chunks start and end inside runs.
func TestPlanRuns(t *testing.T) {
	pool := kernels.NewPool(3)
	defer pool.Close()
	ctx := &kernels.Ctx{Pool: pool}
	r := rand.New(rand.NewSource(7))
	for iter := 0; iter < 300; iter++ {
		rank := r.Intn(5)
		out := make([]int, rank)
		for i := range out {
			out[i] = 1 + r.Intn(4)
		}
		k := 1 + r.Intn(3)
		shapes := make([][]int, k)
		for j := range shapes {
			s := slices.Clone(out[r.Intn(rank+1):])
			for i := range s {
				if r.Intn(3) == 0 {
					s[i] = 1
				}
			}
			shapes[j] = s
		}
		p, err := newPlan(shapes...)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprint(shapes)
		seen := make([]int, p.n)
		var mu sync.Mutex
		grain := 1 + r.Intn(5)
		p.run(ctx, grain, func(o int, off []int, n int) {
			mu.Lock()
			defer mu.Unlock()
			for e := 0; e < n; e++ {
				seen[o+e]++
				for j := range shapes {
					if got, want := off[j]+e*p.istr[j], naiveOffset(o+e, shapes[j], p.shape); got != want {
						t.Fatalf("%s: output %d input %d: offset %d, want %d", name, o+e, j, got, want)
					}
				}
			}
		})
		for o, c := range seen {
			if c != 1 {
				t.Fatalf("%s: output %d visited %d times", name, o, c)
			}
		}
	}
}
