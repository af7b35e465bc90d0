package topology

import (
	"testing"
)

func TestNewNamesEverythingFromThePrefix(t *testing.T) {
	t.Parallel()
	top, err := New("bf-test", []string{"arm64", "default", "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	if got := top.Pools; len(got) != 2 || got[0] != "arm64" || got[1] != "default" {
		t.Fatalf("pools not sorted and deduplicated: %v", got)
	}
	seen := map[string]bool{}
	for _, tb := range top.Tables() {
		if tb.Name[:8] != "bf-test-" {
			t.Errorf("table %s does not carry the prefix", tb.Name)
		}
		if seen[tb.Name] {
			t.Errorf("duplicate table name %s", tb.Name)
		}
		seen[tb.Name] = true
	}
	for _, q := range top.Queues() {
		if q.DLQName == "" || q.MaxReceiveCount <= 0 {
			t.Errorf("queue %s has no dead-letter queue", q.Name)
		}
		for _, n := range []string{q.Name, q.DLQName} {
			if seen[n] {
				t.Errorf("duplicate queue name %s", n)
			}
			seen[n] = true
		}
	}
	q, ok := top.PoolQueue("arm64")
	if !ok || q.Name != "bf-test-pool-arm64" || q.ID != "PoolQueueArm64" {
		t.Fatalf("PoolQueue(arm64) = %+v, %v", q, ok)
	}
	if top.ServesPool("amd64") {
		t.Fatal("amd64 was not configured")
	}
}

func TestNewRefusesBadNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		prefix string
		pools  []string
	}{
		{"", []string{"default"}},
		{"Upper", []string{"default"}},
		{"ok", nil},
		{"ok", []string{"has space"}},
		{"ok", []string{"-leading"}},
	} {
		if _, err := New(tc.prefix, tc.pools); err == nil {
			t.Errorf("New(%q, %v) accepted", tc.prefix, tc.pools)
		}
	}
}

func TestParsePools(t *testing.T) {
	t.Parallel()
	if got := ParsePools(" a, b ,,c"); len(got) != 3 || got[1] != "b" {
		t.Fatalf("ParsePools = %v", got)
	}
	if got := ParsePools(""); len(got) != len(DefaultPools) {
		t.Fatalf("ParsePools(\"\") = %v", got)
	}
}
