package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/awscalls"
)

// TestCallsAreCountedThroughAProxy: the benchmark counts an agent's
// doorbell calls (here to a fake SQS) with a counting proxy in front of its
// AWS endpoint; the binary itself counts nothing.
func TestCallsAreCountedThroughAProxy(t *testing.T) {
	t.Parallel()
	var receives atomic.Int64
	fakeSQS := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".ReceiveMessage") {
			receives.Add(1)
		}
		time.Sleep(50 * time.Millisecond) // a short "long poll"
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Write([]byte(`{"Messages":[]}`))
	}))
	defer fakeSQS.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /v1/builders/{name}", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(apiv1.BuilderRegistration{Builder: &farm.Builder{Name: r.PathValue("name")},
			QueueURLs: map[string]string{"default": fakeSQS.URL + "/123456789012/pool-default"}, HeartbeatSeconds: 1, LeaseSeconds: 3})
	})
	mux.HandleFunc("POST /v1/builders/{name}/claim", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("POST /v1/builders/{name}/heartbeat", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(apiv1.HeartbeatResponse{HeartbeatSeconds: 1, LeaseSeconds: 3})
	})
	api := httptest.NewServer(mux)
	defer api.Close()

	counter := awscalls.New()
	proxy, err := awscalls.NewProxy(fakeSQS.URL, counter)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	cmd := exec.Command(binary, "--name", "counted", "--kind", "metal", "--work-dir", t.TempDir())
	cmd.Env = append(os.Environ(), "FARM_API="+api.URL, "FARM_TOKEN=builder-secret", "AWS_ENDPOINT_URL="+proxy.URL,
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_EC2_METADATA_DISABLED=true")
	var logs strings.Builder
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer cmd.Process.Kill()
	deadline := time.Now().Add(hangGuard)
	for receives.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the agent never long-polled its doorbell")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, logs.String())
		}
	case <-time.After(hangGuard):
		t.Fatal("the agent did not exit after SIGTERM")
	}
	// The proxy counts a request once it has passed through: the one the
	// drain cut short may be counted a moment after the agent exited.
	receive := func(k awscalls.Key) bool { return k.Service == "SQS" && k.Operation == "ReceiveMessage" }
	calls := counter.Snapshot()
	for wait := time.Now().Add(hangGuard); calls.Total(receive).Calls < receives.Load() && time.Now().Before(wait); calls = counter.Snapshot() {
		time.Sleep(10 * time.Millisecond)
	}
	got := calls.Total(receive)
	// Every receive the fake served was counted (the last may have been cut
	// short by the drain, and counted as an error, before reaching it).
	if got.Records != 0 || got.NonEmpty != 0 {
		t.Errorf("empty polls counted as deliveries: %+v", got)
	}
	if got.Calls < receives.Load() || got.Calls > receives.Load()+1 {
		t.Errorf("counted %d receives, the fake SQS saw %d: %+v", got.Calls, receives.Load(), calls)
	}
}
