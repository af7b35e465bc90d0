package stack

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildfarm/buildfarm/shared/runtime/executor"
)

// The user data's nftables rules do what they say, loaded for real in a
// throwaway network namespace where 169.254.169.254 and .253 are served on
// its loopback: root reaches the metadata address, the job user does not,
// and the job user still reaches the DNS address.
func TestMetadataRulesBlockTheJobUserOnly(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("\n*** not root: the nftables rules cannot be loaded in a network namespace here")
	}
	for _, tool := range []string{"nft", "unshare", "setpriv", "curl", "ip", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("\n*** %s is not installed: the user data's nftables rules are checked by the template tests only (apt-get install nftables to run this)", tool)
		}
	}
	if _, err := executor.EnsureJobUser(JobUser); err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(t.TempDir(), "farm-builder.nft")
	if err := os.WriteFile(rules, []byte(metadataRules), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `
set -u
ip link set lo up
ip addr add 169.254.169.254/32 dev lo
ip addr add 169.254.169.253/32 dev lo
nft -f "$RULES" || exit 3
python3 -m http.server --bind 169.254.169.254 8099 >/dev/null 2>&1 & a=$!
python3 -m http.server --bind 169.254.169.253 8099 >/dev/null 2>&1 & b=$!
get() { curl --noproxy '*' -s -o /dev/null -w '%{http_code}' --max-time 5 --retry 20 --retry-connrefused --retry-delay 0 "$@"; }
as_job() { setpriv --reuid "$JOB" --regid "$JOB" --clear-groups "$@"; }
get http://169.254.169.254:8099/ >/dev/null   # the server is up
echo "root-imds=$(get http://169.254.169.254:8099/)"
echo "job-dns=$(as_job curl --noproxy '*' -s -o /dev/null -w '%{http_code}' --max-time 5 http://169.254.169.253:8099/)"
echo "job-imds=$(as_job curl --noproxy '*' -s -o /dev/null -w '%{http_code}' --max-time 5 http://169.254.169.254:8099/)"
kill $a $b
`
	cmd := exec.Command("unshare", "-n", "sh", "-c", script)
	cmd.Env = append(os.Environ(), "RULES="+rules, "JOB="+JobUser)
	out, err := cmd.CombinedOutput()
	got := string(out)
	t.Logf("in a network namespace:\n%s", got)
	if err != nil && !strings.Contains(got, "job-imds=") {
		t.Fatalf("%v:\n%s", err, got)
	}
	for _, want := range []string{"root-imds=200\n", "job-dns=200\n", "job-imds=000\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("want %q", want)
		}
	}
}
