//go:build !noasm

package nn

import (
	"testing"
	"unsafe"
)

// TestDWArgsLayout checks the dwArgs offsets that dw512_amd64.s hard-codes
// (A_X ... A_OFF).
func TestDWArgsLayout(t *testing.T) {
	var a dwArgs
	for _, f := range []struct {
		name      string
		got, want uintptr
	}{
		{"x", unsafe.Offsetof(a.x), 0}, {"y", unsafe.Offsetof(a.y), 8}, {"w", unsafe.Offsetof(a.w), 16},
		{"ep", unsafe.Offsetof(a.ep), 24}, {"zero", unsafe.Offsetof(a.zero), 40},
		{"masks", unsafe.Offsetof(a.masks), 48}, {"h", unsafe.Offsetof(a.h), 56},
		{"ld", unsafe.Offsetof(a.ld), 64}, {"oh", unsafe.Offsetof(a.oh), 72},
		{"ow", unsafe.Offsetof(a.ow), 80}, {"nblk", unsafe.Offsetof(a.nblk), 88},
		{"sh", unsafe.Offsetof(a.sh), 96}, {"ph", unsafe.Offsetof(a.ph), 104},
		{"off", unsafe.Offsetof(a.off), 112},
	} {
		if f.got != f.want {
			t.Errorf("dwArgs.%s at offset %d, the assembly expects %d", f.name, f.got, f.want)
		}
	}
}
