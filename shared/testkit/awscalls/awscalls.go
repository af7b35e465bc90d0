// Package awscalls counts the AWS calls a process makes — by service,
// operation, resource and phase, with their durations — through an SDK
// middleware, for the benchmark (scripts/bench). It never changes a call.
//
// Calls are counted once each (Calls) and per HTTP attempt (Attempts, which
// includes SDK retries). A presign is not a call and is not counted; the
// presigned request itself is counted by Transport when it is sent.
package awscalls

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"
)

// Key groups calls.
type Key struct {
	Service   string `json:"service"`
	Operation string `json:"operation"`
	// Resource is the table, queue or bucket, when an Inspector names it.
	Resource string `json:"resource,omitempty"`
	// Phase is what the caller was doing (see WithPhase and Counter.Classify).
	Phase string `json:"phase,omitempty"`
}

// Stat is what was counted for one Key.
type Stat struct {
	Calls    int64 `json:"calls"`
	Attempts int64 `json:"attempts"`
	Errors   int64 `json:"errors"`
	// Nanos is the sum of the calls' durations, retries included.
	Nanos int64 `json:"nanos"`
	Usage
}

// Usage is what an Inspector reads from a call's input and output.
type Usage struct {
	Resource string `json:"-"`
	// WriteUnits and ReadUnits are DynamoDB request units estimated from the
	// item sizes (see package ddbunits).
	WriteUnits float64 `json:"write_units,omitempty"`
	ReadUnits  float64 `json:"read_units,omitempty"`
	// ItemBytes sums the sizes of the items written or read; MaxItemBytes is the largest.
	ItemBytes    int64 `json:"item_bytes,omitempty"`
	MaxItemBytes int64 `json:"max_item_bytes,omitempty"`
	// Records counts the DynamoDB stream records or SQS messages returned;
	// NonEmpty the calls that returned any.
	Records  int64 `json:"records,omitempty"`
	NonEmpty int64 `json:"non_empty,omitempty"`
}

func (u *Usage) add(o Usage) {
	u.WriteUnits += o.WriteUnits
	u.ReadUnits += o.ReadUnits
	u.ItemBytes += o.ItemBytes
	u.MaxItemBytes = max(u.MaxItemBytes, o.MaxItemBytes)
	u.Records += o.Records
	u.NonEmpty += o.NonEmpty
}

func (s *Stat) add(o Stat) {
	s.Calls += o.Calls
	s.Attempts += o.Attempts
	s.Errors += o.Errors
	s.Nanos += o.Nanos
	s.Usage.add(o.Usage)
}

// Inspector reads a call's usage from its input and output (output is nil
// when the call failed).
type Inspector func(service, operation string, input, output any, err error) Usage

// Counter counts calls. The zero value is not usable; make one with New. A
// nil *Counter counts nothing, so callers may hold one unconditionally.
type Counter struct {
	// Classify names the phase of a call from its context (default PhaseOf).
	Classify func(ctx context.Context) string
	// Inspect, when set, reads resources and units from calls.
	Inspect Inspector

	mu    sync.Mutex
	stats map[Key]*Stat
}

// New returns an empty Counter.
func New() *Counter { return &Counter{stats: map[Key]*Stat{}} }

type phaseKey struct{}

// WithPhase labels the calls made with ctx.
func WithPhase(ctx context.Context, phase string) context.Context {
	return context.WithValue(ctx, phaseKey{}, phase)
}

// PhaseOf returns the label WithPhase put on ctx ("" for none).
func PhaseOf(ctx context.Context) string {
	p, _ := ctx.Value(phaseKey{}).(string)
	return p
}

type tallyKey struct{}

// WithTally makes the calls made with ctx count in tally too (as well as in
// the Counter attached to the client), e.g. to count one request's calls.
func WithTally(ctx context.Context, tally *Counter) context.Context {
	return context.WithValue(ctx, tallyKey{}, tally)
}

// Attach makes every client built from cfg count its calls here.
func (c *Counter) Attach(cfg *aws.Config) {
	if c == nil {
		return
	}
	cfg.APIOptions = append(cfg.APIOptions, c.addMiddleware)
}

// presignID is the initialize middleware the SDK adds to presign operations.
const presignID = "AsIsPresigningMiddleware"

type keyCtx struct{}

func (c *Counter) addMiddleware(stack *middleware.Stack) error {
	if _, presign := stack.Initialize.Get(presignID); presign {
		return nil
	}
	count := middleware.InitializeMiddlewareFunc("awscalls.Count", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		key := Key{Service: awsmiddleware.GetServiceID(ctx), Operation: awsmiddleware.GetOperationName(ctx), Phase: c.phase(ctx)}
		attempts := new(int64)
		start := time.Now()
		out, md, err := next.HandleInitialize(context.WithValue(ctx, keyCtx{}, attempts), in)
		st := Stat{Calls: 1, Attempts: *attempts, Nanos: int64(time.Since(start))}
		if err != nil {
			st.Errors = 1
		}
		var result any
		if err == nil {
			result = out.Result
		}
		st.Usage = sqsUsage(in.Parameters, result)
		if c.Inspect != nil {
			u := c.Inspect(key.Service, key.Operation, in.Parameters, result, err)
			if u.Resource == "" {
				u.Resource = st.Usage.Resource
			}
			st.Usage.add(u)
			st.Usage.Resource = u.Resource
		}
		key.Resource = st.Usage.Resource
		c.Add(key, st)
		if t, ok := ctx.Value(tallyKey{}).(*Counter); ok && t != c {
			t.Add(key, st)
		}
		return out, md, err
	})
	if err := stack.Initialize.Add(count, middleware.After); err != nil {
		return err
	}
	attempt := middleware.DeserializeMiddlewareFunc("awscalls.Attempt", func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
		if n, ok := ctx.Value(keyCtx{}).(*int64); ok {
			*n++ // attempts of one call are sequential
		}
		return next.HandleDeserialize(ctx, in)
	})
	return stack.Deserialize.Add(attempt, middleware.After)
}

// sqsUsage names a doorbell call's queue and counts the messages a receive
// returned, so that empty long polls can be told from deliveries.
func sqsUsage(in, out any) Usage {
	var u Usage
	switch p := in.(type) {
	case *sqs.SendMessageInput:
		u.Resource = queueName(aws.ToString(p.QueueUrl))
	case *sqs.DeleteMessageInput:
		u.Resource = queueName(aws.ToString(p.QueueUrl))
	case *sqs.ReceiveMessageInput:
		u.Resource = queueName(aws.ToString(p.QueueUrl))
		if o, ok := out.(*sqs.ReceiveMessageOutput); ok && len(o.Messages) > 0 {
			u.Records = int64(len(o.Messages))
			u.NonEmpty = 1
		}
	}
	return u
}

func queueName(url string) string {
	return url[strings.LastIndexByte(url, '/')+1:]
}

func (c *Counter) phase(ctx context.Context) string {
	if c.Classify != nil {
		return c.Classify(ctx)
	}
	return PhaseOf(ctx)
}

// Add records st under key (for calls counted outside the SDK).
func (c *Counter) Add(key Key, st Stat) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats[key]
	if s == nil {
		s = &Stat{}
		c.stats[key] = s
	}
	s.add(st)
}

// Snapshot returns what was counted so far.
func (c *Counter) Snapshot() Calls {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(Calls, 0, len(c.stats))
	for k, s := range c.stats {
		out = append(out, Entry{Key: k, Stat: *s})
	}
	out.sort()
	return out
}

// Entry is one Key's Stat.
type Entry struct {
	Key
	Stat
}

// Calls is a set of counts, one Entry per Key, sorted.
type Calls []Entry

func (cs Calls) sort() {
	sort.Slice(cs, func(i, j int) bool {
		a, b := cs[i].Key, cs[j].Key
		return strings.Join([]string{a.Phase, a.Service, a.Operation, a.Resource}, "\x00") <
			strings.Join([]string{b.Phase, b.Service, b.Operation, b.Resource}, "\x00")
	})
}

// Merge adds sets of counts together.
func Merge(sets ...Calls) Calls {
	m := map[Key]*Stat{}
	for _, set := range sets {
		for _, e := range set {
			s := m[e.Key]
			if s == nil {
				s = &Stat{}
				m[e.Key] = s
			}
			s.add(e.Stat)
		}
	}
	out := make(Calls, 0, len(m))
	for k, s := range m {
		out = append(out, Entry{Key: k, Stat: *s})
	}
	out.sort()
	return out
}

// Sub returns cs minus an earlier snapshot of the same counter (MaxItemBytes
// is kept as it is in cs).
func (cs Calls) Sub(before Calls) Calls {
	prev := map[Key]Stat{}
	for _, e := range before {
		prev[e.Key] = e.Stat
	}
	var out Calls
	for _, e := range cs {
		p := prev[e.Key]
		d := e.Stat
		d.Calls -= p.Calls
		d.Attempts -= p.Attempts
		d.Errors -= p.Errors
		d.Nanos -= p.Nanos
		d.WriteUnits -= p.WriteUnits
		d.ReadUnits -= p.ReadUnits
		d.ItemBytes -= p.ItemBytes
		d.Records -= p.Records
		d.NonEmpty -= p.NonEmpty
		if d.Calls != 0 || d.Attempts != 0 {
			out = append(out, Entry{Key: e.Key, Stat: d})
		}
	}
	return out
}

// Map rewrites every Key with fn (e.g. to name phases after the fact) and
// merges the entries that end up equal.
func (cs Calls) Map(fn func(Key) Key) Calls {
	out := make(Calls, len(cs))
	for i, e := range cs {
		out[i] = Entry{Key: fn(e.Key), Stat: e.Stat}
	}
	return Merge(out)
}

// Total sums every entry that keep accepts (nil: all).
func (cs Calls) Total(keep func(Key) bool) Stat {
	var t Stat
	for _, e := range cs {
		if keep == nil || keep(e.Key) {
			t.add(e.Stat)
		}
	}
	return t
}

// Transport counts the presigned requests sent through it (those whose URL
// carries X-Amz-Signature) as calls of the service the URL's host or
// signature scope names (S3 for the farm's uploads), operation
// "Presigned<METHOD>". Other requests pass uncounted. A nil Counter returns
// base itself.
func (c *Counter) Transport(base http.RoundTripper, phase string) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	if c == nil {
		return base
	}
	return &transport{base: base, c: c, phase: phase}
}

type transport struct {
	base  http.RoundTripper
	c     *Counter
	phase string
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	q := r.URL.Query()
	if q.Get("X-Amz-Signature") == "" {
		return t.base.RoundTrip(r)
	}
	service := "S3"
	// X-Amz-Credential: AKID/20260101/us-east-1/s3/aws4_request
	if parts := strings.Split(q.Get("X-Amz-Credential"), "/"); len(parts) == 5 && parts[3] != "s3" {
		service = parts[3]
	}
	start := time.Now()
	resp, err := t.base.RoundTrip(r)
	st := Stat{Calls: 1, Attempts: 1, Nanos: int64(time.Since(start))}
	if err != nil || resp.StatusCode >= 300 {
		st.Errors = 1
	}
	t.c.Add(Key{Service: service, Operation: "Presigned" + r.Method, Phase: t.phase}, st)
	return resp, err
}
