package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/buildfarm/buildfarm/shared/apiv1"
	"github.com/buildfarm/buildfarm/shared/executor"
)

// LogArtifactName is the name of a job's full log in object storage.
const LogArtifactName = "build.log"

// uploadArtifacts uploads every file the job left in its artifacts
// directory through presigned URLs and returns the names uploaded.
func (a *Agent) uploadArtifacts(ctx context.Context, j *runningJob, ws *executor.Workspace) ([]string, error) {
	files, listErr := ws.Artifacts()
	var names []string
	for _, f := range files {
		note(j.log, "uploading artifact %s (%d bytes)", f.Name, f.Size)
		if err := a.upload(ctx, j, apiv1.ArtifactURLRequest{ClaimToken: j.token, Name: f.Name, Kind: "artifact"}, f.Path); err != nil {
			return names, fmt.Errorf("%s: %w", f.Name, err)
		}
		names = append(names, f.Name)
	}
	return names, listErr
}

// uploadLog uploads the full log before completing. It is best effort: the
// farm keeps the heartbeat tail when it fails.
func (a *Agent) uploadLog(j *runningJob) {
	if j.log.file == nil {
		return
	}
	if j.log.fileErr != nil {
		j.logger.Warn("the full log is incomplete", "err", j.log.fileErr)
	}
	ctx, cancel := context.WithTimeout(a.hardCtx, 5*time.Minute)
	defer cancel()
	if err := a.upload(ctx, j, apiv1.ArtifactURLRequest{ClaimToken: j.token, Name: LogArtifactName, Kind: "log"}, j.log.path); err != nil {
		j.logger.Warn("full log upload failed; the farm keeps the tail", "err", err)
	}
}

// upload asks for a presigned URL and PUTs a file there, retrying a few
// times while the farm or the storage is unreachable.
func (a *Agent) upload(ctx context.Context, j *runningJob, req apiv1.ArtifactURLRequest, path string) error {
	bo := a.newBackoff()
	var err error
	for attempt := 1; ; attempt++ {
		err = a.uploadOnce(ctx, j, req, path)
		if err == nil || !temporary(err) || attempt == 3 || errors.Is(err, os.ErrNotExist) {
			return err
		}
		if !sleep(ctx, bo.next()) {
			return err
		}
	}
}

func (a *Agent) uploadOnce(ctx context.Context, j *runningJob, req apiv1.ArtifactURLRequest, path string) error {
	dst, err := a.api.ArtifactURL(ctx, j.id, req)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	return a.api.Upload(ctx, dst, f, info.Size())
}
