package link_test

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/edgedl/edgedl/transport/link"
)

// Sending 100 kB through an 8 Mbit/s uplink takes about 100 ms.
func Example() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.CopyN(io.Discard, c, 100_000)
		c.Write([]byte{1})
		c.Close()
	}()

	l := link.New(link.Profile{Up: 8 * link.Mbps, RTT: 10 * time.Millisecond})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	c = l.Conn(c)
	defer c.Close()
	start := time.Now()
	c.Write(make([]byte, 100_000))
	c.Read(make([]byte, 1))
	d := time.Since(start)
	fmt.Println(l.Profile())
	fmt.Println("took at least 100 ms:", d >= 100*time.Millisecond)
	// Output:
	// up 8Mbit/s down unlimited rtt 10ms
	// took at least 100 ms: true
}

func ExampleSchedule() {
	s := link.Schedule{Steps: []link.Step{
		{For: 10 * time.Second, Profile: link.Symmetric(100*link.Mbps, 10*time.Millisecond)},
		{Profile: link.Symmetric(2*link.Mbps, 10*time.Millisecond)},
	}}
	fmt.Println(s.At(5 * time.Second))
	fmt.Println(s.At(15 * time.Second))
	// Output:
	// up 100Mbit/s down 100Mbit/s rtt 10ms
	// up 2Mbit/s down 2Mbit/s rtt 10ms
}
