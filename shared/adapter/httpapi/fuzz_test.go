package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// The fuzz targets send arbitrary input to one route and check that the API
// never answers 5xx for bad input, and that every refusal is the API's
// error body. Their seeds run with the normal tests; run one with, e.g.,
// go test ./shared/httpapi -run '^$' -fuzz '^FuzzSubmit$' -fuzztime 30s

// checkAnswer is what every answer to arbitrary input must satisfy.
func checkAnswer(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	switch {
	case w.Code >= 500:
		t.Fatalf("%d for client input: %s", w.Code, w.Body)
	case w.Code >= 400:
		errorOf(t, w)
	case w.Code == http.StatusNoContent:
		if w.Body.Len() != 0 {
			t.Fatalf("204 with a body: %q", w.Body)
		}
	case w.Header().Get("Content-Type") == "application/json":
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%d with invalid JSON: %q", w.Code, w.Body)
		}
	}
}

// fuzzBody fuzzes the JSON body of one route, called as who.
func fuzzBody(f *testing.F, who, method, path string, seeds ...string) {
	e := newEnvLogging(f, io.Discard)
	fx := newAccessFixture(e)
	path = fx.expand(path)
	for _, s := range append(seeds, "", "{}", "null", "[]", `"x"`, "0", "{", "{}{}", `{"a":1}`, "\x00\xff", `{"jobs":[{"id":1}]}`) {
		f.Add([]byte(fx.expand(s)))
	}
	token := e.tokens[who]
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		checkAnswer(t, e.serve(req))
	})
}

func FuzzSubmit(f *testing.F) {
	fuzzBody(f, submitterA, "POST", "/v1/jobs",
		`{"type":"script","payload":{"script":"echo hi"}}`,
		`{"type":"script","payload":{"script":"echo","pool":"amd64","env":{"A":"b"},"then":[{"type":"script","payload":{"script":"x"}}]},"priority":5,"max_attempts":2,"timeout_seconds":10,"idempotency_key":"k"}`,
		`{"type":"binary-build","payload":{"package":"hello","arch":"arm64","pocket":"security","virtualized":false}}`,
		`{"type":"recipe-build","payload":{"branch":"lp:x","archs":["amd64","amd64"]}}`,
		`{"type":"live-image-build","payload":{"project":"ubuntu","series":"noble"}}`,
		`{"type":"script","payload":{"script":"x"},"depends_on":["{running}","{queued}"]}`,
		`{"type":"script","payload":{"script":"x"},"depends_on":["{running}","{running}"]}`,
		`{"type":"clean-resource","payload":{}}`,
		`{"type":"script","payload":"echo"}`,
		`{"type":"script","payload":{"script":"x"},"priority":1e400}`,
	)
}

func FuzzHeartbeat(f *testing.F) {
	fuzzBody(f, builder1, "POST", "/v1/builders/b1/heartbeat",
		`{"jobs":[{"id":"{running}","claim_token":"{token}","log":"line\n","progress":"5%"}]}`,
		`{"jobs":[{"id":"{running}","claim_token":"stale"}],"draining":true}`,
		`{"jobs":[{"id":"{queued}","claim_token":""}]}`,
		`{"jobs":[{"id":"not-an-id"}]}`,
	)
}

func FuzzComplete(f *testing.F) {
	fuzzBody(f, builder1, "POST", "/v1/jobs/{running}/complete",
		`{"claim_token":"{token}","result":"failed","error":"exit 1","exit_code":1,"log":"bye\n"}`,
		`{"claim_token":"{token}","result":"succeeded","artifacts":["a","../b"]}`,
		`{"claim_token":"{token}","result":"cancelled"}`,
		`{"claim_token":"x","result":"succeeded"}`,
	)
}

func FuzzClaim(f *testing.F) {
	fuzzBody(f, builder1, "POST", "/v1/builders/b1/claim",
		`{"pool":"default"}`, `{"pool":"amd64"}`, `{"pool":""}`, `{"pool":"ÜBER"}`)
}

func FuzzRegister(f *testing.F) {
	fuzzBody(f, admin, "PUT", "/v1/builders/b3",
		`{"kind":"ec2","arch":"amd64","pools":["default"],"slots":2}`,
		`{"kind":"metal","arch":"arm64","pools":["default","amd64"],"capabilities":["kvm"],"metadata":{"rack":"4"}}`,
		`{"kind":"ec2","arch":"amd64","pools":["default"],"slots":-1}`,
	)
}

func FuzzArtifactURL(f *testing.F) {
	fuzzBody(f, builder1, "POST", "/v1/jobs/{running}/artifacts",
		`{"claim_token":"{token}","name":"dist/a.deb"}`,
		`{"claim_token":"{token}","kind":"log"}`,
		`{"claim_token":"{token}","name":"a/../../b"}`,
	)
}

func FuzzCreateToken(f *testing.F) {
	fuzzBody(f, admin, "POST", "/v1/tokens",
		`{"role":"submitter","name":"ci"}`, `{"role":"builder","builder":"b7"}`, `{"role":"builder"}`)
}

func FuzzScore(f *testing.F) {
	fuzzBody(f, admin, "POST", "/v1/jobs/{queued}/score", `{"score":10}`, `{"score":-5}`, `{"score":"1"}`)
}

func FuzzDisable(f *testing.F) {
	fuzzBody(f, admin, "POST", "/v1/builders/b2/disable", `{"reason":"broken"}`, `{"reason":""}`)
}

// FuzzListJobs fuzzes the query string of the job listing.
func FuzzListJobs(f *testing.F) {
	e := newEnvLogging(f, io.Discard)
	newAccessFixture(e)
	for _, s := range []string{"", "status=queued", "limit=1&cursor=", "type=script&pool=default&limit=500", "limit=abc", "cursor=%%", "a=1&a=2", "status=queued&status=running", ";;&&=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		req := httptest.NewRequest("GET", "/v1/jobs", nil)
		req.URL.RawQuery = q
		req.Header.Set("Authorization", "Bearer "+adminToken)
		checkAnswer(t, e.serve(req))
	})
}

// FuzzJobPath fuzzes the {id} of the job routes.
func FuzzJobPath(f *testing.F) {
	e := newEnvLogging(f, io.Discard)
	fx := newAccessFixture(e)
	for _, s := range []string{fx.running, fx.queued, "x", "", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "../health", "%00", "ZZZZZZZZZZZZZZZZZZZZZZZZZZ"} {
		f.Add(s, uint8(0))
	}
	suffixes := []string{"", "/events", "/log", "/cancel", "/retry"}
	f.Fuzz(func(t *testing.T, id string, which uint8) {
		suffix := suffixes[int(which)%len(suffixes)]
		method := "GET"
		if suffix == "/cancel" || suffix == "/retry" {
			method = "POST"
		}
		req := httptest.NewRequest(method, "/v1/jobs/x", nil)
		req.URL.Path = "/v1/jobs/" + id + suffix
		req.URL.RawPath = "/v1/jobs/" + url.PathEscape(id) + suffix
		req.Header.Set("Authorization", "Bearer "+adminToken)
		checkAnswer(t, e.serve(req))
	})
}

func FuzzPutResourcePool(f *testing.F) {
	fuzzBody(f, admin, "PUT", "/v1/resource-pools/ppas",
		`{"description":"PPAs","lease_seconds":60,"clean_script":"rm -rf /srv/ppa/*"}`,
		`{"lease_seconds":0}`, `{"lease_seconds":-1}`, `{"lease_seconds":1e20}`,
		`{"description":null,"clean_script":""}`,
	)
}

func FuzzAddResource(f *testing.F) {
	fuzzBody(f, admin, "POST", "/v1/resource-pools/ppas/resources",
		`{"name":"ppa-9","attributes":{"url":"ppa:test/9"}}`,
		`{"name":"{held}"}`, `{"name":""}`, `{"name":"a/b"}`, `{"name":"x","attributes":{"":""}}`,
		`{"name":"x","attributes":{"k":1}}`, `{"name":"x","attributes":[]}`,
	)
}

func FuzzAcquire(f *testing.F) {
	fuzzBody(f, submitterA, "POST", "/v1/resource-pools/ppas/acquire",
		`{"holder":"ci-9"}`, `{"holder":"ci-9","lease_seconds":30}`, `{"holder":""}`,
		`{"holder":"x","lease_seconds":-5}`, `{"holder":"x","lease_seconds":99999999999}`,
	)
}

func FuzzRelease(f *testing.F) {
	fuzzBody(f, submitterA, "POST", "/v1/resource-pools/ppas/resources/{held}/release",
		`{"lease_token":"{lease}"}`, `{"lease_token":""}`, `{"lease_token":"stale"}`, `{"lease_token":1}`,
	)
}

// FuzzResourcePoolPath fuzzes the {pool} and {name} of the resource-pool routes.
func FuzzResourcePoolPath(f *testing.F) {
	e := newEnvLogging(f, io.Discard)
	fx := newAccessFixture(e)
	for _, s := range []string{"ppas", "nope", "", "PPAS", "-x", "../jobs", "%00", "a b", "ü"} {
		f.Add(s, fx.held, uint8(0))
		f.Add("ppas", s, uint8(4))
	}
	type call struct{ method, suffix, body string }
	calls := []call{
		{"GET", "", ""},
		{"PUT", "", `{"description":"x"}`},
		{"POST", "/resources", `{"name":"r9"}`},
		{"POST", "/acquire", `{"holder":"h"}`},
		{"POST", "/resources/{name}/release", `{"lease_token":"` + fx.lease + `"}`},
	}
	f.Fuzz(func(t *testing.T, pool, name string, which uint8) {
		c := calls[int(which)%len(calls)]
		suffix := strings.ReplaceAll(c.suffix, "{name}", name)
		rawSuffix := strings.ReplaceAll(c.suffix, "{name}", url.PathEscape(name))
		req := httptest.NewRequest(c.method, "/v1/resource-pools/x", strings.NewReader(c.body))
		req.URL.Path = "/v1/resource-pools/" + pool + suffix
		req.URL.RawPath = "/v1/resource-pools/" + url.PathEscape(pool) + rawSuffix
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("Content-Type", "application/json")
		checkAnswer(t, e.serve(req))
	})
}
