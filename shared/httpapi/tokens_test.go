package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/buildfarm/buildfarm/shared/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
)

func TestCreateToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var tok apiv1.TokenResponse
	e.must(http.StatusCreated, admin, "POST", "/v1/tokens", map[string]string{"role": "builder", "builder": "b9", "name": "rack 4"}, &tok)
	if tok.Token == "" || tok.Role != "builder" || tok.Builder != "b9" || tok.ID == "" {
		t.Fatalf("token %+v", tok)
	}
	// Only the hash is stored, and the token works, as builder b9 only.
	stored, err := e.store.GetToken(context.Background(), farm.HashToken(tok.Token))
	if err != nil || stored.ID != tok.ID || stored.CreatedBy != "admin" || strings.Contains(stored.Hash, tok.Token) {
		t.Fatalf("stored %+v, %v", stored, err)
	}
	e.tokens["b9"] = tok.Token
	e.must(http.StatusOK, "b9", "PUT", "/v1/builders/b9", builderSpec, nil)
	expectError(t, e.do("b9", "PUT", "/v1/builders/b1", builderSpec), http.StatusForbidden, farm.EForbidden, "")

	e.must(http.StatusCreated, admin, "POST", "/v1/tokens", map[string]string{"role": "submitter"}, &tok)
	e.tokens["s9"] = tok.Token
	var job farm.Job
	e.must(http.StatusCreated, "s9", "POST", "/v1/jobs", script("echo"), &job)
	if job.RequestedBy != "submitter:"+tok.ID {
		t.Fatalf("requested_by %q", job.RequestedBy)
	}
	// An admin token issued by the API is an admin too.
	e.must(http.StatusCreated, admin, "POST", "/v1/tokens", map[string]string{"role": "admin"}, &tok)
	e.tokens["a9"] = tok.Token
	e.must(http.StatusCreated, "a9", "POST", "/v1/tokens", map[string]string{"role": "submitter"}, nil)

	for body, field := range map[string]string{
		`{}`:                                     "role",
		`{"role":"root"}`:                        "role",
		`{"role":"builder"}`:                     "builder",
		`{"role":"builder","builder":"B 1"}`:     "builder",
		`{"role":"submitter","builder":"b1"}`:    "builder",
		`{"role":"submitter","expires":"never"}`: "expires",
	} {
		expectError(t, e.do(admin, "POST", "/v1/tokens", body), http.StatusBadRequest, farm.EInvalid, field)
	}
}
