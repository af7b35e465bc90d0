// Command farm-bench measures buildfarm against the raw emulator in one
// run: submit -> claim latency, throughput with real farm-builder
// processes, AWS calls and dollars per job, priority order under load and
// the Lambdas' cold-start proxy. It starts a private moto_server and stops
// everything it started, also on error, timeout or interrupt. It prints a
// table and writes bench.json. scripts/bench runs it; docs/bench.md says
// what each figure means.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() { os.Exit(run()) }

func run() int {
	quick := flag.Bool("quick", false, "a smaller run, under a minute")
	out := flag.String("out", "bench.json", "where to write the JSON report")
	repo := flag.String("repo", ".", "the buildfarm repository (farm-builder and the functions are built from it)")
	timeout := flag.Duration("timeout", 0, "limit of the measured run, after the builds (default 9m, 3m with -quick)")
	keep := flag.Bool("keep", false, "keep the scratch directory (logs, agent call counts) after a successful run")
	readme := flag.String("readme", "", "also rewrite the bench table in this README (between its markers)")
	load := flag.Bool("load", false, "only the load mode (load.go): hundreds of simulated builders at 1 and -shards shards; sets the load section of -out")
	shards := flag.Int("shards", 4, "the load mode's sharded pool width")
	flag.Parse()
	if *load {
		return loadMain(*shards, *quick, *out, *timeout)
	}

	p := defaultPlan()
	if *quick {
		p = quickPlan()
	}
	if *timeout > 0 {
		p.timeout = *timeout
	}
	if _, err := os.Stat(*repo + "/go.mod"); err != nil {
		fmt.Fprintf(os.Stderr, "farm-bench: %s is not the buildfarm repository (no go.mod): use -repo\n", *repo)
		return 2
	}
	dir, err := os.MkdirTemp("", "farm-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "farm-bench:", err)
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Builds first, outside the run's time limit: a cold build cache is slow.
	fmt.Fprintln(os.Stderr, "farm-bench: building farm-builder and the functions")
	bctx, bcancel := context.WithTimeout(ctx, 15*time.Minute)
	bin, err := buildAll(bctx, *repo, dir)
	bcancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "farm-bench:", err)
		os.RemoveAll(dir)
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	rep, err := bench(ctx, p, bin, *repo, dir, os.Stderr)
	if err != nil {
		switch {
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			err = fmt.Errorf("%w (the run's time limit of %s is up; everything it started was stopped)", err, p.timeout)
		case ctx.Err() != nil:
			err = fmt.Errorf("%w (interrupted; everything it started was stopped)", err)
		}
		fmt.Fprintf(os.Stderr, "farm-bench: %v\nlogs kept in %s\n", err, dir)
		return 1
	}
	printReport(os.Stdout, rep)
	// The load mode's section is its own run's: kept across this one.
	kept := readSection(*out, "load")
	if err := writeJSON(*out, rep); err != nil {
		fmt.Fprintln(os.Stderr, "farm-bench:", err)
		return 1
	}
	if kept != nil {
		if err := mergeSection(*out, "load", kept); err != nil {
			fmt.Fprintln(os.Stderr, "farm-bench:", err)
			return 1
		}
	}
	fmt.Printf("\nwrote %s\n", *out)
	if *readme != "" {
		if err := updateReadme(*readme, markdownTable(rep)); err != nil {
			fmt.Fprintln(os.Stderr, "farm-bench:", err)
			return 1
		}
		fmt.Printf("rewrote the bench table in %s\n", *readme)
	}
	if *keep {
		fmt.Printf("scratch directory kept: %s\n", dir)
	} else {
		os.RemoveAll(dir)
	}
	return 0
}
