package main

import (
	"errors"
	"fmt"
	"strconv"
)

// DefaultNonceFile keeps an EC2 builder's identity nonce across restarts.
const DefaultNonceFile = "/var/lib/farm-builder/identity-nonce"

// fleetFlags declares the elastic fleet's flags.
func fleetFlags(str func(name, env, def, help string), boolean func(name, env, help string)) {
	boolean("ephemeral", "FARM_EPHEMERAL", "take one job, complete it and exit (an ephemeral pool's instance is then replaced); needs --slots 1")
	str("reset-command", "FARM_RESET_COMMAND", "", "command (sh -c) that resets the machine after every job; the builder then registers again, clean; needs --slots 1")
	boolean("ec2-identity", "FARM_EC2_IDENTITY", "get the builder token from the instance's signed identity document (an instance of the farm's fleet: no token to configure), named after the instance id and renewed before it expires")
	str("identity-nonce-file", "FARM_IDENTITY_NONCE_FILE", DefaultNonceFile, "where --ec2-identity keeps the instance's nonce (0600, created at the first start)")
}

func (o *options) fleetOptions(value func(string) string) error {
	for _, f := range []struct {
		name string
		dst  *bool
	}{{"ephemeral", &o.agent.Fleet.Ephemeral}, {"ec2-identity", &o.identity}} {
		b, err := strconv.ParseBool(value(f.name))
		if err != nil {
			return fmt.Errorf("--%s: %q is not a boolean", f.name, value(f.name))
		}
		*f.dst = b
	}
	o.agent.Fleet.ResetCommand = value("reset-command")
	o.nonceFile = value("identity-nonce-file")
	if o.identity && o.nonceFile == "" {
		return errors.New("--identity-nonce-file (FARM_IDENTITY_NONCE_FILE) is empty")
	}
	return nil
}
