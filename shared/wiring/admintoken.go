package wiring

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Environment variables naming the bootstrap admin token.
const (
	// EnvAdminToken holds the token itself (local runs).
	EnvAdminToken = "FARM_ADMIN_TOKEN"
	// EnvAdminTokenSecretARN names a Secrets Manager secret whose
	// SecretString is the token (on AWS).
	EnvAdminTokenSecretARN = "FARM_ADMIN_TOKEN_SECRET_ARN"
)

// SecretsAPI is the part of the Secrets Manager client the API uses.
type SecretsAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// AdminTokenFromEnv returns the bootstrap admin token: FARM_ADMIN_TOKEN when
// set, else the SecretString of the secret FARM_ADMIN_TOKEN_SECRET_ARN names
// (read once, at cold start), else "" (no bootstrap admin). getenv is
// os.Getenv outside tests; sm is called only when the secret is needed.
func AdminTokenFromEnv(ctx context.Context, getenv func(string) string, sm func() SecretsAPI) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if tok := strings.TrimSpace(getenv(EnvAdminToken)); tok != "" {
		return tok, nil
	}
	arn := strings.TrimSpace(getenv(EnvAdminTokenSecretARN))
	if arn == "" {
		return "", nil
	}
	return AdminTokenFromSecret(ctx, sm(), arn)
}

// AdminTokenFromSecret reads the bootstrap admin token from a secret whose
// SecretString is the token.
func AdminTokenFromSecret(ctx context.Context, sm SecretsAPI, arn string) (string, error) {
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &arn})
	if err != nil {
		return "", fmt.Errorf("wiring: read admin token secret: %w", err)
	}
	if out.SecretString == nil || strings.TrimSpace(*out.SecretString) == "" {
		return "", fmt.Errorf("wiring: admin token secret %s has no SecretString", arn)
	}
	return strings.TrimSpace(*out.SecretString), nil
}
