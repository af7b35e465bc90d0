package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
)

// The spool keeps the results the farm has not acknowledged yet, on disk
// under the agent's state directory (0700; each entry 0600: a claim token
// is a secret), so that a job that ended while the API was unreachable —
// or just before the agent was killed — is still reported: by its own
// completion loop when the API comes back, or by the next agent run, which
// replays the spool, oldest first, before it registers (and so before the
// farm takes the old run's claims back). The spool is bounded in entries
// and bytes; when full, the oldest entry is dropped (its job is requeued by
// the farm when its lease expires: no job is lost, one result is).

// spoolEntry is one result waiting for the farm.
type spoolEntry struct {
	JobID     string                `json:"job_id"`
	Request   apiv1.CompleteRequest `json:"request"`
	SpooledAt time.Time             `json:"spooled_at"`

	name string // file name: <sequence>-<job id>.json, in spooling order
}

// spool is the agent's on-disk queue of unacknowledged results.
type spool struct {
	dir        string
	maxEntries int
	maxBytes   int64
	log        *slog.Logger

	mu    sync.Mutex
	seq   uint64
	owned map[string]bool // entries a completion loop of this run is still sending
}

// openSpool opens (creating) the spool in dir.
func openSpool(dir string, maxEntries int, maxBytes int64, log *slog.Logger) (*spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: spool: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: spool: %w", err)
	}
	s := &spool{dir: dir, maxEntries: maxEntries, maxBytes: maxBytes, log: log, owned: map[string]bool{}}
	names, _, err := s.files()
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if seq, ok := sequenceOf(n); ok && seq >= s.seq {
			s.seq = seq + 1
		}
	}
	return s, nil
}

func sequenceOf(name string) (uint64, bool) {
	head, _, ok := strings.Cut(name, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(head, 10, 64)
	return n, err == nil
}

// files lists the entries' file names, oldest first, and their total size.
func (s *spool) files() ([]string, int64, error) {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, 0, fmt.Errorf("agent: spool: %w", err)
	}
	var names []string
	var total int64
	for _, de := range des {
		if !de.Type().IsRegular() || !strings.HasSuffix(de.Name(), ".json") {
			continue
		}
		if _, ok := sequenceOf(de.Name()); !ok {
			continue
		}
		if info, err := de.Info(); err == nil {
			total += info.Size()
		}
		names = append(names, de.Name())
	}
	slices.Sort(names) // zero-padded sequences: name order is spooling order
	return names, total, nil
}

// add writes a result to the spool for a completion loop of this run (it
// owns the entry until release or remove) and returns the entry's name.
// A result larger than the spool drops its log text (the log is stored
// with the farm separately); the oldest entries make room.
func (s *spool) add(jobID string, req apiv1.CompleteRequest) (string, error) {
	e := spoolEntry{JobID: jobID, Request: req, SpooledAt: time.Now().UTC()}
	body, err := json.Marshal(e)
	if err != nil {
		return "", err
	}
	if int64(len(body)) > s.maxBytes/2 {
		e.Request.Log = ""
		if body, err = json.Marshal(e); err != nil {
			return "", err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.makeRoomLocked(int64(len(body))); err != nil {
		return "", err
	}
	name := fmt.Sprintf("%020d-%s.json", s.seq, jobID)
	s.seq++
	tmp := filepath.Join(s.dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, body, 0o600); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("agent: spool: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, name)); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("agent: spool: %w", err)
	}
	s.owned[name] = true
	return name, nil
}

// makeRoomLocked drops the oldest entries until one of size more fits.
func (s *spool) makeRoomLocked(size int64) error {
	names, total, err := s.files()
	if err != nil {
		return err
	}
	for len(names) > 0 && (len(names) >= s.maxEntries || total+size > s.maxBytes) {
		oldest := filepath.Join(s.dir, names[0])
		if info, err := os.Stat(oldest); err == nil {
			total -= info.Size()
		}
		if err := os.Remove(oldest); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("agent: spool: %w", err)
		}
		delete(s.owned, names[0])
		s.log.Warn("result spool full: the oldest unreported result is dropped; the farm requeues its job when its lease expires", "entry", names[0])
		names = names[1:]
	}
	return nil
}

// release hands an entry its completion loop gave up on to the replays.
func (s *spool) release(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.owned, name)
}

// remove deletes an entry: the farm answered it.
func (s *spool) remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.owned, name)
	if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("spool entry not removed", "entry", name, "err", err)
	}
}

// pending lists the entries no completion loop of this run owns, oldest
// first. An entry that cannot be read is dropped with a log line.
func (s *spool) pending() ([]spoolEntry, error) {
	s.mu.Lock()
	names, _, err := s.files()
	owned := maps.Clone(s.owned)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var out []spoolEntry
	for _, n := range names {
		if owned[n] {
			continue
		}
		body, err := os.ReadFile(filepath.Join(s.dir, n))
		var e spoolEntry
		if err == nil {
			err = json.Unmarshal(body, &e)
		}
		if err != nil || e.JobID == "" {
			s.log.Warn("unreadable spool entry dropped", "entry", n, "err", err)
			s.remove(n)
			continue
		}
		e.name = n
		out = append(out, e)
	}
	return out, nil
}
