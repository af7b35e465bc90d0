// Package config reads the CDK app's settings: CDK context values (cdk.json
// "context", or `cdk synth -c key=value`) layered over an optional JSON file
// (infra/farm.json by default) layered over built-in defaults. It has no
// CDK imports so it is tested without jsii.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/dynamostore"
	"github.com/buildfarm/buildfarm/shared/adapter/topology"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// DefaultFile is the config file read when the context key "config" is unset
// and the file exists (paths are relative to the directory cdk runs in: the
// repository root).
const DefaultFile = "infra/farm.json"

// Config is everything an operator may choose without editing code. The JSON
// names are also the context keys.
type Config struct {
	Prefix string   `json:"prefix"`
	Pools  []string `json:"pools"`
	// StackName defaults to the prefix.
	StackName string `json:"stackName"`
	// FunctionsDir holds <name>/bootstrap for every function (scripts/build-functions).
	FunctionsDir string `json:"functionsDir"`
	// LambdaArch is arm64 (default) or x86_64; scripts/build-functions must match.
	LambdaArch string `json:"lambdaArch"`
	// RetainData keeps tables, the bucket, the secret and log groups when the stack is deleted.
	RetainData bool `json:"retainData"`

	LogRetentionDays int `json:"logRetentionDays"`
	// JobRetentionDays is how long finished jobs and their history are
	// kept (the functions' FARM_JOB_RETENTION_DAYS; DynamoDB TTL).
	JobRetentionDays int `json:"jobRetentionDays"`
	// LogsExpireDays and ArtifactsExpireDays expire job logs and artifacts
	// in the bucket; never sooner than the jobs that point at them
	// (ObjectRetentionDays, also their default when 0).
	LogsExpireDays          int `json:"logsExpireDays"`
	ArtifactsExpireDays     int `json:"artifactsExpireDays"`
	IncomingExpireDays      int `json:"incomingExpireDays"` // 0: never
	NoncurrentExpireDays    int `json:"noncurrentExpireDays"`
	AccessLogsExpireDays    int `json:"accessLogsExpireDays"`
	APIThrottleRate         int `json:"apiThrottleRate"`
	APIThrottleBurst        int `json:"apiThrottleBurst"`
	DispatchRetryAttempts   int `json:"dispatchRetryAttempts"`
	OldestQueuedAlarmSecs   int `json:"oldestQueuedJobAgeAlarmSeconds"`
	QueueAgeAlarmSeconds    int `json:"queueAgeAlarmSeconds"`
	ErrorsAlarmThreshold    int `json:"errorsAlarmThreshold"` // Lambda errors and API 5xx per 5 minutes
	StreamIteratorAlarmSecs int `json:"streamIteratorAgeAlarmSeconds"`
	// AlarmEmail, when set, subscribes an address to the alarm topic.
	AlarmEmail string `json:"alarmEmail"`

	// BuilderPools are the pools whose queues the builder role may consume (default: all).
	BuilderPools []string `json:"builderPools"`
	// BuilderAsg adds EC2 Auto Scaling groups running the agent (off by default).
	BuilderAsg          bool     `json:"builderAsg"`
	BuilderNames        []string `json:"builderNames"`
	BuilderInstanceType string   `json:"builderInstanceType"`
	BuilderSlots        int      `json:"builderSlots"`

	// DispatchShards spreads busy pools' queued jobs over several partition
	// keys of the dispatch index: {"pool": S} in the file, "pool=S,..."
	// as a context value (the functions' FARM_DISPATCH_SHARDS; a pool not
	// named has 1). Widen at will; narrow in two deploys ("pool=N/W", then
	// "pool=N"): README, "Sharded pools".
	DispatchShards string `json:"dispatchShards"`

	// DeferIndexes names jobs-table indexes this deploy leaves out.
	// CloudFormation adds one index to a table per update: a stack that
	// lacks several is upgraded in steps, deferring all but one each time.
	DeferIndexes []string `json:"deferIndexes"`

	// The elastic EC2 fleet: one Auto Scaling group per pool (fleet.go).
	Fleet []FleetPool `json:"fleet"`
	// InstanceIdentityCertificate is AWS's RSA certificate for the region
	// (PEM, or file:<path>), with which the API verifies instances' signed
	// identity documents; required with a fleet.
	InstanceIdentityCertificate string `json:"instanceIdentityCertificate"`
	// FleetTokenMinutes is the lifetime of an instance's builder token (default 60).
	FleetTokenMinutes int `json:"fleetTokenMinutes"`
}

// Defaults returns the built-in settings.
func Defaults() Config {
	return Config{
		Prefix:                  topology.DefaultPrefix,
		Pools:                   slices.Clone(topology.DefaultPools),
		FunctionsDir:            "dist/functions",
		LambdaArch:              "arm64",
		RetainData:              true,
		LogRetentionDays:        30,
		JobRetentionDays:        int(farm.DefaultJobRetention / day),
		IncomingExpireDays:      30,
		NoncurrentExpireDays:    7,
		AccessLogsExpireDays:    90,
		APIThrottleRate:         50,
		APIThrottleBurst:        100,
		DispatchRetryAttempts:   10,
		OldestQueuedAlarmSecs:   900,
		QueueAgeAlarmSeconds:    3600,
		ErrorsAlarmThreshold:    1,
		StreamIteratorAlarmSecs: 300,
		BuilderNames:            []string{"ec2-1"},
		BuilderInstanceType:     "t4g.medium",
		BuilderSlots:            2,
	}
}

const day = 24 * time.Hour

// ObjectRetentionDays is the soonest a job's log and artifacts may expire:
// the job's retention, plus the longest a job may run (the objects are
// written during the run, the job's retention counts from its end).
func (c Config) ObjectRetentionDays() int {
	return c.JobRetentionDays + int(farm.MaxJobLife/day)
}

// Getter returns a context value or nil (awscdk's Node().TryGetContext).
type Getter func(key string) any

// Load builds the config: defaults, then the file named by the "config"
// context key (or DefaultFile if it exists), then individual context keys.
func Load(get Getter) (Config, error) {
	c := Defaults()
	path, explicit := DefaultFile, false
	if v := get("config"); v != nil {
		path, explicit = fmt.Sprint(v), true
	}
	if path != "" {
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			if err := applyFile(&c, b); err != nil {
				return c, fmt.Errorf("config %s: %w", path, err)
			}
		case explicit || !errors.Is(err, os.ErrNotExist):
			return c, fmt.Errorf("config: %w", err)
		}
	}
	if err := applyContext(&c, get); err != nil {
		return c, err
	}
	err := c.Validate()
	return c, err
}

func applyFile(c *Config, b []byte) error {
	// The file may spell lists as JSON arrays or as comma strings, like context.
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	known := keys()
	for k := range raw {
		if !slices.Contains(known, k) {
			return fmt.Errorf("unknown key %q", k)
		}
	}
	return applyContext(c, func(k string) any { return raw[k] })
}

// keys lists the JSON/context names of Config's fields.
func keys() []string {
	return []string{"prefix", "pools", "stackName", "functionsDir", "lambdaArch", "retainData",
		"logRetentionDays", "jobRetentionDays", "logsExpireDays", "artifactsExpireDays", "incomingExpireDays",
		"noncurrentExpireDays", "accessLogsExpireDays", "apiThrottleRate", "apiThrottleBurst",
		"dispatchRetryAttempts", "oldestQueuedJobAgeAlarmSeconds", "queueAgeAlarmSeconds",
		"errorsAlarmThreshold", "streamIteratorAgeAlarmSeconds", "alarmEmail",
		"builderPools", "builderAsg", "builderNames", "builderInstanceType", "builderSlots", "deferIndexes", "dispatchShards",
		"fleet", "instanceIdentityCertificate", "fleetTokenMinutes"}
}

func applyContext(c *Config, get Getter) error {
	strs := map[string]*string{
		"prefix": &c.Prefix, "stackName": &c.StackName, "functionsDir": &c.FunctionsDir,
		"lambdaArch": &c.LambdaArch, "alarmEmail": &c.AlarmEmail, "builderInstanceType": &c.BuilderInstanceType,
		"instanceIdentityCertificate": &c.InstanceIdentityCertificate,
	}
	lists := map[string]*[]string{"pools": &c.Pools, "builderPools": &c.BuilderPools, "builderNames": &c.BuilderNames, "deferIndexes": &c.DeferIndexes}
	ints := map[string]*int{
		"logRetentionDays": &c.LogRetentionDays, "jobRetentionDays": &c.JobRetentionDays, "logsExpireDays": &c.LogsExpireDays,
		"artifactsExpireDays": &c.ArtifactsExpireDays, "incomingExpireDays": &c.IncomingExpireDays,
		"noncurrentExpireDays": &c.NoncurrentExpireDays, "accessLogsExpireDays": &c.AccessLogsExpireDays,
		"apiThrottleRate": &c.APIThrottleRate, "apiThrottleBurst": &c.APIThrottleBurst,
		"dispatchRetryAttempts": &c.DispatchRetryAttempts, "oldestQueuedJobAgeAlarmSeconds": &c.OldestQueuedAlarmSecs,
		"queueAgeAlarmSeconds": &c.QueueAgeAlarmSeconds, "errorsAlarmThreshold": &c.ErrorsAlarmThreshold,
		"streamIteratorAgeAlarmSeconds": &c.StreamIteratorAlarmSecs, "builderSlots": &c.BuilderSlots,
		"fleetTokenMinutes": &c.FleetTokenMinutes,
	}
	bools := map[string]*bool{"retainData": &c.RetainData, "builderAsg": &c.BuilderAsg}
	for k, p := range strs {
		if v := get(k); v != nil {
			s, ok := v.(string)
			if !ok {
				return fmt.Errorf("config: %s must be a string, got %v", k, v)
			}
			*p = strings.TrimSpace(s)
		}
	}
	for k, p := range lists {
		if v := get(k); v != nil {
			l, err := list(v)
			if err != nil {
				return fmt.Errorf("config: %s: %w", k, err)
			}
			*p = l
		}
	}
	for k, p := range ints {
		if v := get(k); v != nil {
			n, err := integer(v)
			if err != nil {
				return fmt.Errorf("config: %s: %w", k, err)
			}
			*p = n
		}
	}
	for k, p := range bools {
		if v := get(k); v != nil {
			b, err := boolean(v)
			if err != nil {
				return fmt.Errorf("config: %s: %w", k, err)
			}
			*p = b
		}
	}
	if err := applyDispatchShards(c, get); err != nil {
		return err
	}
	return applyFleet(c, get)
}

func list(v any) ([]string, error) {
	switch x := v.(type) {
	case string:
		var out []string
		for _, p := range strings.Split(x, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("list element %v is not a string", e)
			}
			out = append(out, strings.TrimSpace(s))
		}
		return out, nil
	case []string:
		return slices.Clone(x), nil
	}
	return nil, fmt.Errorf("want a comma-separated string or a list, got %v", v)
}

func integer(v any) (int, error) {
	switch x := v.(type) {
	case float64:
		if x != float64(int(x)) {
			return 0, fmt.Errorf("%v is not a whole number", x)
		}
		return int(x), nil
	case int:
		return x, nil
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(x))
		if err != nil {
			return 0, fmt.Errorf("%q is not a whole number", x)
		}
		return n, nil
	}
	return 0, fmt.Errorf("want a whole number, got %v", v)
}

func boolean(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(x))
		if err != nil {
			return false, fmt.Errorf("%q is not true or false", x)
		}
		return b, nil
	}
	return false, fmt.Errorf("want true or false, got %v", v)
}

// LogRetentionValues are the retention periods CloudWatch Logs accepts.
var LogRetentionValues = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

var (
	builderNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	stackNamePattern   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)
	emailPattern       = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
)

// Validate checks every value; the topology validates prefix and pools.
func (c *Config) Validate() error {
	top, err := c.Topology()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if c.StackName == "" {
		c.StackName = c.Prefix
		if !stackNamePattern.MatchString(c.StackName) {
			c.StackName = "farm-" + c.Prefix
		}
	}
	if !stackNamePattern.MatchString(c.StackName) {
		return fmt.Errorf("config: stackName %q is not a valid CloudFormation stack name", c.StackName)
	}
	if c.FunctionsDir == "" {
		return fmt.Errorf("config: functionsDir is empty")
	}
	for _, name := range c.DeferIndexes {
		if !slices.ContainsFunc(dynamostore.JobIndexes(), func(ix dynamostore.Index) bool { return ix.Name == name }) || name == dynamostore.IndexQueued {
			return fmt.Errorf("config: deferIndexes: %q is not an index of the jobs table the farm can run without", name)
		}
	}
	// Absolute, so the Go check for the bootstraps and CDK's asset staging
	// (in the jsii node process) look at the same directory.
	abs, err := filepath.Abs(c.FunctionsDir)
	if err != nil {
		return fmt.Errorf("config: functionsDir: %w", err)
	}
	c.FunctionsDir = abs
	if c.LambdaArch != "arm64" && c.LambdaArch != "x86_64" {
		return fmt.Errorf("config: lambdaArch must be arm64 or x86_64, got %q", c.LambdaArch)
	}
	if !slices.Contains(LogRetentionValues, c.LogRetentionDays) {
		return fmt.Errorf("config: logRetentionDays %d is not one CloudWatch Logs accepts %v", c.LogRetentionDays, LogRetentionValues)
	}
	if err := c.checkObjectExpiry(); err != nil {
		return err
	}
	positive := map[string]int{
		"noncurrentExpireDays": c.NoncurrentExpireDays, "accessLogsExpireDays": c.AccessLogsExpireDays,
		"apiThrottleRate": c.APIThrottleRate, "apiThrottleBurst": c.APIThrottleBurst,
		"oldestQueuedJobAgeAlarmSeconds": c.OldestQueuedAlarmSecs, "queueAgeAlarmSeconds": c.QueueAgeAlarmSeconds,
		"errorsAlarmThreshold": c.ErrorsAlarmThreshold, "streamIteratorAgeAlarmSeconds": c.StreamIteratorAlarmSecs,
		"builderSlots": c.BuilderSlots,
	}
	for _, k := range slices.Sorted(maps.Keys(positive)) {
		if positive[k] < 1 {
			return fmt.Errorf("config: %s must be at least 1, got %d", k, positive[k])
		}
	}
	if c.IncomingExpireDays < 0 {
		return fmt.Errorf("config: incomingExpireDays must be 0 (never) or more, got %d", c.IncomingExpireDays)
	}
	if c.DispatchRetryAttempts < 0 || c.DispatchRetryAttempts > 10000 {
		return fmt.Errorf("config: dispatchRetryAttempts must be 0..10000, got %d", c.DispatchRetryAttempts)
	}
	if c.AlarmEmail != "" && !emailPattern.MatchString(c.AlarmEmail) {
		return fmt.Errorf("config: alarmEmail %q is not an email address", c.AlarmEmail)
	}
	if len(c.BuilderPools) == 0 {
		c.BuilderPools = slices.Clone(top.Pools)
	}
	for _, p := range c.BuilderPools {
		if !top.ServesPool(p) {
			return fmt.Errorf("config: builderPools names %q, which is not one of the pools %v", p, top.Pools)
		}
	}
	if err := c.validateDispatchShards(top.Pools); err != nil {
		return err
	}
	if err := c.validateFleet(top); err != nil {
		return err
	}
	if c.BuilderAsg {
		if len(c.BuilderNames) == 0 {
			return fmt.Errorf("config: builderAsg needs at least one name in builderNames")
		}
		seen := map[string]bool{}
		for _, n := range c.BuilderNames {
			if !builderNamePattern.MatchString(n) || seen[n] {
				return fmt.Errorf("config: builderNames: %q must be unique and 1-63 characters of a-z, 0-9, '-' and '_'", n)
			}
			seen[n] = true
		}
		if c.BuilderInstanceType == "" {
			return fmt.Errorf("config: builderInstanceType is empty")
		}
	}
	return nil
}

// Topology is the farm's storage and messaging for this config.
func (c *Config) Topology() (*topology.Topology, error) {
	return topology.New(c.Prefix, c.Pools)
}

// checkObjectExpiry checks the job retention, and that logs and artifacts
// outlive the jobs that point at them (0: exactly ObjectRetentionDays).
func (c *Config) checkObjectExpiry() error {
	if c.JobRetentionDays < 1 {
		return fmt.Errorf("config: jobRetentionDays must be at least 1, got %d", c.JobRetentionDays)
	}
	least := c.ObjectRetentionDays()
	for _, o := range []struct {
		key  string
		days *int
	}{{"logsExpireDays", &c.LogsExpireDays}, {"artifactsExpireDays", &c.ArtifactsExpireDays}} {
		switch {
		case *o.days == 0:
			*o.days = least
		case *o.days < least:
			return fmt.Errorf("config: %s %d expires objects before the jobs that point at them: at least jobRetentionDays + %d = %d (or 0 for that)",
				o.key, *o.days, int(farm.MaxJobLife/day), least)
		}
	}
	return nil
}
