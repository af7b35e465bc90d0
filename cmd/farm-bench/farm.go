package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/adapter/client"
	"github.com/buildfarm/buildfarm/shared/adapter/dynamostore"
	"github.com/buildfarm/buildfarm/shared/adapter/emulator"
	"github.com/buildfarm/buildfarm/shared/adapter/provision"
	"github.com/buildfarm/buildfarm/shared/adapter/topology"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/awscalls"
	"github.com/buildfarm/buildfarm/shared/testkit/awscalls/ddbunits"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

// rig is what every scenario shares: the private emulator, an SDK config
// for the benchmark's own (uncounted) calls, the built agent binary and a
// scratch directory.
type rig struct {
	emu     *emulator.Emulator
	aws     aws.Config
	dir     string
	bin     *binaries
	log     *slog.Logger
	logPath string
	// logOut receives the farms' own log lines (farm.log).
	logOut io.Writer
}

// farmRun is one scenario's farm: a freshly provisioned topology (so that
// table sizes do not carry over between scenarios), the local runtime with
// lease timers on as in AWS, its API wrapped by an observer, a call counter
// on every AWS client of the farm process, and its agents.
type farmRun struct {
	r      *rig
	name   string
	top    *topology.Topology
	lf     *wiring.Local
	obs    *observer
	calls  *awscalls.Counter
	admin  *client.Client
	submit *client.Client
	agents []*agentProc
	// proxy counts the agents' AWS calls (their endpoint, and that of the
	// farm's presigned URLs); agentCalls is its counter, agentsFrom its
	// counts when the agents started.
	proxy      *awscalls.Proxy
	agentCalls *awscalls.Counter
	agentsFrom awscalls.Calls
	// logs measures what the farm's components log.
	logs *logMeter
	dir  string
}

func (r *rig) startFarm(ctx context.Context, name string, policy farm.Policy) (*farmRun, error) {
	prefix := "bench-" + farm.NewSecret(3)
	top, err := topology.New(prefix, []string{farm.DefaultPool})
	if err != nil {
		return nil, err
	}
	counter := awscalls.New()
	counter.Classify = classify
	est := ddbunits.New(tablesOf(top)...)
	est.Short = func(s string) string { return strings.TrimPrefix(s, prefix+"-") }
	counter.Inspect = filteredStreamReads(est.Inspect)
	cfg := r.aws
	cfg.APIOptions = slices.Clone(r.aws.APIOptions)
	counter.Attach(&cfg)

	obs := newObserver()
	logs := newLogMeter(r.logOut)
	agentCalls := awscalls.New()
	proxy, err := awscalls.NewProxy(r.emu.URL, agentCalls)
	if err != nil {
		return nil, err
	}
	lf, err := wiring.StartLocal(ctx, wiring.LocalConfig{
		Addr:    "127.0.0.1:0",
		AWS:     &cfg,
		Farm:    wiring.Config{Topology: top, Policy: policy, PresignEndpoint: proxy.URL, Metrics: metricsWriter{logs}},
		WrapAPI: obs.wrap,
		Logger:  slog.New(logs.handler()),
	})
	if err != nil {
		proxy.Close()
		_ = provision.Destroy(context.Background(), r.aws, top)
		return nil, fmt.Errorf("%s: start the farm: %w", name, err)
	}
	fr := &farmRun{r: r, name: name, top: top, lf: lf, obs: obs, calls: counter, proxy: proxy, agentCalls: agentCalls, logs: logs, dir: filepath.Join(r.dir, name)}
	if err := os.MkdirAll(fr.dir, 0o755); err != nil {
		fr.stop()
		return nil, err
	}
	if fr.admin, err = client.New(lf.URL, lf.AdminToken); err != nil {
		fr.stop()
		return nil, err
	}
	// Submissions use a submitter token, as a CI system would (the API
	// looks it up in the tokens table on every request).
	tok, err := fr.admin.CreateToken(ctx, apiv1.TokenRequest{Role: string(farm.RoleSubmitter), Name: "bench"})
	if err != nil {
		fr.stop()
		return nil, fmt.Errorf("%s: submitter token: %w", name, err)
	}
	if fr.submit, err = client.New(lf.URL, tok.Token); err != nil {
		fr.stop()
		return nil, err
	}
	return fr, nil
}

func tablesOf(top *topology.Topology) []ddbunits.Table {
	var out []ddbunits.Table
	for _, t := range dynamostore.Tables(top) {
		dt := ddbunits.Table{Name: t.Name, Key: []string{t.Partition.Name}, Indexes: map[string][]string{}, KeysOnly: map[string]bool{}, Include: map[string][]string{}}
		if t.Sort != nil {
			dt.Key = append(dt.Key, t.Sort.Name)
		}
		for _, ix := range t.Indexes {
			keys := []string{ix.Partition.Name}
			if ix.Sort != nil {
				keys = append(keys, ix.Sort.Name)
			}
			dt.Indexes[ix.Name] = keys
			dt.KeysOnly[ix.Name] = ix.Projection == dynamostore.ProjectKeysOnly || ix.Projection == dynamostore.ProjectInclude
			dt.Include[ix.Name] = ix.NonKeyAttributes
		}
		out = append(out, dt)
	}
	return out
}

// startAgents starts n agent processes of slots slots and waits until each
// has registered and made its first (empty) claim sweep, so that they sit
// in their doorbell long polls when it returns.
func (fr *farmRun) startAgents(ctx context.Context, n, slots int) error {
	fr.agentsFrom = fr.agentCalls.Snapshot()
	procs, err := startAgents(ctx, fr.r.bin.builder, fr.dir, fr.lf.URL, fr.admin, (&emulator.Emulator{URL: fr.proxy.URL}).Env(), fr.name, n, slots)
	if err != nil {
		return err
	}
	fr.agents = procs
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = fr.obs.waitUntil(wctx, func(o *observer) bool {
		swept := map[string]bool{}
		for _, c := range o.claims {
			swept[c.Builder] = true
		}
		for _, p := range procs {
			if o.puts[p.name] == 0 || !swept[p.name] {
				return false
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("%s: agents did not register and sweep within 30 s (logs in %s): %w", fr.name, fr.dir, err)
	}
	// Let them reach their long polls.
	return sleepCtx(ctx, 300*time.Millisecond)
}

// windowMark is where a measured window of a farm run began.
type windowMark struct {
	calls, agents awscalls.Calls
	routes        map[string]RouteStat
	logs          map[string]LogStat
	at            time.Time
}

func (fr *farmRun) mark() windowMark {
	return windowMark{calls: fr.calls.Snapshot(), agents: fr.agentCalls.Snapshot(), routes: fr.obs.routeSnapshot(), logs: fr.logs.snapshot(), at: time.Now()}
}

// since is what the farm and its agents did since m, phases named.
func (fr *farmRun) since(m windowMark) window {
	return window{
		calls:   awscalls.Merge(fr.farmPhases(fr.calls.Snapshot().Sub(m.calls)), fr.agentPhases(fr.agentCalls.Snapshot().Sub(m.agents))),
		routes:  subRoutes(fr.obs.routeSnapshot(), m.routes),
		logs:    subLogs(fr.logs.snapshot(), m.logs),
		seconds: time.Since(m.at).Seconds(),
	}
}

// stopAgents drains the agents and returns the AWS calls they made.
func (fr *farmRun) stopAgents() (awscalls.Calls, error) {
	stopAgents(fr.agents)
	fr.agents = nil
	return fr.agentCalls.Snapshot().Sub(fr.agentsFrom), nil
}

// queueDepth is what a queue holds: messages waiting (visible or
// delayed) and messages in flight (received, not yet deleted).
func (fr *farmRun) queueDepth(ctx context.Context, name string) (waiting, inFlight int, err error) {
	sq := sqs.NewFromConfig(fr.r.aws)
	url, err := sq.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		return 0, 0, err
	}
	out, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: url.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{
		sqstypes.QueueAttributeNameApproximateNumberOfMessages,
		sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed,
	}})
	if err != nil {
		return 0, 0, err
	}
	n := func(a sqstypes.QueueAttributeName) int {
		var k int
		fmt.Sscan(out.Attributes[string(a)], &k)
		return k
	}
	return n(sqstypes.QueueAttributeNameApproximateNumberOfMessages) + n(sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed),
		n(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible), nil
}

// waitQueueEmpty waits, at most max, until queue holds nothing — or, with
// inFlightOK, nothing waiting: a doorbell that an agent received without a
// free slot to answer it stays in flight until its visibility timeout (30 s)
// and is not waited for; it returns how many are in flight.
func (fr *farmRun) waitQueueEmpty(ctx context.Context, queue string, max time.Duration, inFlightOK bool) (inFlight int, ok bool, err error) {
	deadline := time.Now().Add(max)
	for {
		waiting, inFlight, err := fr.queueDepth(ctx, queue)
		if err != nil {
			return 0, false, err
		}
		if waiting == 0 && (inFlight == 0 || inFlightOK) {
			return inFlight, true, nil
		}
		if time.Now().After(deadline) {
			return inFlight, false, nil
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return inFlight, false, err
		}
	}
}

func (fr *farmRun) doorbellQueue() string {
	q, _ := fr.top.PoolQueue(farm.DefaultPool)
	return q.Name
}

// stop ends the agents, the farm and its topology.
func (fr *farmRun) stop() {
	if fr.agents != nil {
		stopAgents(fr.agents)
		fr.agents = nil
	}
	if fr.lf != nil {
		fr.lf.Stop()
		fr.lf = nil
	}
	if fr.proxy != nil {
		fr.proxy.Close()
		fr.proxy = nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := provision.Destroy(ctx, fr.r.aws, fr.top); err != nil {
		fr.r.log.Warn("topology not destroyed", "prefix", fr.top.Prefix, "err", err)
	}
}

// farmPhases names the phases the classifier could not tell from the
// caller: an SQS poller's receives and deletes belong to what its queue
// feeds (ingest: the farm has no lease timers any more), and its empty
// long polls are idle time.
func (fr *farmRun) farmPhases(calls awscalls.Calls) awscalls.Calls {
	return splitReceives(calls.Map(func(k awscalls.Key) awscalls.Key {
		k.Resource = strings.TrimPrefix(k.Resource, fr.top.Prefix+"-")
		if k.Phase == phaseSQSPoller {
			k.Phase = phaseIngest
		}
		return k
	}))
}

// agentPhases names the phases of an agent's calls: doorbell deliveries
// and deletes belong to claiming, presigned uploads to completing, empty
// long polls are idle time.
func (fr *farmRun) agentPhases(calls awscalls.Calls) awscalls.Calls {
	return splitReceives(calls.Map(func(k awscalls.Key) awscalls.Key {
		switch {
		case k.Service == "SQS":
			k.Phase = phaseClaim
		case strings.HasPrefix(k.Operation, "Presigned"):
			k.Phase = phaseComplete
		default:
			k.Phase = phaseOther
		}
		k.Resource = strings.TrimPrefix(k.Resource, fr.top.Prefix+"-")
		return k
	}))
}

// splitReceives moves the empty ReceiveMessage calls of every entry into
// the idle_poll phase; the receives that delivered stay. A receive's time
// is waiting, not work: it is dropped from both.
func splitReceives(calls awscalls.Calls) awscalls.Calls {
	var out awscalls.Calls
	for _, e := range calls {
		if e.Service != "SQS" || e.Operation != "ReceiveMessage" {
			out = append(out, e)
			continue
		}
		empty := e
		empty.Phase = phaseIdlePoll
		empty.Calls = e.Calls - e.NonEmpty
		empty.Attempts = e.Attempts - e.NonEmpty
		empty.Records, empty.NonEmpty, empty.Nanos = 0, 0, 0
		full := e
		full.Calls, full.Attempts, full.Nanos = e.NonEmpty, e.NonEmpty, 0
		if full.Calls > 0 {
			out = append(out, full)
		}
		if empty.Calls > 0 {
			out = append(out, empty)
		}
	}
	return awscalls.Merge(out)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
