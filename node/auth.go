package node

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/edgedl/edgedl/transport"
)

// TLSFiles names PEM files for TLS. On a server, CertFile and KeyFile are
// its certificate and key, and CAFile, when set, holds the CAs whose client
// certificates it requires (mutual TLS). On a client, CAFile holds the CAs
// it trusts for the server (the system pool when empty), CertFile and
// KeyFile its own certificate for mutual TLS, and ServerName overrides the
// name checked in the server's certificate (default: the address's host).
type TLSFiles struct {
	CertFile, KeyFile, CAFile string
	ServerName                string
}

// Enabled reports whether any file is set: then the connection uses TLS.
func (t TLSFiles) Enabled() bool {
	return t.CertFile != "" || t.KeyFile != "" || t.CAFile != "" || t.ServerName != ""
}

func loadPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("node: tls: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("node: tls: no PEM certificate in %s", file)
	}
	return pool, nil
}

// serverConfig builds a server's TLS configuration (nil when disabled).
func (t TLSFiles) serverConfig() (*tls.Config, error) {
	if !t.Enabled() {
		return nil, nil
	}
	if t.CertFile == "" || t.KeyFile == "" {
		return nil, errors.New("node: tls: a server needs both a certificate and a key file")
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("node: tls: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pool, err := loadPool(t.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// clientConfig builds a client's TLS configuration (nil when disabled).
func (t TLSFiles) clientConfig() (*tls.Config, error) {
	if !t.Enabled() {
		return nil, nil
	}
	cfg := &tls.Config{ServerName: t.ServerName, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pool, err := loadPool(t.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("node: tls: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// bearer attaches "authorization: Bearer <token>" to every RPC.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false so that loopback tests and emulated
// links can run without TLS; use TLS on real networks.
func (b bearer) RequireTransportSecurity() bool { return false }

// Dialer makes the connection under a gRPC client, e.g. link.Link.Dial for
// an emulated network.
type Dialer func(ctx context.Context, addr string) (net.Conn, error)

// dialConfig describes a client connection to a tier node.
type dialConfig struct {
	addr     string
	token    string
	tls      TLSFiles
	dialer   Dialer
	observer transport.Observer
	maxMsg   int
	extra    []grpc.DialOption
}

// dial opens a (lazily connecting) client connection to a tier node.
func dial(c dialConfig) (*grpc.ClientConn, error) {
	opts := []grpc.DialOption{grpc.WithDefaultCallOptions(transport.CallOptions(c.maxMsg)...)}
	tc, err := c.tls.clientConfig()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if c.token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(c.token)))
	}
	if c.dialer != nil {
		opts = append(opts, grpc.WithContextDialer(c.dialer))
	}
	if c.observer != nil {
		opts = append(opts, grpc.WithStatsHandler(transport.StatsHandler(c.observer)))
	}
	opts = append(opts, c.extra...)
	cc, err := grpc.NewClient("passthrough:///"+c.addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("node: dial %s: %w", c.addr, err)
	}
	return cc, nil
}

// tokenChecker compares bearer tokens in constant time: both sides are
// hashed first, so neither the length nor a prefix of the token leaks.
type tokenChecker struct {
	sum  [sha256.Size]byte
	none bool // authentication disabled
}

func newTokenChecker(token string, noAuth bool) tokenChecker {
	return tokenChecker{sum: sha256.Sum256([]byte(token)), none: noAuth}
}

var (
	errNoToken  = errors.New(`node: missing bearer token (send metadata "authorization: Bearer <token>")`)
	errBadToken = errors.New("node: invalid bearer token")
)

// check validates an Authorization value ("Bearer <token>").
func (c tokenChecker) check(header string) error {
	if c.none {
		return nil
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(header), " ")
	if header == "" {
		return errNoToken
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return errBadToken
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	if subtle.ConstantTimeCompare(sum[:], c.sum[:]) != 1 {
		return errBadToken
	}
	return nil
}

// checkContext validates the bearer token in incoming gRPC metadata.
func (c tokenChecker) checkContext(ctx context.Context) error {
	if c.none {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	h := ""
	if len(vals) > 0 {
		h = vals[0]
	}
	if err := c.check(h); err != nil {
		return status.Error(codes.Unauthenticated, err.Error())
	}
	return nil
}
