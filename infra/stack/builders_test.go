package stack

import (
	"strings"
	"testing"
)

func TestNoBuilderInstancesByDefault(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{"AWS::AutoScaling::AutoScalingGroup", "AWS::EC2::LaunchTemplate", "AWS::EC2::VPC", "AWS::EC2::Instance"} {
		if n := len(defaultFarm.ofType(typ)); n != 0 {
			t.Errorf("default farm has %d %s", n, typ)
		}
	}
}

func TestBuilderAutoScalingGroups(t *testing.T) {
	t.Parallel()
	fx := asgFarm
	groups := fx.ofType("AWS::AutoScaling::AutoScalingGroup")
	if len(groups) != len(fx.farm.Config.BuilderNames) {
		t.Fatalf("%d groups for builders %v", len(groups), fx.farm.Config.BuilderNames)
	}
	names := map[string]bool{}
	for id, g := range groups {
		p := g.Properties
		if p["MinSize"] != "1" || p["MaxSize"] != "1" {
			t.Errorf("%s size %v..%v: one group is one named builder", id, p["MinSize"], p["MaxSize"])
		}
		var name string
		for _, tag := range list(p["Tags"]) {
			if tag := tag.(map[string]any); tag["Key"] == "buildfarm:builder" {
				name = tag["Value"].(string)
			}
		}
		names[name] = true
		ltRef, _ := p["LaunchTemplate"].(map[string]any)["LaunchTemplateId"].(map[string]any)
		lt := fx.res[ltRef["Ref"].(string)].Properties["LaunchTemplateData"].(map[string]any)
		if toJSON(lt["MetadataOptions"]) != `{"HttpPutResponseHopLimit":1,"HttpTokens":"required"}` {
			t.Errorf("%s metadata options %v (IMDSv2 required)", name, lt["MetadataOptions"])
		}
		if !strings.Contains(toJSON(lt["BlockDeviceMappings"]), `"Encrypted":true`) {
			t.Errorf("%s volumes %v", name, lt["BlockDeviceMappings"])
		}
		if toJSON(lt["IamInstanceProfile"]) != toJSON(map[string]any{"Arn": getAtt(fx.ids["builderProfile"], "Arn")}) {
			t.Errorf("%s profile %v", name, lt["IamInstanceProfile"])
		}
		if lt["InstanceType"] != "c7g.large" {
			t.Errorf("%s instance type %v", name, lt["InstanceType"])
		}
		ud := toJSON(lt["UserData"])
		for _, want := range []string{
			`FARM_BUILDER=` + name + `\n`, `FARM_POOLS=gpu-large\n`, `FARM_SLOTS=2\n`, `FARM_API=https://`,
			`/builder/farm-builder-linux-arm64`, `systemctl enable --now farm-builder.service`,
			`ExecStartPre=+/usr/local/libexec/farm-builder-token`, fx.ids["builderTokens"],
			// Jobs run as the job user, kept from the metadata service.
			`useradd --system --user-group --no-create-home`, `FARM_JOB_USER=farm-job`,
			`meta skuid \"farm-job\" ip daddr { 169.254.169.254, 169.254.170.2 }`, `Requires=nftables.service`,
		} {
			if !strings.Contains(ud, want) {
				t.Errorf("%s user data lacks %q", name, want)
			}
		}
	}
	for _, n := range fx.farm.Config.BuilderNames {
		if !names[n] {
			t.Errorf("no group for builder %s", n)
		}
	}
	for id, sg := range fx.ofType("AWS::EC2::SecurityGroup") {
		if sg.Properties["SecurityGroupIngress"] != nil {
			t.Errorf("%s allows inbound %v", id, sg.Properties["SecurityGroupIngress"])
		}
	}
	if n := len(fx.ofType("AWS::EC2::FlowLog")); n != 1 {
		t.Errorf("%d flow logs", n)
	}
}

func TestAgentUserData(t *testing.T) {
	t.Parallel()
	lines := agentUserData(agentUserDataParams{
		Region: "eu-west-1", Bucket: "b", AgentKey: "builder/farm-builder-linux-amd64", SecretARN: "arn:secret",
		API: "https://api.example/", Name: "ec2-7", Pools: "default,gpu", Slots: 4,
	})
	script := strings.Join(lines, "\n")
	for _, want := range []string{
		"FARM_API=https://api.example\n", "FARM_BUILDER=ec2-7\n", "FARM_POOLS=default,gpu\n", "FARM_SLOTS=4\n",
		"s3://b/builder/farm-builder-linux-amd64", "--secret-id 'arn:secret'", "'ec2-7' > /run/farm-builder/token.new",
		"systemctl enable --now farm-builder.service",
		// The token reaches the agent as a 0600 file in a 0700 directory on
		// tmpfs: never user data, the environment or a command line.
		"umask 077", "install -d -m 0700 /run/farm-builder", "FARM_TOKEN_FILE=/run/farm-builder/token\n",
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
	for _, bad := range []string{"FARM_TOKEN=", "--token ", "User=farm-builder"} {
		if strings.Contains(script, bad) {
			t.Errorf("user data holds %q: the token must only be fetched into a file at service start", bad)
		}
	}
	// The job user exists before the rules that name it are loaded.
	if strings.Index(script, "useradd") > strings.Index(script, "nftables.service") {
		t.Error("the job user must be created before nftables loads rules naming it")
	}
}
