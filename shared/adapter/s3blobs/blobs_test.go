package s3blobs_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/awsconf"
	"github.com/buildfarm/buildfarm/shared/adapter/s3blobs"
	"github.com/buildfarm/buildfarm/shared/app/blobs"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/emulatortest"
)

func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

func newStore(t *testing.T) *s3blobs.Store {
	t.Helper()
	top, cfg, _ := emulatortest.Topology(t, "default")
	return s3blobs.New(awsconf.NewS3(cfg), top.Bucket.Name)
}

// upload sends body to a presigned URL the way a builder does: plain
// net/http, no AWS credentials, the signed headers as given.
func upload(t *testing.T, p *blobs.Presigned, body []byte) {
	t.Helper()
	req, err := http.NewRequest(p.Method, p.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	if len(body) == 0 {
		req.Body = http.NoBody
	}
	for k, v := range p.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("presigned PUT: %d %s", resp.StatusCode, msg)
	}
}

func TestPresignedPutThenHeadListAndGet(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	job := farm.NewID(time.Now())

	p, err := s.PresignPut(ctx, blobs.ArtifactKey(job, 1, "out/pkg.deb"), 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if p.Method != http.MethodPut || !strings.Contains(p.URL, "X-Amz-Signature=") {
		t.Fatalf("presigned = %+v", p)
	}
	if d := time.Until(p.ExpiresAt); d < 14*time.Minute || d > 16*time.Minute {
		t.Fatalf("expires at %s, want about 15 minutes from now", p.ExpiresAt)
	}
	upload(t, p, []byte("package bytes"))
	empty, err := s.PresignPut(ctx, blobs.ArtifactKey(job, 1, "empty"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	upload(t, empty, nil)

	obj, err := s.Head(ctx, blobs.ArtifactKey(job, 1, "out/pkg.deb"))
	if err != nil {
		t.Fatal(err)
	}
	if obj.Size != int64(len("package bytes")) || obj.LastModified.IsZero() {
		t.Fatalf("head = %+v", obj)
	}
	list, err := s.List(ctx, blobs.ArtifactPrefix(job))
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Key != blobs.ArtifactKey(job, 1, "empty") || list[0].Size != 0 || list[1].Key != blobs.ArtifactKey(job, 1, "out/pkg.deb") || list[1].Size != 13 {
		t.Fatalf("list = %+v", list)
	}

	// A presigned GET reads it back without credentials.
	g, err := s.PresignGet(ctx, blobs.ArtifactKey(job, 1, "out/pkg.deb"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(g.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(got) != "package bytes" {
		t.Fatalf("presigned GET: %d %q", resp.StatusCode, got)
	}
}

// On the farm's versioned bucket a download names a version (the one
// recorded at completion, or the one the ingest saw for a source): a later
// upload to the same key does not change what it serves, and the browser is
// told the file's name.
func TestPresignDownloadPinsTheVersion(t *testing.T) {
	t.Parallel()
	top, cfg, _ := emulatortest.Topology(t, "default")
	// Provisioning versions the bucket, as the CDK stack does.
	s := s3blobs.New(awsconf.NewS3(cfg), top.Bucket.Name)
	ctx := context.Background()
	key := blobs.ArtifactKey(farm.NewID(time.Now()), 1, "dist/app.tar")
	if err := s.Put(ctx, key, "application/x-tar", []byte("first")); err != nil {
		t.Fatal(err)
	}
	first, err := s.Head(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if first.VersionID == "" || first.VersionID == "null" {
		t.Fatalf("no version id on a versioned bucket: %+v", first)
	}
	if err := s.Put(ctx, key, "application/x-tar", []byte("second")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ version, want string }{{first.VersionID, "first"}, {"", "second"}} {
		p, err := s.PresignDownload(ctx, blobs.Download{Key: key, VersionID: tc.version, Filename: "app.tar"}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		// S3 answers with the Content-Disposition the signed URL asks for
		// (moto ignores it, so the URL is what is checked here).
		u, err := url.Parse(p.URL)
		if err != nil {
			t.Fatal(err)
		}
		if cd := u.Query().Get("response-content-disposition"); cd != "attachment; filename=app.tar" {
			t.Errorf("response-content-disposition %q", cd)
		}
		resp, err := http.Get(p.URL)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(got) != tc.want {
			t.Fatalf("version %q: %d %q, want %q", tc.version, resp.StatusCode, got, tc.want)
		}
	}
}

func TestPutGetLogAndMissingObjects(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	job := farm.NewID(time.Now())
	key := blobs.LogKey(job, 1)
	if key != "logs/"+job+"/1.log" {
		t.Fatalf("log key %q", key)
	}

	if _, err := s.Head(ctx, key); !farm.IsCode(err, farm.ENotFound) {
		t.Fatalf("head of a missing log: %v, want not_found", err)
	}
	if _, _, err := s.Get(ctx, key); !farm.IsCode(err, farm.ENotFound) {
		t.Fatalf("get of a missing log: %v, want not_found", err)
	}
	if list, err := s.List(ctx, blobs.ArtifactPrefix(job)); err != nil || len(list) != 0 {
		t.Fatalf("list of nothing = %v, %v", list, err)
	}

	if err := s.Put(ctx, key, "text/plain; charset=utf-8", []byte("line 1\nline 2\n")); err != nil {
		t.Fatal(err)
	}
	body, obj, err := s.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	got, _ := io.ReadAll(body)
	if string(got) != "line 1\nline 2\n" || obj.Size != 14 {
		t.Fatalf("get = %q %+v", got, obj)
	}
}

func TestParseURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in          string
		bucket, key string
		ok          bool
	}{
		{"s3://b/incoming/script/x.sh", "b", "incoming/script/x.sh", true},
		{"s3://b/k", "b", "k", true},
		{"s3://b/", "", "", false},
		{"s3://b", "", "", false},
		{"s3:///k", "", "", false},
		{"https://b/k", "", "", false},
		{"", "", "", false},
	} {
		b, k, ok := blobs.ParseURL(tc.in)
		if b != tc.bucket || k != tc.key || ok != tc.ok {
			t.Errorf("ParseURL(%q) = %q, %q, %v; want %q, %q, %v", tc.in, b, k, ok, tc.bucket, tc.key, tc.ok)
		}
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	if got := blobs.ArtifactKey("01J", 2, "a/b.txt"); got != "artifacts/01J/2/a/b.txt" {
		t.Errorf("ArtifactKey = %q", got)
	}
	if got := blobs.ArtifactPrefix("01J"); got != "artifacts/01J/" {
		t.Errorf("ArtifactPrefix = %q", got)
	}
}
