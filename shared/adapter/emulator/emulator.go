// Package emulator gives programs and tests an AWS emulator endpoint: the one
// named by AWS_ENDPOINT_URL (LocalStack, or a moto already running), or a
// moto_server it starts on a free loopback port and stops again.
package emulator

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/buildfarm/buildfarm/shared/adapter/awsconf"
	"github.com/buildfarm/buildfarm/shared/adapter/emulator/itemlock"
)

// DefaultRegion is used when AWS_REGION is unset.
const DefaultRegion = "us-east-1"

// Emulator is a reachable emulator endpoint.
type Emulator struct {
	URL    string
	cmd    *exec.Cmd
	exited chan error

	locksOnce sync.Once
	locks     *itemlock.Locks
}

// Started reports whether this process started the emulator (and so stops it).
func (e *Emulator) Started() bool { return e.cmd != nil }

// Ensure returns the emulator named by AWS_ENDPOINT_URL, or starts moto_server.
func Ensure(ctx context.Context, logs io.Writer) (*Emulator, error) {
	if url := os.Getenv("AWS_ENDPOINT_URL"); url != "" {
		return &Emulator{URL: url}, nil
	}
	return Start(ctx, "127.0.0.1:0", logs)
}

// EnsureAt returns the emulator named by AWS_ENDPOINT_URL, or one already
// answering at addr, or starts moto_server there (and only then does Stop
// stop it).
func EnsureAt(ctx context.Context, addr string, logs io.Writer) (*Emulator, error) {
	if url := os.Getenv("AWS_ENDPOINT_URL"); url != "" {
		return &Emulator{URL: url}, nil
	}
	url := "http://" + addr
	client := &http.Client{Timeout: time.Second}
	if resp, err := client.Get(url + "/moto-api/"); err == nil {
		resp.Body.Close()
		return &Emulator{URL: url}, nil
	}
	return Start(ctx, addr, logs)
}

// Start runs moto_server on addr ("127.0.0.1:0" picks a free port) and waits
// until it answers. Stop it with Stop.
func Start(ctx context.Context, addr string, logs io.Writer) (*Emulator, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if port == "0" {
		p, err := freePort(host)
		if err != nil {
			return nil, err
		}
		port = strconv.Itoa(p)
	}
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, fmt.Errorf("emulator: moto_server is not installed (pip install 'moto[server]'), and AWS_ENDPOINT_URL is not set: %w", err)
	}
	cmd := exec.Command(bin, "-H", host, "-p", port)
	if logs == nil {
		logs = io.Discard
	}
	cmd.Stdout, cmd.Stderr = logs, logs
	// Its own process group, so Stop reaches moto's children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("emulator: start moto_server: %w", err)
	}
	e := &Emulator{URL: "http://" + net.JoinHostPort(host, port), cmd: cmd, exited: make(chan error, 1)}
	go func() { e.exited <- cmd.Wait() }()
	if err := waitReady(ctx, e.URL, e.exited); err != nil {
		e.Stop()
		return nil, err
	}
	return e, nil
}

func waitReady(ctx context.Context, url string, exited <-chan error) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("emulator: moto_server exited before it was ready: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("emulator: moto_server at %s not ready: %w", url, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Stop ends a moto_server this process started; it does nothing otherwise.
func (e *Emulator) Stop() {
	if e == nil || e.cmd == nil || e.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-e.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
		<-e.exited
	}
	e.cmd = nil
}

// Config returns an SDK config for the emulator: its endpoint, the region from
// AWS_REGION (default us-east-1), the credentials from the environment, or
// dummy ones (emulators accept any), the farm's retry policy (awsconf), and
// this process's per-item write locks (package itemlock), which make the
// emulator's conditional writes atomic as DynamoDB's are. Every config of one
// Emulator shares the same locks.
func (e *Emulator) Config(ctx context.Context) (aws.Config, error) {
	cfg, err := e.plainConfig(ctx)
	if err != nil {
		return cfg, err
	}
	e.locksOnce.Do(func() { e.locks = itemlock.New(itemlock.DescribeKeys(dynamodb.NewFromConfig(cfg))) })
	e.locks.Attach(&cfg)
	return cfg, nil
}

// plainConfig is Config without the write locks.
func (e *Emulator) plainConfig(ctx context.Context) (aws.Config, error) {
	region := os.Getenv("AWS_REGION")
	if region == "" {
		region = DefaultRegion
	}
	opts := []func(*config.LoadOptions) error{config.WithRegion(region), config.WithBaseEndpoint(e.URL)}
	if os.Getenv("AWS_ACCESS_KEY_ID") == "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
	}
	return awsconf.Load(ctx, opts...)
}

// Env is the environment that points a child process (or the SDK's default
// loader) at the emulator.
func (e *Emulator) Env() []string {
	env := []string{"AWS_ENDPOINT_URL=" + e.URL, "AWS_EC2_METADATA_DISABLED=true"}
	if os.Getenv("AWS_REGION") == "" {
		env = append(env, "AWS_REGION="+DefaultRegion)
	}
	if os.Getenv("AWS_ACCESS_KEY_ID") == "" {
		env = append(env, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test")
	}
	return env
}
