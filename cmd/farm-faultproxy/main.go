// Command farm-faultproxy runs the fault-injecting AWS proxy of package
// faultproxy on its own, in front of an emulator, for people and scripts:
// point a farm at it (AWS_ENDPOINT_URL=http://127.0.0.1:4567 scripts/up) and
// change its faults while the farm runs through its control endpoints:
//
//	curl -X PUT  --data @faults.json           http://127.0.0.1:4567/__faultproxy/spec
//	curl -X POST -d '{"duration":"20s"}'       http://127.0.0.1:4567/__faultproxy/outage
//	curl                                       http://127.0.0.1:4567/__faultproxy/counts
//
// It listens on loopback only and stops on SIGINT or SIGTERM, printing what
// it injected.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/buildfarm/buildfarm/shared/testkit/faultproxy"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("farm-faultproxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	upstream := fs.String("upstream", "http://127.0.0.1:4566", "the emulator's URL")
	addr := fs.String("addr", "127.0.0.1:4567", "where the proxy listens (loopback only)")
	spec := fs.String("spec", "", "initial faults: a faultproxy spec (JSON file or JSON text); none by default")
	verbose := fs.Bool("v", false, "log every injected fault")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil || (host != "127.0.0.1" && host != "localhost" && host != "::1") {
		fmt.Fprintf(stderr, "farm-faultproxy: -addr %q: listen on a loopback address (127.0.0.1:PORT)\n", *addr)
		return 2
	}
	opts := faultproxy.Options{Addr: *addr, Control: true}
	if *spec != "" {
		if opts.Spec, err = faultproxy.LoadSpec(*spec); err != nil {
			fmt.Fprintln(stderr, "farm-faultproxy:", err)
			return 2
		}
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	p, err := faultproxy.Start(*upstream, opts)
	if err != nil {
		fmt.Fprintln(stderr, "farm-faultproxy:", err)
		return 1
	}
	fmt.Fprintf(stdout, "farm-faultproxy: %s -> %s (AWS_ENDPOINT_URL=%s; control under %s%s)\n", p.URL, *upstream, p.URL, p.URL, faultproxy.ControlPrefix)
	<-ctx.Done()
	p.Close()
	p.Counts().Write(stdout)
	return 0
}
