package executor

import (
	"bytes"
	"context"
	"strings"
)

// Command runs an operator's command for a job type, the way Buildkite runs
// its bootstrap or GitLab its shell executor: in the work dir, with the
// payload as JSON on stdin (and in FARM_PAYLOAD_FILE) and the job described
// by FARM_* variables (FARM_JOB_ID, FARM_JOB_TYPE, FARM_ATTEMPT,
// FARM_WORK_DIR, FARM_ARTIFACTS_DIR, FARM_SOURCE_URL, FARM_SOURCE_FILE,
// FARM_PAYLOAD_FILE). Exit 0 is success; files left in FARM_ARTIFACTS_DIR
// become artifacts.
type Command struct {
	Runner
	Spec CommandConfig
}

func (c *Command) Execute(ctx context.Context, t *Task) Outcome {
	payload := t.Job.Payload
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	note(t.Log, "running %s", strings.Join(c.Spec.Command, " "))
	return c.runCommand(ctx, t, c.Spec.Command, "", c.Spec.Env, bytes.NewReader(payload))
}
