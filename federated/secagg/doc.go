// Package secagg implements secure aggregation after Bonawitz et al.,
// "Practical Secure Aggregation for Privacy-Preserving Machine Learning"
// (CCS 2017), in its honest-but-curious form: the server learns the sum of
// the clients' vectors (mod 2^32) and nothing else about them, even when
// clients drop out, as long as at least Threshold clients stay until the end
// and fewer than Threshold collude with the server.
//
// Both sides are pure state machines exchanging Go structs; a network layer
// ships the messages and decides when a round's collection is over:
//
//	round 0  client: NewClient → AdvertiseKeys        server: HandleAdvertise…, EndAdvertise → KeyList (U1)
//	round 1  client: ShareKeys(KeyList) → ShareKeys   server: HandleShareKeys…, EndShareKeys → SharesFor per client (U2)
//	round 2  client: MaskInput(SharesFor, x) → MaskedInput
//	                                                  server: HandleMaskedInput…, EndMaskedInput → Survivors (U3)
//	round 3  client: Unmask(Survivors) → Unmask       server: HandleUnmask…, Finish → Result (the sum)
//
// Each client has two X25519 key pairs: one to agree pairwise encryption keys
// for the shares it sends through the server, one to agree pairwise mask
// seeds. Its masked input is y_u = x_u + PRG(b_u) + Σ_{v∈U2} ±PRG(s_uv) mod
// 2^32, where the pairwise masks cancel in the sum and the self mask b_u
// keeps y_u hidden even if the server later learns s_u. The mask private key
// and b_u are Shamir-shared t-of-|U1| (over GF(2^256+297)); at unmasking the
// survivors reveal shares of b for survivors and of the mask key for clients
// whose masked input never arrived — never both for one client — and the
// server removes the remaining masks. Keys are derived with HKDF-SHA256 bound
// to Config.Session and the client ids; shares travel under AES-256-GCM; the
// PRG is AES-256-CTR; X25519 is crypto/ecdh (the implementation behind
// golang.org/x/crypto/curve25519).
//
// Inputs are uint32 words; FixedPoint maps float32 updates to them and sums
// back, exactly, given a bound on the values and the number of clients.
//
// Not implemented: the signatures and consistency-check round that defend
// against an actively malicious server (which could otherwise send different
// survivor lists to different clients), and commitments to b_u (a lying
// client can corrupt the sum by revealing a wrong seed share; a wrong
// mask-key share is caught against the advertised public key).
//
// Cost (TestExpansionFactor, n = 100, t = 67): besides its masked vector —
// which is the size of the fixed-point update itself — a client uploads about
// 12.4 KB (keys, 99 encrypted share pairs, revealed shares) and downloads
// about 16.5 KB, so for a 1.66M-parameter model the uplink is 1.0019x the
// plain 32-bit update. Bonawitz et al. report 1.73x for 2^10 clients and
// 2^20 16-bit entries, where the masked entries need extra bits and the share
// traffic grows with n.
package secagg
