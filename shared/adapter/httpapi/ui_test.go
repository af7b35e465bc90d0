package httpapi_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/buildfarm/buildfarm/shared/adapter/httpapi"
	"github.com/buildfarm/buildfarm/shared/adapter/webui"
)

// The page is served by the API handler, to anyone, with a strict
// Content-Security-Policy on every file; the files it names all exist.
func TestUIIsServedWithItsPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.must(http.StatusMovedPermanently, none, "GET", "/ui", nil, nil)
	if w.Header().Get("Location") != "/ui/" {
		t.Fatalf("/ui redirects to %q", w.Header().Get("Location"))
	}
	page := e.must(http.StatusOK, none, "GET", "/ui/", nil, nil)
	if ct := page.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}
	csp := page.Header().Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-") {
		t.Errorf("CSP %q allows unsafe sources", csp)
	}
	if page.Header().Get("X-Frame-Options") != "DENY" || page.Header().Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("headers %v", page.Header())
	}
	// No inline script or style: the policy would block them anyway.
	html := page.Body.String()
	if regexp.MustCompile(`<script>|<script [^>]*>[^<]|<style|\sstyle=|\son[a-z]+=`).MatchString(html) {
		t.Errorf("the page has inline script, style or handlers:\n%s", html)
	}
	refs := regexp.MustCompile(`(?:src|href)="([a-z]+\.[a-z]+)"`).FindAllStringSubmatch(html, -1)
	if len(refs) < 4 {
		t.Fatalf("the page names %d files", len(refs))
	}
	types := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
	for _, ref := range refs {
		w := e.must(http.StatusOK, none, "GET", "/ui/"+ref[1], nil, nil)
		ext := ref[1][strings.LastIndex(ref[1], "."):]
		if w.Header().Get("Content-Type") != types[ext] || w.Header().Get("Content-Security-Policy") != webui.ContentSecurityPolicy || w.Body.Len() == 0 {
			t.Errorf("%s: %s, %d bytes", ref[1], w.Header().Get("Content-Type"), w.Body.Len())
		}
	}
	// A revalidation of an unchanged file is a 304.
	req := request("GET", "/ui/app.js", "", nil)
	req.Header.Set("If-None-Match", e.must(http.StatusOK, none, "GET", "/ui/app.js", nil, nil).Header().Get("ETag"))
	if w := e.serve(req); w.Code != http.StatusNotModified {
		t.Errorf("revalidation: %d", w.Code)
	}
	expectError(t, e.do(none, "GET", "/ui/nope.js", nil), http.StatusNotFound, "not_found", "")
	expectError(t, e.do(none, "GET", "/ui/a/b.js", nil), http.StatusNotFound, "not_found", "")
	expectError(t, e.do(none, "POST", "/ui/", nil), http.StatusMethodNotAllowed, "invalid", "")
}

// Behind API Gateway the page comes through the same adapter as the API,
// as text, with its policy.
func TestUIThroughTheLambdaAdapter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	resp, err := httpapi.LambdaHandler(e.srv)(context.Background(), loadEvent(t, "apigw-v2-ui.json"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.IsBase64Encoded || !strings.Contains(resp.Body, `<script src="app.js" defer></script>`) {
		t.Fatalf("%d base64=%v %.200s", resp.StatusCode, resp.IsBase64Encoded, resp.Body)
	}
	if resp.Headers["Content-Type"] != "text/html; charset=utf-8" || resp.Headers["Content-Security-Policy"] != webui.ContentSecurityPolicy {
		t.Fatalf("headers %v", resp.Headers)
	}
}
