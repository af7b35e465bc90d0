package crashpoint_test

import (
	"os"
	"strings"
	"testing"
)

// docs/reliability.md lists every use case the crash points are tested in.
func TestEveryUseCaseIsDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../../docs/reliability.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range scenarios() {
		if !strings.Contains(string(doc), "(`"+sc.name+"`)") {
			t.Errorf("docs/reliability.md (Crash points) does not list use case %s", sc.name)
		}
	}
}
