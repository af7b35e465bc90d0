package main

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"

	"github.com/buildfarm/buildfarm/shared/adapter/client"
)

// rawJSON is the transport of farmctl's API client. It keeps the body of the
// last successful JSON answer, so that --output json prints exactly what the
// farm said: re-encoding the client's structs would drop fields this farmctl
// does not know yet and change the farm's formatting.
type rawJSON struct {
	next http.RoundTripper

	mu   sync.Mutex
	last []byte
}

func (t *rawJSON) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode < 200 || resp.StatusCode > 299 || !isJSON(resp.Header.Get("Content-Type")) {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, client.MaxResponseBytes))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read %s %s answer: %w", req.Method, req.URL.Path, err)
	}
	t.mu.Lock()
	t.last = body
	t.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// take returns the last JSON answer and forgets it.
func (t *rawJSON) take() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.last
	t.last = nil
	return b
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}
