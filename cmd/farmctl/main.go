// Command farmctl is the buildfarm command-line client, for people and for
// scripts: it submits jobs (and waits for them), lists and manages jobs,
// shows the queue and the builders, issues tokens and works resource pools,
// all through the farm's HTTP API (shared/client). See docs/farmctl.md.
//
// Exit codes: 0 success, 1 an error from the farm or the network (or a
// waited-for job that did not succeed), 2 a command line farmctl cannot run.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := newApp(ctx, os.Stdin, os.Stdout, os.Stderr, os.Getenv).run(os.Args[1:])
	stop()
	os.Exit(code)
}
