package stack

import (
	"fmt"
	"strings"
)

type agentUserDataParams struct {
	Region, Bucket, AgentKey, SecretARN, API, Name, Pools string
	Slots                                                 int
}

// agentUserData installs farm-builder as a systemd service on Amazon Linux
// 2023 (AWS CLI v2 and python3 are on the image). The token is fetched by a
// root-only ExecStartPre into /run (tmpfs) on every start, so rotating it in
// the secret takes effect on the next restart and it never lands on disk.
func agentUserData(p agentUserDataParams) []string {
	env := strings.Join([]string{
		"FARM_API=" + strings.TrimSuffix(p.API, "/"),
		"FARM_BUILDER=" + p.Name,
		"FARM_POOLS=" + p.Pools,
		fmt.Sprintf("FARM_SLOTS=%d", p.Slots),
		"AWS_REGION=" + p.Region,
	}, "\n")
	fetch := `#!/bin/bash
set -euo pipefail
umask 077
install -d -m 0700 /run/farm-builder
aws secretsmanager get-secret-value --region '` + p.Region + `' --secret-id '` + p.SecretARN + `' --query SecretString --output text |
  python3 -c 'import json,sys; t=json.load(sys.stdin)[sys.argv[1]]; print("FARM_TOKEN="+t)' '` + p.Name + `' > /run/farm-builder/token.env`
	unit := `[Unit]
Description=buildfarm builder agent (farm-builder)
Wants=network-online.target
After=network-online.target
# Keep retrying until the token is in the secret: never give up.
StartLimitIntervalSec=0

[Service]
User=farm-builder
WorkingDirectory=/var/lib/farm-builder
EnvironmentFile=/etc/farm-builder.env
ExecStartPre=+/usr/local/libexec/farm-builder-token
EnvironmentFile=-/run/farm-builder/token.env
ExecStart=/usr/local/bin/farm-builder
# SIGTERM to the agent alone: it drains (running jobs finish and are
# reported); jobs are killed only if it is still running after the timeout.
KillMode=mixed
TimeoutStopSec=3h
Restart=on-failure
RestartSec=15

[Install]
WantedBy=multi-user.target`
	return []string{
		"set -euxo pipefail",
		"useradd --system --create-home --home-dir /var/lib/farm-builder --shell /sbin/nologin farm-builder || true",
		// The operator may publish the binary after the instance starts: wait for it.
		fmt.Sprintf("until aws s3 cp --region '%s' 's3://%s/%s' /usr/local/bin/farm-builder; do sleep 30; done", p.Region, p.Bucket, p.AgentKey),
		"chmod 0755 /usr/local/bin/farm-builder",
		heredoc("/etc/farm-builder.env", env),
		heredoc("/usr/local/libexec/farm-builder-token", fetch),
		"chmod 0700 /usr/local/libexec/farm-builder-token",
		heredoc("/etc/systemd/system/farm-builder.service", unit),
		"systemctl daemon-reload",
		"systemctl enable --now farm-builder.service",
	}
}

func heredoc(path, body string) string {
	return "install -d \"$(dirname " + path + ")\"\ncat > " + path + " <<'FARM_EOF'\n" + body + "\nFARM_EOF"
}
