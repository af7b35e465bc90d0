package stack

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/buildfarm/buildfarm/shared/runtime/dispatch"
)

// everyStatement walks the whole template for policy statements (identity
// and resource policies alike).
func everyStatement(v any, visit func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		if st, ok := x["Statement"]; ok {
			for _, s := range list(st) {
				if m, ok := s.(map[string]any); ok {
					visit(m)
				}
			}
		}
		for _, e := range x {
			everyStatement(e, visit)
		}
	case []any:
		for _, e := range x {
			everyStatement(e, visit)
		}
	}
}

func strs(v any) []string {
	var out []string
	for _, e := range list(v) {
		if s, ok := e.(string); ok {
			out = append(out, s)
		} else {
			out = append(out, toJSON(e))
		}
	}
	return out
}

func TestNoWildcardActionOnWildcardResource(t *testing.T) {
	t.Parallel()
	for name, fx := range fixtures() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var n int
			for id, r := range fx.res {
				everyStatement(r.Properties, func(st map[string]any) {
					n++
					actions, resources := strs(st["Action"]), strs(st["Resource"])
					if st["Effect"] != "Allow" {
						return
					}
					for _, a := range actions {
						if a == "*" || strings.HasSuffix(a, ":*") {
							t.Errorf("%s: statement allows every action of %q: %s", id, a, toJSON(st))
						}
					}
					if slices.Contains(resources, "*") {
						// The actions IAM cannot scope (reasons in nag.go and scaler.go).
						describe := slices.Equal(actions, DescribeActions) || slices.Equal(actions, []string{"autoscaling:DescribeAutoScalingInstances"})
						if !slices.Equal(actions, []string{"dynamodb:ListStreams"}) && !describe {
							t.Errorf("%s: %v on Resource * : %s", id, actions, toJSON(st))
						}
					}
				})
			}
			if n < 20 {
				t.Fatalf("found only %d statements; is the walk broken?", n)
			}
		})
	}
}

// roleStatements are the statements of every AWS::IAM::Policy attached to roleID.
func (f *fixture) roleStatements(roleID string) []map[string]any {
	var out []map[string]any
	for _, p := range f.ofType("AWS::IAM::Policy") {
		for _, r := range list(p.Properties["Roles"]) {
			if toJSON(r) == toJSON(ref(roleID)) {
				out = append(out, statements(p.Properties["PolicyDocument"])...)
			}
		}
	}
	return out
}

func TestBuilderRoleOnlyConsumesPoolQueues(t *testing.T) {
	t.Parallel()
	for name, fx := range fixtures() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			role := fx.res[fx.ids["builderRole"]].Properties
			if toJSON(role["ManagedPolicyArns"]) != toJSON([]any{ref(fx.ids["builderPolicy"])}) {
				t.Errorf("builder role managed policies %v", role["ManagedPolicyArns"])
			}
			if role["Policies"] != nil {
				t.Errorf("builder role has inline policies %v", role["Policies"])
			}
			if !strings.Contains(toJSON(role["AssumeRolePolicyDocument"]), `"Service":"ec2.amazonaws.com"`) {
				t.Errorf("builder role trust %v", role["AssumeRolePolicyDocument"])
			}
			sts := statements(fx.res[fx.ids["builderPolicy"]].Properties["PolicyDocument"])
			if len(sts) != 1 {
				t.Fatalf("builder policy has %d statements", len(sts))
			}
			want := slices.Sorted(slices.Values(BuilderQueueActions))
			if got := strs(sts[0]["Action"]); !slices.Equal(got, want) {
				t.Errorf("builder actions %v, want %v", got, want)
			}
			var wantRes []string
			for _, p := range fx.farm.Config.BuilderPools {
				q, _ := fx.farm.Topology.PoolQueue(p)
				wantRes = append(wantRes, toJSON(getAtt(fx.ids["queue:"+q.ID], "Arn")))
			}
			slices.Sort(wantRes)
			got := strs(sts[0]["Resource"])
			slices.Sort(got)
			if !slices.Equal(got, wantRes) {
				t.Errorf("builder queues %v, want %v", got, wantRes)
			}
			profile := fx.res[fx.ids["builderProfile"]].Properties
			if toJSON(profile["Roles"]) != toJSON([]any{ref(fx.ids["builderRole"])}) {
				t.Errorf("instance profile roles %v", profile["Roles"])
			}
			extra := fx.roleStatements(fx.ids["builderRole"])
			if !fx.farm.Config.BuilderAsg {
				if len(extra) != 0 {
					t.Errorf("builder role has extra statements %s", toJSON(extra))
				}
				return
			}
			// With the Auto Scaling groups: the agent's token and binary, nothing else.
			bootstrap := map[string]string{}
			for _, st := range extra {
				bootstrap[toJSON(st["Action"])] = toJSON(st["Resource"])
			}
			wantExtra := map[string]string{
				`"secretsmanager:GetSecretValue"`: toJSON(ref(fx.ids["builderTokens"])),
				`"s3:GetObject"`:                  toJSON(map[string]any{"Fn::Join": []any{"", []any{getAtt(fx.ids["bucket"], "Arn"), "/builder/farm-builder-linux-arm64"}}}),
			}
			if toJSON(bootstrap) != toJSON(wantExtra) {
				t.Errorf("builder bootstrap statements %v\nwant %v", bootstrap, wantExtra)
			}
		})
	}
}

func TestFunctionGrants(t *testing.T) {
	t.Parallel()
	fx := defaultFarm
	top := fx.farm.Topology
	tables := func(ids ...string) []string {
		var out []string
		for _, id := range ids {
			out = append(out, toJSON(getAtt(fx.ids["table:"+id], "Arn")))
		}
		slices.Sort(out)
		return out
	}
	queues := func(keys ...string) []string {
		var out []string
		for _, k := range keys {
			out = append(out, toJSON(getAtt(fx.ids[k], "Arn")))
		}
		slices.Sort(out)
		return out
	}
	var pools []string
	for _, q := range top.PoolQueues {
		pools = append(pools, "queue:"+q.ID)
	}
	obj := func(prefixes ...string) []string {
		var out []string
		for _, p := range prefixes {
			out = append(out, toJSON(map[string]any{"Fn::Join": []any{"", []any{getAtt(fx.ids["bucket"], "Arn"), "/" + p + "*"}}}))
		}
		slices.Sort(out)
		return out
	}
	type grants struct {
		tables, send, receive, get, put, getVersion []string
		list, secret, stream                        bool
	}
	all := []string{}
	for _, tb := range top.Tables() {
		all = append(all, tb.ID)
	}
	want := map[string]grants{
		FnAPI: {
			tables: tables(all...), send: queues(pools...),
			get: obj("artifacts/", "incoming/", "logs/"), put: obj("artifacts/", "logs/"), list: true, secret: true,
			// Artifact downloads are pinned to the version the completion recorded.
			getVersion: obj("artifacts/"),
		},
		FnIngest: {
			tables: tables("Jobs", "Idempotency"), send: queues(pools...),
			receive: queues("queue:" + top.IngestQueue.ID), get: obj("incoming/"), list: true,
		},
		FnDispatch: {
			// Exactly dispatch.TableAccess: TestDispatchGrantsAreItsRecordsNeeds.
			tables: tables("Jobs", "JobDependents", "Resources"), send: queues(append(pools, "dispatchFailures")...), stream: true,
		},
		FnReaper: {
			tables: tables("Jobs", "JobDependents", "Builders", "Resources", "ResourcePools", "Idempotency"),
			send:   queues(pools...),
		},
	}
	for fn, w := range want {
		var got grants
		for _, st := range fx.roleStatements(fx.ids["role:"+fn]) {
			actions, res := strs(st["Action"]), strs(st["Resource"])
			switch {
			case slices.Contains(actions, "dynamodb:PutItem") || slices.Equal(actions, []string{"dynamodb:Query"}):
				for _, r := range res {
					if !strings.Contains(r, "/index/") {
						got.tables = append(got.tables, r)
					}
				}
			case slices.Contains(actions, "dynamodb:DescribeStream") || slices.Equal(actions, []string{"dynamodb:ListStreams"}):
				got.stream = true
			case slices.Contains(actions, "sqs:SendMessage"):
				got.send = append(got.send, res...)
			case slices.Contains(actions, "sqs:ReceiveMessage"):
				got.receive = append(got.receive, res...)
			case slices.Equal(actions, []string{"s3:GetObject"}):
				got.get = append(got.get, res...)
			case slices.Equal(actions, []string{"s3:PutObject"}):
				got.put = append(got.put, res...)
			case slices.Equal(actions, []string{"s3:GetObjectVersion"}):
				got.getVersion = append(got.getVersion, res...)
			case slices.Equal(actions, []string{"s3:ListBucket"}):
				got.list = slices.Equal(res, []string{toJSON(getAtt(fx.ids["bucket"], "Arn"))})
			case slices.Contains(actions, "secretsmanager:GetSecretValue"):
				got.secret = slices.Equal(res, []string{toJSON(ref(fx.ids["adminToken"]))})
			case slices.Equal(actions, []string{"logs:CreateLogStream", "logs:PutLogEvents"}):
			default:
				t.Errorf("%s: unexpected statement %s", fn, toJSON(st))
			}
		}
		for _, l := range [][]string{got.tables, got.send, got.receive, got.get, got.put, got.getVersion} {
			slices.Sort(l)
		}
		check := func(what string, g, w []string) {
			if !slices.Equal(g, w) {
				t.Errorf("%s %s:\n got %v\nwant %v", fn, what, g, w)
			}
		}
		check("tables", got.tables, w.tables)
		check("send", got.send, w.send)
		check("receive", got.receive, w.receive)
		check("s3:GetObject", got.get, w.get)
		check("s3:PutObject", got.put, w.put)
		check("s3:GetObjectVersion", got.getVersion, w.getVersion)
		if got.list != w.list || got.secret != w.secret || got.stream != w.stream {
			t.Errorf("%s list/secret/stream = %v/%v/%v, want %v/%v/%v", fn, got.list, got.secret, got.stream, w.list, w.secret, w.stream)
		}
	}
	// No function role carries a managed policy.
	for _, fn := range FunctionNames {
		if p := fx.res[fx.ids["role:"+fn]].Properties["ManagedPolicyArns"]; p != nil {
			t.Errorf("%s role has managed policies %v", fn, p)
		}
	}
}

// TestDispatchGrantsAreItsRecordsNeeds: the dispatch function may call on
// each table exactly the actions dispatch.TableAccess lists (which that
// package's test checks against what handling every kind of stream record
// calls), nothing more on any table.
func TestDispatchGrantsAreItsRecordsNeeds(t *testing.T) {
	t.Parallel()
	fx := defaultFarm
	got := map[string][]string{}
	for _, st := range fx.roleStatements(fx.ids["role:"+FnDispatch]) {
		for _, a := range strs(st["Action"]) {
			if !strings.HasPrefix(a, "dynamodb:") || a == "dynamodb:ListStreams" || strings.Contains(a, "Stream") || a == "dynamodb:GetRecords" || a == "dynamodb:GetShardIterator" {
				continue
			}
			for _, r := range strs(st["Resource"]) {
				got[r] = append(got[r], a)
			}
		}
	}
	want := map[string][]string{}
	for id, actions := range dispatch.TableAccess {
		want[toJSON(getAtt(fx.ids["table:"+id], "Arn"))] = slices.Sorted(slices.Values(actions))
	}
	for r := range got {
		slices.Sort(got[r])
	}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("dispatch table grants\n got %v\nwant %v", got, want)
	}
}
