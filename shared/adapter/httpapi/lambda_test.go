package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/adapter/httpapi"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// loadEvent reads an API Gateway HTTP API (payload 2.0) fixture from events/.
func loadEvent(t *testing.T, name string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ev
}

// TestLambdaFixtures serves the fixtures through the same adapter the api
// Lambda uses, in process.
func TestLambdaFixtures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	handle := httpapi.LambdaHandler(e.srv)
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "lambda-invocation-1"})

	for _, tc := range []struct {
		fixture   string
		status    int
		requestID string
		check     func(t *testing.T, resp events.APIGatewayV2HTTPResponse)
	}{
		{"apigw-v2-health.json", http.StatusOK, "HealthReq0001=", func(t *testing.T, resp events.APIGatewayV2HTTPResponse) {
			if strings.TrimSpace(resp.Body) != `{"status":"ok"}` {
				t.Fatalf("body %q", resp.Body)
			}
		}},
		{"apigw-v2-submit.json", http.StatusCreated, "SubmitReq001=", func(t *testing.T, resp events.APIGatewayV2HTTPResponse) {
			var job farm.Job
			if err := json.Unmarshal([]byte(resp.Body), &job); err != nil {
				t.Fatal(err)
			}
			if job.Type != "script" || job.Priority != 10 || job.RequestedBy != "admin" || job.IdempotencyKey != "deploy-2026-11-23" {
				t.Fatalf("job %+v", job)
			}
			if resp.Headers["Location"] != "/v1/jobs/"+job.ID {
				t.Fatalf("headers %v", resp.Headers)
			}
		}},
		// The same event again: the idempotency key returns the same job.
		{"apigw-v2-submit.json", http.StatusOK, "SubmitReq001=", nil},
		{"apigw-v2-submit-base64.json", http.StatusCreated, "SubmitB64001=", func(t *testing.T, resp events.APIGatewayV2HTTPResponse) {
			var job farm.Job
			if err := json.Unmarshal([]byte(resp.Body), &job); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(job.Payload), "printf") {
				t.Fatalf("payload %s", job.Payload)
			}
		}},
		{"apigw-v2-bad-request.json", http.StatusBadRequest, "client-req-7", func(t *testing.T, resp events.APIGatewayV2HTTPResponse) {
			var body apiv1.ErrorBody
			if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
				t.Fatal(err)
			}
			if body.Error.Code != farm.EInvalid || body.Error.Field != "colour" || body.Error.RequestID != "client-req-7" {
				t.Fatalf("error %+v", body.Error)
			}
		}},
		{"apigw-v2-list-jobs.json", http.StatusOK, "ListReq00001=", func(t *testing.T, resp events.APIGatewayV2HTTPResponse) {
			var list apiv1.JobList
			if err := json.Unmarshal([]byte(resp.Body), &list); err != nil {
				t.Fatal(err)
			}
			if len(list.Jobs) != 2 {
				t.Fatalf("%d queued jobs, want the 2 submitted", len(list.Jobs))
			}
		}},
		{"apigw-v2-unauthorized.json", http.StatusUnauthorized, "NoAuthReq001=", func(t *testing.T, resp events.APIGatewayV2HTTPResponse) {
			if !strings.HasPrefix(resp.Headers["Www-Authenticate"], "Bearer") {
				t.Fatalf("headers %v", resp.Headers)
			}
		}},
	} {
		resp, err := handle(ctx, loadEvent(t, tc.fixture))
		if err != nil {
			t.Fatalf("%s: %v", tc.fixture, err)
		}
		if resp.StatusCode != tc.status {
			t.Fatalf("%s: %d %s, want %d", tc.fixture, resp.StatusCode, resp.Body, tc.status)
		}
		if resp.IsBase64Encoded || resp.Headers["Content-Type"] != "application/json" {
			t.Fatalf("%s: headers %v, base64 %v", tc.fixture, resp.Headers, resp.IsBase64Encoded)
		}
		// The gateway's request id is the API's, unless the client sent one.
		if got := resp.Headers[httpapi.RequestIDHeader]; got != tc.requestID {
			t.Fatalf("%s: request id %q, want %q", tc.fixture, got, tc.requestID)
		}
		if tc.check != nil {
			t.Run(tc.fixture, func(t *testing.T) { tc.check(t, resp) })
		}
	}
	// Log lines carry the request id.
	if !strings.Contains(e.logs.String(), `"request_id":"SubmitReq001="`) {
		t.Fatal("log lines lack the request id")
	}
}

// TestLambdaTokenFixtures issues a bound, expiring builder token and
// revokes it through the Lambda adapter: a 201 with the secret, then a 204
// without a body, then the token answers 401.
func TestLambdaTokenFixtures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	handle := httpapi.LambdaHandler(e.srv)
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "lambda-invocation-2"})
	resp, err := handle(ctx, loadEvent(t, "apigw-v2-create-token.json"))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %v %d %s", err, resp.StatusCode, resp.Body)
	}
	var tok apiv1.TokenResponse
	if err := json.Unmarshal([]byte(resp.Body), &tok); err != nil {
		t.Fatal(err)
	}
	if tok.Builder != "ec2-1" || len(tok.Pools) != 1 || tok.Pools[0] != "default" || tok.ExpiresAt == nil || tok.Token == "" {
		t.Fatalf("token %+v", tok)
	}
	e.tokens["ec2-1"] = tok.Token
	e.must(http.StatusOK, "ec2-1", "GET", "/v1/queue", nil, nil)

	revoke := loadEvent(t, "apigw-v2-revoke-token.json")
	if resp, err := handle(ctx, revoke); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("revoking the fixture's own id, unknown here: %v %d %s", err, resp.StatusCode, resp.Body)
	}
	revoke.RawPath = strings.Replace(revoke.RawPath, "01KAXB3Q0000000000000000TK", tok.ID, 1)
	revoke.RequestContext.HTTP.Path = revoke.RawPath
	resp, err = handle(ctx, revoke)
	if err != nil || resp.StatusCode != http.StatusNoContent || resp.Body != "" {
		t.Fatalf("revoke: %v %d %q", err, resp.StatusCode, resp.Body)
	}
	expectError(t, e.do("ec2-1", "GET", "/v1/queue", nil), http.StatusUnauthorized, farm.EUnauthorized, "")
}
