package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/buildfarm/buildfarm/shared/adapter/topology"
	"github.com/buildfarm/buildfarm/shared/farm/fleet"
)

// FleetPool is one pool's elastic EC2 fleet: an Auto Scaling group of
// instances running the agent for that pool.
type FleetPool struct {
	Pool string `json:"pool"`
	// Arch is arm64 or x86_64; every instance type must be of it.
	Arch string `json:"arch"`
	// InstanceTypes are the types the group may launch (a mixed instances
	// policy: the first is the launch template's).
	InstanceTypes []string `json:"instanceTypes"`
	// Spot launches spot instances above OnDemandBase on-demand ones.
	Spot         bool `json:"spot"`
	OnDemandBase int  `json:"onDemandBase"`
	// Min instances always run (0: nothing runs, nothing costs, when idle);
	// Max is a hard cap.
	Min int `json:"min"`
	Max int `json:"max"`
	// Slots is each instance's agent --slots.
	Slots int `json:"slots"`
	// Ephemeral instances run one job each and are replaced.
	Ephemeral bool `json:"ephemeral"`
	// IdleMinutes before an idle instance is drained (default 10).
	IdleMinutes int `json:"idleMinutes"`
	// VolumeGiB is each instance's root volume (default 30).
	VolumeGiB int `json:"volumeGiB"`
}

var instanceTypePattern = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9]+$`)

// applyFleet reads "fleet" (a list, a map pool -> settings, or either as a
// JSON string: context values are strings).
func applyFleet(c *Config, get Getter) error {
	v := get("fleet")
	if v == nil {
		return nil
	}
	raw, ok := v.(string)
	if !ok {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("config: fleet: %w", err)
		}
		raw = string(b)
	}
	raw = strings.TrimSpace(raw)
	if raw == "" {
		c.Fleet = nil
		return nil
	}
	var list []FleetPool
	if strings.HasPrefix(raw, "[") {
		if err := strict(raw, &list); err != nil {
			return fmt.Errorf("config: fleet: %w", err)
		}
	} else {
		var byPool map[string]FleetPool
		if err := strict(raw, &byPool); err != nil {
			return fmt.Errorf("config: fleet: %w", err)
		}
		for _, pool := range slices.Sorted(func(yield func(string) bool) {
			for k := range byPool {
				if !yield(k) {
					return
				}
			}
		}) {
			p := byPool[pool]
			if p.Pool != "" && p.Pool != pool {
				return fmt.Errorf("config: fleet: entry %q names pool %q", pool, p.Pool)
			}
			p.Pool = pool
			list = append(list, p)
		}
	}
	c.Fleet = list
	return nil
}

func strict(raw string, v any) error {
	d := json.NewDecoder(strings.NewReader(raw))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// validateFleet checks the fleet and fills defaults.
func (c *Config) validateFleet(top *topology.Topology) error {
	if c.BuilderAsg {
		return errors.New("config: builderAsg (one single-instance group per builder name, with tokens in the BuilderTokens " +
			"secret) is replaced by \"fleet\": one Auto Scaling group per pool whose instances get their own tokens; " +
			"see docs/fleet.md, \"Migrating from builderAsg\"")
	}
	if len(c.Fleet) == 0 {
		return nil
	}
	if c.FleetTokenMinutes == 0 {
		c.FleetTokenMinutes = 60
	}
	if c.FleetTokenMinutes < 5 || c.FleetTokenMinutes > 24*60 {
		return fmt.Errorf("config: fleetTokenMinutes must be 5..1440, got %d", c.FleetTokenMinutes)
	}
	cert := c.InstanceIdentityCertificate
	if path, ok := strings.CutPrefix(cert, "file:"); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("config: instanceIdentityCertificate: %w", err)
		}
		cert = string(b)
	}
	if !strings.Contains(cert, "BEGIN CERTIFICATE") {
		return errors.New("config: a fleet needs instanceIdentityCertificate: AWS's RSA certificate for the region (PEM, or file:<path>) " +
			"that signs instance identity documents; see docs/fleet.md, \"Identity\"")
	}
	c.InstanceIdentityCertificate = cert
	seen := map[string]bool{}
	for i := range c.Fleet {
		p := &c.Fleet[i]
		if !top.ServesPool(p.Pool) || seen[p.Pool] {
			return fmt.Errorf("config: fleet: pool %q must be one of the pools %v, once", p.Pool, top.Pools)
		}
		seen[p.Pool] = true
		if p.Arch == "" {
			p.Arch = "arm64"
		}
		if p.Arch != "arm64" && p.Arch != "x86_64" {
			return fmt.Errorf("config: fleet %s: arch must be arm64 or x86_64, got %q", p.Pool, p.Arch)
		}
		if len(p.InstanceTypes) == 0 {
			return fmt.Errorf("config: fleet %s: instanceTypes names none", p.Pool)
		}
		for _, it := range p.InstanceTypes {
			if !instanceTypePattern.MatchString(it) {
				return fmt.Errorf("config: fleet %s: %q is not an instance type", p.Pool, it)
			}
		}
		if p.Slots == 0 {
			p.Slots = 1
		}
		if p.IdleMinutes == 0 {
			p.IdleMinutes = int(fleet.DefaultIdle.Minutes())
		}
		if p.VolumeGiB == 0 {
			p.VolumeGiB = 30
		}
		if p.OnDemandBase < 0 || p.OnDemandBase > p.Max || p.IdleMinutes < 1 || p.VolumeGiB < 8 || p.VolumeGiB > 16384 {
			return fmt.Errorf("config: fleet %s: onDemandBase 0..max, idleMinutes >= 1, volumeGiB 8..16384", p.Pool)
		}
		if err := c.FleetPolicy(*p).Validate(); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	return nil
}

// GroupName is the Auto Scaling group of a fleet pool.
func (c *Config) GroupName(pool string) string { return c.Prefix + "-" + pool }

// FleetPolicy is a pool's settings as the scaler reads them.
func (c *Config) FleetPolicy(p FleetPool) fleet.PoolConfig {
	return fleet.PoolConfig{Pool: p.Pool, Group: c.GroupName(p.Pool), Min: p.Min, Max: p.Max, Slots: p.Slots,
		Ephemeral: p.Ephemeral, IdleSeconds: p.IdleMinutes * 60}
}

// FleetConfig is the whole fleet as FARM_FLEET holds it.
func (c *Config) FleetConfig() fleet.Config {
	fc := fleet.Config{TokenSeconds: c.FleetTokenMinutes * 60}
	for _, p := range c.Fleet {
		fc.Pools = append(fc.Pools, c.FleetPolicy(p))
	}
	return fc
}
