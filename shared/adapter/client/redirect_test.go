package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/buildfarm/buildfarm/shared/adapter/client"
)

// A log served by a redirect to object storage on another port of the same
// host must not receive the farm token.
func TestTokenStaysWithTheFarmOnRedirects(t *testing.T) {
	t.Parallel()
	var gotAuth string
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("the whole log\n"))
	}))
	defer storage.Close()
	farm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer secret" {
			t.Errorf("farm got %q", r.Header.Get("Authorization"))
		}
		http.Redirect(w, r, storage.URL+"/logs/x.log?X-Amz-Signature=abc", http.StatusTemporaryRedirect)
	}))
	defer farm.Close()
	c, err := client.New(farm.URL, "secret")
	if err != nil {
		t.Fatal(err)
	}
	log, err := c.JobLog(context.Background(), "01KAWZ6F0000000000000000Q1")
	if err != nil {
		t.Fatal(err)
	}
	if log != "the whole log\n" || gotAuth != "" {
		t.Fatalf("log %q, storage saw Authorization %q", log, gotAuth)
	}
}
