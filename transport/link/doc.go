// Package link emulates a network link under real connections: it wraps a
// net.Conn or net.Listener so that traffic is paced at a bandwidth, delayed
// by half an RTT each way, jittered, and delayed further by emulated packet
// loss (TCP underneath stays reliable, so a loss costs a retransmission
// delay, not data). All connections wrapped by one Link share its bandwidth.
//
// The profile can change at any time from any goroutine (Set), or follow a
// schedule (Play), e.g. 100 Mbit/s for 10 s then 2 Mbit/s:
//
//	l := link.New(link.Profile{Up: 8 * link.Mbps, Down: 40 * link.Mbps, RTT: 30 * time.Millisecond})
//	cc, _ := grpc.NewClient("passthrough:///"+addr,
//		grpc.WithTransportCredentials(insecure.NewCredentials()),
//		grpc.WithContextDialer(l.Dial))
//	...
//	l.Play(link.Schedule{Steps: []link.Step{
//		{For: 10 * time.Second, Profile: link.Symmetric(100*link.Mbps, 10*time.Millisecond)},
//		{Profile: link.Symmetric(2*link.Mbps, 10*time.Millisecond)},
//	}})
//
// Wrap one side only: the dialer (Dial, Conn) with the client's profile, or
// the server's Listener with the profile Reversed. Profiles are seen from the
// wrapped endpoint: Up is what it writes.
//
// Pacing runs on a virtual clock, so timer slack on a busy machine does not
// stretch the link; arrivals keep TCP's order. Writes block for the
// serialisation time; reads wait for arrival. Close delivers bytes already
// "on the wire", then closes the underlying connection.
package link
