package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"

	_ "github.com/edgedl/edgedl/kernels/all"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// command is one subcommand.
type command struct {
	name, args, summary string
	// setup declares the flags; the returned function runs the command on
	// the positional arguments once the flags are parsed.
	setup func(e *env, fs *flag.FlagSet) func(args []string) error
	// minArgs and maxArgs bound the positional arguments (-1: no maximum).
	minArgs, maxArgs int
}

var commands []*command // filled in init to avoid an initialisation cycle

func init() {
	commands = []*command{
		{name: "demo", args: "[--threads N]",
			summary: "run the embedded demo model (no files or network needed)", setup: setupDemo, minArgs: 0, maxArgs: 0},
		{name: "run", args: "MODEL.onnx --input FILE [--input FILE ...] [--output-dir DIR]",
			summary: "run a model on .pb, .npy or image inputs and write its outputs", setup: setupRun, minArgs: 1, maxArgs: 1},
		{name: "info", args: "MODEL.onnx [--json]",
			summary: "describe a model: inputs, outputs, operators, parameters, FLOPs", setup: setupInfo, minArgs: 1, maxArgs: 1},
		{name: "profile", args: "MODEL.onnx [--runs K] [--warmup W] [--threads N] [--input FILE ...] [--json]",
			summary: "time every node: latency, FLOPs, output bytes", setup: setupProfile, minArgs: 1, maxArgs: 1},
		{name: "bench", args: "MODEL.onnx [--threads N] [--runs K] [--warmup W] [--json] [--compare-ort]",
			summary: "measure batch-1 latency and peak memory, optionally against ONNX Runtime", setup: setupBench, minArgs: 1, maxArgs: 1},
		{name: "plan", args: "MODEL.onnx [--cuts] [--tiers device,edge,cloud] [--bandwidth MBPS] [--rtt D] [--json]",
			summary: "list a model's cuts, or choose where each part runs for given links", setup: setupPlan, minArgs: 1, maxArgs: 1},
		{name: "serve", args: "--listen ADDR [--tier edge|cloud] [--next ADDR] --token T",
			summary: "run an edge or cloud node (KServe v2 gRPC, REST, metrics)", setup: setupServe, minArgs: 0, maxArgs: 0},
		{name: "infer", args: "MODEL.onnx --input FILE --edge ADDR [--cloud ADDR] [--split SPLIT] [--codec C] [--count K] --output-dir DIR",
			summary: "split inference from the device: run its piece, send the rest to edge/cloud", setup: setupInfer, minArgs: 1, maxArgs: 1},
		{name: "compress", args: "MODEL.onnx [--quantize int8|int8-dynamic|fp16 [--qat]] [--prune S [--prune-steps K]] [--prune-channels F] [--share-weights BITS] [--deep-compression] [--distill-from TEACHER.onnx] [--finetune-epochs N] [--plot F.png] --out OUT",
			summary: "quantise, prune or weight-share a model", setup: setupCompress, minArgs: 1, maxArgs: 1},
		{name: "bench-partition", args: "MODEL.onnx --bandwidths 1,5,10,50,100,1000 --rtt 20ms [--device-slowdown S] [--edge-slowdown S] [--json] [--plot FILE.png]",
			summary: "measure split-inference latency per bandwidth: planner vs measured oracle (also 'edgedl bench partition')", setup: setupBenchPartition, minArgs: 1, maxArgs: 1},
		{name: "bench-cascade", args: "--big MODEL.onnx [--small MODEL.onnx|embedded] [--thresholds 0.5,0.7,0.9] [--json] [--plot FILE.png]",
			summary: "small model on the device, low-confidence inputs offloaded to a big one: accuracy vs offloaded (also 'edgedl bench cascade')", setup: setupBenchCascade, minArgs: 0, maxArgs: 0},
		{name: "conformance", args: "DIR [DIR ...] [--filter REGEXP] [--json]",
			summary: "run ONNX backend test folders and count passes", setup: setupConformance, minArgs: 1, maxArgs: -1},
		{name: "train", args: "MODEL --dataset NAME --out FILE.onnx [--epochs N] [--batch B] [--lr LR] [--optimizer sgd|adam] [--json]",
			summary: "train or fine-tune a model on MNIST, Fashion-MNIST or an sktime .ts data set", setup: setupTrain, minArgs: 1, maxArgs: 1},
		{name: "fl", args: "server|client|simulate|plot [flags]",
			summary: "federated learning: a coordinator, a client, or an in-process simulation", setup: setupFL, minArgs: 1, maxArgs: -1},
		{name: "version", args: "",
			summary: "print the version", setup: setupVersion, minArgs: 0, maxArgs: 0},
	}
}

func lookupCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// env is what a command sees of the process.
type env struct {
	stdout, stderr io.Writer
	log            *slog.Logger
	logLevel       string
}

// usageError is a command-line mistake: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// run is the program: it parses args, runs one command and returns the
// exit status (0 ok, 1 failure, 2 usage error). It never panics.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printUsage(stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && name == "help" {
			c := lookupCommand(args[1])
			if c == nil {
				fmt.Fprintf(stderr, "edgedl help: unknown command %q (run 'edgedl help')\n", args[1])
				return 2
			}
			e := &env{stdout: stdout, stderr: stderr}
			fs := newFlagSet(c, e)
			c.setup(e, fs)
			printCommandUsage(stdout, c, fs)
			return 0
		}
		printUsage(stdout)
		return 0
	case "-version", "--version":
		name = "version"
	case "bench":
		if len(args) > 1 && (args[1] == "partition" || args[1] == "cascade") {
			name, args = "bench-"+args[1], args[1:]
		}
	}
	c := lookupCommand(name)
	if c == nil {
		fmt.Fprintf(stderr, "edgedl: unknown command %q (run 'edgedl help')\n", name)
		return 2
	}
	return runCommand(c, args[1:], stdout, stderr)
}

func newFlagSet(c *command, e *env) *flag.FlagSet {
	fs := flag.NewFlagSet("edgedl "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported in one line by runCommand
	fs.StringVar(&e.logLevel, "log-level", "warn", "log `level` on stderr: debug, info, warn or error")
	return fs
}

func runCommand(c *command, args []string, stdout, stderr io.Writer) (code int) {
	prefix := "edgedl " + c.name + ": "
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "%sinternal error: %s\n", prefix, firstLine(fmt.Sprint(r)))
			code = 1
		}
	}()
	e := &env{stdout: stdout, stderr: stderr}
	fs := newFlagSet(c, e)
	exec := c.setup(e, fs)
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		printCommandUsage(stdout, c, fs)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s%s (see 'edgedl %s -h')\n", prefix, firstLine(err.Error()), c.name)
		return 2
	}
	if len(pos) < c.minArgs || (c.maxArgs >= 0 && len(pos) > c.maxArgs) {
		what := "wrong number of arguments"
		if len(pos) < c.minArgs {
			what = "missing " + strings.Fields(c.args)[0]
		} else if len(pos) > 0 {
			what = fmt.Sprintf("unexpected argument %q", pos[c.maxArgs])
		}
		fmt.Fprintf(stderr, "%s%s (usage: edgedl %s %s)\n", prefix, what, c.name, c.args)
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(e.logLevel)); err != nil {
		fmt.Fprintf(stderr, "%sbad --log-level %q: want debug, info, warn or error\n", prefix, e.logLevel)
		return 2
	}
	e.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := exec(pos); err != nil {
		fmt.Fprintf(stderr, "%s%s\n", prefix, firstLine(err.Error()))
		var ue *usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

// parseInterspersed parses flags that may come before, between or after
// positional arguments ("--" ends the flags) and returns the positionals.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `edgedl runs, inspects and profiles ONNX models in pure Go.

Usage:
  edgedl COMMAND [arguments] [flags]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `  help         print this help, or a command's with 'edgedl help COMMAND'

Run 'edgedl COMMAND -h' for a command's flags. Flags may come before or after
arguments and take one or two dashes. Exit status: 0 ok, 1 error, 2 usage.
`)
}

func printCommandUsage(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: edgedl %s %s\n\n%s.\n", c.name, c.args, strings.ToUpper(c.summary[:1])+c.summary[1:])
	if extra, ok := commandHelp[c.name]; ok {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(extra))
	}
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	sort.Strings(names)
	if len(names) > 0 {
		fmt.Fprint(w, "\nFlags:\n")
	}
	for _, n := range names {
		f := fs.Lookup(n)
		typ, usage := flag.UnquoteUsage(f)
		line := "  --" + n
		if typ != "" {
			line += " " + typ
		}
		fmt.Fprintf(w, "%s\n      %s", line, usage)
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "[]" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	}
}

// commandHelp holds longer explanations printed by 'edgedl CMD -h'.
var commandHelp = map[string]string{
	"run": `
Inputs are matched to the model's inputs in order (or by name with
--input NAME=FILE). A FILE is an ONNX TensorProto (.pb), a NumPy array (.npy)
or an image (.png, .jpg, .gif). Images are resized to the model input's H,W
unless --resize/--crop say otherwise, divided by --scale and normalised with
--mean/--std; for ImageNet models use
  --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225
Outputs are written as DIR/output_0.pb ... in graph order, and summarised
(top-5 classes for [N,C] float outputs).`,
	"info": `
FLOPs come from one run on zero inputs with symbolic dims bound to 1 (the
first dim to --batch; others by --dim NAME=N). They count 2 per
multiply-accumulate for Conv/Gemm/MatMul/RNNs, one per output element for
elementwise ops and one per input element for pooling and reductions.`,
	"profile": `
Runs the model --warmup times, then --runs times timing every node, and
prints per node: index, name, op, output shape, output bytes, FLOPs, median
and p90 latency, share of the total and GFLOP/s. Inputs are random (seeded)
unless --input is given. --json prints the runtime.ProfileReport that the
partition planner reads.`,
	"conformance": `
Finds every folder holding a model.onnx under the DIRs, runs it against its
test_data_set_* and prints one line per failing test (and per skipped test
with --show-skipped), then "N passed, M failed, K skipped". The exit status
is 0 even when tests fail, unless --fail-under or --expect says otherwise.`,
}

// Flag value types.

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// floatList is a comma-separated list of numbers.
type floatList []float32

func (f *floatList) String() string {
	parts := make([]string, len(*f))
	for i, v := range *f {
		parts[i] = strconv.FormatFloat(float64(v), 'g', -1, 32)
	}
	return strings.Join(parts, ",")
}

func (f *floatList) Set(v string) error {
	var out floatList
	for _, p := range strings.Split(v, ",") {
		x, err := strconv.ParseFloat(strings.TrimSpace(p), 32)
		if err != nil {
			return fmt.Errorf("%q is not a number", p)
		}
		out = append(out, float32(x))
	}
	*f = out
	return nil
}

// dimsFlag collects NAME=N bindings of symbolic dims.
type dimsFlag map[string]int

func (d dimsFlag) String() string {
	var parts []string
	for k, v := range d {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func (d dimsFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		name, val, ok := strings.Cut(p, "=")
		n, err := strconv.Atoi(val)
		if !ok || name == "" || err != nil || n <= 0 {
			return fmt.Errorf("%q is not NAME=N with N > 0", p)
		}
		d[name] = n
	}
	return nil
}

// sizeFlag is WxH, or a single N.
type sizeFlag struct{ w, h, n int }

func (s *sizeFlag) String() string {
	switch {
	case s.n > 0:
		return strconv.Itoa(s.n)
	case s.w > 0:
		return fmt.Sprintf("%dx%d", s.w, s.h)
	}
	return ""
}

func (s *sizeFlag) Set(v string) error {
	if ws, hs, ok := strings.Cut(strings.ToLower(v), "x"); ok {
		w, err1 := strconv.Atoi(ws)
		h, err2 := strconv.Atoi(hs)
		if err1 != nil || err2 != nil || w <= 0 || h <= 0 {
			return fmt.Errorf("%q is not WxH", v)
		}
		*s = sizeFlag{w: w, h: h}
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return fmt.Errorf("%q is not WxH or N", v)
	}
	*s = sizeFlag{n: n}
	return nil
}
