package pareto_test

import (
	"fmt"
	"time"

	"github.com/edgedl/edgedl/compress"
	"github.com/edgedl/edgedl/compress/pareto"
)

func ExampleFront() {
	rs := []compress.Report{
		{Name: "fp32", Bytes: 6654889, Accuracy: 0.9900, Latency: 612 * time.Microsecond},
		{Name: "int8", Bytes: 1679792, Accuracy: 0.9895, Latency: 350 * time.Microsecond},
		{Name: "filters50", Bytes: 3288219, Accuracy: 0.9661, Latency: 278 * time.Microsecond},
		{Name: "fp16", Bytes: 3328682, Accuracy: 0.9900, Latency: 600 * time.Microsecond},
	}
	for _, i := range pareto.Front(rs) {
		fmt.Println(rs[i].Name)
	}
	// Output:
	// int8
	// filters50
	// fp16
}
