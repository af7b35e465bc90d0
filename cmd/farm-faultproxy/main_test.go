package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// The proxy runs from flags with a spec, answers through its control
// endpoints, injects what the spec says, and prints its counts at the end.
func TestRunsAProxyWithItsControlEndpoints(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "{}") }))
	defer upstream.Close()
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuf
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"-upstream", upstream.URL, "-addr", addr, "-spec", `{"rules":[{"service":"sqs","fault":"throttle","rate":1}]}`}, &stdout, &stderr)
	}()
	base := "http://" + addr
	var resp *http.Response
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err = http.Get(base + "/__faultproxy/spec"); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("the proxy never answered: %v\n%s", err, stderr.String())
	}
	resp.Body.Close()
	req, _ := http.NewRequest("POST", base+"/", strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "AmazonSQS.SendMessage")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("X-Amzn-Query-Error") != "RequestThrottled;Sender" {
		t.Fatalf("SendMessage through a throttle rule: %d %v", resp.StatusCode, resp.Header)
	}
	resp, err = http.Post(base+"/__faultproxy/outage", "application/json", strings.NewReader(`{"duration":"1s","mode":"sideways"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("a bad outage was answered %d", resp.StatusCode)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "SendMessage") {
		t.Fatalf("no counts printed:\n%s", stdout.String())
	}
	if code := run(context.Background(), []string{"-addr", "0.0.0.0:4567"}, io.Discard, io.Discard); code != 2 {
		t.Fatalf("a non-loopback address: exit %d, want 2", code)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
