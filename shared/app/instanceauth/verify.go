// Package instanceauth gives EC2 instances of the farm's Auto Scaling
// groups their builder tokens without a shared secret. An instance sends
// its instance identity document and AWS's signature of it (from the
// instance metadata service, which only the instance — not its jobs — can
// reach); the farm checks the signature with AWS's public certificate for
// the region, checks that the instance is a pending or in-service member of
// one of its groups, and issues a builder token bound to the instance's own
// name (its instance id) and to that group's pool, with an expiry. The
// instance renews it before it ends.
//
// A document is not secret to the instance, and it never expires, so it is
// not enough alone: at its first request an instance chooses a nonce, the
// farm remembers its hash, and every later request for that instance must
// carry the same nonce (trust on first use, as Vault's EC2 auth method
// does). A copied document and signature get nothing once the instance has
// asked, and nothing at all once it has left its group.
package instanceauth

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Document is the part of an instance identity document the farm uses.
type Document struct {
	InstanceID       string    `json:"instanceId"`
	AccountID        string    `json:"accountId"`
	Region           string    `json:"region"`
	AvailabilityZone string    `json:"availabilityZone"`
	InstanceType     string    `json:"instanceType"`
	ImageID          string    `json:"imageId"`
	Architecture     string    `json:"architecture"`
	PendingTime      time.Time `json:"pendingTime"`
}

// Verifier checks documents against AWS's public certificates (one or
// more: the region's, or several while AWS rotates them).
type Verifier struct {
	keys []*rsa.PublicKey
}

// ParseCertificates reads PEM certificates holding RSA public keys.
func ParseCertificates(pemText string) (*Verifier, error) {
	v := &Verifier{}
	rest := []byte(pemText)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("instance identity certificate: %w", err)
		}
		key, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("instance identity certificate %q: not an RSA key", cert.Subject)
		}
		v.keys = append(v.keys, key)
	}
	if len(v.keys) == 0 {
		return nil, errors.New("instance identity certificate: no PEM certificate found")
	}
	return v, nil
}

// Limits on what a request may carry.
const (
	MaxDocument  = 4096
	MaxSignature = 2048
)

// ErrBadSignature is returned for a document whose signature does not verify.
var ErrBadSignature = errors.New("the instance identity document's signature does not verify")

// Verify checks signature (base64 of an RSA PKCS#1 v1.5 SHA-256 signature,
// as /latest/dynamic/instance-identity/signature serves it) over document,
// byte for byte as served, and returns the document. The certificates'
// validity dates are not checked: AWS's own instructions verify with the
// key alone, and its published certificates outlive their dates.
func (v *Verifier) Verify(document, signature string) (*Document, error) {
	if len(document) == 0 || len(document) > MaxDocument || len(signature) > MaxSignature {
		return nil, ErrBadSignature
	}
	sig, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(signature), ""))
	if err != nil {
		return nil, ErrBadSignature
	}
	sum := sha256.Sum256([]byte(document))
	ok := false
	for _, k := range v.keys {
		if rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig) == nil {
			ok = true
			break
		}
	}
	if !ok {
		return nil, ErrBadSignature
	}
	var doc Document
	if err := json.Unmarshal([]byte(document), &doc); err != nil || !strings.HasPrefix(doc.InstanceID, "i-") || doc.Region == "" {
		return nil, fmt.Errorf("the signed document names no instance and region: %v", err)
	}
	return &doc, nil
}
