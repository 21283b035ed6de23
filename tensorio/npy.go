package tensorio

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/edgedl/edgedl/tensor"
)

// ErrNotNPY is wrapped by errors for input that is not a .npy file.
var ErrNotNPY = errors.New("tensorio: not a .npy file")

const npyMagic = "\x93NUMPY"

// maxHeader bounds a .npy header (NumPy itself writes a few hundred bytes).
const maxHeader = 1 << 20

// npyDescr maps dtypes to NumPy's little-endian type strings.
var npyDescr = map[tensor.DType]string{
	tensor.Float32: "<f4", tensor.Float64: "<f8", tensor.Float16: "<f2",
	tensor.Int8: "|i1", tensor.Uint8: "|u1", tensor.Bool: "|b1",
	tensor.Int16: "<i2", tensor.Uint16: "<u2", tensor.Int32: "<i4",
	tensor.Uint32: "<u4", tensor.Int64: "<i8", tensor.Uint64: "<u8",
}

// parseDescr maps a NumPy type string such as "<f4" to a dtype and byte order.
func parseDescr(s string) (tensor.DType, binary.ByteOrder, error) {
	if len(s) < 2 {
		return 0, nil, fmt.Errorf("tensorio: npy: unsupported dtype %q", s)
	}
	var order binary.ByteOrder = binary.LittleEndian
	body := s
	switch s[0] {
	case '<', '|', '=':
		body = s[1:]
	case '>':
		order = binary.BigEndian
		body = s[1:]
	}
	for d, ds := range npyDescr {
		if ds[1:] == body {
			return d, order, nil
		}
	}
	if body == "?" {
		return tensor.Bool, order, nil
	}
	return 0, nil, fmt.Errorf("tensorio: npy: unsupported dtype %q (supported: float16/32/64, int8..64, uint8..64, bool)", s)
}

// ReadNPY decodes one array in NumPy's .npy format (versions 1.0 to 3.0,
// C order, any byte order) from r.
func ReadNPY(r io.Reader) (*tensor.Tensor, error) {
	br := bufio.NewReader(r)
	var pre [8]byte
	if _, err := io.ReadFull(br, pre[:]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotNPY, shortRead(err))
	}
	if string(pre[:6]) != npyMagic {
		return nil, fmt.Errorf("%w: bad magic %q", ErrNotNPY, pre[:6])
	}
	major := pre[6]
	var hlen int
	switch major {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return nil, fmt.Errorf("tensorio: npy: header: %v", shortRead(err))
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return nil, fmt.Errorf("tensorio: npy: header: %v", shortRead(err))
		}
		h := binary.LittleEndian.Uint32(b[:])
		if h > maxHeader {
			return nil, fmt.Errorf("tensorio: npy: header of %d bytes is too long", h)
		}
		hlen = int(h)
	default:
		return nil, fmt.Errorf("tensorio: npy: unsupported format version %d.%d", major, pre[7])
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return nil, fmt.Errorf("tensorio: npy: header: %v", shortRead(err))
	}
	dt, order, shape, err := parseHeader(string(hdr))
	if err != nil {
		return nil, err
	}
	n, err := tensor.NumElements(shape)
	if err != nil {
		return nil, fmt.Errorf("tensorio: npy: %w", err)
	}
	// Read before allocating the tensor, growing with the data that is
	// really there, so a short hostile file cannot claim a huge buffer.
	need := int64(n) * int64(dt.Size())
	raw, err := io.ReadAll(io.LimitReader(br, need))
	if err != nil {
		return nil, fmt.Errorf("tensorio: npy: %v", err)
	}
	if int64(len(raw)) != need {
		return nil, fmt.Errorf("tensorio: npy: truncated data: %v%s needs %d bytes, file has %d",
			dt, tensor.ShapeString(shape), need, len(raw))
	}
	t, err := tensor.FromBytes(dt, shape, raw, order)
	if err != nil {
		return nil, fmt.Errorf("tensorio: npy: %w", err)
	}
	return t, nil
}

func shortRead(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errors.New("file is truncated")
	}
	return err
}

// parseHeader reads the Python dict literal of a .npy header.
func parseHeader(h string) (tensor.DType, binary.ByteOrder, []int, error) {
	p := &pyParser{s: strings.TrimRight(h, " \n\x00")}
	v, err := p.value()
	if err == nil {
		p.skipSpace()
		if p.i != len(p.s) {
			err = fmt.Errorf("trailing text at offset %d", p.i)
		}
	}
	if err != nil {
		return 0, nil, nil, fmt.Errorf("tensorio: npy: bad header %q: %v", h, err)
	}
	d, ok := v.(map[string]any)
	if !ok {
		return 0, nil, nil, fmt.Errorf("tensorio: npy: header %q is not a dict", h)
	}
	descr, ok := d["descr"].(string)
	if !ok {
		return 0, nil, nil, fmt.Errorf("tensorio: npy: header %q has no simple 'descr' (structured arrays are not supported)", h)
	}
	dt, order, err := parseDescr(descr)
	if err != nil {
		return 0, nil, nil, err
	}
	if f, _ := d["fortran_order"].(bool); f {
		return 0, nil, nil, errors.New("tensorio: npy: Fortran-order arrays are not supported; save np.ascontiguousarray(a)")
	}
	tup, ok := d["shape"].([]int64)
	if !ok {
		return 0, nil, nil, fmt.Errorf("tensorio: npy: header %q has no 'shape' tuple", h)
	}
	shape := make([]int, len(tup))
	for i, x := range tup {
		if x < 0 || x > math.MaxInt32 {
			return 0, nil, nil, fmt.Errorf("tensorio: npy: bad dimension %d in shape", x)
		}
		shape[i] = int(x)
	}
	return dt, order, shape, nil
}

// pyParser parses the subset of Python literals .npy headers use: dicts,
// tuples of ints, strings, True/False and ints.
type pyParser struct {
	s string
	i int
}

func (p *pyParser) skipSpace() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *pyParser) value() (any, error) {
	p.skipSpace()
	if p.i >= len(p.s) {
		return nil, errors.New("unexpected end")
	}
	switch c := p.s[p.i]; {
	case c == '{':
		p.i++
		m := map[string]any{}
		for {
			p.skipSpace()
			if p.i < len(p.s) && p.s[p.i] == '}' {
				p.i++
				return m, nil
			}
			k, err := p.value()
			if err != nil {
				return nil, err
			}
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("dict key at offset %d is not a string", p.i)
			}
			p.skipSpace()
			if p.i >= len(p.s) || p.s[p.i] != ':' {
				return nil, fmt.Errorf("expected ':' at offset %d", p.i)
			}
			p.i++
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			m[ks] = v
			if err := p.sep('}'); err != nil {
				return nil, err
			}
		}
	case c == '(':
		p.i++
		t := []int64{}
		for {
			p.skipSpace()
			if p.i < len(p.s) && p.s[p.i] == ')' {
				p.i++
				return t, nil
			}
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			x, ok := v.(int64)
			if !ok {
				return nil, fmt.Errorf("tuple element at offset %d is not an integer", p.i)
			}
			t = append(t, x)
			if err := p.sep(')'); err != nil {
				return nil, err
			}
		}
	case c == '[':
		return nil, errors.New("a list descr: structured arrays are not supported")
	case c == '\'' || c == '"':
		end := strings.IndexByte(p.s[p.i+1:], c)
		if end < 0 {
			return nil, errors.New("unterminated string")
		}
		s := p.s[p.i+1 : p.i+1+end]
		p.i += end + 2
		return s, nil
	case c == '-' || (c >= '0' && c <= '9'):
		j := p.i + 1
		for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
			j++
		}
		// Python 2 era files may write longs as 3L.
		x, err := strconv.ParseInt(p.s[p.i:j], 10, 64)
		if err != nil {
			return nil, err
		}
		p.i = j
		if p.i < len(p.s) && p.s[p.i] == 'L' {
			p.i++
		}
		return x, nil
	case strings.HasPrefix(p.s[p.i:], "True"):
		p.i += 4
		return true, nil
	case strings.HasPrefix(p.s[p.i:], "False"):
		p.i += 5
		return false, nil
	}
	return nil, fmt.Errorf("unexpected %q at offset %d", p.s[p.i], p.i)
}

// sep consumes a ',' or peeks the closing byte.
func (p *pyParser) sep(close byte) error {
	p.skipSpace()
	if p.i < len(p.s) {
		switch p.s[p.i] {
		case ',':
			p.i++
			return nil
		case close:
			return nil
		}
	}
	return fmt.Errorf("expected ',' or %q at offset %d", close, p.i)
}

// npyHeader returns the header NumPy would write for t: magic, version,
// length and the padded dict (version 1.0 unless the dict needs 2.0).
func npyHeader(t *tensor.Tensor) ([]byte, error) {
	descr, ok := npyDescr[t.DType]
	if !ok {
		return nil, fmt.Errorf("tensorio: npy: cannot write %v tensors", t.DType)
	}
	var shape strings.Builder
	shape.WriteByte('(')
	for i, d := range t.Shape {
		if i > 0 {
			shape.WriteString(", ")
		}
		shape.WriteString(strconv.Itoa(d))
	}
	if len(t.Shape) == 1 {
		shape.WriteByte(',')
	}
	shape.WriteByte(')')
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape.String())
	var b bytes.Buffer
	b.WriteString(npyMagic)
	pre := 10 // magic, version, uint16 length
	if len(dict)+64 > 65535 {
		pre = 12 // version 2.0: uint32 length
	}
	total := pre + len(dict) + 1
	pad := (64 - total%64) % 64
	hlen := len(dict) + pad + 1
	if pre == 10 {
		b.Write([]byte{1, 0})
		binary.Write(&b, binary.LittleEndian, uint16(hlen))
	} else {
		b.Write([]byte{2, 0})
		binary.Write(&b, binary.LittleEndian, uint32(hlen))
	}
	b.WriteString(dict)
	b.WriteString(strings.Repeat(" ", pad))
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// WriteNPY encodes t in NumPy's .npy format (little-endian, C order).
// String and bfloat16 tensors have no NumPy equivalent and are refused.
func WriteNPY(w io.Writer, t *tensor.Tensor) error {
	if t == nil {
		return errors.New("tensorio: npy: nil tensor")
	}
	if n, err := tensor.NumElements(t.Shape); err != nil || n != t.Len() {
		return fmt.Errorf("tensorio: npy: shape %v does not match %d elements", t.Shape, t.Len())
	}
	hdr, err := npyHeader(t)
	if err != nil {
		return err
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	raw, err := tensor.AppendBytes(nil, t, binary.LittleEndian)
	if err != nil {
		return fmt.Errorf("tensorio: npy: %w", err)
	}
	_, err = w.Write(raw)
	return err
}

// LoadNPY reads a .npy file; errors name the file.
func LoadNPY(path string) (*tensor.Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := ReadNPY(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// SaveNPY writes t to a .npy file.
func SaveNPY(path string, t *tensor.Tensor) error {
	var b bytes.Buffer
	if err := WriteNPY(&b, t); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}
