package claims

import (
	"context"
	"fmt"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// MaxLogChunkText bounds the log text one heartbeat stores for a job (one
// item each, well under DynamoDB's 400 KB): a longer report keeps its end.
const MaxLogChunkText = 128 << 10

// appendLog stores the log output a heartbeat carried for a job whose
// lease it renewed, as one new chunk of run: an append, never a rewrite of
// the log so far. A chunk that cannot be stored is logged and lost (the
// builder uploads or carries the whole log at completion); the lease
// renewal stands.
func (s *Service) appendLog(ctx context.Context, hj HeartbeatJob, run int, now time.Time) {
	if hj.Log == "" {
		return
	}
	text := hj.Log
	offset := now.UnixMicro()
	if hj.LogOffset != nil {
		offset = *hj.LogOffset
	}
	if cut := len(text) - MaxLogChunkText; cut > 0 {
		text = fmt.Sprintf("[farm] ... %d bytes of this heartbeat's log skipped ...\n", cut) + farm.LogEnd(text, MaxLogChunkText)
	}
	c := farm.LogChunk{JobID: hj.ID, Run: run, Offset: offset, Text: text, ExpiresAt: now.Add(farm.LogChunkRetention)}
	if err := s.store.AppendLogChunk(ctx, c); err != nil {
		s.log.WarnContext(ctx, "log chunk not stored", "job_id", hj.ID, "run", run, "err", err.Error())
	}
}
