package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
)

func imdsClient(endpoint string) *imds.Client {
	opts := imds.Options{Endpoint: endpoint, EnableFallback: aws.FalseTernary, Retryer: aws.NopRetryer{}}
	if endpoint != "" {
		opts.ClientEnableState = imds.ClientEnabled
	}
	return imds.New(opts)
}

func notFound(err error) bool {
	var re interface{ HTTPStatusCode() int }
	return errors.As(err, &re) && re.HTTPStatusCode() == 404
}

func readAll(rc io.ReadCloser) (string, error) {
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 16<<10))
	return string(b), err
}

// SpotNotices reads the spot interruption notice from the instance
// metadata service (IMDSv2; "" endpoint: the standard one).
type SpotNotices struct{ imds *imds.Client }

// NewSpotNotices watches the instance metadata at endpoint.
func NewSpotNotices(endpoint string) *SpotNotices { return &SpotNotices{imds: imdsClient(endpoint)} }

// Notice returns the spot instance-action notice ("" while there is none).
func (s *SpotNotices) Notice(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, EC2MetadataTimeout)
	defer cancel()
	out, err := s.imds.GetMetadata(ctx, &imds.GetMetadataInput{Path: "spot/instance-action"})
	if notFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	text, err := readAll(out.Content)
	return "spot instance-action " + strings.TrimSpace(text), err
}

// InstanceTokenAPI is the API call that turns an instance identity into a
// builder token (*client.Client; it needs no token).
type InstanceTokenAPI interface {
	InstanceToken(ctx context.Context, req apiv1.InstanceTokenRequest) (*apiv1.TokenResponse, error)
}

// TokenSetter receives renewed tokens (*client.TokenHolder).
type TokenSetter interface{ Set(token string) }

// InstanceCredentials keep an EC2 builder's token: from its signed
// instance identity document (no shared secret), renewed before it
// expires. The nonce the farm holds its later requests to is kept in a
// 0600 file (created at the first start), so that it survives restarts.
type InstanceCredentials struct {
	API       InstanceTokenAPI
	Tokens    TokenSetter
	NonceFile string
	// Endpoint is the instance metadata service ("" : the standard one).
	Endpoint string
	Logger   *slog.Logger

	imds *imds.Client
}

// Fetch gets a token now and returns when it expires.
func (c *InstanceCredentials) Fetch(ctx context.Context) (time.Time, error) {
	if c.imds == nil {
		c.imds = imdsClient(c.Endpoint)
	}
	nonce, err := c.nonce()
	if err != nil {
		return time.Time{}, err
	}
	mctx, cancel := context.WithTimeout(ctx, 2*EC2MetadataTimeout)
	defer cancel()
	var parts [2]string
	for i, p := range []string{"instance-identity/document", "instance-identity/signature"} {
		out, err := c.imds.GetDynamicData(mctx, &imds.GetDynamicDataInput{Path: p})
		if err != nil {
			return time.Time{}, fmt.Errorf("instance metadata %s: %w", p, err)
		}
		if parts[i], err = readAll(out.Content); err != nil {
			return time.Time{}, fmt.Errorf("instance metadata %s: %w", p, err)
		}
	}
	tok, err := c.API.InstanceToken(ctx, apiv1.InstanceTokenRequest{Document: parts[0], Signature: strings.TrimSpace(parts[1]), Nonce: nonce})
	if err != nil {
		return time.Time{}, fmt.Errorf("instance token: %w", err)
	}
	c.Tokens.Set(tok.Token)
	if tok.ExpiresAt == nil {
		return time.Time{}, nil
	}
	return *tok.ExpiresAt, nil
}

// Keep renews the token a third of its lifetime before it ends, retrying
// every 15 s while the farm or the metadata service does not answer, until
// ctx ends.
func (c *InstanceCredentials) Keep(ctx context.Context, expires time.Time) {
	for {
		wait := time.Until(expires) * 2 / 3
		if expires.IsZero() {
			return // a token that does not expire needs no renewal
		}
		t := time.NewTimer(max(wait, 15*time.Second))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		next, err := c.Fetch(ctx)
		if err != nil {
			if c.Logger != nil && ctx.Err() == nil {
				c.Logger.Warn("instance token not renewed; retrying", "err", err, "expires_at", expires)
			}
			if time.Until(expires) > 45*time.Second {
				expires = time.Now().Add(45 * time.Second) // retry sooner
			}
			continue
		}
		expires = next
	}
}

// nonce reads the instance's nonce, making one at the first start.
func (c *InstanceCredentials) nonce() (string, error) {
	b, err := os.ReadFile(c.NonceFile)
	if err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("identity nonce file: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(c.NonceFile), 0o700); err != nil {
		return "", fmt.Errorf("identity nonce file: %w", err)
	}
	n := farm.NewSecret(32)
	if err := os.WriteFile(c.NonceFile, []byte(n+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("identity nonce file: %w", err)
	}
	return n, nil
}
