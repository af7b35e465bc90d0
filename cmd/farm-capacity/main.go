// Command farm-capacity writes docs/capacity.md: the farm's capacity model
// on AWS, computed from what scripts/bench measured (bench.json: calls,
// write and read units per job), the jobs table's schema as the code
// declares it (which partition keys jobs share), and AWS quotas and prices
// written in quotas.go with their date. It reads no clock and calls no
// service: the same bench.json and code give the same document, which a
// test checks against the committed one.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/buildfarm/buildfarm/shared/adapter/dynamostore"
)

func main() { os.Exit(run()) }

func run() int {
	in := flag.String("bench", "bench.json", "the benchmark's report")
	out := flag.String("out", "docs/capacity.md", "where the model goes (- for stdout)")
	scenario := flag.String("scenario", "idle", "the bench lifecycle to model (idle, saturated)")
	flag.Parse()
	doc, err := generate(*in, *scenario)
	if err != nil {
		fmt.Fprintln(os.Stderr, "farm-capacity:", err)
		return 1
	}
	if *out == "-" {
		_, err = os.Stdout.Write(doc)
	} else {
		err = os.WriteFile(*out, doc, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "farm-capacity:", err)
		return 1
	}
	return 0
}

// generate is the document for bench.json at path.
func generate(path, scenario string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	me, err := parseBench(b, scenario, dynamostore.IndexQueued)
	if err != nil {
		return nil, err
	}
	m, err := build(me)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	m.render(&buf)
	return buf.Bytes(), nil
}
