package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/buildfarm/buildfarm/shared/adapter/httpapi"
	"github.com/buildfarm/buildfarm/shared/farm"
)

func TestBodyLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	big := `{"type":"script","payload":{"script":"` + strings.Repeat("x", httpapi.DefaultMaxBodyBytes) + `"}}`
	expectError(t, e.do(submitterA, "POST", "/v1/jobs", big), http.StatusRequestEntityTooLarge, farm.ETooLarge, "")
	// Without a Content-Length (chunked), the limit holds while reading.
	req := request("POST", "/v1/jobs", e.tokens[submitterA], big)
	req.ContentLength = -1
	expectError(t, e.serve(req), http.StatusRequestEntityTooLarge, farm.ETooLarge, "")
	// A payload over the scheduler's own limit but under the body limit is a 400 naming it.
	payload := `{"type":"script","payload":{"script":"echo","env":{"A":"` + strings.Repeat("y", 300<<10) + `"}}}`
	expectError(t, e.do(submitterA, "POST", "/v1/jobs", payload), http.StatusBadRequest, farm.EInvalid, "payload")
}

func TestContentType(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := `{"type":"script","payload":{"script":"echo"}}`
	for ct, want := range map[string]int{
		"application/json":                  http.StatusCreated,
		"application/json; charset=utf-8":   http.StatusCreated,
		"application/merge-patch+json":      http.StatusCreated,
		"":                                  http.StatusCreated,
		"text/plain":                        http.StatusCreated, // still strict JSON
		"application/x-www-form-urlencoded": http.StatusCreated, // curl -d's default
		"image/png":                         http.StatusUnsupportedMediaType,
		"multipart/form-data; boundary=x":   http.StatusUnsupportedMediaType,
		"garbage;;":                         http.StatusUnsupportedMediaType,
	} {
		req := request("POST", "/v1/jobs", e.tokens[submitterA], body)
		req.Header.Del("Content-Type")
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		w := e.serve(req)
		if w.Code != want {
			t.Errorf("Content-Type %q: %d %s, want %d", ct, w.Code, w.Body, want)
		}
		if want == http.StatusUnsupportedMediaType {
			expectError(t, w, want, farm.EInvalid, "Content-Type")
		}
	}
}

func TestRequestIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	req := request("GET", "/v1/health", "", nil)
	req.Header.Set(httpapi.RequestIDHeader, "client-id-42")
	if w := e.serve(req); w.Header().Get(httpapi.RequestIDHeader) != "client-id-42" {
		t.Fatalf("client request id not echoed: %v", w.Header())
	}
	req = request("GET", "/v1/health", "", nil)
	req.Header.Set(httpapi.RequestIDHeader, "bad id\twith spaces and more "+strings.Repeat("x", 200))
	w := e.serve(req)
	id := w.Header().Get(httpapi.RequestIDHeader)
	if id == "" || strings.Contains(id, " ") {
		t.Fatalf("generated request id %q", id)
	}
	accessLogged := false
	for _, line := range strings.Split(e.logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "request" && rec["request_id"] == id {
			accessLogged = rec["route"] == "GET /v1/health" && rec["status"] == float64(200) && rec["method"] == "GET"
		}
	}
	if !accessLogged {
		t.Fatalf("no access log line for request %s:\n%s", id, e.logs)
	}
	other := e.serve(request("GET", "/v1/health", "", nil)).Header().Get(httpapi.RequestIDHeader)
	if other == "" || other == id {
		t.Fatalf("request ids %q and %q", id, other)
	}
}

func TestUnroutedAnswersJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	expectError(t, e.do(admin, "GET", "/v1/nope", nil), http.StatusNotFound, farm.ENotFound, "")
	expectError(t, e.do(none, "GET", "/", nil), http.StatusNotFound, farm.ENotFound, "")
	w := e.do(admin, "DELETE", "/v1/jobs", nil)
	expectError(t, w, http.StatusMethodNotAllowed, farm.EInvalid, "")
	if allow := w.Header().Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
		t.Fatalf("Allow %q", allow)
	}
	expectError(t, e.do(admin, "POST", "/v1/health", nil), http.StatusMethodNotAllowed, farm.EInvalid, "")
}

func TestInternalErrorsAreGeneric(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	job := e.submit(submitterA, "echo")
	e.store.mu.Lock()
	e.store.failGetJob = errBoom
	e.store.mu.Unlock()
	w := e.do(admin, "GET", "/v1/jobs/"+job.ID, nil)
	d := expectError(t, w, http.StatusInternalServerError, farm.EInternal, "")
	if d.Message != "internal error" || strings.Contains(w.Body.String(), "secret-internal-name") || strings.Contains(w.Body.String(), "boom") {
		t.Fatalf("internal detail leaked: %s", w.Body)
	}
	// The cause is in the log, with the request id.
	found := false
	for _, line := range strings.Split(e.logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		if rec["msg"] == "internal error" && rec["request_id"] == d.RequestID && strings.Contains(rec["err"].(string), "secret-internal-name") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no log line with the cause and request id %s:\n%s", d.RequestID, e.logs)
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, header := range []string{"", "Bearer", "Basic YWRtaW46YWRtaW4=", "Bearer nope", "Bearer " + adminToken + "x", adminToken} {
		req := request("GET", "/v1/queue", "", nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		w := e.serve(req)
		expectError(t, w, http.StatusUnauthorized, farm.EUnauthorized, "")
		if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%q: WWW-Authenticate %q", header, w.Header().Get("WWW-Authenticate"))
		}
	}
	req := request("GET", "/v1/queue", "", nil)
	req.Header.Set("Authorization", "bearer "+adminToken)
	if w := e.serve(req); w.Code != http.StatusOK {
		t.Fatalf("lower-case scheme: %d", w.Code)
	}
	// Errors come before any body is read: a 401 wins over a bad body.
	expectError(t, e.do(none, "POST", "/v1/jobs", `{bad json`), http.StatusUnauthorized, farm.EUnauthorized, "")
	expectError(t, e.do(builder1, "POST", "/v1/jobs", `{bad json`), http.StatusForbidden, farm.EForbidden, "")
}

func TestPanicsAreInternalErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	job := e.submit(submitterA, "echo")
	e.store.mu.Lock()
	e.store.panicGetJob = true
	e.store.mu.Unlock()
	w := e.do(admin, "GET", "/v1/jobs/"+job.ID, nil)
	d := expectError(t, w, http.StatusInternalServerError, farm.EInternal, "")
	if strings.Contains(w.Body.String(), "secret-internal-name") {
		t.Fatalf("panic text leaked: %s", w.Body)
	}
	if !strings.Contains(e.logs.String(), `"msg":"panic serving request"`) || !strings.Contains(e.logs.String(), d.RequestID) {
		t.Fatalf("the panic is not logged with request id %s", d.RequestID)
	}
	// The server goes on serving.
	e.store.mu.Lock()
	e.store.panicGetJob = false
	e.store.mu.Unlock()
	e.must(http.StatusOK, admin, "GET", "/v1/jobs/"+job.ID, nil, nil)
}
