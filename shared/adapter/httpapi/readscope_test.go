package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Everyone with a token sees a job's status; only its owner, admins and
// the builder holding its claim see the secret values of its payload.
func TestSecretPayloadValuesAreRedactedForOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register(builder1, "b1")
	var job farm.Job
	e.must(http.StatusCreated, submitterA, "POST", "/v1/jobs", map[string]any{"type": "script", "payload": map[string]any{
		"script": "deploy", "env": map[string]string{"API_KEY": "s3cr3t-value"},
		"then": []any{map[string]any{"type": "script", "payload": map[string]any{"script": "notify", "env": map[string]string{"HOOK": "nested-s3cr3t"}}}},
	}}, &job)
	plain := e.submit(submitterA, "echo nothing secret")
	secrets := []string{"s3cr3t-value", "nested-s3cr3t"}

	full := func(who string, body string) {
		t.Helper()
		for _, s := range secrets {
			if !strings.Contains(body, s) {
				t.Fatalf("%s does not see the payload in full: %s", who, body)
			}
		}
	}
	redacted := func(who string, body string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(body, s) {
				t.Fatalf("%s sees the secret %q: %s", who, s, body)
			}
		}
		if !strings.Contains(body, `"API_KEY":"[redacted]"`) || !strings.Contains(body, `"HOOK":"[redacted]"`) || !strings.Contains(body, `"payload_redacted":true`) {
			t.Fatalf("%s: the redacted payload keeps neither its variable names nor says it is redacted: %s", who, body)
		}
		if !strings.Contains(body, `"status":"queued"`) {
			t.Fatalf("%s cannot see the job's status: %s", who, body)
		}
	}
	for _, who := range []string{submitterA, admin} {
		full(who, e.must(http.StatusOK, who, "GET", "/v1/jobs/"+job.ID, nil, nil).Body.String())
		full(who, e.must(http.StatusOK, who, "GET", "/v1/jobs?limit=10", nil, nil).Body.String())
	}
	for _, who := range []string{submitterB, builder1, builder2} {
		redacted(who, e.must(http.StatusOK, who, "GET", "/v1/jobs/"+job.ID, nil, nil).Body.String())
		list := e.must(http.StatusOK, who, "GET", "/v1/jobs?status=queued&type=script", nil, nil).Body.String()
		redacted(who, list)
		var l apiv1.JobList
		if err := json.Unmarshal([]byte(list), &l); err != nil || len(l.Jobs) != 2 {
			t.Fatalf("listing as %s: %v %s", who, err, list)
		}
		for _, j := range l.Jobs {
			if j.ID == plain.ID && j.PayloadRedacted {
				t.Fatalf("a payload with no secret is marked redacted for %s", who)
			}
		}
	}
	// The builder that claims the job gets what it needs to run it.
	c := e.claim()
	if c.Job.ID != job.ID {
		t.Fatalf("claimed %s, want %s", c.Job.ID, job.ID)
	}
	raw, _ := json.Marshal(c)
	full("the claiming builder", string(raw))
	// What it gets back from completing is the public view again.
	done := e.must(http.StatusOK, builder1, "POST", "/v1/jobs/"+job.ID+"/complete", map[string]any{"claim_token": c.ClaimToken, "result": "succeeded"}, nil).Body.String()
	for _, s := range secrets {
		if strings.Contains(done, s) {
			t.Fatalf("the complete answer shows %q: %s", s, done)
		}
	}
	// The stored job is untouched.
	stored, err := e.store.GetJob(t.Context(), job.ID)
	if err != nil || !strings.Contains(string(stored.Payload), "s3cr3t-value") || stored.PayloadRedacted {
		t.Fatalf("stored job %+v %v", stored, err)
	}
}
