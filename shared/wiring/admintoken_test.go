package wiring_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/emulatortest"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

func TestAdminTokenFromSecret(t *testing.T) {
	t.Parallel()
	cfg := emulatortest.Config(t)
	sm := secretsmanager.NewFromConfig(cfg)
	ctx := context.Background()
	name := "admin-token-" + farm.NewSecret(4)
	out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: &name, SecretString: aws.String("s3cr3t-admin-token\n")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sm.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{SecretId: out.ARN, ForceDeleteWithoutRecovery: aws.Bool(true)})
	})
	got, err := wiring.AdminTokenFromSecret(ctx, sm, aws.ToString(out.ARN))
	if err != nil || got != "s3cr3t-admin-token" {
		t.Fatalf("AdminTokenFromSecret = %q, %v", got, err)
	}
	if _, err := wiring.AdminTokenFromSecret(ctx, sm, "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-abcdef"); err == nil {
		t.Fatal("a missing secret must be an error")
	}
}

func TestAdminTokenFromEnv(t *testing.T) {
	t.Parallel()
	cfg := emulatortest.Config(t)
	sm := secretsmanager.NewFromConfig(cfg)
	ctx := context.Background()
	name := "admin-token-" + farm.NewSecret(4)
	out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: &name, SecretString: aws.String("from-the-secret")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sm.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{SecretId: out.ARN, ForceDeleteWithoutRecovery: aws.Bool(true)})
	})
	for _, tc := range []struct {
		name      string
		env       map[string]string
		want      string
		wantErr   bool
		usesStore bool
	}{
		{name: "none", env: nil, want: ""},
		{name: "plain token wins", env: map[string]string{wiring.EnvAdminToken: " local-token ", wiring.EnvAdminTokenSecretARN: aws.ToString(out.ARN)}, want: "local-token"},
		{name: "secret", env: map[string]string{wiring.EnvAdminTokenSecretARN: aws.ToString(out.ARN)}, want: "from-the-secret", usesStore: true},
		{name: "missing secret", env: map[string]string{wiring.EnvAdminTokenSecretARN: "nope-" + name}, wantErr: true, usesStore: true},
	} {
		used := false
		got, err := wiring.AdminTokenFromEnv(ctx, func(k string) string { return tc.env[k] }, func() wiring.SecretsAPI { used = true; return sm })
		if got != tc.want || (err != nil) != tc.wantErr || used != tc.usesStore {
			t.Errorf("%s: got %q, %v (secrets manager used: %v)", tc.name, got, err, used)
		}
	}
}
