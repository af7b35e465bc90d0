package wiring

import (
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/buildfarm/buildfarm/shared/adapter/asgfleet"
	"github.com/buildfarm/buildfarm/shared/app/instanceauth"
	"github.com/buildfarm/buildfarm/shared/app/tokens"
)

// EnvCertificate holds AWS's certificate(s) for instance identity
// documents (PEM), set by the CDK stack on the api function.
const EnvCertificate = "FARM_INSTANCE_IDENTITY_CERT"

// InstanceTokens is the issuer of the farm's EC2 instances' builder tokens
// when the farm has a fleet (FARM_FLEET, FARM_INSTANCE_IDENTITY_CERT); nil,
// nil when it has none. Membership is read from the Auto Scaling groups;
// the tokens are issued by t.
func (f *Farm) InstanceTokens(t *tokens.Service) (*instanceauth.Issuer, error) {
	cfg := f.Config.Fleet
	if len(cfg.Pools) == 0 {
		return nil, nil
	}
	v, err := instanceauth.ParseCertificates(os.Getenv(EnvCertificate))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvCertificate, err)
	}
	groups := asgfleet.New(autoscaling.NewFromConfig(f.AWS))
	return &instanceauth.Issuer{Verifier: v, Fleet: cfg, Groups: groups, Store: f.Store, Tokens: t, Logger: f.Logger}, nil
}
