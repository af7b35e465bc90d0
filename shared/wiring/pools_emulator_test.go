package wiring_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// TestResourcePoolOnTheEmulator runs resource pools through the API wired
// to DynamoDB on the emulator: acquires racing for fewer resources than
// callers, release with the holder's token, and every answer validated
// against the OpenAPI document.
func TestResourcePoolOnTheEmulator(t *testing.T) {
	t.Parallel()
	c, _, _, _ := serveOnEmulator(t)

	var sub, other apiv1.TokenResponse
	c.call(adminToken, "POST", "/v1/tokens", map[string]string{"role": "submitter"}, 201, &sub)
	c.call(adminToken, "POST", "/v1/tokens", map[string]string{"role": "submitter"}, 201, &other)
	c.call(adminToken, "PUT", "/v1/resource-pools/ppas", map[string]any{"description": "PPAs", "clean_script": "echo clean"}, 201, nil)
	c.call(adminToken, "PUT", "/v1/resource-pools/ppas", map[string]any{"lease_seconds": 600}, 200, nil)
	const n = 3
	for i := range n {
		c.call(adminToken, "POST", "/v1/resource-pools/ppas/resources", map[string]any{"name": fmt.Sprintf("ppa-%d", i), "attributes": map[string]string{"url": fmt.Sprintf("ppa:test/%d", i)}}, 201, nil)
	}
	c.call(adminToken, "POST", "/v1/resource-pools/ppas/resources", map[string]any{"name": "ppa-0"}, 409, nil)

	// Acquires race on the real conditional writes: n win, the rest are none_free.
	const callers = 10
	var mu sync.Mutex
	won := map[string]apiv1.AcquireResponse{}
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := map[string]any{"holder": fmt.Sprintf("h%d", i)}
			status := sendStatus(t, c.base, sub.Token, "POST", "/v1/resource-pools/ppas/acquire", body)
			if status.code == 200 {
				var acq apiv1.AcquireResponse
				mustJSON(t, status.body, &acq)
				mu.Lock()
				if _, dup := won[acq.Resource.Name]; dup {
					t.Errorf("%s handed out twice", acq.Resource.Name)
				}
				won[acq.Resource.Name] = acq
				mu.Unlock()
			} else if status.code != 409 {
				t.Errorf("acquire: %d %s", status.code, status.body)
			}
		}()
	}
	wg.Wait()
	if len(won) != n {
		t.Fatalf("%d resources handed out, want %d", len(won), n)
	}
	c.call(sub.Token, "POST", "/v1/resource-pools/ppas/acquire", map[string]any{"holder": "late"}, 409, nil)

	var view apiv1.ResourcePoolView
	c.call(other.Token, "GET", "/v1/resource-pools/ppas", nil, 200, &view)
	if len(view.Resources) != n || view.LeaseSeconds != 600 || view.Description != "PPAs" {
		t.Fatalf("view %+v", view)
	}
	acq := won["ppa-1"]
	release := "/v1/resource-pools/ppas/resources/ppa-1/release"
	c.call(other.Token, "POST", release, map[string]string{"lease_token": acq.LeaseToken}, 403, nil)
	c.call(sub.Token, "POST", release, map[string]string{"lease_token": "wrong"}, 409, nil)
	var rel farm.Resource
	c.call(sub.Token, "POST", release, map[string]string{"lease_token": acq.LeaseToken}, 200, &rel)
	if rel.State != farm.ResourceDirty || rel.CleanJobID == "" {
		t.Fatalf("released %+v", rel)
	}
	c.call(sub.Token, "POST", release, map[string]string{"lease_token": acq.LeaseToken}, 409, nil)
	var clean farm.Job
	c.call(sub.Token, "GET", "/v1/jobs/"+rel.CleanJobID, nil, 200, &clean)
	if clean.Type != farm.TypeCleanResource || clean.Status != farm.StatusQueued {
		t.Fatalf("clean job %+v", clean)
	}
	c.call(sub.Token, "GET", "/v1/resource-pools/nope", nil, 404, nil)
}

type answer struct {
	code int
	body []byte
}

// sendStatus sends a JSON request from any goroutine (no Fatal) and returns the answer.
func sendStatus(t *testing.T, base, token, method, path string, body any) answer {
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, base+path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return answer{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, b}
}

func mustJSON(t *testing.T, b []byte, out any) {
	if err := json.Unmarshal(b, out); err != nil {
		t.Errorf("%v in %s", err, b)
	}
}
