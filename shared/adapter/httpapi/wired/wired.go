// Package wired builds the HTTP API over an assembled farm (shared/wiring):
// the handler the api Lambda serves and the local runtime listens with.
package wired

import (
	"log/slog"
	"net/http"

	"github.com/buildfarm/buildfarm/shared/adapter/httpapi"
	"github.com/buildfarm/buildfarm/shared/adapter/s3blobs"
	"github.com/buildfarm/buildfarm/shared/auth"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

// MinAdminTokenLength is the shortest bootstrap admin token accepted
// without a warning.
const MinAdminTokenLength = 20

// Server builds the API over f. adminToken is the bootstrap admin token
// ("" for none: then only tokens already in the store work). For request
// ids in the scheduler's log lines too, build f with a logger whose handler
// is wrapped in httpapi.ContextHandler.
func Server(f *wiring.Farm, adminToken string) (*httpapi.Server, error) {
	log := f.Logger
	if log == nil {
		log = slog.Default()
	}
	switch {
	case adminToken == "":
		log.Warn("no bootstrap admin token: only stored tokens are accepted")
	case len(adminToken) < MinAdminTokenLength:
		log.Warn("the bootstrap admin token is short; use a long random one", "length", len(adminToken))
	}
	return httpapi.New(httpapi.Options{
		Scheduler: f.Scheduler,
		Auth:      auth.New(f.Store, adminToken),
		Doorbells: f.Bell,
		Blobs:     s3blobs.New(f.S3, f.Config.BucketName()),
		Logger:    log,
	})
}

// Handler is Server as an http.Handler (localfarm.HandlerFunc).
func Handler(f *wiring.Farm, adminToken string) (http.Handler, error) {
	return Server(f, adminToken)
}
