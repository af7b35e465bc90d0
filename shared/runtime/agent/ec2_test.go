package agent_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/buildfarm/buildfarm/shared/runtime/agent"
)

// fakeIMDS answers like the EC2 instance metadata service, IMDSv2 only.
func fakeIMDS(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /latest/api/token", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds") == "" {
			http.Error(w, "missing ttl", 400)
			return
		}
		w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"))
		w.Write([]byte("session-token"))
	})
	mux.HandleFunc("GET /latest/dynamic/instance-identity/document", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Aws-Ec2-Metadata-Token") != "session-token" {
			http.Error(w, "IMDSv1 refused", http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{
			"instanceId": "i-0123456789abcdef0", "instanceType": "c7g.large", "region": "eu-west-1",
			"availabilityZone": "eu-west-1a", "imageId": "ami-123", "architecture": "arm64",
		})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestLookupEC2Identity(t *testing.T) {
	t.Parallel()
	srv := fakeIMDS(t)
	id, err := agent.LookupEC2Identity(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	want := agent.EC2Identity{InstanceID: "i-0123456789abcdef0", InstanceType: "c7g.large", Region: "eu-west-1", AvailabilityZone: "eu-west-1a", ImageID: "ami-123", Architecture: "arm64"}
	if id != want {
		t.Fatalf("identity %+v", id)
	}
	if m := id.Metadata(); m["instance_id"] != "i-0123456789abcdef0" || m["instance_type"] != "c7g.large" || len(m) != 5 {
		t.Fatalf("metadata %v", m)
	}
}

func TestLookupEC2IdentityOffEC2Fails(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nobody answers, as off EC2
	if _, err := agent.LookupEC2Identity(context.Background(), url); err == nil {
		t.Fatal("a silent metadata service gave an identity")
	}
}
