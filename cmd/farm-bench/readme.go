package main

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/buildfarm/buildfarm/shared/adapter/topology"
)

// The README's bench table sits between these markers; -readme rewrites it.
const (
	readmeBegin = "<!-- bench table: written by scripts/bench -readme README.md; do not edit by hand -->"
	readmeEnd   = "<!-- end of bench table -->"
)

// markdownTable is the README's summary of a run: the headline figures with
// their spread, the targets, and calls, write units and log bytes per job
// per phase.
func markdownTable(rep *Report) string {
	var b strings.Builder
	e := rep.Environment
	dirty := ""
	if rep.Git.Dirty {
		dirty = ", with uncommitted changes"
	}
	short := rep.Git.Commit
	if len(short) > 12 {
		short = short[:12]
	}
	fmt.Fprintf(&b, "`scripts/bench` (%s mode, %s, commit `%s`%s; %d CPUs shared, load %s → %s, moto %s, %.0f s). Each headline figure is the median of %d rounds; prices as of %s; builders reach the API by `%s`.\n\n",
		e.Mode, e.Date, short, dirty, e.CPUs, e.LoadAvgStart, e.LoadAvgEnd, e.MotoVersion, e.Seconds, roundsOf(rep), rep.Prices.AsOf, topology.BuilderAPIEdge)
	b.WriteString("| figure | median | min | max | target |\n|---|---|---|---|---|\n")
	goals := map[string]Target{}
	for _, t := range rep.Targets {
		goals[t.Name] = t
	}
	for _, k := range headlineOrder {
		sp, ok := rep.Runs[k]
		if !ok {
			continue
		}
		goal := ""
		if t, ok := goals[k]; ok {
			mark := "not met"
			if t.Met {
				mark = "met"
			}
			goal = fmt.Sprintf("%s %s (%s)", t.Op, fnum(t.Target), mark)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", k, fnum(sp.Median), fnum(sp.Min), fnum(sp.Max), goal)
	}
	fmt.Fprintf(&b, "| `latency_ratio_p99` (pooled, %d samples) | %s | | | |\n", rep.Latency.Buildfarm.N, fnum(rep.LatencyRatioP99))
	fmt.Fprintf(&b, "| `usd_per_million_running_minutes` | %s | | | |\n\n", fnum(rep.USDPerMillionRunningMinutes))

	names := []string{"idle", "saturated"}
	b.WriteString("| calls per job by phase |")
	for _, n := range names {
		if l := rep.Lifecycle[n]; l != nil {
			fmt.Fprintf(&b, " %s (%s): calls | WRU | log bytes |", n, l.Scenario)
		}
	}
	b.WriteString("\n|---|")
	for _, n := range names {
		if rep.Lifecycle[n] != nil {
			b.WriteString("---|---|---|")
		}
	}
	b.WriteString("\n")
	for _, p := range jobPhases {
		var cells []string
		seen := false
		for _, n := range names {
			l := rep.Lifecycle[n]
			if l == nil {
				continue
			}
			pc, ok := l.Phases[p]
			seen = seen || ok
			cells = append(cells, fmt.Sprintf("%.2f | %.2f | %.0f", pc.Total, pc.WriteUnits, pc.LogBytes))
		}
		if seen {
			fmt.Fprintf(&b, "| %s | %s |\n", p, strings.Join(cells, " | "))
		}
	}
	var totals, costs []string
	for _, n := range names {
		if l := rep.Lifecycle[n]; l != nil {
			totals = append(totals, fmt.Sprintf("**%.2f** | **%.2f** | %.0f", l.CallsPerJob, l.Usage.DynamoDBWriteUnits, l.Usage.CloudWatchLogsBytes))
			c := l.Cost
			costs = append(costs, fmt.Sprintf("**%.2f** | | DynamoDB %.2f, SQS %.2f, S3 %.2f, Lambda %.2f, API Gateway %.2f, CloudWatch Logs %.2f", c.Total, c.DynamoDB, c.SQS, c.S3, c.Lambda, c.APIGateway, c.CloudWatchLogs))
		}
	}
	fmt.Fprintf(&b, "| total (log bytes: with Lambda's lines) | %s |\n", strings.Join(totals, " | "))
	fmt.Fprintf(&b, "| $ per million jobs | %s |\n\n", strings.Join(costs, " | "))
	if l := rep.Lifecycle["idle"]; l != nil {
		b.WriteString("Calls per job in the idle lifecycle, by operation: ")
		var parts []string
		for _, p := range jobPhases {
			pc, ok := l.Phases[p]
			if !ok {
				continue
			}
			var ops []string
			for _, op := range slices.Sorted(maps.Keys(pc.Calls)) {
				ops = append(ops, fmt.Sprintf("%s %.2f", op, pc.Calls[op]))
			}
			parts = append(parts, fmt.Sprintf("*%s*: %s", p, strings.Join(ops, ", ")))
		}
		b.WriteString(strings.Join(parts, "; ") + ".\n")
	}
	return b.String()
}

func roundsOf(rep *Report) int {
	if rep.Latency == nil {
		return 0
	}
	return len(rep.Latency.Rounds)
}

// updateReadme replaces the table between the markers in path.
func updateReadme(path, table string) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	i, j := bytes.Index(old, []byte(readmeBegin)), bytes.Index(old, []byte(readmeEnd))
	if i < 0 || j < i {
		return errors.New(path + " has no bench table markers")
	}
	var out bytes.Buffer
	out.Write(old[:i+len(readmeBegin)])
	out.WriteString("\n" + table)
	out.Write(old[j:])
	return os.WriteFile(path, out.Bytes(), 0o644)
}
