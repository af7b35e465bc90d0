//go:build !linux

package executor

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// Off Linux there are no namespaces or cgroups: a job runs in a process
// group of its own (as the job user when the builder is root), and
// DetectIsolation says so.

var errLinuxOnly = errors.New("needs Linux")

type launched struct{ cmd *exec.Cmd }

func (p *process) launch(out *os.File) (*launched, error) {
	iso := p.Iso
	if iso == nil {
		iso = &Isolation{}
	}
	if iso.Namespaces || iso.CgroupParent != "" {
		return nil, errLinuxOnly
	}
	cmd := exec.Command(p.Args[0], p.Args[1:]...)
	cmd.Dir, cmd.Env, cmd.Stdin = p.Dir, p.Env, p.Stdin
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = outputDrainTimeout
	attr := &syscall.SysProcAttr{Setpgid: true}
	if iso.User != nil {
		attr.Credential = &syscall.Credential{Uid: uint32(iso.User.UID), Gid: uint32(iso.User.GID), Groups: []uint32{}}
	}
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &launched{cmd: cmd}, nil
}

func (l *launched) signal(sig syscall.Signal) { killGroup(l.cmd.Process.Pid, sig) }
func (l *launched) killAll()                  { killGroup(l.cmd.Process.Pid, syscall.SIGKILL) }
func (l *launched) cleanup() error            { return nil }

func (l *launched) ending(waitErr error) ending {
	if waitErr == nil {
		return ending{}
	}
	e := ending{err: waitErr.Error()}
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) && ee.Exited() {
		code := ee.ExitCode()
		e.code = &code
	}
	return e
}

func probe(*Isolation) error        { return errLinuxOnly }
func cgroupParent() (string, error) { return "", errLinuxOnly }
