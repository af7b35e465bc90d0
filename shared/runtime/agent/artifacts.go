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
	"github.com/buildfarm/buildfarm/shared/farm"
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
		sum, size, err := a.upload(ctx, j, apiv1.ArtifactURLRequest{ClaimToken: j.token, Name: f.Name, Kind: "artifact"}, f.Path)
		if err != nil {
			return refs, fmt.Errorf("%s: %w", f.Name, err)
		}
		note(j.log, "uploaded artifact %s, sha256 %s", f.Name, sum)
		refs = append(refs, apiv1.ArtifactRef{Name: f.Name, SHA256: sum, Size: size})
	}
	return refs, listErr
}

// storeLog puts the run's whole log where the completion req says: a log
// of at most farm.MaxInlineLog bytes travels whole in the completion (the
// farm stores it with the result, no upload); a larger one is PUT once to
// the presigned URL the claim answer carried (a new URL is asked for only
// when that one fails). When neither works — no log file, a failed
// upload — the completion carries what the heartbeats did not, as before.
func (a *Agent) storeLog(j *runningJob, req *apiv1.CompleteRequest) {
	if j.log.file != nil && j.log.fileErr == nil {
		size := j.log.Size()
		if size <= farm.MaxInlineLog {
			if whole, err := os.ReadFile(j.log.path); err == nil && int64(len(whole)) == size {
				j.log.TakeAll()
				req.Log, req.LogComplete = string(whole), true
				return
			}
		}
		ctx, cancel := context.WithTimeout(a.hardCtx, 5*time.Minute)
		defer cancel()
		err := a.uploadWholeLog(ctx, j)
		if err == nil {
			j.log.TakeAll()
			req.LogUploaded, req.LogSize = true, size
			return
		}
		j.logger.Warn("full log upload failed; the farm keeps what the heartbeats carried", "err", err)
	} else if j.log.fileErr != nil {
		j.logger.Warn("the full log is incomplete; the farm keeps what the heartbeats carried", "err", j.log.fileErr)
	}
	req.Log = j.log.TakeAll().Text()
}

// uploadWholeLog PUTs the log file to the claim's presigned URL, or, when
// there is none or it fails (expired, say), to a new one asked for.
func (a *Agent) uploadWholeLog(ctx context.Context, j *runningJob) error {
	if j.logUpload != nil {
		err := a.putFile(ctx, j.logUpload, j.log.path)
		if err == nil {
			return nil
		}
		j.logger.Warn("log upload through the claim's URL failed; asking for another", "err", err)
	}
	_, _, err := a.upload(ctx, j, apiv1.ArtifactURLRequest{ClaimToken: j.token, Name: LogArtifactName, Kind: "log"}, j.log.path)
	return err
}

// upload asks for a presigned URL and PUTs a file there, retrying while
// the farm or the storage is unreachable, and returns the hex SHA-256 and
// the size of what the successful upload sent. An artifact is part of the
// job's result: its upload waits through an API outage (up to
// CompleteTimeout; at once when a heartbeat gets through again). The full
// log is a courtesy (the farm keeps its chunks): it is tried three times.
func (a *Agent) upload(ctx context.Context, j *runningJob, req apiv1.ArtifactURLRequest, path string) (string, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.CompleteTimeout)
	defer cancel()
	bo := a.newBackoff()
	for attempt := 1; ; attempt++ {
		sum, size, err := a.uploadOnce(ctx, j, req, path)
		if err == nil || !temporary(err) || errors.Is(err, os.ErrNotExist) || (req.Kind == "log" && attempt == 3) {
			return sum, size, err
		}
		wait := bo.next()
		j.logger.Warn("upload failed; retrying", "name", req.Name, "kind", req.Kind, "err", err, "retry_in", wait.String())
		if !a.sleepUnlessRecovered(ctx, wait) {
			return "", 0, err
		}
	}
}

// uploadOnce sends the file and hashes it on the way out: the sum is of
// the bytes sent, read once.
func (a *Agent) uploadOnce(ctx context.Context, j *runningJob, req apiv1.ArtifactURLRequest, path string) (string, int64, error) {
	dst, err := a.api.ArtifactURL(ctx, j.id, req)
	if err != nil {
		return "", 0, err
	}
	return a.sendFile(ctx, dst, path)
}

// putFile sends a file to a presigned upload.
func (a *Agent) putFile(ctx context.Context, dst *apiv1.ArtifactURL, path string) error {
	_, _, err := a.sendFile(ctx, dst, path)
	return err
}

// sendFile PUTs the file at path to dst and returns the hex SHA-256 and
// the size of what it sent.
func (a *Agent) sendFile(ctx context.Context, dst *apiv1.ArtifactURL, path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", 0, err
	}
	h := sha256.New()
	// The file may still grow (a job's process left running): send, and
	// hash, exactly the size announced.
	body := io.TeeReader(io.LimitReader(f, info.Size()), h)
	if err := a.api.Upload(ctx, dst, body, info.Size()); err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), info.Size(), nil
}
