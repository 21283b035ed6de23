package dp_test

import (
	"fmt"

	"github.com/edgedl/edgedl/federated/dp"
)

// The privacy of the TF Privacy MNIST tutorial's setting: 60000 examples,
// batches of 256 (q = 256/60000), noise multiplier 1.1, 60 epochs.
func ExampleAccountant() {
	acc := dp.NewAccountant(dp.TFPrivacyOrders)
	steps := (60*60000 + 255) / 256
	_ = acc.Compose(256.0/60000, 1.1, steps)
	eps, order, _ := acc.Epsilon(1e-5, dp.ConversionImproved)
	fmt.Printf("improved: eps = %.2f at order %g\n", eps, order)
	eps, order, _ = acc.Epsilon(1e-5, dp.ConversionClassic)
	fmt.Printf("classic:  eps = %.2f at order %g\n", eps, order)
	// Output:
	// improved: eps = 2.60 at order 8
	// classic:  eps = 3.01 at order 9
}
