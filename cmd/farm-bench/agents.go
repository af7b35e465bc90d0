package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/adapter/client"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// agentProc is one farm-builder process.
type agentProc struct {
	name    string
	cmd     *exec.Cmd
	logFile string
	exited  chan struct{}
	err     error
}

// startAgents starts n farm-builder processes of slots slots each for the
// default pool, each with its own builder token, pointed at the farm's API
// and (for doorbells) at the emulator through awsEnv — the farm run's
// counting proxy, which counts their AWS calls.
func startAgents(ctx context.Context, bin, dir, apiURL string, admin *client.Client, awsEnv []string, prefix string, n, slots int) ([]*agentProc, error) {
	var procs []*agentProc
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("%s-%d", prefix, i)
		tok, err := admin.CreateToken(ctx, apiv1.TokenRequest{Role: string(farm.RoleBuilder), Builder: name, Name: "bench " + name})
		if err != nil {
			stopAgents(procs)
			return nil, fmt.Errorf("token for %s: %w", name, err)
		}
		p := &agentProc{
			name:    name,
			logFile: filepath.Join(dir, name+".log"),
			exited:  make(chan struct{}),
		}
		// The token as the install paths keep it: a 0600 file, never the
		// command line or the environment.
		tokenFile := filepath.Join(dir, name+".token")
		if err := os.WriteFile(tokenFile, []byte(tok.Token+"\n"), 0o600); err != nil {
			stopAgents(procs)
			return nil, err
		}
		logs, err := os.Create(p.logFile)
		if err != nil {
			stopAgents(procs)
			return nil, err
		}
		cmd := exec.Command(bin)
		cmd.Env = append(slices.Clone(awsEnv),
			"PATH="+os.Getenv("PATH"),
			"HOME="+dir,
			"FARM_API="+apiURL,
			"FARM_TOKEN_FILE="+tokenFile,
			"FARM_BUILDER="+name,
			"FARM_POOLS="+farm.DefaultPool,
			"FARM_SLOTS="+strconv.Itoa(slots),
			"FARM_KIND=metal", // no instance metadata look-up
			"FARM_WORK_DIR="+filepath.Join(dir, name),
			"FARM_LOG_LEVEL=warn",
		)
		cmd.Stdout, cmd.Stderr = logs, logs
		// Its own process group (stopAgents signals the group), and killed
		// with the benchmark if the benchmark dies first.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			logs.Close()
			stopAgents(procs)
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
		p.cmd = cmd
		go func() {
			p.err = cmd.Wait()
			logs.Close()
			close(p.exited)
		}()
		procs = append(procs, p)
	}
	return procs, nil
}

// stopAgents drains every agent (SIGTERM: running jobs finish, the
// doorbell poll ends) and waits for it to exit; one that has not exited
// after 15 s is killed with its process group.
func stopAgents(procs []*agentProc) {
	for _, p := range procs {
		if p.cmd != nil && p.cmd.Process != nil {
			_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGTERM)
		}
	}
	deadline := time.After(15 * time.Second)
	for _, p := range procs {
		if p.cmd == nil {
			continue
		}
		select {
		case <-p.exited:
		case <-deadline:
		}
		select {
		case <-p.exited:
		default:
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.exited
		}
		// Jobs run in their own process groups; none should be left, but
		// the agent's own group goes too.
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
}
