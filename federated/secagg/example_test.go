package secagg_test

import (
	"crypto/rand"
	"fmt"

	"github.com/edgedl/edgedl/federated"
	"github.com/edgedl/edgedl/federated/secagg"
)

// Three clients sum their vectors; one client's masked input is lost, and the
// other two (the threshold) still recover the sum of theirs.
func Example() {
	cfg := secagg.Config{Session: 1, Threshold: 2, Dim: 3}
	srv, _ := secagg.NewServer(cfg)
	inputs := map[federated.ClientID][]uint32{1: {1, 2, 3}, 2: {10, 20, 30}, 3: {100, 200, 300}}
	clients := map[federated.ClientID]*secagg.Client{}
	for _, id := range []federated.ClientID{1, 2, 3} {
		c, adv, _ := secagg.NewClient(cfg, id, rand.Reader)
		clients[id] = c
		_ = srv.HandleAdvertise(adv)
	}
	keys, _ := srv.EndAdvertise()
	for _, id := range []federated.ClientID{1, 2, 3} {
		m, _ := clients[id].ShareKeys(keys)
		_ = srv.HandleShareKeys(m)
	}
	forward, _ := srv.EndShareKeys()
	for _, id := range []federated.ClientID{1, 2, 3} {
		m, _ := clients[id].MaskInput(forward[id], inputs[id])
		if id != 3 { // client 3's masked input never arrives
			_ = srv.HandleMaskedInput(m)
		}
	}
	survivors, _ := srv.EndMaskedInput()
	for _, id := range survivors.Clients {
		m, _ := clients[id].Unmask(survivors)
		_ = srv.HandleUnmask(m)
	}
	res, err := srv.Finish()
	fmt.Println(res.Sum, res.Contributors, res.Dropped, err)
	// Output: [11 22 33] [1 2] [3] <nil>
}
