//go:build noasm || !(amd64 || arm64)

package gemm

// bestKernel returns the portable kernel: assembly is disabled or this
// architecture has none.
func bestKernel() *microKernel { return kernelGo }

// packRows copies kb rows of nr contiguous values (row stride ldb) into
// dst; it reports false when it cannot.
func packRows(nr int, src []float32, ldb, kb int, dst []float32) bool {
	return packRowsGo(nr, src, ldb, kb, dst)
}

func asmKernels() []*microKernel { return nil }

// packPanelAFast has no fast path here.
func packPanelAFast(mr int, trans bool, a []float32, lda, kb int, d []float32) bool {
	return false
}
