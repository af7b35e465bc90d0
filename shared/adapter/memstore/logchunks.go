package memstore

import (
	"context"
	"sort"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// logChunks keeps the log chunks of every run by job id.
type logChunks map[string][]farm.LogChunk

// AppendLogChunk stores c, replacing a chunk of the same job, run and offset.
func (s *Store) AppendLogChunk(_ context.Context, c farm.LogChunk) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logs == nil {
		s.logs = logChunks{}
	}
	chunks := s.logs[c.JobID]
	i := sort.Search(len(chunks), func(i int) bool { return !chunkBefore(chunks[i], c) })
	if i < len(chunks) && chunks[i].Run == c.Run && chunks[i].Offset == c.Offset {
		chunks[i] = c
		return nil
	}
	chunks = append(chunks, farm.LogChunk{})
	copy(chunks[i+1:], chunks[i:])
	chunks[i] = c
	s.logs[c.JobID] = chunks
	return nil
}

func chunkBefore(a, b farm.LogChunk) bool {
	return a.Run < b.Run || (a.Run == b.Run && a.Offset < b.Offset)
}

// LogChunks lists the last limit live chunks of run of job id, in log order.
func (s *Store) LogChunks(_ context.Context, id string, run, limit int) ([]farm.LogChunk, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	var out []farm.LogChunk
	for _, c := range s.logs[id] {
		if c.Run == run && (c.ExpiresAt.IsZero() || now.Before(c.ExpiresAt)) {
			out = append(out, c)
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}
