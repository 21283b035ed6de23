//go:build noasm || !amd64

package gemm

// pixelKernels: the pixel kernels are AVX-512 only.
var pixelKernels []pixelKernel
