// Command infra is the CDK app of the farm (cdk.json: "go run ./infra").
// Settings come from CDK context and infra/farm.json: see docs/infra.md.
package main

import (
	"fmt"
	"os"

	"github.com/aws/jsii-runtime-go"

	"github.com/buildfarm/buildfarm/infra/stack"
)

func main() {
	err := run()
	jsii.Close()
	if err != nil {
		// A newline first: jsii may have left a partial line on stderr.
		fmt.Fprintln(os.Stderr, "\ninfra:", err)
		os.Exit(1)
	}
}

// run synthesizes the app into CDK_OUTDIR (set by the cdk CLI; cdk.out otherwise).
func run() error {
	app, _, err := stack.NewApp(nil, true)
	if err != nil {
		return err
	}
	app.Synth(nil)
	return nil
}
