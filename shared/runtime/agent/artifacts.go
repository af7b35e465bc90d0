package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/runtime/executor"
)

// LogArtifactName is the name of a job's full log in object storage.
const LogArtifactName = "build.log"

// uploadArtifacts uploads every file the job left in its artifacts
// directory through presigned URLs and returns what it uploaded, with the
// SHA-256 of the bytes that went out.
func (a *Agent) uploadArtifacts(ctx context.Context, j *runningJob, ws *executor.Workspace) ([]apiv1.ArtifactRef, error) {
	files, listErr := ws.Artifacts()
	var refs []apiv1.ArtifactRef
	for _, f := range files {
		note(j.log, "uploading artifact %s (%d bytes)", f.Name, f.Size)
		sum, err := a.upload(ctx, j, apiv1.ArtifactURLRequest{ClaimToken: j.token, Name: f.Name, Kind: "artifact"}, f.Path)
		if err != nil {
			return refs, fmt.Errorf("%s: %w", f.Name, err)
		}
		note(j.log, "uploaded artifact %s, sha256 %s", f.Name, sum)
		refs = append(refs, apiv1.ArtifactRef{Name: f.Name, SHA256: sum})
	}
	return refs, listErr
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
	if _, err := a.upload(ctx, j, apiv1.ArtifactURLRequest{ClaimToken: j.token, Name: LogArtifactName, Kind: "log"}, j.log.path); err != nil {
		j.logger.Warn("full log upload failed; the farm keeps the tail", "err", err)
	}
}

// upload asks for a presigned URL and PUTs a file there, retrying while
// the farm or the storage is unreachable, and returns the hex SHA-256 of
// what the successful upload sent. An artifact is part of the job's result:
// its upload waits through an API outage (up to CompleteTimeout; at once
// when a heartbeat gets through again). The full log is a courtesy (the
// farm keeps its tail): it is tried three times.
func (a *Agent) upload(ctx context.Context, j *runningJob, req apiv1.ArtifactURLRequest, path string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.CompleteTimeout)
	defer cancel()
	bo := a.newBackoff()
	for attempt := 1; ; attempt++ {
		sum, err := a.uploadOnce(ctx, j, req, path)
		if err == nil || !temporary(err) || errors.Is(err, os.ErrNotExist) || (req.Kind == "log" && attempt == 3) {
			return sum, err
		}
		wait := bo.next()
		j.logger.Warn("upload failed; retrying", "name", req.Name, "kind", req.Kind, "err", err, "retry_in", wait.String())
		if !a.sleepUnlessRecovered(ctx, wait) {
			return "", err
		}
	}
}

// uploadOnce sends the file and hashes it on the way out: the sum is of
// the bytes sent, read once.
func (a *Agent) uploadOnce(ctx context.Context, j *runningJob, req apiv1.ArtifactURLRequest, path string) (string, error) {
	dst, err := a.api.ArtifactURL(ctx, j.id, req)
	if err != nil {
		return "", err
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	// The file may still grow (a job's process left running): send, and
	// hash, exactly the size announced.
	body := io.TeeReader(io.LimitReader(f, info.Size()), h)
	if err := a.api.Upload(ctx, dst, body, info.Size()); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
