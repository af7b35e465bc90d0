package stack

import (
	"strings"
	"testing"
)

func TestQueuesComeFromTopologyWithDLQs(t *testing.T) {
	t.Parallel()
	for name, fx := range fixtures() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			top := fx.farm.Topology
			// Every topology queue and its DLQ, plus the stream's on-failure queue.
			if n, want := len(fx.ofType("AWS::SQS::Queue")), 2*len(top.Queues())+1; n != want {
				t.Errorf("%d queues, want %d", n, want)
			}
			for _, q := range top.Queues() {
				id := fx.logicalID(t, "AWS::SQS::Queue", "QueueName", q.Name)
				dlq := fx.logicalID(t, "AWS::SQS::Queue", "QueueName", q.DLQName)
				if id != fx.ids["queue:"+q.ID] || dlq != fx.ids["dlq:"+q.ID] {
					t.Fatalf("%s: logical ids %s/%s are not the constructs", q.Name, id, dlq)
				}
				p := fx.res[id].Properties
				want := map[string]any{
					"VisibilityTimeout":      float64(q.VisibilityTimeoutSeconds),
					"MessageRetentionPeriod": float64(q.RetentionSeconds),
					"SqsManagedSseEnabled":   true,
				}
				for k, v := range want {
					if p[k] != v {
						t.Errorf("%s %s = %v, want %v", q.Name, k, p[k], v)
					}
				}
				redrive := map[string]any{"deadLetterTargetArn": getAtt(dlq, "Arn"), "maxReceiveCount": float64(q.MaxReceiveCount)}
				if toJSON(p["RedrivePolicy"]) != toJSON(redrive) {
					t.Errorf("%s redrive = %s, want %s", q.Name, toJSON(p["RedrivePolicy"]), toJSON(redrive))
				}
				if d := fx.res[dlq].Properties; d["SqsManagedSseEnabled"] != true || d["MessageRetentionPeriod"] != float64(14*24*3600) {
					t.Errorf("%s: %v", q.DLQName, d)
				}
				if q.Pool != "" && !strings.HasSuffix(q.Name, "-pool-"+q.Pool) {
					t.Errorf("pool queue %s for %s", q.Name, q.Pool)
				}
			}
			if len(top.PoolQueues) != len(top.Pools) {
				t.Errorf("%d pool queues for pools %v", len(top.PoolQueues), top.Pools)
			}
		})
	}
}

func TestEveryQueueRefusesPlainHTTP(t *testing.T) {
	t.Parallel()
	for name, fx := range fixtures() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			enforced := map[string]bool{}
			for _, pol := range fx.ofType("AWS::SQS::QueuePolicy") {
				var deniesHTTP bool
				for _, st := range statements(pol.Properties["PolicyDocument"]) {
					if st["Effect"] == "Deny" && strings.Contains(toJSON(st["Condition"]), `"aws:SecureTransport":"false"`) {
						deniesHTTP = true
					}
				}
				for _, q := range list(pol.Properties["Queues"]) {
					if deniesHTTP {
						enforced[toJSON(q)] = true
					}
				}
			}
			for id, r := range fx.ofType("AWS::SQS::Queue") {
				if !enforced[toJSON(ref(id))] {
					t.Errorf("queue %s (%v) has no policy denying aws:SecureTransport=false", id, r.Properties["QueueName"])
				}
			}
		})
	}
}

// statements returns a policy document's statements.
func statements(doc any) []map[string]any {
	d, _ := doc.(map[string]any)
	var out []map[string]any
	for _, s := range list(d["Statement"]) {
		out = append(out, s.(map[string]any))
	}
	return out
}
