package awscalls

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// EnvFile names the file a process that opts in (farm-builder) writes its
// counts to when it exits. Unset: nothing is counted.
const EnvFile = "FARM_AWS_CALLS_FILE"

// FromEnv returns a Counter when EnvFile is set, and a function that writes
// the counts there; otherwise a nil Counter (which counts nothing) and a
// function that does nothing.
func FromEnv(getenv func(string) string) (*Counter, func() error) {
	path := getenv(EnvFile)
	if path == "" {
		return nil, func() error { return nil }
	}
	c := New()
	return c, func() error { return WriteFile(path, c.Snapshot()) }
}

type fileBody struct {
	Calls Calls `json:"calls"`
}

// WriteFile writes counts as JSON, atomically (a reader never sees half a file).
func WriteFile(path string, calls Calls) error {
	if calls == nil {
		calls = Calls{}
	}
	b, err := json.MarshalIndent(fileBody{Calls: calls}, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".awscalls-*")
	if err != nil {
		return fmt.Errorf("awscalls: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("awscalls: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("awscalls: %w", err)
	}
	return os.Rename(tmp.Name(), path)
}

// ReadFile reads counts written by WriteFile.
func ReadFile(path string) (Calls, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var body fileBody
	if err := json.Unmarshal(b, &body); err != nil {
		return nil, fmt.Errorf("awscalls: %s: %w", path, err)
	}
	return body.Calls, nil
}
