package text

import (
	"fmt"
	"strconv"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "TfIdfVectorizer", 9, buildTfIdf)
}

// Weighting modes.
const (
	modeTF = iota
	modeIDF
	modeTFIDF
)

// trie is an n-gram prefix tree; id is the 1-based n-gram number of the
// path ending here (0: a prefix only).
type trie struct {
	id   int
	next map[string]*trie
}

func (t *trie) child(key string) *trie {
	if t.next == nil {
		t.next = map[string]*trie{}
	}
	c := t.next[key]
	if c == nil {
		c = &trie{}
		t.next[key] = c
	}
	return c
}

// tfidf is a compiled TfIdfVectorizer node. Integer tokens are matched by
// their decimal text so one trie serves both pools.
type tfidf struct {
	mode               int
	minGram, maxGram   int
	maxSkip            int
	indexes            []int64 // n-gram number - 1 → output column
	weights            []float32
	outSize            int
	root               trie
	stringPool, hasAny bool
}

func buildTfIdf(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	k := &tfidf{
		minGram: int(a.Int("min_gram_length", 0)), maxGram: int(a.Int("max_gram_length", 0)),
		maxSkip: int(a.Int("max_skip_count", 0)), indexes: a.Ints("ngram_indexes", nil),
		weights: a.Floats("weights", nil),
	}
	switch m := a.String("mode", ""); m {
	case "TF":
		k.mode = modeTF
	case "IDF":
		k.mode = modeIDF
	case "TFIDF":
		k.mode = modeTFIDF
	default:
		return nil, b.Errorf("unknown mode %q", m)
	}
	if k.minGram < 1 || k.maxGram < k.minGram || k.maxSkip < 0 {
		return nil, b.Errorf("invalid gram lengths [%d,%d] or max_skip_count %d", k.minGram, k.maxGram, k.maxSkip)
	}
	var pool []string
	if ints := a.Ints("pool_int64s", nil); ints != nil {
		for _, v := range ints {
			pool = append(pool, strconv.FormatInt(v, 10))
		}
	} else {
		pool = a.Strings("pool_strings", nil)
		k.stringPool = true
	}
	for _, ix := range k.indexes {
		if ix < 0 || ix >= int64(tensor.MaxElements) {
			return nil, b.Errorf("invalid ngram index %d", ix)
		}
		k.outSize = max(k.outSize, int(ix)+1)
	}
	if k.weights != nil && len(k.weights) < k.outSize {
		return nil, b.Errorf("%d weights for %d outputs", len(k.weights), k.outSize)
	}
	counts := a.Ints("ngram_counts", nil)
	id := 1
	for i, start := range counts {
		end := int64(len(pool))
		if i+1 < len(counts) {
			end = counts[i+1]
		}
		if start < 0 || end < start || end > int64(len(pool)) {
			return nil, b.Errorf("ngram_counts %v do not fit a pool of %d", counts, len(pool))
		}
		size := i + 1
		grams := int(end-start) / size
		if size < k.minGram || size > k.maxGram {
			id += grams
			continue
		}
		for g := 0; g < grams; g++ {
			node := &k.root
			for _, tok := range pool[int(start)+g*size : int(start)+(g+1)*size] {
				node = node.child(tok)
			}
			node.id = id
			id++
		}
	}
	if id-1 > len(k.indexes) {
		return nil, b.Errorf("%d n-grams but %d ngram_indexes", id-1, len(k.indexes))
	}
	k.hasAny = len(k.root.next) > 0
	return k, nil
}

func (k *tfidf) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x := in[0]
	var tokens []string
	switch d := x.Data.(type) {
	case []string:
		tokens = d
	case []int32, []int64:
		tokens = make([]string, x.Len())
		for i := range tokens {
			tokens[i] = strconv.FormatInt(x.Int64At(i), 10)
		}
	default:
		return kernels.Unsupported("TfIdfVectorizer", "dtype %v", x.DType)
	}
	var rows, c int
	shape := []int{k.outSize}
	switch len(x.Shape) {
	case 0:
		rows, c = 1, 1
	case 1:
		rows, c = 1, x.Shape[0]
	case 2:
		rows, c = x.Shape[0], x.Shape[1]
		shape = []int{rows, k.outSize}
	default:
		return fmt.Errorf("input %v must be [C] or [B,C]", x.Shape)
	}
	y, err := ctx.Alloc(tensor.Float32, shape)
	if err != nil {
		return err
	}
	out[0] = y
	if !k.hasAny || len(tokens) == 0 {
		return nil
	}
	freq := y.F32()
	for r := 0; r < rows; r++ {
		row, f := tokens[r*c:(r+1)*c], freq[r*k.outSize:(r+1)*k.outSize]
		startSize := k.minGram
		for skip := 1; skip <= k.maxSkip+1; skip++ {
			for s := 0; s < c; s++ {
				if s+skip*(startSize-1) >= c {
					break
				}
				node := &k.root
				for size, i := 1, s; size <= k.maxGram && i < c && node.next != nil; size, i = size+1, i+skip {
					nx := node.next[row[i]]
					if nx == nil {
						break
					}
					if size >= startSize && nx.id != 0 {
						f[k.indexes[nx.id-1]]++
					}
					node = nx
				}
			}
			// Unigrams do not depend on the skip: count them once.
			if startSize == 1 {
				startSize++
				if startSize > k.maxGram {
					break
				}
			}
		}
		for i, v := range f {
			switch k.mode {
			case modeIDF:
				if v > 0 {
					f[i] = 1
					if k.weights != nil {
						f[i] = k.weights[i]
					}
				}
			case modeTFIDF:
				if k.weights != nil {
					f[i] = v * k.weights[i]
				}
			}
		}
	}
	return nil
}
