package executor

import (
	"context"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// Script runs a script job: sh on a file holding the payload's script, in
// the work dir, the payload's env merged in. A script job with no inline
// script runs its downloaded source file with sh.
type Script struct{ Runner }

func (s *Script) Execute(ctx context.Context, t *Task) Outcome {
	var args farm.ScriptArgs
	if err := decodePayload(t, &args); err != nil {
		return Failed("script payload: %v", err)
	}
	var argv []string
	switch {
	case args.Script != "":
	case t.SourceFile != "":
		note(t.Log, "no inline script: running the source file %s with sh", t.SourceFile)
		argv = []string{"sh", t.SourceFile}
	default:
		note(t.Log, "the payload has no script and the job no source")
		return Failed("script job has no script and no source")
	}
	return s.runCommand(ctx, t, argv, args.Script, args.Env, nil)
}
