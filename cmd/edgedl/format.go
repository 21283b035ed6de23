package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/edgedl/edgedl/graph"
)

// humanBytes formats a byte count with binary units.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), -1
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i])
}

// humanCount formats a count with SI suffixes: 1.5M, 2.3G.
func humanCount(n int64) string {
	v := float64(n)
	for i, s := range []string{"", "K", "M", "G", "T", "P"} {
		if math.Abs(v) < 1000 || i == 5 {
			if s == "" {
				return fmt.Sprintf("%d", n)
			}
			return fmt.Sprintf("%.2f%s", v, s)
		}
		v /= 1000
	}
	return fmt.Sprint(n)
}

// commas formats an integer with thousands separators.
func commas(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// us formats microseconds with a readable unit.
func us(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f s", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.2f ms", v/1e3)
	}
	return fmt.Sprintf("%.1f µs", v)
}

// dimsJSON turns a declared shape into JSON-able dims: ints, names, or
// null for unknown; nil for an unknown rank.
func dimsJSON(v graph.ValueInfo) []any {
	if !v.HasShape {
		return nil
	}
	out := make([]any, len(v.Shape))
	for i, d := range v.Shape {
		switch {
		case d.Param != "":
			out[i] = d.Param
		case d.Value >= 0:
			out[i] = d.Value
		}
	}
	return out
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// jfloat is a float64 that encodes NaN and infinities as JSON null
// (encoding/json refuses them; model outputs may hold them).
type jfloat float64

func (f jfloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

// table prints rows in columns separated by two spaces; right[i] aligns
// column i to the right (numbers), otherwise to the left. Widths count
// runes, so "µs" lines up.
type table struct {
	right []bool
	rows  [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer, indent string) {
	var width []int
	for _, r := range t.rows {
		for i, c := range r {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range t.rows {
		var b strings.Builder
		b.WriteString(indent)
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if i < len(t.right) && t.right[i] {
				b.WriteString(pad + c)
			} else if i < len(r)-1 {
				b.WriteString(c + pad)
			} else {
				b.WriteString(c)
			}
		}
		fmt.Fprintln(w, b.String())
	}
}
