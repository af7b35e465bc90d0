package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/buildfarm/buildfarm/shared/adapter/provision"
	"github.com/buildfarm/buildfarm/shared/adapter/topology"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// functions are the farm's Lambdas (functions/<name>).
var functions = []string{"api", "ingest", "dispatch", "reaper"}

const coldStartDefinition = "bootstrap_bytes: the deployed artifact, CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build " +
	"-tags lambda.norpc -ldflags \"-s -w\". ready_ms: a host-architecture build with the same flags, started under a " +
	"fake Lambda Runtime API with the environment a deployed function gets (pointed at the emulator), from just " +
	"before the process starts to its first GET /runtime/invocation/next: process start, configuration, SDK " +
	"clients and the start-up calls (queue URL look-ups; the api also reads its admin token secret). A real cold " +
	"start adds the sandbox and code download, which this does not measure"

// ColdStart is one function's figures.
type ColdStart struct {
	Function       string  `json:"function"`
	BootstrapBytes int64   `json:"bootstrap_bytes"`
	HostBytes      int64   `json:"host_binary_bytes"`
	Ready          Summary `json:"ready_ms"`
}

// ColdStartResult is every function's.
type ColdStartResult struct {
	Definition string      `json:"definition"`
	GOARCH     string      `json:"host_goarch"`
	Functions  []ColdStart `json:"functions"`
}

func (r *rig) coldStart(ctx context.Context, p plan) (*ColdStartResult, error) {
	res := &ColdStartResult{Definition: coldStartDefinition, GOARCH: runtime.GOARCH}
	// A topology and an admin token secret for the functions to start against.
	top, err := topology.New("bench-cold-"+farm.NewSecret(2), []string{farm.DefaultPool})
	if err != nil {
		return nil, err
	}
	if _, err := provision.Apply(ctx, r.aws, top); err != nil {
		return nil, err
	}
	defer provision.Destroy(context.Background(), r.aws, top)
	sm := secretsmanager.NewFromConfig(r.aws)
	secret, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(top.Prefix + "-admin-token"), SecretString: aws.String("bf_admin_" + farm.NewSecret(20))})
	if err != nil {
		return nil, err
	}
	defer sm.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{SecretId: secret.ARN, ForceDeleteWithoutRecovery: aws.Bool(true)})
	env := append(r.emu.Env(),
		"PATH="+os.Getenv("PATH"),
		"FARM_PREFIX="+top.Prefix,
		"FARM_POOLS_CONFIG="+farm.DefaultPool,
		"FARM_BUCKET="+top.Bucket.Name,
		"FARM_ADMIN_TOKEN_SECRET_ARN="+aws.ToString(secret.ARN),
		"AWS_LAMBDA_LOG_FORMAT=JSON",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"_HANDLER=bootstrap",
	)
	for _, fn := range functions {
		arm, host := filepath.Join(r.bin.armDir, fn), filepath.Join(r.bin.hostDir, fn)
		cs := ColdStart{Function: fn, BootstrapBytes: fileSize(arm), HostBytes: fileSize(host)}
		var ready []time.Duration
		for range p.coldStarts {
			d, err := timeToReady(ctx, host, append(slices.Clone(env), "AWS_LAMBDA_FUNCTION_NAME=bench-"+fn))
			if err != nil {
				return nil, fmt.Errorf("cold start of %s: %w", fn, err)
			}
			ready = append(ready, d)
		}
		cs.Ready = Summarize(ready)
		res.Functions = append(res.Functions, cs)
	}
	return res, nil
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// fakeRuntime is the Lambda Runtime API as far as a starting function
// sees it: it notes the first request for the next invocation and holds
// it (no event ever comes); an init error is reported.
type fakeRuntime struct {
	once    sync.Once
	ready   chan time.Time
	initErr chan string
}

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{ready: make(chan time.Time, 1), initErr: make(chan string, 1)}
}

func (rt *fakeRuntime) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	path := strings.TrimPrefix(r.URL.Path, "/2018-06-01/runtime/")
	switch {
	case path == "invocation/next" && r.Method == http.MethodGet:
		rt.once.Do(func() { rt.ready <- at })
		<-r.Context().Done()
	case path == "init/error":
		b, _ := io.ReadAll(io.LimitReader(r.Body, 4096))
		select {
		case rt.initErr <- string(b):
		default:
		}
		w.WriteHeader(http.StatusAccepted)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// timeToReady starts bin under a fake runtime and returns the time until
// it first asks for an invocation. The process is killed afterwards.
func timeToReady(ctx context.Context, bin string, env []string) (time.Duration, error) {
	rt := newFakeRuntime()
	srv := httptest.NewServer(rt)
	defer srv.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(env, "AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(srv.URL, "http://"))
	var out strings.Builder
	lw := &limited{w: &out, n: 8192}
	cmd.Stdout, cmd.Stderr = lw, lw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	exited := make(chan error, 1)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		srv.CloseClientConnections()
	}()
	select {
	case at := <-rt.ready:
		return at.Sub(start), nil
	case msg := <-rt.initErr:
		return 0, fmt.Errorf("init error: %s", msg)
	case err := <-exited:
		exited <- err
		return 0, fmt.Errorf("exited before asking for work (%v): %s", err, out.String())
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(20 * time.Second):
		return 0, errors.New("not ready within 20 s")
	}
}

// limited writes at most n bytes to w and drops the rest.
type limited struct {
	mu sync.Mutex
	w  io.Writer
	n  int
}

func (l *limited) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
