package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

func setupProfile(e *env, fs *flag.FlagSet) func([]string) error {
	var in inputFlags
	in.register(fs)
	runs := fs.Int("runs", 10, "timed `runs`")
	warmup := fs.Int("warmup", 2, "untimed `runs` first")
	threads := fs.Int("threads", 0, "intra-op `threads` (default: one per CPU)")
	asJSON := fs.Bool("json", false, "print the profile (runtime.ProfileReport) as JSON")
	batch := fs.Int("batch", 1, "size of a symbolic first input dim for synthetic inputs")
	dims := dimsFlag{}
	fs.Var(dims, "dim", "bind a symbolic dim of synthetic inputs, `NAME=N`; repeatable")
	seed := fs.Uint64("seed", 1, "random `seed` of synthetic inputs")
	sortBy := fs.String("sort", "index", "order of the table: `index`, time or flops")
	top := fs.Int("top", 0, "show only the first `N` rows of the table (0: all)")
	noOpt := fs.Bool("no-optimize", false, "compile without graph rewrites (fusion, BatchNorm folding)")
	return func(args []string) error {
		if *runs <= 0 || *warmup < 0 || *batch <= 0 {
			return usagef("--runs and --batch must be positive and --warmup not negative")
		}
		if *sortBy != "index" && *sortBy != "time" && *sortBy != "flops" {
			return usagef("--sort %q: want index, time or flops", *sortBy)
		}
		path := args[0]
		m, err := onnx.Load(path)
		if err != nil {
			return err
		}
		s, err := runtime.Compile(m, runtime.Options{Threads: *threads, NoOptimize: *noOpt, Logger: e.log})
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		defer s.Close()
		var inputs []*tensor.Tensor
		if len(in.files) > 0 {
			inputs, err = in.load(e, s.Inputs())
		} else {
			inputs, err = s.SyntheticInputs(runtime.SyntheticOptions{Batch: *batch, Dims: dims,
				Rand: rand.New(rand.NewPCG(*seed, 0x5eed))})
		}
		if err != nil {
			return err
		}
		w := *warmup
		if w == 0 {
			w = -1 // runtime.ProfileOptions: negative means none
		}
		rep, err := runtime.Profile(s, inputs, runtime.ProfileOptions{Runs: *runs, Warmup: w})
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		rep.Model = path
		if *asJSON {
			return writeJSON(e.stdout, rep)
		}
		printProfile(e, rep, *sortBy, *top)
		return nil
	}
}

func printProfile(e *env, rep *runtime.ProfileReport, sortBy string, top int) {
	rows := make([]*runtime.NodeProfile, len(rep.Nodes))
	for i := range rep.Nodes {
		rows[i] = &rep.Nodes[i]
	}
	switch sortBy {
	case "time":
		sort.SliceStable(rows, func(i, j int) bool { return rows[i].MedianUS > rows[j].MedianUS })
	case "flops":
		sort.SliceStable(rows, func(i, j int) bool { return rows[i].FLOPs > rows[j].FLOPs })
	}
	if top > 0 && top < len(rows) {
		rows = rows[:top]
	}
	var ins []string
	for _, t := range rep.Inputs {
		ins = append(ins, fmt.Sprintf("%s %v%s", t.Name, t.DType, tensor.ShapeString(t.Shape)))
	}
	fmt.Fprintf(e.stdout, "%s: %d runs after %d warm-up, %d threads, %s/%s, inputs %s\n\n",
		rep.Model, rep.Runs, rep.Warmup, rep.Threads, rep.GOOS, rep.GOARCH, strings.Join(ins, ", "))
	tb := &table{right: []bool{true, false, false, false, true, true, true, true, true, true}}
	tb.add("#", "node", "op", "output", "bytes", "FLOPs", "median", "p90", "share", "GFLOP/s")
	for _, n := range rows {
		var shapes []string
		for _, o := range n.Outputs {
			if o.Shape != nil {
				shapes = append(shapes, tensor.ShapeString(o.Shape))
			}
		}
		tb.add(fmt.Sprint(n.Index), clip(n.Name, 40), n.Op, strings.Join(shapes, " "), humanBytes(n.OutputBytes),
			humanCount(n.FLOPs), us(n.MedianUS), us(n.P90US), fmt.Sprintf("%.1f%%", 100*n.Share), fmt.Sprintf("%.2f", n.GFLOPS))
	}
	tb.write(e.stdout, "")
	t := rep.Totals
	fmt.Fprintf(e.stdout, "\ntotal: %d nodes", t.Nodes)
	if rep.Folded > 0 || rep.Rewritten > 0 {
		fmt.Fprintf(e.stdout, " (%d more folded into constants, %d rewritten by the optimizer)", rep.Folded, rep.Rewritten)
	}
	fmt.Fprintf(e.stdout, ", %s FLOPs, %s of outputs\n", humanCount(t.FLOPs), humanBytes(t.OutputBytes))
	fmt.Fprintf(e.stdout, "run latency: median %s, p90 %s (sum of node medians %s), %.2f GFLOP/s\n",
		us(t.RunMedianUS), us(t.RunP90US), us(t.NodeMedianUS), t.GFLOPS)
}

// clip shortens a long node name to n bytes, keeping its start and its
// more specific end.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	h := min(10, (n-3)/2)
	return s[:h] + "..." + s[len(s)-(n-3-h):]
}
