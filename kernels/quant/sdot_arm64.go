//go:build !noasm

package quant

import "golang.org/x/sys/cpu"

// gemmSDOT computes a 4×16 tile of Â·B̂ into tile (vnni_arm64.s).
//
//go:noescape
func gemmSDOT(k4 int, a *int8, lda int, b *int8, tile *int32, tail *int8, flip uint32)

// hasSDOT: the Armv8.2 dot product instructions (SDOT/UDOT).
var hasSDOT = cpu.ARM64.HasASIMDDP
