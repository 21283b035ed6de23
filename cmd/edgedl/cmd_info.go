package main

import (
	"flag"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

type valueJSON struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Shape []any  `json:"shape"`
}

type opCount struct {
	Op    string `json:"op"`
	Count int    `json:"count"`
}

type infoNode struct {
	Index   int      `json:"index"`
	Name    string   `json:"name"`
	Op      string   `json:"op"`
	Outputs [][]int  `json:"output_shapes"`
	Names   []string `json:"outputs"`
	FLOPs   int64    `json:"flops"`
}

type infoReport struct {
	Model           string            `json:"model"`
	IRVersion       int64             `json:"ir_version"`
	Producer        string            `json:"producer,omitempty"`
	ProducerVersion string            `json:"producer_version,omitempty"`
	Opsets          map[string]int64  `json:"opsets"`
	Graph           string            `json:"graph"`
	Metadata        map[string]string `json:"metadata,omitempty"`
	Inputs          []valueJSON       `json:"inputs"`
	Outputs         []valueJSON       `json:"outputs"`
	NumNodes        int               `json:"nodes"`
	Operators       []opCount         `json:"operators"`
	Initializers    int               `json:"initializers"`
	Params          int64             `json:"params"`
	ParamBytes      int64             `json:"param_bytes"`
	// FLOPs are per inference at Batch; FLOPsError says why they are missing.
	Batch      int                `json:"batch"`
	FLOPs      *int64             `json:"flops,omitempty"`
	FLOPsByOp  []runtime.OpFLOPs  `json:"flops_by_op,omitempty"`
	Executed   int                `json:"executed,omitempty"`
	Folded     int                `json:"folded,omitempty"`
	Rewritten  int                `json:"rewritten,omitempty"`
	FLOPsError string             `json:"flops_error,omitempty"`
	Nodes      []infoNode         `json:"node_shapes,omitempty"`
	Shapes     *runtime.ShapeInfo `json:"-"`
}

func valuesJSON(vs []graph.ValueInfo) []valueJSON {
	out := make([]valueJSON, 0, len(vs))
	for _, v := range vs {
		dt := v.DType.String()
		if v.Kind != graph.KindTensor {
			dt = "non-tensor"
		}
		out = append(out, valueJSON{Name: v.Name, DType: dt, Shape: dimsJSON(v)})
	}
	return out
}

func setupInfo(e *env, fs *flag.FlagSet) func([]string) error {
	asJSON := fs.Bool("json", false, "print the description as JSON")
	batch := fs.Int("batch", 1, "size of a symbolic first input dim when counting FLOPs")
	dims := dimsFlag{}
	fs.Var(dims, "dim", "bind a symbolic dim for FLOPs, `NAME=N`; repeatable")
	nodes := fs.Bool("nodes", false, "list every executed node with its output shapes and FLOPs")
	noFLOPs := fs.Bool("no-flops", false, "skip the FLOPs count (which runs the model once)")
	noOpt := fs.Bool("no-optimize", false, "count FLOPs without graph rewrites (fusion, BatchNorm folding)")
	return func(args []string) error {
		path := args[0]
		m, err := onnx.Load(path)
		if err != nil {
			return err
		}
		if *batch <= 0 {
			return usagef("--batch must be positive")
		}
		g := m.Graph
		rep := infoReport{
			Model: path, IRVersion: m.IRVersion, Producer: m.ProducerName, ProducerVersion: m.ProducerVersion,
			Opsets: map[string]int64{}, Graph: g.Name, Metadata: m.Metadata,
			Inputs: valuesJSON(g.Inputs), Outputs: valuesJSON(g.Outputs), NumNodes: len(g.Nodes),
			Initializers: len(g.Initializers), Batch: *batch,
		}
		for d, v := range m.Opsets {
			if d == "" {
				d = "ai.onnx"
			}
			rep.Opsets[d] = v
		}
		hist := map[string]int{}
		for _, n := range g.Nodes {
			op := n.OpType
			if d := graph.NormalizeDomain(n.Domain); d != "" {
				op = d + "." + op
			}
			hist[op]++
		}
		for op, c := range hist {
			rep.Operators = append(rep.Operators, opCount{op, c})
		}
		sort.Slice(rep.Operators, func(i, j int) bool {
			a, b := rep.Operators[i], rep.Operators[j]
			if a.Count != b.Count {
				return a.Count > b.Count
			}
			return a.Op < b.Op
		})
		for _, t := range g.Initializers {
			rep.Params += int64(t.Len())
			rep.ParamBytes += int64(t.Bytes())
		}
		if !*noFLOPs {
			info, err := inferShapes(m, runtime.Options{Threads: 1, NoOptimize: *noOpt, Logger: e.log}, *batch, dims)
			if err != nil {
				rep.FLOPsError = firstLine(err.Error())
				e.log.Info("no FLOPs", "model", path, "err", rep.FLOPsError)
			} else {
				f := info.FLOPs()
				rep.FLOPs, rep.FLOPsByOp, rep.Shapes = &f, info.FLOPsByOp(), info
				rep.Executed, rep.Folded, rep.Rewritten = len(info.Nodes), info.Folded, info.Rewritten
				if *nodes {
					for _, n := range info.Nodes {
						in := infoNode{Index: n.Index, Name: n.Name, Op: n.Op, FLOPs: n.FLOPs}
						for _, o := range n.Outputs {
							in.Outputs = append(in.Outputs, o.Shape)
							in.Names = append(in.Names, o.Name)
						}
						rep.Nodes = append(rep.Nodes, in)
					}
				}
			}
		}
		if *asJSON {
			return writeJSON(e.stdout, rep)
		}
		printInfo(e, &rep)
		return nil
	}
}

// inferShapes compiles m and runs it once on zero inputs.
func inferShapes(m *graph.Model, opts runtime.Options, batch int, dims map[string]int) (*runtime.ShapeInfo, error) {
	s, err := runtime.Compile(m, opts)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	ins, err := s.SyntheticInputs(runtime.SyntheticOptions{Batch: batch, Dims: dims})
	if err != nil {
		return nil, err
	}
	return s.InferShapes(ins)
}

func printInfo(e *env, r *infoReport) {
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "model\t%s\n", r.Model)
	fmt.Fprintf(w, "ir version\t%d\n", r.IRVersion)
	if r.Producer != "" || r.ProducerVersion != "" {
		fmt.Fprintf(w, "producer\t%s\n", strings.TrimSpace(r.Producer+" "+r.ProducerVersion))
	}
	var ops []string
	for d, v := range r.Opsets {
		ops = append(ops, fmt.Sprintf("%s %d", d, v))
	}
	sort.Strings(ops)
	fmt.Fprintf(w, "opsets\t%s\n", strings.Join(ops, ", "))
	if r.Graph != "" {
		fmt.Fprintf(w, "graph\t%s\n", r.Graph)
	}
	var keys []string
	for k := range r.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "metadata\t%s = %s\n", k, firstLine(r.Metadata[k]))
	}
	w.Flush()
	printValues := func(title string, vs []valueJSON) {
		fmt.Fprintf(e.stdout, "\n%s:\n", title)
		for _, v := range vs {
			fmt.Fprintf(w, "  %s\t%s\t%s\n", v.Name, v.DType, shapeOfDims(v.Shape))
		}
		w.Flush()
	}
	printValues("inputs", r.Inputs)
	printValues("outputs", r.Outputs)
	fmt.Fprintf(e.stdout, "\nparameters: %s in %d initializers (%s)\n", commas(r.Params), r.Initializers, humanBytes(r.ParamBytes))
	fmt.Fprintf(e.stdout, "nodes: %d\n", r.NumNodes)
	switch {
	case r.FLOPs != nil:
		fmt.Fprintf(e.stdout, "FLOPs per inference: %s (%s) at batch %d", humanCount(*r.FLOPs), commas(*r.FLOPs), r.Batch)
		fmt.Fprintln(e.stdout)
		fmt.Fprintf(e.stdout, "executed nodes: %d (%d folded into constants, %d rewritten by the optimizer)\n", r.Executed, r.Folded, r.Rewritten)
	case r.FLOPsError != "":
		fmt.Fprintf(e.stdout, "FLOPs per inference: unavailable (%s)\n", r.FLOPsError)
	}
	flops := map[string]runtime.OpFLOPs{}
	for _, f := range r.FLOPsByOp {
		flops[f.Op] = f
	}
	fmt.Fprintln(e.stdout)
	tb := &table{right: []bool{false, true, true, true, true}}
	if r.FLOPs != nil {
		tb.add("op", "nodes", "executed", "FLOPs", "share")
	} else {
		tb.add("op", "nodes")
	}
	for _, oc := range r.Operators {
		if r.FLOPs == nil {
			tb.add(oc.Op, fmt.Sprint(oc.Count))
			continue
		}
		f := flops[oc.Op]
		delete(flops, oc.Op)
		share := 0.0
		if *r.FLOPs > 0 {
			share = 100 * float64(f.FLOPs) / float64(*r.FLOPs)
		}
		tb.add(oc.Op, fmt.Sprint(oc.Count), fmt.Sprint(f.Nodes), humanCount(f.FLOPs), fmt.Sprintf("%.1f%%", share))
	}
	tb.write(e.stdout, "")
	if len(r.Nodes) > 0 {
		fmt.Fprintln(e.stdout)
		tb := &table{right: []bool{true, false, false, false, true}}
		tb.add("#", "node", "op", "output shapes", "FLOPs")
		for _, n := range r.Nodes {
			var shapes []string
			for _, s := range n.Outputs {
				if s != nil {
					shapes = append(shapes, tensor.ShapeString(s))
				}
			}
			tb.add(fmt.Sprint(n.Index), n.Name, n.Op, strings.Join(shapes, " "), humanCount(n.FLOPs))
		}
		tb.write(e.stdout, "")
	}
}

func shapeOfDims(d []any) string {
	if d == nil {
		return "[?...]"
	}
	parts := make([]string, len(d))
	for i, x := range d {
		if x == nil {
			parts[i] = "?"
		} else {
			parts[i] = fmt.Sprint(x)
		}
	}
	return "[" + strings.Join(parts, ",") + "]"
}
