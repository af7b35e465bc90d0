package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/storetest"
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

func TestBuilderTokensBoundToPools(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var tok apiv1.TokenResponse
	e.must(http.StatusCreated, admin, "POST", "/v1/tokens", map[string]any{"role": "builder", "builder": "b7", "pools": []string{"default"}}, &tok)
	if !reflect.DeepEqual(tok.Pools, []string{"default"}) || tok.Builder != "b7" {
		t.Fatalf("token %+v", tok)
	}
	e.tokens["b7"] = tok.Token
	spec := func(pools ...string) map[string]any {
		return map[string]any{"kind": "metal", "arch": "amd64", "pools": pools, "slots": 1}
	}
	// Registering for a pool outside the binding is refused and changes nothing.
	expectError(t, e.do("b7", "PUT", "/v1/builders/b7", spec("default", "amd64")), http.StatusForbidden, farm.EForbidden, "")
	if _, err := e.store.GetBuilder(context.Background(), "b7"); !farm.IsCode(err, farm.ENotFound) {
		t.Fatalf("a refused registration stored the builder: %v", err)
	}
	e.must(http.StatusOK, "b7", "PUT", "/v1/builders/b7", spec("default"), nil)
	// An admin may widen the builder's pools; the token still claims only from its own.
	e.must(http.StatusOK, admin, "PUT", "/v1/builders/b7", spec("default", "amd64"), nil)
	var amd apiv1.SubmitJobRequest
	amd.Type, amd.Payload = "script", []byte(`{"script":"true","pool":"amd64"}`)
	e.must(http.StatusCreated, submitterA, "POST", "/v1/jobs", amd, nil)
	expectError(t, e.do("b7", "POST", "/v1/builders/b7/claim", map[string]string{"pool": "amd64"}), http.StatusForbidden, farm.EForbidden, "")
	if list := e.listJobs(admin, "status=queued&pool=amd64"); len(list.Jobs) != 1 {
		t.Fatalf("a refused claim changed the queue: %d queued", len(list.Jobs))
	}
	w := e.do("b7", "POST", "/v1/builders/b7/claim", map[string]string{"pool": "default"})
	if w.Code != http.StatusNoContent {
		t.Fatalf("claim from its own pool: %d %s", w.Code, w.Body)
	}
	// Still only as its own builder.
	expectError(t, e.do("b7", "POST", "/v1/builders/b1/claim", map[string]string{"pool": "default"}), http.StatusForbidden, farm.EForbidden, "")

	for body, field := range map[string]string{
		`{"role":"submitter","pools":["default"]}`:            "pools",
		`{"role":"builder","builder":"b8","pools":[]}`:        "pools",
		`{"role":"builder","builder":"b8","pools":["gpu"]}`:   "pools[0]",
		`{"role":"builder","builder":"b8","pools":["Nope!"]}`: "pools[0]",
	} {
		expectError(t, e.do(admin, "POST", "/v1/tokens", body), http.StatusBadRequest, farm.EInvalid, field)
	}
}

func TestTokensExpireAndAreRevoked(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock()
	e := newEnvClocked(t, io.Discard, clock.Now)
	var short apiv1.TokenResponse
	e.must(http.StatusCreated, admin, "POST", "/v1/tokens", map[string]any{"role": "submitter", "name": "short", "expires_in_seconds": 60}, &short)
	if short.ExpiresAt == nil || !short.ExpiresAt.Equal(clock.Now().Add(time.Minute)) || short.ID == "" {
		t.Fatalf("token %+v, want it to expire a minute from now", short)
	}
	e.tokens["short"] = short.Token
	e.must(http.StatusOK, "short", "GET", "/v1/queue", nil, nil)

	var list apiv1.TokenList
	w := e.must(http.StatusOK, admin, "GET", "/v1/tokens", nil, &list)
	byID := map[string]*farm.Token{}
	for _, tok := range list.Tokens {
		byID[tok.ID] = tok
	}
	if got := byID[short.ID]; got == nil || got.Role != farm.RoleSubmitter || got.ExpiresAt == nil || got.Name != "short" || got.CreatedAt.IsZero() {
		t.Fatalf("listed %+v", got)
	}
	if len(list.Tokens) != 5 { // the fixture's two submitters and two builders, and this one
		t.Fatalf("%d tokens listed, want 5", len(list.Tokens))
	}
	// Never a secret, nor its hash.
	for who, secret := range e.tokens {
		if secret != "" && (strings.Contains(w.Body.String(), secret) || strings.Contains(w.Body.String(), farm.HashToken(secret))) {
			t.Fatalf("the listing shows the secret or hash of %s's token: %s", who, w.Body)
		}
	}

	clock.Advance(time.Minute)
	expectError(t, e.do("short", "GET", "/v1/queue", nil), http.StatusUnauthorized, farm.EUnauthorized, "")
	e.must(http.StatusOK, admin, "GET", "/v1/tokens", nil, &list)
	if len(list.Tokens) != 4 {
		t.Fatalf("an expired token is still listed: %d tokens", len(list.Tokens))
	}

	// Revocation: 204, then 401 for every request of that token.
	victim := e.actors[submitterB][len("submitter:"):]
	e.must(http.StatusOK, submitterB, "GET", "/v1/jobs", nil, nil)
	w = e.must(http.StatusNoContent, admin, "DELETE", "/v1/tokens/"+victim, nil, nil)
	if w.Body.Len() != 0 {
		t.Fatalf("204 with a body: %s", w.Body)
	}
	expectError(t, e.do(submitterB, "GET", "/v1/jobs", nil), http.StatusUnauthorized, farm.EUnauthorized, "")
	expectError(t, e.do(submitterB, "POST", "/v1/jobs", script("echo")), http.StatusUnauthorized, farm.EUnauthorized, "")
	expectError(t, e.do(admin, "DELETE", "/v1/tokens/"+victim, nil), http.StatusNotFound, farm.ENotFound, "")
	expectError(t, e.do(admin, "DELETE", "/v1/tokens/"+farm.NewID(time.Now()), nil), http.StatusNotFound, farm.ENotFound, "")
	expectError(t, e.do(admin, "DELETE", "/v1/tokens/nope", nil), http.StatusNotFound, farm.ENotFound, "")
	expectError(t, e.do(admin, "GET", "/v1/tokens?role=admin", nil), http.StatusBadRequest, farm.EInvalid, "role")
	// Other tokens keep working; the bootstrap admin token is not listed and cannot be revoked.
	e.must(http.StatusOK, submitterA, "GET", "/v1/jobs", nil, nil)
	e.must(http.StatusOK, admin, "GET", "/v1/tokens", nil, &list)
	for _, tok := range list.Tokens {
		if tok.ID == victim || tok.ID == "" {
			t.Fatalf("listed %+v after revoking %s", tok, victim)
		}
	}

	for body, field := range map[string]string{
		`{"role":"submitter","expires_in_seconds":0}`:          "expires_in_seconds",
		`{"role":"submitter","expires_in_seconds":-5}`:         "expires_in_seconds",
		`{"role":"submitter","expires_in_seconds":9999999999}`: "expires_in_seconds",
		`{"role":"submitter","expires_in_seconds":"1h"}`:       "expires_in_seconds",
	} {
		expectError(t, e.do(admin, "POST", "/v1/tokens", body), http.StatusBadRequest, farm.EInvalid, field)
	}
}
