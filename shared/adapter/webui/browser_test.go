package webui_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/adapter/client"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/emulatortest"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

// chromium finds the browser the tests drive. scripts/test installs
// Debian's chromium when it is missing; where it cannot be had the tests
// skip loudly, and fail with CI=true (in CI a browser test never passes by
// skipping).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "\n*** NO CHROMIUM: browser test " + t.Name() + " cannot run (apt-get install -y chromium; scripts/test does it when it can)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// page is a headless Chromium tab on the local farm's web page.
type page struct {
	t    *testing.T
	ctx  context.Context
	base string // http://127.0.0.1:port
	shot string // screenshot folder
}

func newPage(t *testing.T, ctx context.Context, base string) *page {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	)
	t.Cleanup(cancelAlloc)
	tab, cancelTab := chromedp.NewContext(alloc, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelTab)
	return &page{t: t, ctx: tab, base: base, shot: screenshotDir(t)}
}

// screenshotDir is FARM_UI_SCREENSHOTS, or screenshots/ui at the top of
// the repository (git-ignored).
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("FARM_UI_SCREENSHOTS")
	if dir == "" {
		root, err := filepath.Abs("../../..")
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, "screenshots", "ui")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Screenshots of an earlier run's failures would mislead.
	old, _ := filepath.Glob(filepath.Join(dir, "failed-*.png"))
	for _, f := range old {
		os.Remove(f)
	}
	return dir
}

func (p *page) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.t.Fatal(err)
	}
}

// eval evaluates JavaScript in the page (through DevTools, which the
// page's Content-Security-Policy does not govern).
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// until waits for a JavaScript condition, checking every 100 ms.
func (p *page) until(what, expr string, limit time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(limit)
	for !eval[bool](p, "!!("+expr+")") {
		if time.Now().After(deadline) {
			p.screenshot("failed-" + strings.NewReplacer(" ", "-", "/", "-").Replace(what))
			p.t.Fatalf("timed out after %s waiting for %s (%s); the page says: %s", limit, what, expr,
				eval[string](p, `document.querySelector("main").innerText.slice(0, 2000) + " | " + document.getElementById("problem").textContent`))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// show routes the page (a fragment change: no reload).
func (p *page) show(route string) {
	p.t.Helper()
	eval[any](p, fmt.Sprintf("location.hash = %q", route))
}

func (p *page) screenshot(name string) {
	p.t.Helper()
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(p.shot, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s", path)
}

func (p *page) status() string {
	return eval[string](p, `(document.querySelector("#job-status .badge") || {}).textContent || ""`)
}

// startFarm runs the whole farm in process against the emulator, with one
// real (in-process) builder agent of two slots for the default pool.
func startFarm(t *testing.T) (*wiring.Local, *client.Client) {
	t.Helper()
	top, cfg, _ := emulatortest.Topology(t, farm.DefaultPool)
	logger := slog.New(slog.DiscardHandler)
	lf, err := wiring.StartLocal(context.Background(), wiring.LocalConfig{
		Addr: "127.0.0.1:0",
		AWS:  &cfg,
		// Heartbeats each second: the log follows, and cancels arrive, within one.
		Farm:           wiring.Config{Topology: top, Policy: farm.Policy{Heartbeat: time.Second}},
		ReaperInterval: 200 * time.Millisecond,
		Builders:       1,
		BuilderSlots:   2,
		BuilderWorkDir: t.TempDir(),
		Logger:         logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lf.Stop)
	admin, err := client.New(lf.URL, lf.AdminToken)
	if err != nil {
		t.Fatal(err)
	}
	return lf, admin
}

// hostile is what a user may submit and a job may print: markup that
// would run if the page ever parsed it as HTML.
const hostile = `<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">`

// TestTheFarmInABrowser drives the web page in headless Chromium against a
// real local farm whose builder really runs the jobs: sign in through the
// URL fragment, disable and enable the builder as an admin, watch a job go
// queued -> running -> succeeded with its log followed live, download its
// artifact, cancel another job with the button, and sign in again through
// the form as a submitter, who sees no admin buttons and may only retry or
// cancel its own jobs. Markup in a payload and in a log is shown as text.
// Every page is saved as a screenshot.
func TestTheFarmInABrowser(t *testing.T) {
	chromium(t)
	started := time.Now()
	lf, admin := startFarm(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	subTok, err := admin.CreateToken(ctx, apiv1.TokenRequest{Role: string(farm.RoleSubmitter), Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	submitter, err := client.New(lf.URL, subTok.Token)
	if err != nil {
		t.Fatal(err)
	}
	script := func(c *client.Client, text string) *farm.Job {
		t.Helper()
		payload := fmt.Sprintf(`{"script":%q,"env":{"NOTE":%q}}`, text, hostile)
		j, _, err := c.SubmitJob(ctx, apiv1.SubmitJobRequest{Type: farm.TypeScript, Payload: []byte(payload)}, "")
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	if _, err := admin.PutResourcePool(ctx, "ppas", apiv1.ResourcePoolRequest{Description: ptr("PPAs for tests"), CleanScript: ptr("true")}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"ppa-1", "ppa-2"} {
		if _, err := admin.AddResource(ctx, "ppas", apiv1.AddResourceRequest{Name: r, Attributes: map[string]string{"series": "noble"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := submitter.AcquireResource(ctx, "ppas", apiv1.AcquireRequest{Holder: "ci-42"}); err != nil {
		t.Fatal(err)
	}

	p := newPage(t, ctx, lf.URL)

	// Signed in by a link: the token leaves the address bar at once and
	// stays in this tab's sessionStorage.
	p.do(chromedp.Navigate(lf.URL + "/ui/#token=" + lf.AdminToken))
	p.until("the admin signed in", `document.getElementById("who-role").textContent === "admin"`, 10*time.Second)
	if loc := eval[string](p, "location.href"); strings.Contains(loc, lf.AdminToken) || !strings.HasSuffix(loc, "/ui/#/queue") {
		t.Fatalf("the address still holds the token or is not the queue: %s", loc)
	}
	if got := eval[string](p, `sessionStorage.getItem("buildfarm.token")`); got != lf.AdminToken {
		t.Fatal("the token is not in sessionStorage")
	}
	p.until("the queue of the default pool", `!!document.querySelector('#queue tr[data-pool="default"]')`, 10*time.Second)

	// An admin disables the builder with the button: what is submitted now waits.
	p.show("#/builders")
	p.until("the builder's row", `!!document.querySelector('tr[data-builder="local-1"] button.disable')`, 10*time.Second)
	p.do(chromedp.SendKeys(`tr[data-builder="local-1"] .reason-input`, "maintenance <b>now</b>", chromedp.NodeVisible),
		chromedp.Click(`tr[data-builder="local-1"] button.disable`, chromedp.NodeVisible))
	p.until("the builder disabled", `(document.querySelector('tr[data-builder="local-1"]') || {dataset: {}}).dataset.state === "disabled"`, 10*time.Second)
	if b, err := admin.GetBuilder(ctx, "local-1"); err != nil || !b.Disabled || !strings.HasPrefix(b.DisabledReason, "maintenance <b>now</b>") {
		t.Fatalf("builder after the button: %+v %v", b, err)
	}

	// A job with markup in its payload and log, from the submitter.
	job := script(submitter, `echo '`+hostile+`'; for i in 1 2 3 4; do echo "step $i"; sleep 1; done; `+
		`mkdir -p "$FARM_ARTIFACTS_DIR/reports" && echo "all good" > "$FARM_ARTIFACTS_DIR/reports/summary.txt"`)
	p.show("#/jobs/" + job.ID)
	p.until("the job shown queued", `document.querySelector("#job-status .badge") && document.querySelector("#job-status .badge").textContent === "queued"`, 10*time.Second)
	p.until("its queue position", `!!document.querySelector('[data-field="queue_position"]')`, 10*time.Second)
	p.screenshot("job-queued")
	p.show("#/queue")
	p.until("one job queued in the default pool", `(document.querySelector('#queue tr[data-pool="default"] td:nth-child(2)') || {}).textContent === "1"`, 10*time.Second)
	p.screenshot("queue")

	// Enabled again with the button; the page follows the job without reloads.
	p.show("#/builders")
	p.until("the enable button", `!!document.querySelector('tr[data-builder="local-1"] button.enable')`, 10*time.Second)
	p.screenshot("builders-disabled")
	p.do(chromedp.Click(`tr[data-builder="local-1"] button.enable`, chromedp.NodeVisible))
	p.until("the builder enabled", `(document.querySelector('tr[data-builder="local-1"]') || {dataset: {}}).dataset.state !== "disabled"`, 10*time.Second)
	p.show("#/jobs/" + job.ID)
	eval[any](p, `window.__marker = "same page"`) // gone if the page reloads
	seen := []string{}
	sawLogWhileRunning := false
	deadline := time.Now().Add(45 * time.Second)
	for {
		st := p.status()
		if len(seen) == 0 || seen[len(seen)-1] != st {
			seen = append(seen, st)
		}
		if st == "running" {
			log := eval[string](p, `document.getElementById("log").textContent`)
			if strings.Contains(log, "step 1") && !strings.Contains(log, "step 4") {
				sawLogWhileRunning = true
			}
		}
		if st == "succeeded" || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := strings.Join(seen, " -> "); !strings.HasSuffix(got, "running -> succeeded") {
		p.screenshot("failed-job")
		t.Fatalf("the page showed %s, want ... running -> succeeded", got)
	}
	if !sawLogWhileRunning {
		t.Fatal("the log was never seen growing while the job ran")
	}
	p.until("the complete log", `document.getElementById("log-state").textContent === "complete" && document.getElementById("log").textContent.includes("step 4")`, 10*time.Second)
	if eval[string](p, "window.__marker") != "same page" {
		t.Fatal("the page reloaded while following the job")
	}

	// Markup from the payload and the log is text: no element, nothing ran.
	if log := eval[string](p, `document.getElementById("log").textContent`); !strings.Contains(log, hostile) {
		t.Fatalf("the log does not show the markup as text:\n%s", log)
	}
	if payload := eval[string](p, `document.getElementById("job-payload").textContent`); !strings.Contains(payload, `<script>window.__pwned = 1</script>`) {
		t.Fatalf("the payload does not show the markup as text:\n%s", payload)
	}
	if n := eval[int](p, `document.querySelectorAll("#log *, #job-payload *, main img, main script").length`); n != 0 {
		t.Fatalf("%d elements were made from a job's text", n)
	}
	if eval[bool](p, `window.__pwned !== undefined`) {
		t.Fatal("script from a job's text ran")
	}

	// The artifact, with its sha256, downloads through its presigned link.
	p.until("the artifact", `!!document.querySelector('tr[data-artifact="reports/summary.txt"] a.download')`, 10*time.Second)
	p.screenshot("job")
	if sha := eval[string](p, `document.querySelector('tr[data-artifact="reports/summary.txt"] span[title]').title`); len(sha) != 64 {
		t.Fatalf("artifact sha256 %q", sha)
	}
	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(p.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads,
	}); err != nil {
		t.Fatal(err)
	}
	p.do(chromedp.Click(`tr[data-artifact="reports/summary.txt"] a.download`, chromedp.NodeVisible))
	downloaded := filepath.Join(downloads, "summary.txt")
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if b, err := os.ReadFile(downloaded); err == nil && string(b) == "all good\n" {
			break
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(downloads)
			t.Fatalf("no download of summary.txt (the download folder has %v; the page is at %s)", entries, eval[string](p, "location.href"))
		}
	}
	if eval[string](p, "window.__marker") != "same page" {
		t.Fatal("the download left the page")
	}

	// The jobs list, filtered and paged.
	for i := range 3 {
		script(admin, fmt.Sprintf("echo filler %d", i))
	}
	p.show("#/jobs?requested_by=" + job.RequestedBy)
	p.until("the submitter's job in the list", `!!document.querySelector('#jobs tr[data-job="`+job.ID+`"]') && document.querySelectorAll("#jobs tbody tr").length === 1`, 10*time.Second)
	p.show("#/jobs")
	p.until("all jobs", `document.querySelectorAll("#jobs tbody tr").length === 4`, 10*time.Second)
	p.screenshot("jobs")
	// Paging, two at a time (four jobs): older, then newer again.
	firstRow := `(document.querySelector("#jobs tbody tr") || {dataset: {}}).dataset.job`
	p.show("#/jobs?limit=2")
	p.until("a page of two", `document.querySelectorAll("#jobs tbody tr").length === 2 && !document.getElementById("page-older").disabled && document.getElementById("page-newer").disabled`, 10*time.Second)
	page1 := eval[string](p, firstRow)
	p.do(chromedp.Click("#page-older", chromedp.NodeVisible))
	p.until("the last page", `document.querySelectorAll("#jobs tbody tr").length === 2 && `+firstRow+` !== "`+page1+`" && document.getElementById("page-older").disabled && !document.getElementById("page-newer").disabled`, 10*time.Second)
	p.do(chromedp.Click("#page-newer", chromedp.NodeVisible))
	p.until("the first page again", firstRow+` === "`+page1+`" && document.getElementById("page-newer").disabled`, 10*time.Second)
	eval[any](p, `document.getElementById("filter-status").value = "succeeded"; document.getElementById("job-filters").requestSubmit()`)
	p.until("the status filter in the address", `location.hash.includes("status=succeeded")`, 5*time.Second)

	// Cancel a running job with the button.
	sleeper := script(admin, "echo sleeping; sleep 60")
	p.show("#/jobs/" + sleeper.ID)
	p.until("the sleeper running", `document.querySelector("#job-status .badge") && document.querySelector("#job-status .badge").textContent === "running" && !!document.getElementById("cancel-job")`, 20*time.Second)
	p.do(chromedp.Click("#cancel-job", chromedp.NodeVisible))
	p.until("the sleeper cancelled", `document.querySelector("#job-status .badge").textContent === "cancelled"`, 20*time.Second)
	p.until("a retry button for the admin", `!!document.getElementById("retry-job") && !document.getElementById("cancel-job")`, 5*time.Second)

	p.show("#/queue")
	p.until("time to start figures", `/\d/.test((document.querySelector('#queue tr[data-pool="default"] td.tts') || {}).textContent || "")`, 10*time.Second)
	p.screenshot("queue-later")

	p.show("#/pools")
	p.until("the resource pool", `!!document.querySelector('#pools section[data-pool="ppas"] tr[data-state="used"]') && document.querySelectorAll('#pools section[data-pool="ppas"] tbody tr').length === 2`, 10*time.Second)
	p.screenshot("pools")

	// Signed out, then in through the form as the submitter.
	p.do(chromedp.Click("#sign-out", chromedp.NodeVisible))
	p.until("the sign-in form", `!document.getElementById("signin").hidden && sessionStorage.getItem("buildfarm.token") === null`, 5*time.Second)
	p.do(chromedp.SendKeys("#token-input", "not-a-token", chromedp.NodeVisible), chromedp.Click("#signin-button"))
	p.until("a refused token", `document.getElementById("signin-error").textContent !== ""`, 5*time.Second)
	p.screenshot("signin")
	eval[any](p, `document.getElementById("token-input").value = ""`)
	p.do(chromedp.SendKeys("#token-input", subTok.Token, chromedp.NodeVisible), chromedp.Click("#signin-button"))
	p.until("the submitter signed in", `document.getElementById("who-role").textContent === "submitter"`, 10*time.Second)

	// No admin buttons for a submitter.
	p.show("#/builders")
	p.until("the builders, for a submitter", `!!document.querySelector('tr[data-builder="local-1"]')`, 10*time.Second)
	if n := eval[int](p, `document.querySelectorAll("#builders button, #builders input").length`); n != 0 {
		t.Fatalf("a submitter sees %d admin controls on the builders page", n)
	}
	// Another's job: no cancel or retry. Its own failed job: retry.
	p.show("#/jobs/" + sleeper.ID)
	p.until("the admin's job, for a submitter", `(document.querySelector("#job-status .badge") || {}).textContent === "cancelled"`, 10*time.Second)
	if eval[bool](p, `!!document.getElementById("retry-job") || !!document.getElementById("cancel-job")`) {
		t.Fatal("a submitter may retry or cancel an admin's job on the page")
	}
	failing := script(submitter, "echo failing; exit 7")
	p.show("#/jobs/" + failing.ID)
	p.until("its own failed job, with a retry button", `(document.querySelector("#job-status .badge") || {}).textContent === "failed" && !!document.getElementById("retry-job")`, 30*time.Second)
	if code := eval[string](p, `document.querySelector('[data-field="exit_code"]').textContent`); code != "7" {
		t.Fatalf("exit code shown %q", code)
	}
	p.do(chromedp.Click("#retry-job", chromedp.NodeVisible))
	p.until("the retried job run again", `(document.querySelector('[data-field="attempts"]') || {}).textContent.includes("(run 2)")`, 20*time.Second)
	t.Logf("browser test took %s (farm start included)", time.Since(started).Round(time.Millisecond))
}

func ptr[T any](v T) *T { return &v }
