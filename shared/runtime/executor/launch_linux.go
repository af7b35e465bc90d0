package executor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
)

// launched is a started job process: the init of its namespaces, or its
// main process leading a process group of its own.
type launched struct {
	cmd     *exec.Cmd
	viaInit bool
	status  *os.File // read end of the init's status pipe
	cg      *cgroup  // nil without a cgroup
}

// launch starts p with its isolation, its output to out.
func (p *process) launch(out *os.File) (*launched, error) {
	iso := p.Iso
	if iso == nil {
		iso = &Isolation{}
	}
	l := &launched{}
	if iso.CgroupParent != "" {
		cg, err := newCgroup(iso.CgroupParent, p.Name)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errIsolation, err)
		}
		l.cg = cg
	}
	var err error
	if iso.Namespaces {
		err = l.startInit(iso, p.jobSpec(iso), p.Stdin, out)
	} else {
		err = l.startDirect(iso, p, out)
	}
	if err != nil {
		l.cleanup()
		return nil, err
	}
	return l, nil
}

// jobSpec is what the init is told to run.
func (p *process) jobSpec(iso *Isolation) initSpec {
	s := initSpec{Mounts: true, Args: p.Args, Env: p.Env, Dir: p.Dir, Hide: iso.Hide}
	if iso.User != nil {
		s.SetUser, s.UID, s.GID = true, iso.User.UID, iso.User.GID
	}
	if iso.UserNamespace {
		s.NestUser, s.NestUID, s.NestGID = true, os.Geteuid(), os.Getegid()
	}
	return s
}

// startDirect runs the job's main process itself, leading a process group
// (and in the job's cgroup from its first instruction, by clone3).
func (l *launched) startDirect(iso *Isolation, p *process, out *os.File) error {
	cmd := exec.Command(p.Args[0], p.Args[1:]...)
	cmd.Dir = p.Dir
	cmd.Env = p.Env
	cmd.Stdin = p.Stdin
	cmd.Stdout, cmd.Stderr = out, out
	// A stdin copy blocked by a grandchild never holds Wait up for long.
	cmd.WaitDelay = outputDrainTimeout
	attr := &syscall.SysProcAttr{Setpgid: true}
	if iso.User != nil {
		attr.Credential = &syscall.Credential{Uid: uint32(iso.User.UID), Gid: uint32(iso.User.GID), Groups: []uint32{}}
	}
	l.intoCgroup(attr)
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		return err
	}
	l.cmd = cmd
	return nil
}

// startInit starts the builder's own binary as the init of new PID and
// mount namespaces (and a user namespace when not root) and hands it the
// spec through a pipe: never argv or the environment, which other users
// may read and which the kernel bounds (128 KiB a string).
func (l *launched) startInit(iso *Isolation, spec initSpec, stdin io.Reader, out *os.File) error {
	specR, specW, err := os.Pipe()
	if err != nil {
		return err
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		specR.Close()
		specW.Close()
		return err
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{initArg0}
	cmd.Env = []string{}
	cmd.Dir = "/"
	cmd.Stdin = stdin
	if out != nil {
		cmd.Stdout, cmd.Stderr = out, out
	}
	cmd.ExtraFiles = []*os.File{specR, statusW}
	cmd.WaitDelay = outputDrainTimeout
	attr := &syscall.SysProcAttr{
		Setpgid: true,
		// A builder killed outright takes its jobs with it: the farm
		// requeues them, and they must not run twice at once.
		Pdeathsig: syscall.SIGKILL,
	}
	if spec.Mounts {
		attr.Cloneflags = syscall.CLONE_NEWPID | syscall.CLONE_NEWNS
	}
	if iso.UserNamespace {
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		attr.GidMappingsEnableSetgroups = false
	}
	l.intoCgroup(attr)
	cmd.SysProcAttr = attr
	err = cmd.Start()
	specR.Close()
	statusW.Close()
	if err != nil {
		specW.Close()
		statusR.Close()
		return err
	}
	l.cmd, l.viaInit, l.status = cmd, true, statusR
	err = json.NewEncoder(specW).Encode(spec)
	if cerr := specW.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		statusR.Close()
		return fmt.Errorf("%w: handing the job to its init: %v", errIsolation, err)
	}
	return nil
}

func (l *launched) intoCgroup(attr *syscall.SysProcAttr) {
	if l.cg != nil {
		attr.UseCgroupFD = true
		attr.CgroupFD = int(l.cg.dir.Fd())
	}
}

// signal sends sig to every process of the job: the init forwards it to
// all of its namespace; otherwise the process group gets it.
func (l *launched) signal(sig syscall.Signal) {
	if l.viaInit {
		l.cmd.Process.Signal(sig)
		return
	}
	killGroup(l.cmd.Process.Pid, sig)
}

// killAll kills every process of the job at once: the init (the kernel then
// kills its whole namespace), the process group, and the cgroup, which also
// holds what left the group.
func (l *launched) killAll() {
	if l.viaInit {
		l.cmd.Process.Kill()
	} else {
		killGroup(l.cmd.Process.Pid, syscall.SIGKILL)
	}
	if l.cg != nil {
		l.cg.kill()
	}
}

// ending reads how the main process ended: from the init's report, or from
// waitErr when the process ran without one (or the init was killed).
func (l *launched) ending(waitErr error) ending {
	if l.viaInit {
		raw, _ := io.ReadAll(io.LimitReader(l.status, 1<<16))
		l.status.Close()
		var st initStatus
		if len(raw) > 0 && json.Unmarshal(raw, &st) == nil {
			return st.ending()
		}
	}
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

// cleanup removes the job's cgroup once it is empty.
func (l *launched) cleanup() error {
	if l.cg == nil {
		return nil
	}
	return l.cg.remove()
}

// probe runs an empty job with iso to see whether this machine allows it.
func probe(iso *Isolation) error {
	l := &launched{}
	if iso.CgroupParent != "" {
		cg, err := newCgroup(iso.CgroupParent, "probe-"+randomSuffix())
		if err != nil {
			return err
		}
		l.cg = cg
	}
	defer l.cleanup()
	spec := initSpec{Probe: true, Mounts: iso.Namespaces, Hide: iso.Hide}
	if err := l.startInit(iso, spec, nil, nil); err != nil {
		return err
	}
	waitErr := l.cmd.Wait()
	end := l.ending(waitErr)
	if end.err != "" {
		return errors.New(end.err)
	}
	return nil
}
