package text

import (
	"fmt"
	"strings"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// run builds op of domain with attrs and runs it with nOut outputs.
func run(t *testing.T, domain, op string, opset int64, attrs map[string]*graph.Attr, nOut int, in ...*tensor.Tensor) ([]*tensor.Tensor, error) {
	t.Helper()
	n := &graph.Node{OpType: op, Domain: domain, Attrs: attrs}
	meta := make([]kernels.Input, len(in))
	for i, x := range in {
		n.Inputs = append(n.Inputs, fmt.Sprint("x", i))
		meta[i] = kernels.Input{Present: true, DType: x.DType, Shape: x.Shape}
	}
	for i := 0; i < nOut; i++ {
		n.Outputs = append(n.Outputs, fmt.Sprint("y", i))
	}
	build, err := kernels.Lookup(domain, op, opset)
	if err != nil {
		t.Fatal(err)
	}
	k, err := build(&kernels.BuildContext{Node: n, Opset: opset, Inputs: meta})
	if err != nil {
		return nil, err
	}
	out := make([]*tensor.Tensor, nOut)
	return out, k.Run(&kernels.Ctx{}, in, out)
}

func runOK(t *testing.T, domain, op string, opset int64, attrs map[string]*graph.Attr, nOut int, in ...*tensor.Tensor) []*tensor.Tensor {
	t.Helper()
	out, err := run(t, domain, op, opset, attrs, nOut, in...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func strs(shape []int, v ...string) *tensor.Tensor {
	return &tensor.Tensor{DType: tensor.String, Shape: shape, Data: v}
}

func aStr(v string) *graph.Attr      { return &graph.Attr{Type: graph.AttrString, String: v} }
func aStrs(v ...string) *graph.Attr  { return &graph.Attr{Type: graph.AttrStrings, Strings: v} }
func aInt(v int64) *graph.Attr       { return &graph.Attr{Type: graph.AttrInt, Int: v} }
func aInts(v ...int64) *graph.Attr   { return &graph.Attr{Type: graph.AttrInts, Ints: v} }
func aFlts(v ...float32) *graph.Attr { return &graph.Attr{Type: graph.AttrFloats, Floats: v} }

// same compares a tensor's shape and data with fmt's rendering of want.
func same(t *testing.T, name string, got *tensor.Tensor, shape []int, want any) {
	t.Helper()
	if !tensor.EqualShapes(got.Shape, shape) || fmt.Sprintf("%#v", got.Data) != fmt.Sprintf("%#v", want) {
		t.Errorf("%s: got %v %#v, want %v %#v", name, got.Shape, got.Data, shape, want)
	}
}

func TestStringNormalizer(t *testing.T) {
	x := strs([]int{3}, "Monday", "tuesday", "MONDAY")
	tests := []struct {
		name  string
		attrs map[string]*graph.Attr
		in    *tensor.Tensor
		shape []int
		want  []string
	}{
		{"insensitive upper", map[string]*graph.Attr{"stopwords": aStrs("monday"), "case_change_action": aStr("UPPER")}, x, []int{1}, []string{"TUESDAY"}},
		{"sensitive lower", map[string]*graph.Attr{"stopwords": aStrs("monday"), "is_case_sensitive": aInt(1), "case_change_action": aStr("LOWER")}, x, []int{3}, []string{"monday", "tuesday", "monday"}},
		{"sensitive exact", map[string]*graph.Attr{"stopwords": aStrs("Monday"), "is_case_sensitive": aInt(1)}, strs([]int{1, 3}, "Monday", "tuesday", "MONDAY"), []int{1, 2}, []string{"tuesday", "MONDAY"}},
		{"all removed", map[string]*graph.Attr{"stopwords": aStrs("monday", "tuesday")}, x, []int{1}, []string{""}},
	}
	for _, tc := range tests {
		out := runOK(t, "", "StringNormalizer", 10, tc.attrs, 1, tc.in)
		same(t, tc.name, out[0], tc.shape, tc.want)
	}
}

func TestStringConcatSplitRegex(t *testing.T) {
	out := runOK(t, "", "StringConcat", 20, nil, 1, strs([]int{2, 1}, "a", "b"), strs([]int{2}, "x", "é"))
	same(t, "concat", out[0], []int{2, 2}, []string{"ax", "aé", "bx", "bé"})

	x := strs([]int{3}, "  a  b c ", "", "one")
	out = runOK(t, "", "StringSplit", 20, nil, 2, x)
	same(t, "split whitespace", out[0], []int{3, 3}, []string{"a", "b", "c", "", "", "", "one", "", ""})
	same(t, "split lengths", out[1], []int{3}, []int64{3, 0, 1})
	out = runOK(t, "", "StringSplit", 20, map[string]*graph.Attr{"maxsplit": aInt(1)}, 2, x)
	same(t, "split maxsplit", out[0], []int{3, 2}, []string{"a", "b c ", "", "", "one", ""})
	out = runOK(t, "", "StringSplit", 20, map[string]*graph.Attr{"delimiter": aStr("-")}, 2, strs([]int{2}, "a--b", ""))
	same(t, "split delimiter", out[0], []int{2, 3}, []string{"a", "", "b", "", "", ""})
	same(t, "split delimiter lengths", out[1], []int{2}, []int64{3, 1})

	out = runOK(t, "", "RegexFullMatch", 20, map[string]*graph.Attr{"pattern": aStr(`a+b|c`)}, 1, strs([]int{4}, "aab", "aabc", "c", "xc"))
	same(t, "regex", out[0], []int{4}, []bool{true, false, true, false})
	if _, err := run(t, "", "RegexFullMatch", 20, map[string]*graph.Attr{"pattern": aStr(`(`)}, 1, x); err == nil {
		t.Error("invalid pattern: no error")
	}
}

func TestTfIdfVectorizer(t *testing.T) {
	// Unigrams 2,3,5,4 (columns 0-3), bigrams (5,6) (7,8) (6,7) (4-6).
	base := func(mode string, minG, maxG, skip int64) map[string]*graph.Attr {
		return map[string]*graph.Attr{
			"mode": aStr(mode), "min_gram_length": aInt(minG), "max_gram_length": aInt(maxG), "max_skip_count": aInt(skip),
			"ngram_counts": aInts(0, 4), "ngram_indexes": aInts(0, 1, 2, 3, 4, 5, 6),
			"pool_int64s": aInts(2, 3, 5, 4, 5, 6, 7, 8, 6, 7),
		}
	}
	x := tensor.Int64s([]int{2, 5}, []int64{2, 3, 5, 6, 7, 5, 9, 6, 2, 2})
	tests := []struct {
		name  string
		attrs map[string]*graph.Attr
		want  []float32
	}{
		{"uni+bi", base("TF", 1, 2, 0), []float32{1, 1, 1, 0, 1, 0, 1, 2, 0, 1, 0, 0, 0, 0}},
		// skip 1 also pairs (5, 6) across the 9 in row 2
		{"bigrams skip1", base("TF", 2, 2, 1), []float32{0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0}},
	}
	for _, tc := range tests {
		out := runOK(t, "", "TfIdfVectorizer", 9, tc.attrs, 1, x)
		same(t, tc.name, out[0], []int{2, 7}, tc.want)
	}
	attrs := base("TFIDF", 1, 1, 0)
	attrs["weights"] = aFlts(0.5, 1, 2, 3, 4, 5, 6)
	out := runOK(t, "", "TfIdfVectorizer", 9, attrs, 1, tensor.Int64s([]int{4}, []int64{2, 2, 5, 8}))
	same(t, "tfidf 1-D", out[0], []int{7}, []float32{1, 0, 2, 0, 0, 0, 0})
	attrs["mode"] = aStr("IDF")
	out = runOK(t, "", "TfIdfVectorizer", 9, attrs, 1, tensor.Int64s([]int{4}, []int64{2, 2, 5, 8}))
	same(t, "idf", out[0], []int{7}, []float32{0.5, 0, 2, 0, 0, 0, 0})
}

func TestMLOps(t *testing.T) {
	le := map[string]*graph.Attr{"keys_strings": aStrs("a", "b"), "values_int64s": aInts(7, 8), "default_int64": aInt(-5)}
	out := runOK(t, "ai.onnx.ml", "LabelEncoder", 4, le, 1, strs([]int{3}, "b", "z", "a"))
	same(t, "label encoder", out[0], []int{3}, []int64{8, -5, 7})
	le = map[string]*graph.Attr{"keys_int64s": aInts(1, 2), "values_strings": aStrs("one", "two")}
	out = runOK(t, "ai.onnx.ml", "LabelEncoder", 4, le, 1, tensor.Int64s([]int{3}, []int64{2, 3, 1}))
	same(t, "label encoder to strings", out[0], []int{3}, []string{"two", "_Unused", "one"})

	out = runOK(t, "ai.onnx.ml", "Binarizer", 1, map[string]*graph.Attr{"threshold": {Type: graph.AttrFloat, Float: 0.5}}, 1,
		tensor.Float32s([]int{3}, []float32{0.2, 0.5, 0.7}))
	same(t, "binarizer", out[0], []int{3}, []float32{0, 0, 1})

	out = runOK(t, "ai.onnx.ml", "ArrayFeatureExtractor", 1, nil, 1, tensor.Float32s([]int{2, 3}, []float32{1, 2, 3, 4, 5, 6}),
		tensor.Int64s([]int{2}, []int64{2, 0}))
	same(t, "array feature extractor", out[0], []int{2, 2}, []float32{3, 1, 6, 4})
	if _, err := run(t, "ai.onnx.ml", "ArrayFeatureExtractor", 1, nil, 1, tensor.Float32s([]int{3}, []float32{1, 2, 3}),
		tensor.Int64s([]int{1}, []int64{3})); err == nil {
		t.Error("index out of range: no error")
	}
}

func TestTreeEnsemble(t *testing.T) {
	// One node: x0 <= 1 → leaf 0 (weight 10, target 0) else leaf 1 (20, target 1).
	tree := func(missingTrue int64) map[string]*graph.Attr {
		return map[string]*graph.Attr{
			"nodes_splits":                    {Type: graph.AttrTensor, Tensor: tensor.Float32s([]int{1}, []float32{1})},
			"nodes_featureids":                aInts(0),
			"nodes_modes":                     {Type: graph.AttrTensor, Tensor: &tensor.Tensor{DType: tensor.Uint8, Shape: []int{1}, Data: []uint8{0}}},
			"nodes_truenodeids":               aInts(0),
			"nodes_falsenodeids":              aInts(1),
			"nodes_trueleafs":                 aInts(1),
			"nodes_falseleafs":                aInts(1),
			"nodes_missing_value_tracks_true": aInts(missingTrue),
			"leaf_targetids":                  aInts(0, 1),
			"leaf_weights":                    {Type: graph.AttrTensor, Tensor: tensor.Float32s([]int{2}, []float32{10, 20})},
			"tree_roots":                      aInts(0),
			"n_targets":                       aInt(2),
		}
	}
	nan := float32(0)
	nan /= nan
	x := tensor.Float32s([]int{3, 1}, []float32{0, 2, nan})
	out := runOK(t, "ai.onnx.ml", "TreeEnsemble", 5, tree(0), 1, x)
	same(t, "tree", out[0], []int{3, 2}, []float32{10, 0, 0, 20, 0, 20})
	out = runOK(t, "ai.onnx.ml", "TreeEnsemble", 5, tree(1), 1, x)
	same(t, "tree missing true", out[0], []int{3, 2}, []float32{10, 0, 0, 20, 10, 0})

	cyclic := tree(0)
	cyclic["nodes_trueleafs"], cyclic["nodes_truenodeids"] = aInts(0), aInts(0) // node 0 → node 0
	if _, err := run(t, "ai.onnx.ml", "TreeEnsemble", 5, cyclic, 1, x); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cyclic tree: error %v", err)
	}
}
