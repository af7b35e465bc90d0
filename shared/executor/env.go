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

// BuilderEnv is the builder's environment without its FARM_* variables: those
// configure the agent (FARM_TOKEN is its secret) and never reach a job.
func BuilderEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FARM_") {
			env = append(env, kv)
		}
	}
	return env
}

// jobEnv is the environment of a job's process: base, then extra (sorted, so
// runs are reproducible), then the FARM_* variables that describe the job,
// which nothing overrides.
func jobEnv(base []string, t *Task, extra map[string]string) []string {
	env := slices.Clone(base)
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		env = append(env, k+"="+extra[k])
	}
	payload := string(t.Job.Payload)
	if payload == "" {
		payload = "{}"
	}
	env = append(env,
		"FARM_JOB_ID="+t.Job.ID,
		"FARM_JOB_TYPE="+t.Job.Type,
		"FARM_ATTEMPT="+strconv.Itoa(t.Job.Attempts),
		"FARM_WORK_DIR="+t.WorkDir,
		"FARM_ARTIFACTS_DIR="+t.ArtifactsDir,
		"FARM_SOURCE_URL="+t.SourceURL,
		"FARM_SOURCE_FILE="+t.SourceFile,
		"FARM_PAYLOAD="+payload,
	)
	return env
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
