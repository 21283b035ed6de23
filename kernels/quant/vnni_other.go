//go:build noasm || !amd64

package quant

// This build has no x86 kernels; the stubs are never called (their
// panics depend on the feature variables so that static analysis does
// not take the callers for dead code).

var hasVNNI = false

var gemmVNNIKernels [9]func(k4 int, a *uint8, lda int, b *int8, c *int32, ldc int, args *gemmArgs)

func convVNNI8x32(k4 int, w *int8, x *uint8, out *byte, ldo int, args *convArgs) {
	if !hasVNNI {
		panic("quant: no VNNI kernels in this build")
	}
}

func packPixelsVNNI(src *uint8, offs *int, kg int, dst *uint8, flip uint32) {
	if !hasVNNI {
		panic("quant: no VNNI kernels in this build")
	}
}

var hasVBMI = false

func packPixelsGatherVNNI(src *uint8, offs *int, kg int, dst *uint8, flip uint32, idx *uint8) {
	if !hasVBMI {
		panic("quant: no VNNI kernels in this build")
	}
}

func dwVNNI3x3(in *uint8, out *byte, args *dwArgs) {
	if !hasVNNI {
		panic("quant: no VNNI kernels in this build")
	}
}

func gather2(dst *uint8, src *uint8, chunks int) {
	if !hasVNNI {
		panic("quant: no VNNI kernels in this build")
	}
}

var hasAVX2 = false

func gemmAVX2(kp int, a *int16, b *int16, c *int32, ldc int, rows int, mask *int32) {
	if !hasAVX2 {
		panic("quant: no AVX2 kernels in this build")
	}
}

func padRows(dst *uint8, ldd int, src *uint8, lds int, rows int, width int, flip uint32) {
	if !hasVNNI {
		panic("quant: no VNNI kernels in this build")
	}
}
