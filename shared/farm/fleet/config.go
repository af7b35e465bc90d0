// Package fleet is the elastic builder fleet's policy: how many instances a
// pool's Auto Scaling group should have for the work in its queue, which idle
// instances to drain, which drained ones to remove. It is pure: no AWS
// imports, no clock, no I/O. The scaler (shared/scaler) observes the job
// table, the builders and the groups, asks Decide, and carries it out.
package fleet

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// PoolConfig is one pool's fleet: its Auto Scaling group and its limits.
type PoolConfig struct {
	Pool  string `json:"pool"`
	Group string `json:"group"`
	// Min instances are kept even when idle (0: the pool costs nothing idle).
	Min int `json:"min"`
	// Max is a hard cap: the scaler never asks for more, whatever the queue.
	Max int `json:"max"`
	// Slots is how many jobs one instance runs at once (its agent's --slots).
	Slots int `json:"slots"`
	// Ephemeral instances run one job each and are then replaced.
	Ephemeral bool `json:"ephemeral,omitempty"`
	// IdleSeconds is how long an instance must be idle before it is drained
	// (default DefaultIdle).
	IdleSeconds int `json:"idle_seconds,omitempty"`
	// BootSeconds is how long an instance may run without its builder
	// registering before it is taken for broken (default DefaultBoot).
	BootSeconds int `json:"boot_seconds,omitempty"`
}

// Defaults of a pool's timings.
const (
	DefaultIdle = 10 * time.Minute
	DefaultBoot = 15 * time.Minute
	// DrainGrace is how long a drain request stands before an idle drained
	// instance is removed: its agent hears the drain on its next heartbeat.
	DrainGrace = 20 * time.Second
	// MaxInstances bounds any pool's max.
	MaxInstances = 1000
)

// Idle is the pool's idle time before scale-in.
func (p PoolConfig) Idle() time.Duration {
	if p.IdleSeconds <= 0 {
		return DefaultIdle
	}
	return time.Duration(p.IdleSeconds) * time.Second
}

// Boot is the time an instance has to register its builder.
func (p PoolConfig) Boot() time.Duration {
	if p.BootSeconds <= 0 {
		return DefaultBoot
	}
	return time.Duration(p.BootSeconds) * time.Second
}

// Validate checks one pool's fleet.
func (p PoolConfig) Validate() error {
	if err := farm.CheckName("pool", p.Pool); err != nil {
		return err
	}
	switch {
	case p.Group == "":
		return fmt.Errorf("fleet %s: group is required", p.Pool)
	case p.Min < 0 || p.Max < 1 || p.Max > MaxInstances || p.Min > p.Max:
		return fmt.Errorf("fleet %s: need 0 <= min (%d) <= max (%d), 1 <= max <= %d", p.Pool, p.Min, p.Max, MaxInstances)
	case p.Slots < 1 || p.Slots > farm.MaxSlots:
		return fmt.Errorf("fleet %s: slots %d must be 1..%d", p.Pool, p.Slots, farm.MaxSlots)
	case p.Ephemeral && p.Slots != 1:
		return fmt.Errorf("fleet %s: an ephemeral pool runs one job per instance: slots must be 1, not %d", p.Pool, p.Slots)
	case p.IdleSeconds < 0 || p.BootSeconds < 0:
		return fmt.Errorf("fleet %s: idle_seconds and boot_seconds must not be negative", p.Pool)
	}
	return nil
}

// Config is the whole fleet: every elastic pool, and how instances prove
// who they are.
type Config struct {
	Pools []PoolConfig `json:"pools"`
	// TokenSeconds is the lifetime of an instance's builder token (default
	// DefaultTokenLifetime); the agent renews it before it ends.
	TokenSeconds int `json:"token_seconds,omitempty"`
	// Account, when set, is the only AWS account whose instances get tokens.
	Account string `json:"account,omitempty"`
}

// DefaultTokenLifetime is an instance builder token's default lifetime.
const DefaultTokenLifetime = time.Hour

// TokenLifetime is the lifetime of instance builder tokens.
func (c Config) TokenLifetime() time.Duration {
	if c.TokenSeconds <= 0 {
		return DefaultTokenLifetime
	}
	return time.Duration(c.TokenSeconds) * time.Second
}

// Validate checks every pool, and that no pool or group appears twice.
func (c Config) Validate() error {
	var pools, groups []string
	for _, p := range c.Pools {
		if err := p.Validate(); err != nil {
			return err
		}
		if slices.Contains(pools, p.Pool) || slices.Contains(groups, p.Group) {
			return fmt.Errorf("fleet: pool %s or group %s is configured twice", p.Pool, p.Group)
		}
		pools, groups = append(pools, p.Pool), append(groups, p.Group)
	}
	if c.TokenSeconds < 0 || c.TokenSeconds > 24*3600 {
		return fmt.Errorf("fleet: token_seconds must be 0..86400, not %d", c.TokenSeconds)
	}
	return nil
}

// Pool returns the fleet of pool.
func (c Config) Pool(pool string) (PoolConfig, bool) {
	for _, p := range c.Pools {
		if p.Pool == pool {
			return p, true
		}
	}
	return PoolConfig{}, false
}

// ByGroup returns the fleet whose Auto Scaling group is group.
func (c Config) ByGroup(group string) (PoolConfig, bool) {
	for _, p := range c.Pools {
		if p.Group == group {
			return p, true
		}
	}
	return PoolConfig{}, false
}

// EnvConfig is the environment variable holding the fleet's JSON (set by
// the CDK stack on the scaler and api functions).
const EnvConfig = "FARM_FLEET"

// Parse reads a fleet configuration from JSON, strictly.
func Parse(raw string) (Config, error) {
	var c Config
	if err := farm.DecodeStrict(strings.NewReader(raw), &c); err != nil {
		return c, fmt.Errorf("fleet: %w", err)
	}
	return c, c.Validate()
}

// FromEnv reads FARM_FLEET; unset is an empty fleet.
func FromEnv() (Config, error) {
	raw := os.Getenv(EnvConfig)
	if raw == "" {
		return Config{}, nil
	}
	return Parse(raw)
}

// JSON is the configuration as FARM_FLEET holds it.
func (c Config) JSON() string {
	b, _ := json.Marshal(c)
	return string(b)
}
