package codec_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/edgedl/edgedl/federated/codec"
)

// A client compresses its update with top-k and error feedback; the server
// decodes it knowing the model's dimension.
func ExampleTopK() {
	update := []float32{0.1, -3, 0.2, 5, -0.05, 0.4, 0, 1}
	enc := &codec.TopK{K: 2, ErrorFeedback: true}
	msg, _ := enc.Encode(update)
	got, _ := codec.Decode(msg, len(update))
	fmt.Println(len(msg), "bytes:", got)
	fmt.Println("kept for next time:", enc.Residual)
	// Output:
	// 14 bytes: [0 -3 0 5 0 0 0 0]
	// kept for next time: [0.1 0 0.2 0 -0.05 0.4 0 1]
}

// QSGD at 4 bits per coordinate; the decoded vector is an unbiased estimate.
func ExampleQSGD() {
	v := []float32{0.5, -0.25, 0, 1}
	q := codec.QSGD{Levels: codec.Bits(4), Rand: rand.New(rand.NewPCG(1, 2))}
	msg, _ := q.Encode(v)
	got, _ := codec.Decode(msg, len(v))
	info, _ := codec.Inspect(msg)
	fmt.Printf("%s, %d coordinates, %d bytes\n", info.Scheme, info.Dim, len(msg))
	fmt.Printf("%.3f\n", got)
	// Output:
	// qsgd, 4 coordinates, 12 bytes
	// [0.491 -0.327 0.000 0.982]
}

// signSGD with majority vote: workers send signs, the server sends back the
// sign of the vote, one bit per coordinate each way.
func ExampleVote() {
	workers := [][]float32{{1, -2, 3}, {2, -1, -3}, {-1, -1, 4}}
	vote := codec.NewVote(3)
	for _, g := range workers {
		msg, _ := codec.SignSGD{}.Encode(g)
		_ = vote.Add(msg)
	}
	down, _ := vote.Encode(0.01, false)
	step, _ := codec.Decode(down, 3)
	fmt.Println(step)
	// Output: [0.01 -0.01 0.01]
}
