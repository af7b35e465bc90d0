package instanceauth

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/buildfarm/buildfarm/shared/auth"
	"github.com/buildfarm/buildfarm/shared/fleet"
)

// EnvCertificate holds AWS's certificate(s) for instance identity
// documents (PEM), set by the CDK stack on the api function.
const EnvCertificate = "FARM_INSTANCE_IDENTITY_CERT"

// FromEnv builds the issuer a farm with a fleet runs (FARM_FLEET and
// FARM_INSTANCE_IDENTITY_CERT); nil, nil when the farm has no fleet.
func FromEnv(groups Membership, store interface {
	ClaimStore
	auth.Store
}, logger *slog.Logger) (*Issuer, error) {
	cfg, err := fleet.FromEnv()
	if err != nil || len(cfg.Pools) == 0 {
		return nil, err
	}
	v, err := ParseCertificates(os.Getenv(EnvCertificate))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvCertificate, err)
	}
	return &Issuer{Verifier: v, Fleet: cfg, Groups: groups, Store: store, Auth: auth.New(store, ""), Logger: logger}, nil
}
