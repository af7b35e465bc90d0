package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// binaries are what the run starts or measures, built before its clock
// starts (a cold build cache can take minutes on a small machine).
type binaries struct {
	builder string // farm-builder for this machine
	// armDir holds the deployable arm64 builds of the functions, hostDir
	// host-architecture builds with the same flags, one file per function.
	armDir, hostDir string
}

func buildAll(ctx context.Context, repo, dir string) (*binaries, error) {
	b := &binaries{
		builder: filepath.Join(dir, "farm-builder"),
		armDir:  filepath.Join(dir, "lambda-arm64"),
		hostDir: filepath.Join(dir, "lambda-"+runtime.GOARCH),
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", b.builder, "./cmd/farm-builder")
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build farm-builder: %v\n%s", err, out)
	}
	if err := buildFunctions(ctx, repo, "arm64", b.armDir); err != nil {
		return nil, err
	}
	if err := buildFunctions(ctx, repo, runtime.GOARCH, b.hostDir); err != nil {
		return nil, err
	}
	return b, nil
}

// buildFunctions builds every function with the Lambda flags for goarch
// into dir/<function> (one go build; scripts/build-functions builds the same
// binaries one by one into .../bootstrap).
func buildFunctions(ctx context.Context, repo, goarch, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	args := []string{"build", "-tags", "lambda.norpc", "-ldflags", "-s -w", "-o", dir + string(os.PathSeparator)}
	for _, fn := range functions {
		args = append(args, "./functions/"+fn)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build functions (%s): %v\n%s", goarch, err, out)
	}
	return nil
}
