package main

import (
	"context"
	"errors"
)

// startBuilders starts local builder agents (see the agent package).
func startBuilders(ctx context.Context, url, adminToken string, n int) error {
	return errors.New("local builder agents are not available yet")
}
