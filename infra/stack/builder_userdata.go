package stack

import (
	"fmt"
	"strings"
)

type agentUserDataParams struct {
	Region, Bucket, AgentKey, API, Pool string
	Slots                               int
	// Ephemeral: the agent takes one job and exits, and the instance powers
	// off (its launch template terminates it then).
	Ephemeral bool
}

// JobUser is the unprivileged user the EC2 builders run jobs as.
const JobUser = "farm-job"

// metadataRules are the nftables rules that keep jobs away from the instance
// metadata services: the job user's packets to IMDS (IPv4 and IPv6) and to
// the container credentials address are refused, so a job gets no instance
// credentials, whatever the hop limit. The agent (root) still reaches IMDS;
// DNS (169.254.169.253) and time (169.254.169.123) stay open to jobs.
const metadataRules = `table inet farm_builder {
	chain output {
		type filter hook output priority filter; policy accept;
		meta skuid "` + JobUser + `" ip daddr { 169.254.169.254, 169.254.170.2 } counter reject with icmpx type admin-prohibited
		meta skuid "` + JobUser + `" ip6 daddr fd00:ec2::254 counter reject with icmpx type admin-prohibited
	}
}`

// agentUserData installs farm-builder as a systemd service on Amazon Linux
// 2023 (AWS CLI v2 is on the image). The agent runs as root so that each
// job runs as the unprivileged job user, in namespaces and a cgroup of its
// own (Delegate=yes); nftables keeps that user from the metadata service.
// The builder is named after its instance id and gets its token from its
// signed instance identity document (--ec2-identity): no secret is in user
// data, the launch template or any store the instance reads; the nonce the
// farm holds it to is a 0600 file only root reads. An ephemeral builder's
// clean exit after its one job powers the instance off.
func agentUserData(p agentUserDataParams) []string {
	env := strings.Join([]string{
		"FARM_API=" + strings.TrimSuffix(p.API, "/"),
		"FARM_EC2_IDENTITY=true",
		"FARM_IDENTITY_NONCE_FILE=/var/lib/farm-builder/identity/nonce",
		"FARM_KIND=ec2",
		"FARM_POOLS=" + p.Pool,
		fmt.Sprintf("FARM_SLOTS=%d", p.Slots),
		fmt.Sprintf("FARM_EPHEMERAL=%t", p.Ephemeral),
		"FARM_JOB_USER=" + JobUser,
		"FARM_WORK_DIR=/var/lib/farm-builder/work",
		"AWS_REGION=" + p.Region,
	}, "\n")
	stopPost := ""
	if p.Ephemeral {
		stopPost = `
# Ephemeral: its one job done, the agent exits 0 and the machine goes away
# (instance-initiated shutdown terminates it); the group launches a fresh one
# when the queue needs it.
ExecStopPost=/bin/sh -c 'if [ "$SERVICE_RESULT" = success ]; then systemctl --no-block poweroff; fi'`
	}
	unit := `[Unit]
Description=buildfarm builder agent (farm-builder)
Wants=network-online.target
After=network-online.target nftables.service
# Jobs never run without the rules that keep them from the metadata service.
Requires=nftables.service
# Keep retrying while the farm cannot be reached: never give up.
StartLimitIntervalSec=0

[Service]
# Root, so that each job runs as the unprivileged ` + JobUser + ` user.
User=root
WorkingDirectory=/var/lib/farm-builder
EnvironmentFile=/etc/farm-builder.env
ExecStart=/usr/local/bin/farm-builder
# The agent gives each job a cgroup of its own under the service's.
Delegate=yes
# SIGTERM to the agent alone: it drains (running jobs finish and are
# reported); jobs are killed only if it is still running after the timeout.
KillMode=mixed
TimeoutStopSec=3h
Restart=on-failure
RestartSec=15` + stopPost + `

[Install]
WantedBy=multi-user.target`
	return []string{
		"set -euxo pipefail",
		// The job user first: the nftables rules name it.
		"id " + JobUser + " || useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /sbin/nologin " + JobUser,
		"install -d -m 0711 /var/lib/farm-builder /var/lib/farm-builder/work",
		"install -d -m 0700 /var/lib/farm-builder/identity",
		"dnf install -y nftables",
		heredoc("/etc/nftables/farm-builder.nft", metadataRules),
		"grep -q farm-builder.nft /etc/sysconfig/nftables.conf || echo 'include \"/etc/nftables/farm-builder.nft\"' >> /etc/sysconfig/nftables.conf",
		"systemctl enable --now nftables.service",
		"nft list table inet farm_builder",
		// The operator may publish the binary after the instance starts: wait for it.
		fmt.Sprintf("until aws s3 cp --region '%s' 's3://%s/%s' /usr/local/bin/farm-builder; do sleep 30; done", p.Region, p.Bucket, p.AgentKey),
		"chmod 0755 /usr/local/bin/farm-builder",
		heredoc("/etc/farm-builder.env", env),
		heredoc("/etc/systemd/system/farm-builder.service", unit),
		"systemctl daemon-reload",
		"systemctl enable --now farm-builder.service",
	}
}

func heredoc(path, body string) string {
	return "install -d \"$(dirname " + path + ")\"\ncat > " + path + " <<'FARM_EOF'\n" + body + "\nFARM_EOF"
}
