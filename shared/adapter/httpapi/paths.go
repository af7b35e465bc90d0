package httpapi

import (
	"net/http"
	"strings"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// pathJobID returns the job id of the path. An id that is not a ULID names no
// job: it is ENotFound, like an unknown one. Ids are case-insensitive.
func pathJobID(r *http.Request) (string, error) {
	raw := r.PathValue("id")
	id := strings.ToUpper(raw)
	if !farm.ValidID(id) {
		return "", farm.Errorf(farm.ENotFound, "job %q not found", clip(raw))
	}
	return id, nil
}

// pathBuilder returns the builder name of the path. A name that cannot name
// a builder is ENotFound, like an unknown one.
func pathBuilder(r *http.Request) (string, error) {
	name := r.PathValue("name")
	if !farm.ValidPoolName(name) { // builder names follow the same rule as pools
		return "", farm.Errorf(farm.ENotFound, "builder %q not found", clip(name))
	}
	return name, nil
}

// clip shortens client input quoted back in a message.
func clip(s string) string { return farm.Clip(s) }
