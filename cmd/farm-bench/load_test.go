package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMergeSectionKeepsTheRestOfTheReport(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bench.json")
	if err := os.WriteFile(path, []byte(`{"schema": 1, "load": {"old": true}, "notes": ["a", "b"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := mergeSection(path, "load", map[string]int{"claims": 7}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if doc["schema"] != 1.0 || len(doc["notes"].([]any)) != 2 || doc["load"].(map[string]any)["claims"] != 7.0 || doc["load"].(map[string]any)["old"] != nil {
		t.Fatalf("merged: %s", b)
	}
	if i, j, k := strings.Index(string(b), `"schema"`), strings.Index(string(b), `"load"`), strings.Index(string(b), `"notes"`); !(i < j && j < k) {
		t.Fatalf("sections out of their order: %s", b)
	}
	if got := readSection(path, "load"); !strings.Contains(string(got), `"claims": 7`) {
		t.Fatalf("readSection: %s", got)
	}
	// A report without the section gets it appended; no report, a new one.
	if err := mergeSection(path, "extra", []int{1}); err != nil || readSection(path, "extra") == nil || strings.Index(readFile(t, path), `"extra"`) < strings.Index(readFile(t, path), `"notes"`) {
		t.Fatalf("append: %v %s", err, readFile(t, path))
	}
	fresh := filepath.Join(t.TempDir(), "new.json")
	if err := mergeSection(fresh, "load", map[string]int{"claims": 1}); err != nil || readSection(fresh, "load") == nil {
		t.Fatalf("new report: %v %s", err, readFile(t, fresh))
	}
	if readSection(filepath.Join(t.TempDir(), "none.json"), "load") != nil {
		t.Fatal("a missing report has a section")
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNearestRank(t *testing.T) {
	t.Parallel()
	v := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for p, want := range map[float64]float64{50: 5, 99: 10, 10: 1, 100: 10} {
		if got := nearestRank(v, p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
	if nearestRank(nil, 50) != 0 {
		t.Error("no samples")
	}
}
