package main

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// storage is a fake object store serving one artifact at /obj, and
// recording whether a farm token ever reached it.
func storage(t *testing.T, content string) (*httptest.Server, *string) {
	t.Helper()
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth += r.Header.Get("Authorization")
		if r.URL.Path != "/obj" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(content))
	}))
	t.Cleanup(srv.Close)
	return srv, &auth
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func download(url, name, content string, attempt int, sha string) string {
	return `{"name":"` + name + `","size":` + itoa(len(content)) + `,"sha256":"` + sha + `","attempt":` + itoa(attempt) +
		`,"url":"` + url + `/obj","expires_at":"2026-05-04T12:05:00Z"}`
}

func TestArtifacts(t *testing.T) {
	t.Parallel()
	content := strings.Repeat("artifact bytes\n", 1000)
	store, storageAuth := storage(t, content)
	dir := t.TempDir()
	out := filepath.Join(dir, "app.tar")
	list := `{"artifacts":[{"name":"dist/app.tar","size":15000,"sha256":"` + sum(content) + `","attempt":1},` +
		`{"name":"dist/app.tar","size":15000,"sha256":"` + sum(content) + `","attempt":2}]}` + "\n"
	get := wantRequest{Method: "GET", Path: "/v1/jobs/01JOB/artifacts/dist/app.tar", Query: "redirect=false"}
	// (A group: its parallel cases end before the files are checked.)
	t.Run("cases", func(t *testing.T) {
		runCases(t, []cliCase{
			{
				name:     "list",
				args:     []string{"artifacts", "list", "01JOB"},
				routes:   map[string][]reply{"GET /v1/jobs/01JOB/artifacts": {ok(list)}},
				wantReqs: []wantRequest{{Method: "GET", Path: "/v1/jobs/01JOB/artifacts"}},
				wantOut: "NAME          ATTEMPT  SIZE   SHA256\n" +
					"dist/app.tar  1        15000  " + sum(content) + "\n" +
					"dist/app.tar  2        15000  " + sum(content) + "\n",
			},
			{
				name:     "list -o json is the farm's answer",
				args:     []string{"artifacts", "list", "01JOB", "--output", "json"},
				routes:   map[string][]reply{"GET /v1/jobs/01JOB/artifacts": {ok(list)}},
				wantReqs: []wantRequest{{Method: "GET", Path: "/v1/jobs/01JOB/artifacts"}},
				wantOut:  list,
			},
			{
				name:     "get -o FILE: checked, then in place, with a progress bar on a terminal",
				args:     []string{"artifacts", "get", "01JOB", "dist/app.tar", "-o", out},
				env:      map[string]string{testTerminal: "1"},
				routes:   map[string][]reply{"GET /v1/jobs/01JOB/artifacts/dist/app.tar": {ok(download(store.URL, "dist/app.tar", content, 2, sum(content)))}},
				wantReqs: []wantRequest{get},
				wantErr:  []string{"\r\x1b[2Kapp.tar  [##############################] 100%  14.6 KiB of 14.6 KiB\n", out + ": 15000 bytes, sha256 " + sum(content) + " (attempt 2)\n"},
			},
			{
				name:     "get -o -: to stdout, no progress bar off a terminal",
				args:     []string{"artifacts", "get", "01JOB", "dist/app.tar", "-o", "-", "--attempt", "1"},
				routes:   map[string][]reply{"GET /v1/jobs/01JOB/artifacts/dist/app.tar": {ok(download(store.URL, "dist/app.tar", content, 1, sum(content)))}},
				wantReqs: []wantRequest{{Method: "GET", Path: "/v1/jobs/01JOB/artifacts/dist/app.tar", Query: "attempt=1&redirect=false"}},
				wantOut:  content,
			},
			{
				name:     "a download that is not what the job uploaded is refused and not kept",
				args:     []string{"artifacts", "get", "01JOB", "dist/app.tar", "-o", filepath.Join(dir, "bad.tar")},
				routes:   map[string][]reply{"GET /v1/jobs/01JOB/artifacts/dist/app.tar": {ok(download(store.URL, "dist/app.tar", content, 1, sum("other")))}},
				wantReqs: []wantRequest{get},
				wantCode: exitError,
				wantErr:  []string{"error: download dist/app.tar: sha256 " + sum(content) + ", the farm recorded " + sum("other") + ": the file is not what the job uploaded\n"},
			},
			{
				name:     "no such artifact",
				args:     []string{"artifacts", "get", "01JOB", "nope"},
				routes:   map[string][]reply{"GET /v1/jobs/01JOB/artifacts/nope": {apiError(404, "not_found", "job 01JOB has no artifact nope")}},
				wantReqs: []wantRequest{{Method: "GET", Path: "/v1/jobs/01JOB/artifacts/nope", Query: "redirect=false"}},
				wantCode: exitError,
				wantErr:  []string{"error: not_found: job 01JOB has no artifact nope (request req-42)\n"},
			},
			{name: "get needs a name", args: []string{"artifacts", "get", "01JOB"}, wantCode: exitUsage, wantErr: []string{"missing arguments"}},
		})
	})
	got, err := os.ReadFile(out)
	if err != nil || string(got) != content {
		t.Fatalf("downloaded file: %d bytes, %v", len(got), err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.tar")); !os.IsNotExist(err) {
		t.Fatalf("a refused download was kept: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*.part-*"))
	if len(left) != 0 {
		t.Fatalf("partial files left: %v", left)
	}
	if *storageAuth != "" {
		t.Fatalf("the farm token reached the object store: %q", *storageAuth)
	}
}
