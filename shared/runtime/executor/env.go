package executor

import (
	"encoding/json"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// jobEnvNames are the builder's variables a job inherits by default:
// locale, time zone, PATH and proxies. Everything else may be a secret of
// the builder's (its token, AWS keys, a CI system's tokens) and stays out
// unless the operator names it (farm-builder --job-env).
var jobEnvNames = []string{
	"PATH", "LANG", "LANGUAGE", "TZ", "TERM",
	"http_proxy", "https_proxy", "no_proxy", "all_proxy",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
	"SSL_CERT_FILE", "SSL_CERT_DIR",
}

// DefaultPath is the PATH of a job when the builder has none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// BuilderEnv is the part of the builder's environment jobs start from: the
// variables of jobEnvNames, LC_*, and the extra names given. FARM_* never
// passes: those configure the agent (FARM_TOKEN is its secret).
func BuilderEnv(extra ...string) []string {
	keep := map[string]bool{}
	for _, n := range jobEnvNames {
		keep[n] = true
	}
	for _, n := range extra {
		keep[n] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "FARM_") || k == "PATH" && v == "" {
			continue
		}
		if keep[k] || strings.HasPrefix(k, "LC_") {
			env = append(env, kv)
		}
	}
	if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "PATH=") }) {
		env = append(env, "PATH="+DefaultPath)
	}
	return env
}

// jobEnv is the environment of a job's process: base; then HOME and TMPDIR
// of its own (and USER as the job user); then extra (sorted, so runs are
// reproducible); then the FARM_* variables that describe the job, which
// nothing overrides. A later value of a name replaces an earlier one.
func jobEnv(base []string, t *Task, run *jobRun, iso *Isolation, extra map[string]string) []string {
	env := slices.Clone(base)
	env = append(env, "HOME="+run.home, "TMPDIR="+run.tmp)
	if iso.User != nil {
		env = append(env, "USER="+iso.User.Name, "LOGNAME="+iso.User.Name)
	}
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		env = append(env, k+"="+extra[k])
	}
	env = append(env,
		"FARM_JOB_ID="+t.Job.ID,
		"FARM_JOB_TYPE="+t.Job.Type,
		"FARM_ATTEMPT="+strconv.Itoa(t.Job.Attempts),
		"FARM_WORK_DIR="+t.WorkDir,
		"FARM_ARTIFACTS_DIR="+t.ArtifactsDir,
		"FARM_SOURCE_URL="+t.SourceURL,
		"FARM_SOURCE_FILE="+t.SourceFile,
		"FARM_PAYLOAD_FILE="+run.payload,
	)
	return dedupEnv(env)
}

// dedupEnv keeps the last value of each name, in the order names first
// appear (the init execs without os/exec, which would do the same).
func dedupEnv(env []string) []string {
	last := map[string]int{}
	for i, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		last[k] = i
	}
	out := make([]string, 0, len(last))
	seen := map[string]bool{}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, env[last[k]])
	}
	return out
}

// jobTimeout is the job's own timeout (0: none).
func jobTimeout(t *Task) time.Duration {
	return time.Duration(t.Job.TimeoutSeconds) * time.Second
}

// decodePayload reads a payload leniently: the farm validated it strictly
// when the job was submitted, and a newer farm may have added fields.
func decodePayload(t *Task, v any) error {
	if len(t.Job.Payload) == 0 {
		return nil
	}
	return json.Unmarshal(t.Job.Payload, v)
}
