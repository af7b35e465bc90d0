package httpapi

import (
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// MaxInlineLog is the largest stored log the API sends itself; a larger one
// is a redirect to a short-lived presigned download (Lambda answers are
// limited to 6 MB).
const MaxInlineLog = 4 << 20

// logRedirectTTL is how long the presigned download of a large log lives.
const logRedirectTTL = 5 * time.Minute

// jobLog answers the job's log as text: the tail the heartbeats carried
// while it waits or runs, the stored full log once it finished.
func (s *Server) jobLog(w http.ResponseWriter, r *http.Request) error {
	job, err := s.job(r)
	if err != nil {
		return err
	}
	if job.Status.Terminal() && job.LogKey != "" {
		done, err := s.storedLog(w, r, job)
		if done || err != nil {
			return err
		}
	}
	writeText(w, job.LogTail)
	return nil
}

// storedLog sends the stored log of a finished job. It reports false when
// there is none after all (the tail is sent instead).
func (s *Server) storedLog(w http.ResponseWriter, r *http.Request, job *farm.Job) (bool, error) {
	ctx := r.Context()
	body, obj, err := s.blobs.Get(ctx, job.LogKey)
	if farm.IsCode(err, farm.ENotFound) {
		s.log.WarnContext(ctx, "stored log missing; answering the tail", "job_id", job.ID, "key", job.LogKey)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer body.Close()
	if obj.Size > MaxInlineLog {
		pre, err := s.blobs.PresignGet(ctx, job.LogKey, logRedirectTTL)
		if err != nil {
			return false, err
		}
		http.Redirect(w, r, pre.URL, http.StatusTemporaryRedirect)
		return true, nil
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if obj.Size > 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(obj.Size, 10))
	}
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, body); err != nil {
		s.log.WarnContext(ctx, "log copy interrupted", "job_id", job.ID, "err", err.Error())
	}
	return true, nil
}

func writeText(w http.ResponseWriter, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(text)))
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, text)
}
