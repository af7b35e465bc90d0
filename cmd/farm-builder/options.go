package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/client"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/runtime/agent"
	"github.com/buildfarm/buildfarm/shared/runtime/executor"
)

// options is the builder's configuration from flags and environment. A flag
// wins over its environment variable, which wins over the default.
type options struct {
	api, token    string
	tokenFile     string // where the token was read from ("" : flag or env)
	jobUser       string
	jobEnv        []string // builder variables passed to jobs besides the defaults
	warnings      []string // to log loudly at start
	executorsFile string
	killGrace     time.Duration
	logLevel      slog.Level
	agent         agent.Config
	ec2           *agent.EC2Identity // set when the instance metadata answered
	isolation     *executor.Isolation
	// identity: the token comes from the instance's signed identity (fleet.go).
	identity  bool
	nonceFile string
}

// discovery is what the options look up about the machine (stubbed in tests).
type discovery struct {
	hostname  func() (string, error)
	lookupEC2 func(ctx context.Context) (agent.EC2Identity, error)
}

var errHelp = flag.ErrHelp

func parseOptions(args []string, getenv func(string) string, d discovery, usage io.Writer) (*options, error) {
	fs := flag.NewFlagSet("farm-builder", flag.ContinueOnError)
	fs.SetOutput(usage)
	// Each flag has an environment variable. Defaults shown by -h are the
	// built-in ones: an environment value (the token!) is never printed.
	envOf := map[string]string{}
	str := func(name, env, def, help string) {
		envOf[name] = env
		fs.String(name, def, help+" (env "+env+")")
	}
	boolean := func(name, env, help string) {
		envOf[name] = env
		fs.Bool(name, false, help+" (env "+env+")")
	}
	str("api", "FARM_API", "", "farm API base URL, e.g. http://127.0.0.1:8080")
	str("token", "FARM_TOKEN", "", "builder token (avoid the flag: every user of the machine can read a command line; use --token-file)")
	str("token-file", "FARM_TOKEN_FILE", "", "file holding the builder token (mode 0600, in a directory only the agent can read)")
	str("job-user", "FARM_JOB_USER", executor.DefaultJobUser, "unprivileged user jobs run as when the agent runs as root (created when missing)")
	str("job-env", "FARM_JOB_ENV", "", "comma-separated names of the agent's environment variables jobs also get (besides PATH, locale, time zone and proxies)")
	str("name", "FARM_BUILDER", "", "builder name (default: the EC2 instance id on EC2, else the host name)")
	str("pools", "FARM_POOLS", farm.DefaultPool, "comma-separated pools to serve")
	str("slots", "FARM_SLOTS", "1", "jobs run at once")
	str("kind", "FARM_KIND", "", "ec2 or metal (default: ec2 when the instance metadata answers, else metal)")
	str("arch", "FARM_ARCH", runtime.GOARCH, "architecture")
	str("capabilities", "FARM_CAPABILITIES", "", "comma-separated capabilities")
	str("metadata", "FARM_METADATA", "", "comma-separated key=value registration metadata")
	str("work-dir", "FARM_WORK_DIR", "", "directory for job workspaces (default $TMPDIR/farm-builder)")
	str("state-dir", "FARM_STATE_DIR", "", "directory of the agent's own state, 0700: job results the farm has not acknowledged, sent when it answers again or at the next start (default <work-dir>.state)")
	boolean("keep-work-dirs", "FARM_KEEP_WORK_DIRS", "keep workspaces and job logs after jobs, for debugging")
	str("executors", "FARM_EXECUTORS", "", "executors JSON file: per job type, the command to run")
	boolean("ec2-metadata", "FARM_EC2_METADATA", "read the instance id/type from the EC2 instance metadata (IMDSv2) into the registration")
	str("kill-grace", "FARM_KILL_GRACE", executor.DefaultKillGrace.String(), "time between SIGTERM and SIGKILL when a job is stopped")
	str("idle-claim", "FARM_IDLE_CLAIM", "60s", "claim this often on average while doorbells stay silent")
	str("log-level", "FARM_LOG_LEVEL", "info", "debug, info, warn or error")
	fleetFlags(str, boolean)
	fs.Usage = func() {
		fmt.Fprintln(usage, "usage: farm-builder [flags]\n\nRuns a buildfarm builder: registers, waits for doorbells, claims and runs jobs.\nFirst SIGTERM/SIGINT drains (finish running jobs, claim no more); a second stops hard.\nEvery flag can be set by its environment variable; a flag wins.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	value := func(name string) string {
		f := fs.Lookup(name)
		if given[name] {
			return f.Value.String()
		}
		if v := getenv(envOf[name]); v != "" {
			return v
		}
		return f.DefValue
	}
	var (
		api, name, pools        = value("api"), value("name"), value("pools")
		slots, kind, arch, caps = value("slots"), value("kind"), value("arch"), value("capabilities")
		metadata, workDir       = value("metadata"), value("work-dir")
		keep, executors         = value("keep-work-dirs"), value("executors")
		ec2Metadata, killGrace  = value("ec2-metadata"), value("kill-grace")
		idleClaim, logLevel     = value("idle-claim"), value("log-level")
	)

	o := &options{api: api, executorsFile: executors, jobUser: value("job-user")}
	if o.api == "" {
		return nil, errors.New("--api (FARM_API) is required")
	}
	if err := client.CheckBaseURL(o.api); err != nil {
		return nil, fmt.Errorf("--api (FARM_API): %s", strings.TrimPrefix(err.Error(), "client: "))
	}
	if err := o.fleetOptions(value); err != nil {
		return nil, err
	}
	if err := o.readToken(given, getenv, fs); err != nil && !o.identity {
		return nil, err
	}
	if o.jobUser == "" || strings.ContainsAny(o.jobUser, "/: ") {
		return nil, fmt.Errorf("--job-user (FARM_JOB_USER): %q is not a user name", o.jobUser)
	}
	for _, n := range splitList(value("job-env")) {
		if strings.HasPrefix(n, "FARM_") || strings.ContainsAny(n, "= ") {
			return nil, fmt.Errorf("--job-env (FARM_JOB_ENV): %q cannot be passed to jobs (FARM_* configure the agent)", n)
		}
		o.jobEnv = append(o.jobEnv, n)
	}
	n, err := strconv.Atoi(slots)
	if err != nil || n < 1 || n > farm.MaxSlots {
		return nil, fmt.Errorf("--slots (FARM_SLOTS) must be a number from 1 to %d, not %q", farm.MaxSlots, slots)
	}
	keepDirs, err := strconv.ParseBool(keep)
	if err != nil {
		return nil, fmt.Errorf("--keep-work-dirs (FARM_KEEP_WORK_DIRS): %q is not a boolean", keep)
	}
	readEC2, err := strconv.ParseBool(ec2Metadata)
	if err != nil {
		return nil, fmt.Errorf("--ec2-metadata (FARM_EC2_METADATA): %q is not a boolean", ec2Metadata)
	}
	if o.killGrace, err = time.ParseDuration(killGrace); err != nil || o.killGrace <= 0 {
		return nil, fmt.Errorf("--kill-grace (FARM_KILL_GRACE): %q is not a positive duration", killGrace)
	}
	idle, err := time.ParseDuration(idleClaim)
	if err != nil || idle <= 0 {
		return nil, fmt.Errorf("--idle-claim (FARM_IDLE_CLAIM): %q is not a positive duration", idleClaim)
	}
	if err := o.logLevel.UnmarshalText([]byte(logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level (FARM_LOG_LEVEL): %v", err)
	}
	meta, err := parseMetadata(metadata)
	if err != nil {
		return nil, err
	}

	builderKind := farm.BuilderKind(strings.ToLower(kind))
	switch builderKind {
	case "", farm.KindEC2, farm.KindMetal:
	default:
		return nil, fmt.Errorf("--kind (FARM_KIND) must be ec2 or metal, not %q", kind)
	}
	// Ask the instance metadata when told to, when told this is EC2, or to
	// find out whether it is. An explicit metal builder never asks.
	readEC2 = readEC2 || o.identity
	if readEC2 || builderKind != farm.KindMetal {
		id, err := d.lookupEC2(context.Background())
		switch {
		case err == nil:
			o.ec2 = &id
		case readEC2 || builderKind == farm.KindEC2:
			return nil, fmt.Errorf("--ec2-metadata: %w", err)
		}
	}
	if builderKind == "" {
		builderKind = farm.KindMetal
		if o.ec2 != nil {
			builderKind = farm.KindEC2
		}
	}
	if o.ec2 != nil {
		for k, v := range o.ec2.Metadata() {
			if _, set := meta[k]; !set {
				meta[k] = v
			}
		}
	}

	builder := name
	if builder == "" {
		if o.ec2 != nil {
			builder = o.ec2.InstanceID
		} else {
			h, err := d.hostname()
			if err != nil {
				return nil, fmt.Errorf("--name (FARM_BUILDER) is not set and the host name is unknown: %v", err)
			}
			builder = builderName(h)
		}
	}
	if err := farm.CheckName("--name (FARM_BUILDER)", builder); err != nil {
		return nil, err
	}
	if len(meta) == 0 {
		meta = nil
	}
	o.agent = agent.Config{
		Name: builder,
		Spec: farm.BuilderSpec{
			Kind: builderKind, Arch: arch, Pools: splitList(pools), Capabilities: splitList(caps),
			Slots: n, Metadata: meta,
		},
		WorkDir:           workDir,
		StateDir:          value("state-dir"),
		KeepWorkDirs:      keepDirs,
		IdleClaimInterval: idle,
		Fleet:             o.agent.Fleet,
	}
	if len(o.agent.Spec.Pools) == 0 {
		return nil, errors.New("--pools (FARM_POOLS) names no pool")
	}
	return o, nil
}

// readToken takes the token from --token, --token-file, FARM_TOKEN or
// FARM_TOKEN_FILE, in that order. A token on the command line works but is
// warned about: /proc/<pid>/cmdline is readable by every user.
func (o *options) readToken(given map[string]bool, getenv func(string) string, fs *flag.FlagSet) error {
	switch {
	case given["token"] && given["token-file"]:
		return errors.New("--token and --token-file: give one")
	case given["token"]:
		o.token = fs.Lookup("token").Value.String()
		o.warnings = append(o.warnings, "the builder token is on the command line (--token), where every user of this machine can read it in /proc/<pid>/cmdline: use --token-file (FARM_TOKEN_FILE) instead")
	case given["token-file"]:
		o.tokenFile = fs.Lookup("token-file").Value.String()
	case getenv("FARM_TOKEN") != "" && getenv("FARM_TOKEN_FILE") != "":
		return errors.New("FARM_TOKEN and FARM_TOKEN_FILE: give one")
	case getenv("FARM_TOKEN") != "":
		o.token = getenv("FARM_TOKEN")
	default:
		o.tokenFile = getenv("FARM_TOKEN_FILE")
	}
	if o.tokenFile == "" {
		if o.token == "" {
			return errors.New("a builder token is required: --token-file (FARM_TOKEN_FILE) or FARM_TOKEN")
		}
		return nil
	}
	f, err := os.Open(o.tokenFile)
	if err != nil {
		return fmt.Errorf("--token-file (FARM_TOKEN_FILE): %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("--token-file (FARM_TOKEN_FILE): %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return fmt.Errorf("--token-file (FARM_TOKEN_FILE): %w", err)
	}
	if o.token = strings.TrimSpace(string(raw)); o.token == "" || strings.ContainsAny(o.token, " \t\r\n") {
		return fmt.Errorf("--token-file (FARM_TOKEN_FILE): %s holds no token (one line, the token alone)", o.tokenFile)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		o.warnings = append(o.warnings, fmt.Sprintf("the token file %s is readable by others (mode %04o): chmod 0600 it, in a directory only the agent can read", o.tokenFile, perm))
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseMetadata(s string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range splitList(s) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("--metadata (FARM_METADATA): %q is not key=value", kv)
		}
		m[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return m, nil
}

var notNameChars = regexp.MustCompile(`[^a-z0-9_-]+`)

// builderName turns a host name into a builder name: its first label,
// lower case, other characters as '-', at most 40 characters.
func builderName(host string) string {
	host, _, _ = strings.Cut(strings.ToLower(host), ".")
	host = strings.Trim(notNameChars.ReplaceAllString(host, "-"), "-_")
	if len(host) > 40 {
		host = host[:40]
	}
	if host == "" {
		return "builder"
	}
	return host
}

// defaultDiscovery looks at the real machine.
var defaultDiscovery = discovery{
	hostname: os.Hostname,
	lookupEC2: func(ctx context.Context) (agent.EC2Identity, error) {
		return agent.LookupEC2Identity(ctx, "")
	},
}
