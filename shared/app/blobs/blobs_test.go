package blobs_test

import (
	"testing"

	"github.com/buildfarm/buildfarm/shared/app/blobs"
)

// The bucket's layout is the design's: each run's artifacts under their own
// prefix, one log per job.
func TestKeyLayout(t *testing.T) {
	t.Parallel()
	for got, want := range map[string]string{
		blobs.ArtifactKey("J1", 2, "out/a.deb"): "artifacts/J1/2/out/a.deb",
		blobs.RunArtifactPrefix("J1", 2):        "artifacts/J1/2/",
		blobs.ArtifactPrefix("J1"):              "artifacts/J1/",
		blobs.LogKey("J1", 2):                   "logs/J1/2.log",
	} {
		if got != want {
			t.Errorf("%q, want %q", got, want)
		}
	}
}

func TestParseURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url, bucket, key string
		ok               bool
	}{
		{"s3://farm/incoming/script/a.sh", "farm", "incoming/script/a.sh", true},
		{"s3://farm/", "", "", false},
		{"s3://farm", "", "", false},
		{"s3:///key", "", "", false},
		{"https://farm/key", "", "", false},
		{"", "", "", false},
	} {
		b, k, ok := blobs.ParseURL(tc.url)
		if b != tc.bucket || k != tc.key || ok != tc.ok {
			t.Errorf("ParseURL(%q) = %q %q %v", tc.url, b, k, ok)
		}
	}
}
