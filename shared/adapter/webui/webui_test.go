package webui_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The page builds everything it shows from text: no HTML parsing sink is
// ever used, so nothing a user submitted can become markup or script.
// (The browser tests check the same with a payload and a log holding
// <script>; this keeps the sinks out of the code.)
func TestScriptsUseNoHTMLSinks(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("assets/*.js")
	if err != nil || len(files) < 3 {
		t.Fatalf("scripts %v, %v", files, err)
	}
	sinks := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setTimeout\(\s*["'\x60]|createContextualFragment|DOMParser`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if sinks.MatchString(line) {
				t.Errorf("%s:%d uses an HTML sink: %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
}

// The token goes to sessionStorage and the Authorization header only:
// never to localStorage, a cookie, a query string or the console.
func TestTheTokenStaysInTheSession(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("assets/app.js")
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	for _, bad := range []string{"localStorage", "document.cookie", "console.", "searchParams.set(\"token", "?token="} {
		if strings.Contains(src, bad) {
			t.Errorf("app.js uses %s", bad)
		}
	}
	if !strings.Contains(src, "sessionStorage.setItem") || !strings.Contains(src, `"Bearer "`) || !strings.Contains(src, "history.replaceState") {
		t.Error("app.js does not keep the token as the design says")
	}
}
