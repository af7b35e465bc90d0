package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/emulatortest"
)

func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

// fakeRuntime is the Lambda Runtime API: it hands the function one event per
// /next and collects the responses.
type fakeRuntime struct {
	mu        sync.Mutex
	pending   []events.APIGatewayV2HTTPRequest
	responses map[string]chan []byte
	errors    chan string
}

func (rt *fakeRuntime) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const prefix = "/2018-06-01/runtime/"
	path := strings.TrimPrefix(r.URL.Path, prefix)
	body, _ := io.ReadAll(r.Body)
	switch {
	case path == "invocation/next":
		rt.mu.Lock()
		if len(rt.pending) == 0 {
			rt.mu.Unlock()
			<-r.Context().Done() // nothing more: the function waits until it is killed
			return
		}
		ev := rt.pending[0]
		rt.pending = rt.pending[1:]
		id := fmt.Sprintf("invocation-%d", len(rt.pending))
		rt.mu.Unlock()
		raw, _ := json.Marshal(ev)
		w.Header().Set("Lambda-Runtime-Aws-Request-Id", id)
		w.Header().Set("Lambda-Runtime-Deadline-Ms", fmt.Sprint(time.Now().Add(time.Minute).UnixMilli()))
		w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:test-api")
		w.Write(raw)
	case strings.HasSuffix(path, "/response"):
		id := strings.TrimSuffix(strings.TrimPrefix(path, "invocation/"), "/response")
		rt.channel(id) <- body
		w.WriteHeader(http.StatusAccepted)
	default: // init/error, invocation/<id>/error
		rt.errors <- path + ": " + string(body)
		w.WriteHeader(http.StatusAccepted)
	}
}

func (rt *fakeRuntime) channel(id string) chan []byte {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.responses[id] == nil {
		rt.responses[id] = make(chan []byte, 1)
	}
	return rt.responses[id]
}

func event(t *testing.T, name string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestBinaryServesEvents builds the function as it is deployed, starts it
// against a fake Lambda runtime and the emulator, with the admin token in a
// Secrets Manager secret, and checks the answers to API Gateway events.
func TestBinaryServesEvents(t *testing.T) {
	t.Parallel()
	top, cfg, _ := emulatortest.Topology(t, "default")
	emu := emulatortest.Emulator(t)
	ctx := context.Background()

	// The fixtures' admin token, kept where the CDK stack keeps it.
	sm := secretsmanager.NewFromConfig(cfg)
	secret, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(top.Prefix + "-admin-token"), SecretString: aws.String("test-admin-token-0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sm.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{SecretId: secret.ARN, ForceDeleteWithoutRecovery: aws.Bool(true)})
	})

	bin := filepath.Join(t.TempDir(), "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}

	rt := &fakeRuntime{responses: map[string]chan []byte{}, errors: make(chan string, 10), pending: []events.APIGatewayV2HTTPRequest{
		event(t, "apigw-v2-health.json"),       // invocation-3
		event(t, "apigw-v2-submit.json"),       // invocation-2
		event(t, "apigw-v2-bad-request.json"),  // invocation-1
		event(t, "apigw-v2-unauthorized.json"), // invocation-0
	}}
	api := httptest.NewServer(rt)
	defer api.Close()

	cmd := exec.Command(bin)
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Env = append(emu.Env(),
		"PATH="+os.Getenv("PATH"),
		"AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(api.URL, "http://"),
		"AWS_LAMBDA_LOG_FORMAT=JSON",
		"FARM_PREFIX="+top.Prefix,
		"FARM_POOLS_CONFIG=default",
		"FARM_ADMIN_TOKEN_SECRET_ARN="+aws.ToString(secret.ARN),
	)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("function output:\n%s", logs.String())
		}
	}()

	for _, want := range []struct {
		id     string
		status int
		check  func(body string) bool
	}{
		{"invocation-3", 200, func(b string) bool { return strings.TrimSpace(b) == `{"status":"ok"}` }},
		{"invocation-2", 201, func(b string) bool {
			var j farm.Job
			return json.Unmarshal([]byte(b), &j) == nil && j.Status == farm.StatusQueued && j.RequestedBy == "admin"
		}},
		{"invocation-1", 400, func(b string) bool {
			var e apiv1.ErrorBody
			return json.Unmarshal([]byte(b), &e) == nil && e.Error.Field == "colour"
		}},
		{"invocation-0", 401, func(b string) bool { return strings.Contains(b, `"unauthorized"`) }},
	} {
		select {
		case raw := <-rt.channel(want.id):
			var resp events.APIGatewayV2HTTPResponse
			if err := json.Unmarshal(raw, &resp); err != nil {
				t.Fatalf("%s: %v in %s", want.id, err, raw)
			}
			if resp.StatusCode != want.status || !want.check(resp.Body) {
				t.Fatalf("%s: %d %s", want.id, resp.StatusCode, resp.Body)
			}
		case msg := <-rt.errors:
			t.Fatalf("the function reported an error: %s", msg)
		case <-time.After(60 * time.Second):
			t.Fatalf("no response to %s", want.id)
		}
	}
	// JSON log lines carry Lambda's requestId and the API's request_id
	// (the refused request's line: INFO); a request that went well writes
	// nothing at INFO (one line per job per function: the completion's).
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), `"request_id":"client-req-7"`) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), `"request_id":"client-req-7"`) || !strings.Contains(logs.String(), `"requestId":"invocation-1"`) {
		t.Fatalf("log lines lack the request ids:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), `"requestId":"invocation-2"`) {
		t.Fatalf("the accepted submission logged at INFO:\n%s", logs.String())
	}
}

// lockedBuffer collects the function's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
