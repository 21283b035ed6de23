package data

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// TS is a time-series data set read from sktime's .ts format (the format
// of the UCR/UEA archive): a header of @tags, then one line per case
// with the dimensions separated by ':' and the class label (or regression
// target) last.
type TS struct {
	Name       string
	Univariate bool
	Dims       int
	// Series[i][d] is dimension d of case i; missing values are NaN.
	Series [][][]float32
	// Labels index ClassNames (classification files).
	Labels     []int
	ClassNames []string
	// Targets holds the values of a regression file (@targetLabel true).
	Targets []float32
}

// ReadTSFile parses a .ts file.
func ReadTSFile(path string) (*TS, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	return ReadTS(f, filepath.Base(path))
}

// ReadTS parses .ts content; name labels error messages.
func ReadTS(r io.Reader, name string) (*TS, error) {
	ts := &TS{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<28)
	line := 0
	errf := func(format string, args ...any) error {
		return fmt.Errorf("data: %s:%d: %s", name, line, fmt.Sprintf(format, args...))
	}
	inData := false
	hasLabel, hasTarget, timestamps := false, false, false
	declaredLen, declaredDims := -1, -1
	classIndex := map[string]int{}
	for sc.Scan() {
		line++
		s := strings.TrimSpace(strings.TrimSuffix(sc.Text(), "\r"))
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		if !inData {
			if !strings.HasPrefix(s, "@") {
				return nil, errf("expected a @tag or @data before the data, found %q", clip(s))
			}
			fields := strings.Fields(s)
			tag := strings.ToLower(fields[0])
			arg := ""
			if len(fields) > 1 {
				arg = strings.ToLower(fields[1])
			}
			boolArg := func() (bool, error) {
				switch arg {
				case "true":
					return true, nil
				case "false":
					return false, nil
				}
				return false, errf("%s wants true or false, has %q", fields[0], arg)
			}
			var err error
			switch tag {
			case "@problemname":
				if len(fields) > 1 {
					ts.Name = fields[1]
				}
			case "@timestamps":
				timestamps, err = boolArg()
			case "@missing", "@equallength":
				_, err = boolArg()
			case "@univariate":
				ts.Univariate, err = boolArg()
			case "@dimensions", "@dimension":
				declaredDims, err = strconv.Atoi(arg)
				if err != nil || declaredDims < 1 {
					return nil, errf("bad @dimensions %q", arg)
				}
			case "@serieslength":
				declaredLen, err = strconv.Atoi(arg)
				if err != nil || declaredLen < 0 {
					return nil, errf("bad @seriesLength %q", arg)
				}
			case "@classlabel":
				if hasLabel, err = boolArg(); err == nil && hasLabel {
					for _, c := range fields[2:] {
						if _, dup := classIndex[c]; dup {
							return nil, errf("class %q listed twice", c)
						}
						classIndex[c] = len(ts.ClassNames)
						ts.ClassNames = append(ts.ClassNames, c)
					}
					if len(ts.ClassNames) == 0 {
						return nil, errf("@classLabel true lists no classes")
					}
				}
			case "@targetlabel":
				hasTarget, err = boolArg()
			case "@data":
				inData = true
				if timestamps {
					return nil, errf("@timeStamps true is not supported")
				}
				if hasLabel && hasTarget {
					return nil, errf("both @classLabel and @targetLabel are true")
				}
			default:
				// unknown tags are ignored, as sktime does
			}
			if err != nil {
				return nil, err
			}
			continue
		}
		parts := strings.Split(s, ":")
		if hasLabel || hasTarget {
			if len(parts) < 2 {
				return nil, errf("a case needs its dimensions and a label separated by ':'")
			}
			lab := strings.TrimSpace(parts[len(parts)-1])
			parts = parts[:len(parts)-1]
			if hasLabel {
				k, ok := classIndex[lab]
				if !ok {
					return nil, errf("label %q is not among @classLabel %v", lab, ts.ClassNames)
				}
				ts.Labels = append(ts.Labels, k)
			} else {
				v, err := strconv.ParseFloat(lab, 64)
				if err != nil {
					return nil, errf("target %q is not a number", lab)
				}
				ts.Targets = append(ts.Targets, float32(v))
			}
		}
		if ts.Dims == 0 {
			ts.Dims = len(parts)
			if declaredDims > 0 && declaredDims != ts.Dims {
				return nil, errf("@dimensions %d but the first case has %d", declaredDims, ts.Dims)
			}
		} else if len(parts) != ts.Dims {
			return nil, errf("case has %d dimensions, earlier ones %d", len(parts), ts.Dims)
		}
		cs := make([][]float32, len(parts))
		for d, p := range parts {
			p = strings.TrimSpace(p)
			if strings.HasPrefix(p, "(") {
				return nil, errf("timestamped values %q are not supported", clip(p))
			}
			var vals []float32
			if p != "" {
				for _, f := range strings.Split(p, ",") {
					f = strings.TrimSpace(f)
					if f == "?" || strings.EqualFold(f, "nan") {
						vals = append(vals, float32(math.NaN()))
						continue
					}
					v, err := strconv.ParseFloat(f, 32)
					if err != nil {
						return nil, errf("dimension %d: %q is not a number", d, clip(f))
					}
					vals = append(vals, float32(v))
				}
			}
			if declaredLen > 0 && len(vals) != declaredLen {
				return nil, errf("dimension %d has %d values, @seriesLength is %d", d, len(vals), declaredLen)
			}
			cs[d] = vals
		}
		ts.Series = append(ts.Series, cs)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("data: %s: %w", name, err)
	}
	if !inData {
		return nil, fmt.Errorf("data: %s: no @data section", name)
	}
	if len(ts.Series) == 0 {
		return nil, fmt.Errorf("data: %s: no cases", name)
	}
	return ts, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// MaxLen is the length of the longest series.
func (t *TS) MaxLen() int {
	n := 0
	for _, c := range t.Series {
		for _, d := range c {
			n = max(n, len(d))
		}
	}
	return n
}

// Dataset converts the cases to [Dims, length] samples: shorter series are
// padded with zeros at the end, longer ones truncated (length <= 0: the
// longest series), and missing values become 0.
func (t *TS) Dataset(length int) *InMemory {
	if length <= 0 {
		length = t.MaxLen()
	}
	x := make([]float32, len(t.Series)*t.Dims*length)
	for i, c := range t.Series {
		for d, s := range c {
			row := x[(i*t.Dims+d)*length : (i*t.Dims+d+1)*length]
			for j := 0; j < length && j < len(s); j++ {
				if v := s[j]; v == v {
					row[j] = v
				}
			}
		}
	}
	ds := &InMemory{X: x, SampleShape: []int{t.Dims, length}, Classes: slices.Clone(t.ClassNames)}
	if t.Labels != nil {
		ds.Y = slices.Clone(t.Labels)
	}
	if t.Targets != nil {
		ds.T, ds.TShape = slices.Clone(t.Targets), []int{1}
	}
	return ds
}

// LoadTS reads dir/NAME_TRAIN.ts and dir/NAME_TEST.ts, the UCR/UEA layout,
// where NAME is dir's base name, and returns both as data sets of the
// same length.
func LoadTS(dir string) (train, test *InMemory, err error) {
	name := filepath.Base(filepath.Clean(dir))
	tr, err := ReadTSFile(filepath.Join(dir, name+"_TRAIN.ts"))
	if err != nil {
		return nil, nil, err
	}
	te, err := ReadTSFile(filepath.Join(dir, name+"_TEST.ts"))
	if err != nil {
		return nil, nil, err
	}
	if tr.Dims != te.Dims || !slices.Equal(tr.ClassNames, te.ClassNames) {
		return nil, nil, fmt.Errorf("data: %s: train and test differ in dimensions (%d, %d) or classes (%v, %v)",
			dir, tr.Dims, te.Dims, tr.ClassNames, te.ClassNames)
	}
	l := max(tr.MaxLen(), te.MaxLen())
	return tr.Dataset(l), te.Dataset(l), nil
}

// ChannelStats returns the mean and standard deviation of each channel
// (dim 0 of the sample shape) over the whole set.
func ChannelStats(d *InMemory) (mean, std []float32) {
	ch := d.SampleShape[0]
	per := numel(d.SampleShape) / ch
	sum, sq := make([]float64, ch), make([]float64, ch)
	n := d.Len()
	for i := 0; i < n; i++ {
		for c := 0; c < ch; c++ {
			for _, v := range d.X[(i*ch+c)*per : (i*ch+c+1)*per] {
				sum[c] += float64(v)
				sq[c] += float64(v) * float64(v)
			}
		}
	}
	mean, std = make([]float32, ch), make([]float32, ch)
	cnt := float64(n * per)
	for c := range mean {
		m := sum[c] / cnt
		mean[c] = float32(m)
		std[c] = float32(math.Sqrt(max(sq[c]/cnt-m*m, 0)))
		if std[c] == 0 {
			std[c] = 1
		}
	}
	return mean, std
}

// Normalize maps each channel to (x-mean)/std in place (use the training
// set's ChannelStats for both splits).
func Normalize(d *InMemory, mean, std []float32) {
	ch := d.SampleShape[0]
	per := numel(d.SampleShape) / ch
	for i := 0; i < d.Len(); i++ {
		for c := 0; c < ch; c++ {
			row := d.X[(i*ch+c)*per : (i*ch+c+1)*per]
			for j := range row {
				row[j] = (row[j] - mean[c]) / std[c]
			}
		}
	}
}
