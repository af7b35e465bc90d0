package agent

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
)

func TestTheSpoolIsBoundedPrivateAndOrdered(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	sp, err := openSpool(dir, 3, 4096, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("spool dir %v %v, want 0700", info.Mode(), err)
	}
	for _, id := range []string{"J1", "J2", "J3", "J4"} {
		name, err := sp.add(id, apiv1.CompleteRequest{ClaimToken: "tok-" + id, Result: "succeeded"})
		if err != nil {
			t.Fatal(err)
		}
		sp.release(name)
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Fatalf("entry %s: %v %v, want 0600", name, info.Mode(), err)
		}
	}
	// At most 3 entries: the oldest made room for the fourth.
	got := pendingIDs(t, sp)
	if strings.Join(got, ",") != "J2,J3,J4" {
		t.Fatalf("spool holds %v, want J2,J3,J4 in order", got)
	}
	// Bytes are bounded too: a result with a large log keeps its
	// verdict without the log, and older ones make room.
	big := apiv1.CompleteRequest{ClaimToken: "tok-J5", Result: "failed", Log: strings.Repeat("x", 3000)}
	name, err := sp.add("J5", big)
	if err != nil {
		t.Fatal(err)
	}
	sp.release(name)
	entries, err := sp.pending()
	if err != nil {
		t.Fatal(err)
	}
	last := entries[len(entries)-1]
	if last.JobID != "J5" || last.Request.Log != "" || last.Request.Result != "failed" || last.Request.ClaimToken != "tok-J5" {
		t.Fatalf("large result spooled as %+v", last)
	}
	var total int64
	for _, e := range entries {
		info, _ := os.Stat(filepath.Join(dir, e.name))
		total += info.Size()
	}
	if total > 4096 || len(entries) > 3 {
		t.Fatalf("spool holds %d entries, %d bytes", len(entries), total)
	}
	// An entry a completion loop owns is not replayed; removed ones are gone;
	// a reopened spool continues the order.
	owned, err := sp.add("J6", apiv1.CompleteRequest{ClaimToken: "tok-J6", Result: "succeeded"})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range pendingIDs(t, sp) {
		if id == "J6" {
			t.Fatal("an owned entry is offered for replay")
		}
	}
	sp.remove(owned)
	again, err := openSpool(dir, 3, 4096, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	n, err := again.add("J7", apiv1.CompleteRequest{ClaimToken: "tok-J7", Result: "succeeded"})
	if err != nil {
		t.Fatal(err)
	}
	again.release(n)
	if ids := pendingIDs(t, again); ids[len(ids)-1] != "J7" || len(ids) > 3 {
		t.Fatalf("reopened spool holds %v, want J7 last", ids)
	}
	// An unreadable entry is dropped, not replayed for ever.
	if err := os.WriteFile(filepath.Join(dir, "00000000000000000000-bad.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, id := range pendingIDs(t, again) {
		if id == "bad" || id == "" {
			t.Fatal("an unreadable entry is offered")
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "00000000000000000000-bad.json")); !os.IsNotExist(err) {
		t.Fatalf("unreadable entry kept: %v", err)
	}
}

func pendingIDs(t *testing.T, sp *spool) []string {
	t.Helper()
	entries, err := sp.pending()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.JobID)
	}
	return ids
}
