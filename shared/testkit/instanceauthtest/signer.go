// Package instanceauthtest signs instance identity documents with a test
// certificate, standing in for AWS in tests (and serves them as a fake
// instance metadata service would).
package instanceauthtest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// Signer is a test stand-in for AWS's instance identity signing key.
type Signer struct {
	key *rsa.PrivateKey
	// CertPEM is the certificate to configure the farm with.
	CertPEM string
}

// NewSigner makes a 2048-bit key and a self-signed certificate for it.
func NewSigner() (*Signer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ec2.test.invalid"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return &Signer{key: key, CertPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}, nil
}

// Document is what a signed document says.
type Document struct {
	InstanceID   string `json:"instanceId"`
	AccountID    string `json:"accountId"`
	Region       string `json:"region"`
	InstanceType string `json:"instanceType"`
	Architecture string `json:"architecture"`
	PendingTime  string `json:"pendingTime"`
}

// Sign returns the document's text and its base64 signature, as the
// instance metadata service serves them.
func (s *Signer) Sign(d Document) (string, string) {
	if d.Region == "" {
		d.Region = "us-east-1"
	}
	if d.PendingTime == "" {
		d.PendingTime = time.Now().UTC().Format(time.RFC3339)
	}
	b, _ := json.MarshalIndent(d, "", "  ")
	sum := sha256.Sum256(b)
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return string(b), base64.StdEncoding.EncodeToString(sig)
}

// IMDS is a fake instance metadata service (IMDSv2: a session token
// first) serving one instance's signed identity and, once set, a spot
// interruption notice.
type IMDS struct {
	*httptest.Server
	mu       sync.Mutex
	doc, sig string
	spot     string
}

// NewIMDS serves doc, signed by s.
func (s *Signer) NewIMDS(d Document) *IMDS {
	m := &IMDS{}
	m.doc, m.sig = s.Sign(d)
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /latest/api/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"))
		_, _ = w.Write([]byte("test-imds-token"))
	})
	serve := func(get func() string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Aws-Ec2-Metadata-Token") != "test-imds-token" {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			v := get()
			if v == "" {
				http.NotFound(w, r)
				return
			}
			_, _ = w.Write([]byte(v))
		}
	}
	mux.HandleFunc("GET /latest/dynamic/instance-identity/document", serve(func() string { return m.get(&m.doc) }))
	mux.HandleFunc("GET /latest/dynamic/instance-identity/signature", serve(func() string { return m.get(&m.sig) }))
	mux.HandleFunc("GET /latest/meta-data/spot/instance-action", serve(func() string { return m.get(&m.spot) }))
	m.Server = httptest.NewServer(mux)
	return m
}

func (m *IMDS) get(p *string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return *p
}

// Interrupt makes the spot interruption notice appear.
func (m *IMDS) Interrupt(action string, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, _ := json.Marshal(map[string]string{"action": action, "time": at.UTC().Format(time.RFC3339)})
	m.spot = string(b)
}
