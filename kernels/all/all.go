// Package all links every operator family into the binary. Import it for
// its side effect (registration) wherever a Session is compiled:
//
//	import _ "github.com/edgedl/edgedl/kernels/all"
package all
