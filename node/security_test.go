package node

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/edgedl/edgedl/transport/inferencepb"
)

// TestAuth: every inference and repository RPC needs the bearer token;
// health probes do not; a device with a wrong token finishes locally and
// says why, or fails with Unauthenticated under NoFallback.
func TestAuth(t *testing.T) {
	f := loadMNIST(t)
	srv, addr := startNode(t, ServerConfig{}, nil)
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	rpc := pb.NewGRPCInferenceServiceClient(cc)
	for _, md := range []metadata.MD{
		nil,
		metadata.Pairs("authorization", "Bearer wrong"),
		metadata.Pairs("authorization", "Bearer "+testToken+"x"),
		metadata.Pairs("authorization", "Basic "+testToken),
		metadata.Pairs("authorization", testToken),
	} {
		ctx := metadata.NewOutgoingContext(ctxT(t, 5*time.Second), md)
		if _, err := rpc.ServerLive(ctx, &pb.ServerLiveRequest{}); status.Code(err) != codes.Unauthenticated {
			t.Errorf("metadata %v: got %v, want Unauthenticated", md, err)
		}
		if _, err := rpc.ModelInfer(ctx, &pb.ModelInferRequest{ModelName: "x"}); status.Code(err) != codes.Unauthenticated {
			t.Errorf("metadata %v: infer got %v, want Unauthenticated", md, err)
		}
	}
	ok := metadata.NewOutgoingContext(ctxT(t, 5*time.Second), metadata.Pairs("authorization", "Bearer "+testToken))
	if r, err := rpc.ServerLive(ok, &pb.ServerLiveRequest{}); err != nil || !r.Live {
		t.Fatalf("with token: %v %v", r, err)
	}
	h, err := healthpb.NewHealthClient(cc).Check(ctxT(t, 5*time.Second), &healthpb.HealthCheckRequest{})
	if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health without token: %v %v", h, err)
	}

	// REST: 401 without the token, open health and metrics.
	for _, c := range []struct {
		method, path, auth string
		code               int
	}{
		{"GET", "/v2/health/live", "", 401},
		{"GET", "/v2/health/live", "Bearer nope", 401},
		{"GET", "/v2/health/live", "Bearer " + testToken, 200},
		{"GET", "/v2", "Bearer " + testToken, 200},
		{"POST", "/v2/repository/index", "", 401},
		{"GET", "/healthz", "", 200},
		{"GET", "/readyz", "", 200},
		{"GET", "/metrics", "", 200},
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(c.method, c.path, nil)
		if c.auth != "" {
			r.Header.Set("Authorization", c.auth)
		}
		srv.ServeHTTP(w, r)
		if w.Code != c.code {
			t.Errorf("%s %s (%q): %d, want %d: %s", c.method, c.path, c.auth, w.Code, c.code, w.Body)
		}
	}
	if !strings.Contains(scrape(t, srv), `code="Unauthenticated"`) {
		t.Error("metrics do not count the rejected requests")
	}

	d := newDevice(t, DeviceConfig{Model: f.model, Split: "3", Edge: addr, Token: "wrong"})
	r, err := d.Infer(ctxT(t, 5*time.Second), f.inputs(0))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Fallback || !strings.Contains(r.FallbackReason, "Unauthenticated") || f.maxDiff(r, 0) > 1e-4 {
		t.Fatalf("wrong token: fallback %v %q", r.Fallback, r.FallbackReason)
	}
	d = newDevice(t, DeviceConfig{Model: f.model, Split: "3", Edge: addr, Token: "wrong", NoFallback: true})
	if _, err := d.Infer(ctxT(t, 5*time.Second), f.inputs(0)); status.Code(errorsCause(err)) != codes.Unauthenticated {
		t.Fatalf("NoFallback with a wrong token: %v", err)
	}
	if _, err := NewServer(ServerConfig{}); err == nil {
		t.Fatal("a server without a token or NoAuth was created")
	}
}

// errorsCause unwraps to the gRPC status error inside err.
func errorsCause(err error) error {
	for err != nil {
		if _, ok := status.FromError(err); ok {
			return err
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
	return nil
}

// pki is a throwaway CA with a server and a client certificate, written
// as PEM files in a temporary directory.
type pki struct {
	caFile, serverCert, serverKey, clientCert, clientKey, otherCA string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	makeCA := func(name string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
		key := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		cert, _ := x509.ParseCertificate(der)
		return cert, key, der
	}
	ca, caKey, caDER := makeCA("edgedl test CA")
	_, _, otherDER := makeCA("another CA")
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
		key := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}, DNSNames: []string{"localhost"}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return write(name+".pem", "CERTIFICATE", der), write(name+".key", "PRIVATE KEY", kder)
	}
	p := &pki{caFile: write("ca.pem", "CERTIFICATE", caDER), otherCA: write("other.pem", "CERTIFICATE", otherDER)}
	p.serverCert, p.serverKey = leaf("server", 2, x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = leaf("client", 3, x509.ExtKeyUsageClientAuth)
	return p
}

// TestTLS: a TLS node serves devices that trust its CA, and no others;
// the edge reaches a TLS cloud too.
func TestTLS(t *testing.T) {
	f := loadMNIST(t)
	k := newPKI(t)
	serverTLS := TLSFiles{CertFile: k.serverCert, KeyFile: k.serverKey}
	_, cloudAddr := startNode(t, ServerConfig{Tier: "cloud", TLS: serverTLS}, nil)
	_, addr := startNode(t, ServerConfig{TLS: serverTLS, Next: cloudAddr, NextTLS: TLSFiles{CAFile: k.caFile}}, nil)
	d := newDevice(t, DeviceConfig{Model: f.model, Split: "3,6", Edge: addr, TLS: TLSFiles{CAFile: k.caFile}, NoFallback: true})
	if err := d.Prepare(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	r, err := d.Infer(ctxT(t, 5*time.Second), f.inputs(2))
	if err != nil || r.Path != "device>edge>cloud" || f.maxDiff(r, 2) > 1e-4 {
		t.Fatalf("TLS: %v %+v", err, r)
	}
	for name, tf := range map[string]TLSFiles{
		"plaintext": {},
		"wrong CA":  {CAFile: k.otherCA},
	} {
		d := newDevice(t, DeviceConfig{Model: f.model, Split: "3", Edge: addr, TLS: tf, NoFallback: true, Retries: -1})
		if _, err := d.Infer(ctxT(t, 5*time.Second), f.inputs(2)); status.Code(errorsCause(err)) != codes.Unavailable {
			t.Errorf("%s: %v, want Unavailable", name, err)
		}
	}
}

// TestHTTPSPort: Start opens the gRPC and HTTP ports; the HTTP port
// speaks TLS with the node's certificate, takes uploads and serves
// metrics.
func TestHTTPSPort(t *testing.T) {
	f := loadMNIST(t)
	k := newPKI(t)
	srv, err := NewServer(ServerConfig{Token: testToken, Logger: quiet, HTTPListen: "127.0.0.1:0",
		TLS: TLSFiles{CertFile: k.serverCert, KeyFile: k.serverKey}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(k.caFile)
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	base := "https://" + srv.HTTPAddr().String()
	b := mustEncode(t, f)
	req, _ := http.NewRequest("PUT", base+"/v2/repository/models/"+HashBytes(b), bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT over HTTPS: %s", resp.Status)
	}
	resp, err = hc.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `edgedl_node_uploads_total{node="edge",result="stored",tier="edge"} 1`) {
		t.Fatalf("metrics over HTTPS:\n%s", grepLines(string(body), "uploads"))
	}
	// The gRPC port of the same node, by address.
	d := newDevice(t, DeviceConfig{Model: f.model, Split: "edge", Edge: srv.Addr().String(), TLS: TLSFiles{CAFile: k.caFile}, NoFallback: true})
	r, err := d.Infer(ctxT(t, 5*time.Second), f.inputs(7))
	if err != nil || r.Path != "edge" || r.Uploads != 0 || f.maxDiff(r, 7) > 1e-4 {
		t.Fatalf("gRPC after an HTTPS upload: %v %+v", err, r)
	}
}

// TestMutualTLS: with a client CA the node requires a client certificate
// signed by it.
func TestMutualTLS(t *testing.T) {
	f := loadMNIST(t)
	k := newPKI(t)
	_, addr := startNode(t, ServerConfig{TLS: TLSFiles{CertFile: k.serverCert, KeyFile: k.serverKey, CAFile: k.caFile}}, nil)
	good := TLSFiles{CAFile: k.caFile, CertFile: k.clientCert, KeyFile: k.clientKey}
	d := newDevice(t, DeviceConfig{Model: f.model, Split: "3", Edge: addr, TLS: good, NoFallback: true})
	r, err := d.Infer(ctxT(t, 5*time.Second), f.inputs(3))
	if err != nil || r.Path != "device>edge" || f.maxDiff(r, 3) > 1e-4 {
		t.Fatalf("mTLS: %v %+v", err, r)
	}
	d = newDevice(t, DeviceConfig{Model: f.model, Split: "3", Edge: addr, TLS: TLSFiles{CAFile: k.caFile}, NoFallback: true, Retries: -1})
	if _, err := d.Infer(ctxT(t, 5*time.Second), f.inputs(3)); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	// The server certificate alone (wrong usage) is not a client
	// certificate either.
	d = newDevice(t, DeviceConfig{Model: f.model, Split: "3", Edge: addr, NoFallback: true, Retries: -1,
		TLS: TLSFiles{CAFile: k.caFile, CertFile: k.serverCert, KeyFile: k.serverKey}})
	if _, err := d.Infer(ctxT(t, 5*time.Second), f.inputs(3)); err == nil {
		t.Fatal("a server certificate was accepted as a client certificate")
	}
	if _, err := NewServer(ServerConfig{Token: "t", TLS: TLSFiles{CertFile: k.serverCert}}); err == nil {
		t.Fatal("TLS without a key accepted")
	}
}
