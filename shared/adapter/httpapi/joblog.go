package httpapi

import (
	"io"
	"net/http"
	"strconv"
)

// jobLog answers the job's log as text: the tail the heartbeats carried
// while it waits or runs, the stored full log once it finished (a large
// one as a redirect to a short-lived presigned download).
func (s *Server) jobLog(w http.ResponseWriter, r *http.Request) error {
	id, err := pathJobID(r)
	if err != nil {
		return err
	}
	log, err := s.jobs.Log(r.Context(), id)
	if err != nil {
		return err
	}
	switch {
	case log.DownloadURL != "":
		http.Redirect(w, r, log.DownloadURL, http.StatusTemporaryRedirect)
	case log.Body != nil:
		defer log.Body.Close()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if log.Size > 0 {
			w.Header().Set("Content-Length", strconv.FormatInt(log.Size, 10))
		}
		w.WriteHeader(http.StatusOK)
		if _, err := io.Copy(w, log.Body); err != nil {
			s.log.WarnContext(r.Context(), "log copy interrupted", "job_id", id, "err", err.Error())
		}
	default:
		writeText(w, log.Tail)
	}
	return nil
}

func writeText(w http.ResponseWriter, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(text)))
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, text)
}
