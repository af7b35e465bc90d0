package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"maps"
	"sync"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/buildfarm/buildfarm/shared/adapter/topology"
	"github.com/buildfarm/buildfarm/shared/testkit/awscalls"
)

// LogStat is what the farm logged in one phase: lines and bytes as the
// deployed functions write them to CloudWatch Logs.
type LogStat struct {
	Lines int64 `json:"lines"`
	Bytes int64 `json:"bytes"`
}

// logMeter measures the farm's own log output. Its handler formats every
// record as a deployed function does (Lambda's JSON format with its key
// names and a requestId on every line, at the functions' application log
// level) and counts it by the phase of the code that logged it; its writer
// counts the services' EMF metric records (stdout in Lambda, so CloudWatch
// Logs too). Both also copy what they count to out (the run's farm.log).
type logMeter struct {
	mu    sync.Mutex
	stats map[string]LogStat
	out   io.Writer
}

func newLogMeter(out io.Writer) *logMeter {
	return &logMeter{stats: map[string]LogStat{}, out: out}
}

func (m *logMeter) add(phase string, line []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.stats[phase]
	s.Lines++
	s.Bytes += int64(len(line))
	m.stats[phase] = s
	if m.out != nil {
		m.out.Write(line)
	}
}

func (m *logMeter) snapshot() map[string]LogStat {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.stats)
}

// subLogs returns after minus before.
func subLogs(after, before map[string]LogStat) map[string]LogStat {
	out := map[string]LogStat{}
	for k, a := range after {
		b := before[k]
		if d := (LogStat{Lines: a.Lines - b.Lines, Bytes: a.Bytes - b.Bytes}); d.Lines > 0 {
			out[k] = d
		}
	}
	return out
}

// exampleRequestID stands for the requestId Lambda's log handler adds to
// every line (a UUID: same length).
const exampleRequestID = "8f5e6a3c-1b2d-4e5f-9a8b-7c6d5e4f3a2b"

// Lambda's platform lines per invocation at system log level INFO in the
// JSON log format (typical sizes; the report's figures vary by a few bytes).
const (
	platformStartLine  = `{"time":"2026-11-23T11:49:57.123Z","type":"platform.start","record":{"requestId":"8f5e6a3c-1b2d-4e5f-9a8b-7c6d5e4f3a2b","version":"$LATEST"}}` + "\n"
	platformReportLine = `{"time":"2026-11-23T11:49:57.150Z","type":"platform.report","record":{"requestId":"8f5e6a3c-1b2d-4e5f-9a8b-7c6d5e4f3a2b","metrics":{"durationMs":12.345,"billedDurationMs":13,"memorySizeMB":512,"maxMemoryUsedMB":38},"status":"success"}}` + "\n"
)

// platformLogBytes is what Lambda itself logs per invocation at the given
// system log level.
func platformLogBytes(systemLevel string) float64 {
	switch systemLevel {
	case "WARN", "ERROR", "FATAL":
		return 0
	}
	return float64(len(platformStartLine) + len(platformReportLine))
}

// levelOf parses a Lambda log level name (INFO when unknown, as Lambda).
func levelOf(name string) slog.Level {
	switch name {
	case "TRACE", "DEBUG":
		return slog.LevelDebug
	case "WARN":
		return slog.LevelWarn
	case "ERROR", "FATAL":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// handler returns the farm's logger handler.
func (m *logMeter) handler() slog.Handler {
	return &meterHandler{m: m, level: levelOf(topology.LambdaApplicationLogLevel)}
}

type meterHandler struct {
	m     *logMeter
	level slog.Level
	// ops replays WithAttrs and WithGroup on each record's formatter.
	ops []func(slog.Handler) slog.Handler
}

func (h *meterHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *meterHandler) Handle(ctx context.Context, r slog.Record) error {
	var buf bytes.Buffer
	var f slog.Handler = slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: h.level, ReplaceAttr: lambdacontext.ReplaceAttr})
	for _, op := range h.ops {
		f = op(f)
	}
	r = r.Clone()
	r.AddAttrs(slog.String("requestId", exampleRequestID))
	if err := f.Handle(ctx, r); err != nil {
		return err
	}
	h.m.add(logPhase(ctx), buf.Bytes())
	return nil
}

func (h *meterHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.with(func(f slog.Handler) slog.Handler { return f.WithAttrs(attrs) })
}

func (h *meterHandler) WithGroup(name string) slog.Handler {
	return h.with(func(f slog.Handler) slog.Handler { return f.WithGroup(name) })
}

func (h *meterHandler) with(op func(slog.Handler) slog.Handler) slog.Handler {
	c := *h
	c.ops = append(append([]func(slog.Handler) slog.Handler(nil), h.ops...), op)
	return &c
}

// logPhase names the phase of a log line: the request's label, or the
// background worker on the stack.
func logPhase(ctx context.Context) string {
	if p := awscalls.PhaseOf(ctx); p != "" {
		return p
	}
	return stackPhase(3)
}

// metricsWriter counts the EMF records the services write. A write has no
// context: its phase comes from the stack (a claim's time-to-start record
// is written while the claim request is served).
type metricsWriter struct{ m *logMeter }

func (w metricsWriter) Write(p []byte) (int, error) {
	phase := stackPhase(3)
	if phase == phaseOther && stackHas("shared/app/claims.") {
		phase = phaseClaim
	}
	w.m.add(phase, p)
	return len(p), nil
}
