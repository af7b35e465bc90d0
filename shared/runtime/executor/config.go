package executor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// Config is the executors file (--executors): per job type, the command that
// runs its jobs. For example:
//
//	{
//	  "binary-build":     {"command": ["./binary-build.sh"]},
//	  "live-image-build": {"command": ["/usr/local/bin/farm-live-build", "--verbose"],
//	                       "env": {"LB_MIRROR": "http://mirror/ubuntu"}},
//	  "recipe-build":     {"command": ["/usr/local/bin/farm-recipe-build"], "kill_grace_seconds": 30}
//	}
type Config map[string]CommandConfig

// CommandConfig is one job type's command.
type CommandConfig struct {
	// Command is the program and its arguments (no shell). A relative path
	// with a slash is relative to the executors file; a bare name is looked up
	// in PATH.
	Command []string `json:"command"`
	// Env is added to the job's environment.
	Env map[string]string `json:"env,omitempty"`
	// KillGraceSeconds overrides the time between SIGTERM and SIGKILL.
	KillGraceSeconds int `json:"kill_grace_seconds,omitempty"`
}

// LoadConfig reads an executors file strictly: a typo in an operator's file
// is an error at start, not a surprise at the first job.
func LoadConfig(path string) (Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("executors: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("executors: %s: %w", path, err)
	}
	abs, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("executors: %w", err)
	}
	for typ, cc := range cfg {
		if err := farm.CheckName("job type", typ); err != nil {
			return nil, fmt.Errorf("executors: %s: %q: %v", path, typ, err)
		}
		if len(cc.Command) == 0 || cc.Command[0] == "" {
			return nil, fmt.Errorf("executors: %s: %s: command is required", path, typ)
		}
		if cc.KillGraceSeconds < 0 {
			return nil, fmt.Errorf("executors: %s: %s: kill_grace_seconds must not be negative", path, typ)
		}
		if prog := cc.Command[0]; !filepath.IsAbs(prog) && strings.Contains(prog, "/") {
			cc.Command[0] = filepath.Join(abs, prog)
		}
		cfg[typ] = cc
	}
	return cfg, nil
}
