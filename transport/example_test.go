package transport_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/transport"
	"github.com/edgedl/edgedl/transport/codec"
	"github.com/edgedl/edgedl/transport/link"
)

// An edge server doubling an activation, called over an emulated
// 50 Mbit/s, 10 ms link on loopback with the int8 codec both ways.
func Example() {
	srv := transport.NewServer(transport.ServerConfig{Name: "edge"})
	srv.Add("double", transport.ModelFunc(transport.ModelInfo{},
		func(_ context.Context, in []transport.NamedTensor) ([]transport.NamedTensor, error) {
			y := in[0].Tensor.Clone()
			for i := range y.F32() {
				y.F32()[i] *= 2
			}
			return []transport.NamedTensor{{Name: "y", Tensor: y}}, nil
		}))
	gs := grpc.NewServer(srv.ServerOptions()...)
	srv.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go gs.Serve(lis)
	defer gs.Stop()

	l := link.New(link.Symmetric(50*link.Mbps, 10*time.Millisecond))
	var rec transport.Recorder
	cc, err := grpc.NewClient("passthrough:///"+lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(l.Dial),
		grpc.WithStatsHandler(transport.StatsHandler(&rec)))
	if err != nil {
		panic(err)
	}
	defer cc.Close()
	client := transport.NewClient(cc)
	client.Codec, _ = codec.Get("int8")
	client.OutputCodec = "int8"

	x := tensor.Float32s([]int{1, 4}, []float32{0, 0.5, 1, 2.55})
	outs, err := client.Infer(context.Background(), "double", []transport.NamedTensor{{Name: "x", Tensor: x}})
	if err != nil {
		panic(err)
	}
	fmt.Println(outs[0].Name, outs[0].Tensor.Shape, outs[0].Tensor.F32())
	s := rec.Samples()[0]
	fmt.Println("one round trip of at least the RTT:", s.Duration >= 10*time.Millisecond)
	// Output:
	// y [1 4] [0 1 2 5.1]
	// one round trip of at least the RTT: true
}

// Building a request by hand and decoding it as a server would.
func ExampleNewInferRequest() {
	x := tensor.Float32s([]int{2, 2}, []float32{1, 2, 3, 4})
	c, _ := codec.Get("fp16+lz4")
	req, err := transport.NewInferRequest("m", []transport.NamedTensor{{Name: "x", Tensor: x}}, c)
	if err != nil {
		panic(err)
	}
	in := req.Inputs[0]
	fmt.Println(in.Datatype, in.Shape, in.Parameters[codec.ParamCodec].GetStringParam())
	got, err := transport.DecodeInputs(req, transport.Limits{})
	if err != nil {
		panic(err)
	}
	fmt.Println(got[0].Tensor.F32())
	// Output:
	// FP32 [2 2] fp16+lz4
	// [1 2 3 4]
}
