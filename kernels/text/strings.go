package text

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "StringNormalizer", 10, buildStringNormalizer)
	kernels.Register("", "StringConcat", 20, buildStringConcat)
	kernels.Register("", "StringSplit", 20, buildStringSplit)
	kernels.Register("", "RegexFullMatch", 20, buildRegexFullMatch)
}

func stringsOf(op string, t *tensor.Tensor) ([]string, error) {
	s, ok := t.Data.([]string)
	if !ok {
		return nil, kernels.Unsupported(op, "dtype %v (want string)", t.DType)
	}
	return s, nil
}

// stringNormalizer drops stop words and changes case. Input is [C] or
// [1, C]; stop words are removed whole (an element equal to a stop word).
type stringNormalizer struct {
	caseChange    string // "LOWER", "UPPER" or "NONE"
	caseSensitive bool
	stops         map[string]bool // lower-cased when not case sensitive
}

func buildStringNormalizer(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	k := &stringNormalizer{
		caseChange:    a.String("case_change_action", "NONE"),
		caseSensitive: a.Int("is_case_sensitive", 0) != 0,
		stops:         map[string]bool{},
	}
	switch k.caseChange {
	case "LOWER", "UPPER", "NONE":
	default:
		return nil, b.Errorf("unknown case_change_action %q", k.caseChange)
	}
	if l := a.String("locale", ""); l != "" && !strings.HasPrefix(l, "en") && l != "C" {
		return nil, kernels.Unsupported("StringNormalizer", "locale %q", l)
	}
	for _, w := range a.Strings("stopwords", nil) {
		if !k.caseSensitive {
			w = strings.ToLower(w)
		}
		k.stops[w] = true
	}
	return k, nil
}

func (k *stringNormalizer) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x := in[0]
	src, err := stringsOf("StringNormalizer", x)
	if err != nil {
		return err
	}
	if !(len(x.Shape) == 1 || (len(x.Shape) == 2 && x.Shape[0] == 1)) {
		return fmt.Errorf("input %v must be [C] or [1,C]", x.Shape)
	}
	var res []string
	for _, s := range src {
		key := s
		if !k.caseSensitive {
			key = strings.ToLower(s)
		}
		if k.stops[key] {
			continue
		}
		switch k.caseChange {
		case "LOWER":
			s = strings.ToLower(s)
		case "UPPER":
			s = strings.ToUpper(s)
		}
		res = append(res, s)
	}
	if len(res) == 0 {
		// An all-stop-word input gives a single empty string.
		res = []string{""}
	}
	shape := []int{len(res)}
	if len(x.Shape) == 2 {
		shape = []int{1, len(res)}
	}
	y, err := ctx.Alloc(tensor.String, shape)
	if err != nil {
		return err
	}
	copy(y.Data.([]string), res)
	out[0] = y
	return nil
}

// stringConcat concatenates two broadcast string tensors elementwise.
type stringConcat struct{}

func buildStringConcat(b *kernels.BuildContext) (kernels.Kernel, error) {
	if len(b.Inputs) != 2 {
		return nil, b.Errorf("needs two inputs")
	}
	return stringConcat{}, nil
}

func (stringConcat) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	a, err := stringsOf("StringConcat", in[0])
	if err != nil {
		return err
	}
	b, err := stringsOf("StringConcat", in[1])
	if err != nil {
		return err
	}
	shape, err := tensor.BroadcastShapes(in[0].Shape, in[1].Shape)
	if err != nil {
		return err
	}
	y, err := ctx.Alloc(tensor.String, shape)
	if err != nil {
		return err
	}
	dst := y.Data.([]string)
	sa, sb := tensor.BroadcastStrides(in[0].Shape, shape), tensor.BroadcastStrides(in[1].Shape, shape)
	idx := make([]int, len(shape))
	for i := range dst {
		ia, ib := 0, 0
		for d, v := range idx {
			ia += v * sa[d]
			ib += v * sb[d]
		}
		dst[i] = a[ia] + b[ib]
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	out[0] = y
	return nil
}

// stringSplit splits each string like Python's str.split: on a delimiter,
// or, without one, on runs of whitespace with empty fields dropped. The
// result is padded with "" to the longest split.
type stringSplit struct {
	delim    string
	maxSplit int // < 0: unlimited
}

func buildStringSplit(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	k := &stringSplit{delim: a.String("delimiter", ""), maxSplit: -1}
	if a.Has("maxsplit") {
		k.maxSplit = int(a.Int("maxsplit", -1))
	}
	return k, nil
}

func (k *stringSplit) split(s string) []string {
	if k.delim != "" {
		n := -1
		if k.maxSplit >= 0 {
			n = k.maxSplit + 1
		}
		return strings.SplitN(s, k.delim, n)
	}
	var parts []string
	i, n := 0, len(s)
	left := k.maxSplit
	for left != 0 {
		for i < n {
			r, w := utf8.DecodeRuneInString(s[i:])
			if !unicode.IsSpace(r) {
				break
			}
			i += w
		}
		if i == n {
			return parts
		}
		j := i
		for i < n {
			r, w := utf8.DecodeRuneInString(s[i:])
			if unicode.IsSpace(r) {
				break
			}
			i += w
		}
		parts = append(parts, s[j:i])
		left--
	}
	// Splits exhausted: the rest, leading whitespace skipped, is one field.
	for i < n {
		r, w := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsSpace(r) {
			break
		}
		i += w
	}
	if i < n {
		parts = append(parts, s[i:])
	}
	return parts
}

func (k *stringSplit) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	src, err := stringsOf("StringSplit", in[0])
	if err != nil {
		return err
	}
	parts := make([][]string, len(src))
	longest := 0
	for i, s := range src {
		parts[i] = k.split(s)
		longest = max(longest, len(parts[i]))
	}
	y, err := ctx.Alloc(tensor.String, append(append([]int{}, in[0].Shape...), longest))
	if err != nil {
		return err
	}
	z, err := ctx.Alloc(tensor.Int64, in[0].Shape)
	if err != nil {
		return err
	}
	ys, zs := y.Data.([]string), z.I64()
	for i, p := range parts {
		copy(ys[i*longest:], p)
		zs[i] = int64(len(p))
	}
	out[0] = y
	if len(out) > 1 {
		out[1] = z
	}
	return nil
}

// regexFullMatch reports, per element, whether the whole string matches.
type regexFullMatch struct{ re *regexp.Regexp }

func buildRegexFullMatch(b *kernels.BuildContext) (kernels.Kernel, error) {
	p := b.Attrs().String("pattern", "")
	re, err := regexp.Compile(`^(?:` + p + `)$`)
	if err != nil {
		return nil, b.Errorf("invalid pattern %q: %v", p, err)
	}
	return &regexFullMatch{re: re}, nil
}

func (k *regexFullMatch) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	src, err := stringsOf("RegexFullMatch", in[0])
	if err != nil {
		return err
	}
	y, err := ctx.Alloc(tensor.Bool, in[0].Shape)
	if err != nil {
		return err
	}
	dst := y.Data.([]bool)
	for i, s := range src {
		dst[i] = k.re.MatchString(s)
	}
	out[0] = y
	return nil
}
