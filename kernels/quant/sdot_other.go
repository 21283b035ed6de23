//go:build noasm || !arm64

package quant

var hasSDOT = false

func gemmSDOT(k4 int, a *int8, lda int, b *int8, tile *int32, tail *int8, flip uint32) {
	if !hasSDOT {
		panic("quant: no SDOT kernel in this build")
	}
}
