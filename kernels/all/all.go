// Package all links every operator family into the binary. Import it for
// its side effect (registration) wherever a Session is compiled:
//
//	import _ "github.com/edgedl/edgedl/kernels/all"
package all

import (
	_ "github.com/edgedl/edgedl/kernels/attention"
	_ "github.com/edgedl/edgedl/kernels/control"
	_ "github.com/edgedl/edgedl/kernels/elementwise"
	_ "github.com/edgedl/edgedl/kernels/fused"
	_ "github.com/edgedl/edgedl/kernels/image"
	_ "github.com/edgedl/edgedl/kernels/nn"
	_ "github.com/edgedl/edgedl/kernels/quant"
	_ "github.com/edgedl/edgedl/kernels/random"
	_ "github.com/edgedl/edgedl/kernels/reduce"
	_ "github.com/edgedl/edgedl/kernels/rnn"
	_ "github.com/edgedl/edgedl/kernels/shape"
	_ "github.com/edgedl/edgedl/kernels/text"
)
