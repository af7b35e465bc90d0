package stack

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/buildfarm/buildfarm/shared/farm/fleet"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

// fleetJSON is the asg fixture's fleet: a spot arm64 pool and an
// ephemeral on-demand x86 pool kept at one instance.
const fleetJSON = `{"gpu-large":{"instanceTypes":["c7g.large","c7g.xlarge"],"spot":true,"min":0,"max":4,"slots":2,"idleMinutes":15},` +
	`"default":{"arch":"x86_64","instanceTypes":["c7i.large"],"min":1,"max":3,"ephemeral":true}}`

const testIdentityCert = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n"

func TestNoBuilderInstancesByDefault(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{"AWS::AutoScaling::AutoScalingGroup", "AWS::EC2::LaunchTemplate", "AWS::EC2::VPC", "AWS::EC2::Instance"} {
		if n := len(defaultFarm.ofType(typ)); n != 0 {
			t.Errorf("default farm has %d %s", n, typ)
		}
	}
	if defaultFarm.farm.Scaler != nil {
		t.Error("a farm without a fleet has a scaler")
	}
}

// TestFleetGroups: one Auto Scaling group per configured pool, with its
// cap, spot or not, protected from scale-in, IMDSv2 only, its own role.
func TestFleetGroups(t *testing.T) {
	t.Parallel()
	fx := asgFarm
	groups := fx.ofType("AWS::AutoScaling::AutoScalingGroup")
	if len(groups) != len(fx.farm.Config.Fleet) {
		t.Fatalf("%d groups for fleet %+v", len(groups), fx.farm.Config.Fleet)
	}
	for _, p := range fx.farm.Config.Fleet {
		g := fx.res[fx.ids["fleet:"+p.Pool]].Properties
		if g["AutoScalingGroupName"] != "ci-"+p.Pool || g["MinSize"] != itoa(p.Min) || g["MaxSize"] != itoa(p.Max) {
			t.Errorf("%s: name %v size %v..%v", p.Pool, g["AutoScalingGroupName"], g["MinSize"], g["MaxSize"])
		}
		if g["DesiredCapacity"] != nil {
			t.Errorf("%s: desired capacity %v in the template: a deploy would reset the scaler's", p.Pool, g["DesiredCapacity"])
		}
		if g["NewInstancesProtectedFromScaleIn"] != true {
			t.Errorf("%s: new instances not protected from scale-in", p.Pool)
		}
		var tagged bool
		for _, tag := range list(g["Tags"]) {
			tag := tag.(map[string]any)
			tagged = tagged || (tag["Key"] == TagPool && tag["Value"] == p.Pool && tag["PropagateAtLaunch"] == true)
		}
		if !tagged {
			t.Errorf("%s: tags %v", p.Pool, g["Tags"])
		}
		mip := g["MixedInstancesPolicy"].(map[string]any)
		dist := mip["InstancesDistribution"].(map[string]any)
		wantOnDemand := 100.0
		if p.Spot {
			wantOnDemand = 0
		}
		if dist["OnDemandPercentageAboveBaseCapacity"] != wantOnDemand || dist["SpotAllocationStrategy"] != "price-capacity-optimized" {
			t.Errorf("%s: distribution %v", p.Pool, dist)
		}
		ltSpec := mip["LaunchTemplate"].(map[string]any)
		var types []string
		for _, o := range list(ltSpec["Overrides"]) {
			types = append(types, o.(map[string]any)["InstanceType"].(string))
		}
		if !slices.Equal(types, p.InstanceTypes) {
			t.Errorf("%s: instance types %v, want %v", p.Pool, types, p.InstanceTypes)
		}
		ltRef := ltSpec["LaunchTemplateSpecification"].(map[string]any)["LaunchTemplateId"].(map[string]any)
		lt := fx.res[ltRef["Ref"].(string)].Properties["LaunchTemplateData"].(map[string]any)
		if toJSON(lt["MetadataOptions"]) != `{"HttpPutResponseHopLimit":1,"HttpTokens":"required"}` {
			t.Errorf("%s: metadata options %v (IMDSv2 required, hop limit 1)", p.Pool, lt["MetadataOptions"])
		}
		if !strings.Contains(toJSON(lt["BlockDeviceMappings"]), `"Encrypted":true`) {
			t.Errorf("%s: volumes %v", p.Pool, lt["BlockDeviceMappings"])
		}
		wantShutdown := "stop"
		if p.Ephemeral {
			wantShutdown = "terminate"
		}
		if lt["InstanceInitiatedShutdownBehavior"] != wantShutdown {
			t.Errorf("%s: shutdown behaviour %v, want %s", p.Pool, lt["InstanceInitiatedShutdownBehavior"], wantShutdown)
		}
		ud := toJSON(lt["UserData"])
		for _, want := range []string{`FARM_EC2_IDENTITY=true\n`, `FARM_POOLS=` + p.Pool + `\n`, `FARM_SLOTS=` + itoa(p.Slots) + `\n`,
			`/builder/farm-builder-linux-` + goarch(p.Arch), `meta skuid \"farm-job\" ip daddr { 169.254.169.254, 169.254.170.2 }`} {
			if !strings.Contains(ud, want) {
				t.Errorf("%s: user data lacks %q", p.Pool, want)
			}
		}
		if strings.Contains(ud, "secretsmanager") || strings.Contains(ud, "FARM_TOKEN=") {
			t.Errorf("%s: user data reads a shared secret", p.Pool)
		}
		if p.Ephemeral != strings.Contains(ud, "systemctl --no-block poweroff") {
			t.Errorf("%s: ephemeral %v but poweroff on exit %v", p.Pool, p.Ephemeral, !p.Ephemeral)
		}
		// The pool's role: its own doorbell queue and the agent binary, nothing else.
		var actions []string
		for _, st := range fx.inlineStatements(fx.ids["fleetRole:"+p.Pool]) {
			actions = append(actions, strs(st["Action"])...)
			res := toJSON(st["Resource"])
			q, _ := fx.farm.Topology.PoolQueue(p.Pool)
			if strings.HasPrefix(strs(st["Action"])[0], "sqs:") && !strings.Contains(res, fx.ids["queue:"+q.ID]) {
				t.Errorf("%s: queue actions on %s", p.Pool, res)
			}
		}
		slices.Sort(actions)
		if want := []string{"s3:GetObject", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:ReceiveMessage"}; !slices.Equal(actions, want) {
			t.Errorf("%s: role actions %v, want %v", p.Pool, actions, want)
		}
	}
	for id, sg := range fx.ofType("AWS::EC2::SecurityGroup") {
		if sg.Properties["SecurityGroupIngress"] != nil {
			t.Errorf("%s allows inbound %v", id, sg.Properties["SecurityGroupIngress"])
		}
	}
	if n := len(fx.ofType("AWS::SecretsManager::Secret")); n != 1 {
		t.Errorf("%d secrets: the fleet needs no builder token secret (only the admin token)", n)
	}
}

// TestScalerFunction: scheduled each minute, woken by queued jobs on the
// stream, configured with the fleet, allowed to change only the fleet's groups.
func TestScalerFunction(t *testing.T) {
	t.Parallel()
	fx := asgFarm
	fn := fx.res[fx.ids["fn:"+FnScaler]].Properties
	env := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
	cfg, err := fleet.Parse(env[EnvFleet].(string))
	if err != nil {
		t.Fatalf("FARM_FLEET: %v", err)
	}
	if env[wiring.EnvDispatchShards] != "gpu-large=4" {
		t.Errorf("the scaler counts queues on %v shards, want the pools' widths", env[wiring.EnvDispatchShards])
	}
	if gpu, ok := cfg.Pool("gpu-large"); !ok || gpu.Group != "ci-gpu-large" || gpu.Max != 4 || gpu.Slots != 2 || gpu.IdleSeconds != 900 {
		t.Fatalf("fleet %+v", cfg)
	}
	var scheduled bool
	for _, r := range fx.ofType("AWS::Events::Rule") {
		if r.Properties["ScheduleExpression"] == "rate(1 minute)" && strings.Contains(toJSON(r.Properties["Targets"]), fx.ids["fn:"+FnScaler]) {
			scheduled = true
		}
	}
	if !scheduled {
		t.Error("the scaler is not run every minute")
	}
	var woken bool
	for _, m := range fx.ofType("AWS::Lambda::EventSourceMapping") {
		p := m.Properties
		if strings.Contains(toJSON(p["FunctionName"]), fx.ids["fn:"+FnScaler]) {
			woken = strings.Contains(toJSON(p["FilterCriteria"]), `\"status\":{\"S\":[\"queued\"]}`) && p["MaximumBatchingWindowInSeconds"] == 5.0
			if !woken {
				t.Errorf("scaler stream mapping %s", toJSON(p))
			}
		}
	}
	if !woken {
		t.Error("the scaler is not woken by queued jobs on the stream")
	}
	var change, describe int
	for _, st := range fx.roleStatements(fx.ids["role:"+FnScaler]) {
		actions := strs(st["Action"])
		for _, a := range actions {
			if !strings.HasPrefix(a, "autoscaling:") {
				continue
			}
			res := strs(st["Resource"])
			switch {
			case slices.Contains(ScalerGroupActions, a):
				change++
				if len(res) != len(fx.farm.Config.Fleet) || !strings.Contains(toJSON(res), "autoScalingGroupName/ci-gpu-large") {
					t.Errorf("%s on %v: want only the fleet's groups", a, res)
				}
			case slices.Contains(DescribeActions, a):
				describe++
			default:
				t.Errorf("scaler may %s", a)
			}
		}
	}
	if change != len(ScalerGroupActions) || describe != len(DescribeActions) {
		t.Errorf("autoscaling grants: %d change, %d describe", change, describe)
	}
	api := fx.res[fx.ids["fn:"+FnAPI]].Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
	if api[EnvIdentityCert] != strings.TrimSpace(testIdentityCert) || api[EnvFleet] != env[EnvFleet] {
		t.Errorf("api environment lacks the fleet identity: %v", api)
	}
}

func TestAgentUserData(t *testing.T) {
	t.Parallel()
	lines := agentUserData(agentUserDataParams{
		Region: "eu-west-1", Bucket: "b", AgentKey: "builder/farm-builder-linux-amd64",
		API: "https://api.example/", Pool: "gpu", Slots: 4,
	})
	script := strings.Join(lines, "\n")
	for _, want := range []string{
		"FARM_API=https://api.example\n", "FARM_POOLS=gpu\n", "FARM_SLOTS=4\n", "FARM_EPHEMERAL=false\n",
		"s3://b/builder/farm-builder-linux-amd64", "systemctl enable --now farm-builder.service",
		// No shared secret: the token comes from the instance's own identity,
		// its nonce in a root-only directory.
		"FARM_EC2_IDENTITY=true\n", "FARM_KIND=ec2\n", "install -d -m 0700 /var/lib/farm-builder/identity",
		"FARM_IDENTITY_NONCE_FILE=/var/lib/farm-builder/identity/nonce\n",
		// The agent is root, so that jobs run as the job user, in cgroups of their own.
		"User=root", "FARM_JOB_USER=farm-job\n", "Delegate=yes",
		"useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /sbin/nologin farm-job",
		// The job user cannot reach the metadata services (IPv4, IPv6, container credentials).
		`meta skuid "farm-job" ip daddr { 169.254.169.254, 169.254.170.2 } counter reject`,
		`meta skuid "farm-job" ip6 daddr fd00:ec2::254 counter reject`,
		"systemctl enable --now nftables.service", "Requires=nftables.service", "After=network-online.target nftables.service",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("user data lacks %q:\n%s", want, script)
		}
	}
	for _, bad := range []string{"FARM_TOKEN=", "--token ", "secretsmanager", "FARM_BUILDER=", "poweroff"} {
		if strings.Contains(script, bad) {
			t.Errorf("user data holds %q", bad)
		}
	}
	if strings.Index(script, "useradd") > strings.Index(script, "nftables.service") {
		t.Error("the job user must be created before nftables loads rules naming it")
	}
	eph := strings.Join(agentUserData(agentUserDataParams{Region: "r", Bucket: "b", AgentKey: "k", API: "https://a", Pool: "p", Slots: 1, Ephemeral: true}), "\n")
	if !strings.Contains(eph, "FARM_EPHEMERAL=true\n") || !strings.Contains(eph, `ExecStopPost=/bin/sh -c 'if [ "$SERVICE_RESULT" = success ]; then systemctl --no-block poweroff; fi'`) {
		t.Errorf("ephemeral user data:\n%s", eph)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// inlineStatements are the statements of a role's inline policies (and of
// any AWS::IAM::Policy attached to it).
func (f *fixture) inlineStatements(roleID string) []map[string]any {
	out := f.roleStatements(roleID)
	for _, p := range list(f.res[roleID].Properties["Policies"]) {
		out = append(out, statements(p.(map[string]any)["PolicyDocument"])...)
	}
	return out
}
