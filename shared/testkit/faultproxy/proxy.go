// Package faultproxy is an HTTP proxy that sits between AWS SDK clients and
// an AWS emulator (moto_server) and injects the faults AWS really has:
// throttling errors and 5xx answers in each service's own wire shape,
// answers lost after the emulator applied the request, latency spikes, and
// outages (every call answered 503, or every connection refused).
//
// It works on HTTP only, so it sees every process of a farm the same way:
// point a process at it with AWS_ENDPOINT_URL (Env), or an SDK config with
// its URL as the base endpoint. It tells services and operations apart by
// the awsJson X-Amz-Target header (DynamoDB, DynamoDB Streams, SQS — the
// pinned SQS SDK speaks awsJson 1.0), the awsQuery Action (EC2, Auto
// Scaling) and S3's REST method, path and query. Faults are scripted by a
// Spec (rules per service and operation, rates, outages) and drawn from a
// seed; what was injected is counted per service and operation.
package faultproxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a proxy.
type Options struct {
	// Addr is where the proxy listens (default 127.0.0.1:0, a free port).
	Addr string
	// Spec is the initial fault script (none: every call is forwarded).
	Spec   Spec
	Logger *slog.Logger
	// Control serves the control endpoints under /__faultproxy/ (counts,
	// spec, outage) for scripts. S3 bucket names cannot start with "_", so
	// they never shadow an AWS request.
	Control bool
}

// Proxy is a running fault-injecting proxy.
type Proxy struct {
	// URL is the proxy's address, for AWS_ENDPOINT_URL.
	URL string

	addr     string
	upstream *url.URL
	rp       *httputil.ReverseProxy
	srv      *http.Server
	log      *slog.Logger
	control  bool
	started  time.Time
	reqSeq   atomic.Uint64

	mu       sync.Mutex
	ln       net.Listener
	closed   bool
	spec     Spec
	calls    map[Key]uint64 // calls seen per key: the n of the seeded draw
	picked   []int          // requests each rule picked
	counts   map[Key]*Count
	outages  []Window // errors outages
	history  []Window // every outage started
	timers   []*time.Timer
	conns    map[net.Conn]http.ConnState
	refusing bool // a refuse outage is on: idle connections are closed
}

// Window is an outage: when it began and ended, and how.
type Window struct {
	Start    time.Time  `json:"start"`
	End      time.Time  `json:"end"`
	Mode     OutageMode `json:"mode"`
	Services []string   `json:"services,omitempty"`
}

func (w Window) covers(svc string, now time.Time) bool {
	if now.Before(w.Start) || !now.Before(w.End) {
		return false
	}
	if len(w.Services) == 0 {
		return true
	}
	for _, s := range w.Services {
		if s == svc {
			return true
		}
	}
	return false
}

// Start runs a proxy in front of the emulator at upstream (http://host:port).
func Start(upstream string, opts Options) (*Proxy, error) {
	u, err := url.Parse(upstream)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("faultproxy: upstream %q: want http://host:port", upstream)
	}
	if err := opts.Spec.Validate(); err != nil {
		return nil, fmt.Errorf("faultproxy: spec: %w", err)
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{
		URL:      "http://" + ln.Addr().String(),
		addr:     ln.Addr().String(),
		upstream: u,
		log:      log,
		control:  opts.Control,
		started:  time.Now(),
		ln:       ln,
		counts:   map[Key]*Count{},
		calls:    map[Key]uint64{},
		conns:    map[net.Conn]http.ConnState{},
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// Keep the client's Host: the SigV4 signature covers it, and the
			// emulator builds URLs (queue URLs) from it.
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
		},
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
		ModifyResponse: p.afterUpstream,
		ErrorHandler:   p.upstreamFailed,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 30 * time.Second, ConnState: p.track,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	p.SetSpec(opts.Spec)
	go p.serve(ln)
	return p, nil
}

func (p *Proxy) serve(ln net.Listener) {
	if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		p.log.Warn("faultproxy: serve stopped", "err", err)
	}
}

// track keeps the open connections and their states, so that a refuse
// outage can close them once their request in flight is answered.
func (p *Proxy) track(c net.Conn, st http.ConnState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch st {
	case http.StateClosed, http.StateHijacked:
		delete(p.conns, c)
	case http.StateIdle:
		if p.refusing {
			c.Close()
			delete(p.conns, c)
			return
		}
		fallthrough
	default:
		p.conns[c] = st
	}
}

// Env points a child process's SDK at the proxy.
func (p *Proxy) Env() []string { return []string{"AWS_ENDPOINT_URL=" + p.URL} }

// Close stops the proxy.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for _, t := range p.timers {
		t.Stop()
	}
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := p.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = p.srv.Close() // long polls in flight
	}
	p.rp.Transport.(*http.Transport).CloseIdleConnections()
	return err
}

// SetSpec replaces the fault script: rules apply from the next request,
// outages are scheduled relative to now. Counters are kept.
func (p *Proxy) SetSpec(s Spec) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("faultproxy: spec: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.timers {
		t.Stop()
	}
	p.timers = nil
	p.spec = s
	p.picked = make([]int, len(s.Rules))
	p.calls = map[Key]uint64{}
	for _, o := range s.Outages {
		o := o
		p.timers = append(p.timers, time.AfterFunc(o.After.D(), func() { _ = p.StartOutage(o) }))
	}
	return nil
}

// Spec returns the fault script in force.
func (p *Proxy) Spec() Spec {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.spec
}

// StartOutage takes services down now for o.Duration (o.After is ignored).
func (p *Proxy) StartOutage(o Outage) error {
	o.After = 0
	if err := (Spec{Outages: []Outage{o}}).Validate(); err != nil {
		return err
	}
	now := time.Now()
	w := Window{Start: now, End: now.Add(o.Duration.D()), Mode: o.Mode, Services: o.Services}
	if w.Mode == "" {
		w.Mode = OutageErrors
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("faultproxy: closed")
	}
	p.history = append(p.history, w)
	p.log.Info("faultproxy: outage", "mode", w.Mode, "services", w.Services, "for", o.Duration.D().String())
	if w.Mode == OutageErrors {
		p.outages = append(p.outages, w)
		return nil
	}
	p.refuseLocked(o.Duration.D())
	return nil
}

// refuseLocked closes the listener, so that new connections are refused,
// and the open connections: idle ones now, busy ones once their request is
// answered (an outage loses no answer: FaultLoseAnswer does that). It
// listens again on the same address after d.
func (p *Proxy) refuseLocked(d time.Duration) {
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	p.refusing = true
	for c, st := range p.conns {
		if st != http.StateActive {
			c.Close()
			delete(p.conns, c)
		}
	}
	p.timers = append(p.timers, time.AfterFunc(d, p.relisten))
}

func (p *Proxy) relisten() {
	for i := 0; i < 100; i++ {
		p.mu.Lock()
		if p.closed || p.ln != nil {
			p.mu.Unlock()
			return
		}
		ln, err := net.Listen("tcp", p.addr)
		if err == nil {
			p.ln, p.refusing = ln, false
			p.mu.Unlock()
			go p.serve(ln)
			return
		}
		p.mu.Unlock()
		p.log.Warn("faultproxy: listening again failed; retrying", "addr", p.addr, "err", err)
		time.Sleep(50 * time.Millisecond)
	}
}

// Outages returns the outages started so far.
func (p *Proxy) Outages() []Window {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Window(nil), p.history...)
}

// Down reports whether an outage is under way.
func (p *Proxy) Down() bool {
	now := time.Now()
	for _, w := range p.Outages() {
		if !now.Before(w.Start) && now.Before(w.End) {
			return true
		}
	}
	return false
}

// Counts returns a snapshot of the counters.
func (p *Proxy) Counts() Counts {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(Counts, len(p.counts))
	for k, c := range p.counts {
		out[k] = *c
	}
	return out
}

// fate is what happens to one request.
type fate struct {
	delay  time.Duration
	fault  Fault
	code   string
	outage bool
}

// decide draws a request's fate and counts it. body is the request's body
// when a rule looks into it (nil otherwise).
func (p *Proxy) decide(req request, body []byte) fate {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.counts[req.Key]
	if c == nil {
		c = &Count{}
		p.counts[req.Key] = c
	}
	c.Requests++
	if req.attempt > 1 {
		c.Retries++
	}
	n := p.calls[req.Key]
	p.calls[req.Key] = n + 1
	for _, w := range p.outages {
		if w.covers(req.Service, now) {
			c.OutageErrors++
			return fate{outage: true}
		}
	}
	var f fate
	for i, r := range p.spec.Rules {
		if r.Rate <= 0 || !r.matches(req.Key, body) || (r.Times > 0 && p.picked[i] >= r.Times) {
			continue
		}
		if roll(p.spec.Seed, req.Key, n, i, 0) >= r.Rate {
			continue
		}
		if r.Fault == FaultLatency {
			p.picked[i]++
			d := r.Delay.D()
			if r.DelayMax > r.Delay {
				d += time.Duration(roll(p.spec.Seed, req.Key, n, i, 1) * float64(r.DelayMax-r.Delay))
			}
			f.delay += d
			c.Delayed++
			continue
		}
		if f.fault != "" {
			continue
		}
		p.picked[i]++
		f.fault, f.code = r.Fault, r.Code
		switch r.Fault {
		case FaultError:
			c.Errors++
		case FaultThrottle:
			c.Throttles++
		case FaultLoseAnswer:
			c.LostAnswers++
		case FaultErrorAfterApply:
			c.ErrorsAfterApply++
		}
	}
	return f
}

// roll is a uniform draw in [0, 1) fixed by the seed, the operation, the
// call's number, the rule and a salt.
func roll(seed int64, k Key, n uint64, rule, salt int) float64 {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(seed))
	h.Write(b[:])
	h.Write([]byte(k.Service))
	h.Write([]byte{0})
	h.Write([]byte(k.Operation))
	x := h.Sum64() ^ n*0x9E3779B97F4A7C15 ^ uint64(rule+1)<<40 ^ uint64(salt+1)<<56
	// splitmix64 finaliser
	x ^= x >> 30
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	x *= 0x94D049BB133111EB
	x ^= x >> 31
	return float64(x>>11) / float64(uint64(1)<<53)
}

type ctxKey struct{}

// inFlight travels with a forwarded request to the response hooks.
type inFlight struct {
	req   request
	after Fault // a fault applied once the emulator answered
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.control && isControl(r) {
		p.serveControl(w, r)
		return
	}
	req := classify(r)
	if req.Service == ServiceEmulator {
		p.rp.ServeHTTP(w, r)
		return
	}
	f := p.decide(req, p.bodyFor(r, req.Key))
	if f.delay > 0 {
		t := time.NewTimer(f.delay)
		select {
		case <-r.Context().Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	id := p.requestID()
	switch {
	case f.outage:
		errorFor(req.Service, req.Operation, kindUnavailable, "").write(w, req, id)
		return
	case f.fault == FaultError:
		p.log.Debug("faultproxy: 500", "op", req.Key.String())
		errorFor(req.Service, req.Operation, kindInternal, "").write(w, req, id)
		return
	case f.fault == FaultThrottle:
		p.log.Debug("faultproxy: throttle", "op", req.Key.String())
		errorFor(req.Service, req.Operation, kindThrottle, f.code).write(w, req, id)
		return
	}
	fl := &inFlight{req: req, after: f.fault}
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, fl)))
}

// bodyFor reads the request's body (and puts it back) when a rule of the
// spec looks into the bodies of its operation; nil otherwise.
func (p *Proxy) bodyFor(r *http.Request, k Key) []byte {
	p.mu.Lock()
	need := false
	for _, rule := range p.spec.Rules {
		need = need || (len(rule.BodyContains)+len(rule.BodyLacks) > 0 && rule.matchesKey(k))
	}
	p.mu.Unlock()
	if !need || r.Body == nil {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxMatchedBody+1))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
	if err != nil || len(body) > MaxMatchedBody {
		return nil
	}
	return body
}

func (p *Proxy) requestID() string {
	return "FAULTPROXY" + strconv.FormatUint(p.reqSeq.Add(1), 36)
}

// errAfterApply carries a fault applied to an answer the emulator gave.
type errAfterApply struct{ fault Fault }

func (e *errAfterApply) Error() string { return "faultproxy: " + string(e.fault) }

// afterUpstream counts the emulator's answer and, for a lost answer, reads
// it to the end (the request is applied) and throws it away.
func (p *Proxy) afterUpstream(resp *http.Response) error {
	fl, _ := resp.Request.Context().Value(ctxKey{}).(*inFlight)
	if fl == nil {
		return nil
	}
	p.mu.Lock()
	c := p.counts[fl.req.Key]
	c.Forwarded++
	if resp.StatusCode >= 500 {
		c.Upstream5xx++
	}
	p.mu.Unlock()
	if fl.after == FaultLoseAnswer || fl.after == FaultErrorAfterApply {
		buf := make([]byte, 32<<10)
		for {
			if _, err := resp.Body.Read(buf); err != nil {
				break
			}
		}
		resp.Body.Close()
		return &errAfterApply{fault: fl.after}
	}
	return nil
}

// upstreamFailed answers a lost answer (close the connection, or a 500), or
// an emulator that cannot be reached (502).
func (p *Proxy) upstreamFailed(w http.ResponseWriter, r *http.Request, err error) {
	var after *errAfterApply
	fl, _ := r.Context().Value(ctxKey{}).(*inFlight)
	switch {
	case errors.As(err, &after) && after.fault == FaultLoseAnswer:
		p.log.Debug("faultproxy: answer lost", "op", fl.req.Key.String())
		if conn, _, herr := http.NewResponseController(w).Hijack(); herr == nil {
			conn.Close()
			return
		}
		panic(http.ErrAbortHandler) // HTTP/2: abort the stream
	case errors.As(err, &after):
		p.log.Debug("faultproxy: 500 after apply", "op", fl.req.Key.String())
		errorFor(fl.req.Service, fl.req.Operation, kindInternal, "").write(w, fl.req, p.requestID())
	case errors.Is(err, context.Canceled):
		// The client went away (a long poll cancelled): nobody reads this.
	default:
		p.log.Warn("faultproxy: emulator unreachable", "err", err)
		w.WriteHeader(http.StatusBadGateway)
	}
}
