package executor

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// initArg0 is the argv[0] under which the builder's binary, re-executed
// through /proc/self/exe, is the init of a job's namespaces. Every binary
// that links this package (farm-builder, farm-local, test binaries) can
// serve, like a tini built in.
const initArg0 = "farm-job-init"

func init() {
	if len(os.Args) == 1 && os.Args[0] == initArg0 {
		os.Exit(jobInit())
	}
}

// initSpec is what the builder hands the init through its fd 3.
type initSpec struct {
	// Probe sets the isolation up and exits 0: DetectIsolation's test.
	Probe bool `json:"probe,omitempty"`
	// Mounts makes the mount namespace private and mounts a fresh /proc.
	Mounts bool     `json:"mounts,omitempty"`
	Hide   []string `json:"hide,omitempty"`
	Args   []string `json:"args,omitempty"`
	Env    []string `json:"env,omitempty"`
	Dir    string   `json:"dir,omitempty"`
	// SetUser runs the job as UID:GID (a root builder's job user).
	SetUser  bool `json:"set_user,omitempty"`
	UID, GID int
	// NestUser runs the job in a user namespace nested in the init's, as
	// NestUID:NestGID there, mapped to the init's root: the job keeps no
	// capability over the init's mounts, which hide the builder.
	NestUser         bool `json:"nest_user,omitempty"`
	NestUID, NestGID int
}

// initStatus is the init's report on its fd 4.
type initStatus struct {
	Error      string `json:"error,omitempty"`       // isolation failed
	StartError string `json:"start_error,omitempty"` // the job's command did not start
	Exited     bool   `json:"exited,omitempty"`
	Code       int    `json:"code,omitempty"`
	Signal     int    `json:"signal,omitempty"`
}

func (st initStatus) ending() ending {
	switch {
	case st.Error != "":
		return ending{err: "isolation: " + st.Error, startFailed: true}
	case st.StartError != "":
		return ending{err: st.StartError, startFailed: true}
	case st.Exited && st.Code == 0:
		return ending{}
	case st.Exited:
		code := st.Code
		return ending{code: &code, err: fmt.Sprintf("exit status %d", code)}
	default:
		return ending{err: "signal: " + syscall.Signal(st.Signal).String()}
	}
}

// forwarded are the signals the init passes on to every process of its
// namespace: a stop's SIGTERM reaches them all, as it reached a process
// group before. (PID 1 of a namespace ignores a signal it has no handler
// for; SIGKILL from the builder kills it, and the kernel the namespace.)
var forwarded = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

// jobInit is the init's main: read the spec, hide the builder, start the
// job, forward signals, reap orphans, and exit with the job's status once
// its main process ends (the kernel then kills what it left behind).
func jobInit() int {
	var st syscall.Stat_t
	if syscall.Fstat(3, &st) != nil || syscall.Fstat(4, &st) != nil {
		fmt.Fprintln(os.Stderr, "farm-job-init is the builder agent's own helper, not a command")
		return 2
	}
	syscall.CloseOnExec(3)
	syscall.CloseOnExec(4)
	specFile, statusFile := os.NewFile(3, "spec"), os.NewFile(4, "status")
	report := func(s initStatus) {
		json.NewEncoder(statusFile).Encode(s)
		statusFile.Close()
	}
	var spec initSpec
	if err := json.NewDecoder(io.LimitReader(specFile, 64<<20)).Decode(&spec); err != nil {
		report(initStatus{Error: "reading the job's spec: " + err.Error()})
		return 125
	}
	specFile.Close()
	if spec.Mounts {
		if err := isolateMounts(spec.Hide); err != nil {
			report(initStatus{Error: err.Error()})
			return 125
		}
	}
	// Neither the job nor anything else may read this process's memory.
	syscall.Syscall(syscall.SYS_PRCTL, syscall.PR_SET_DUMPABLE, 0, 0)
	if spec.Probe {
		report(initStatus{Exited: true})
		return 0
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, forwarded...)
	closeOnExecAbove2()
	pid, err := startJobChild(&spec)
	if err != nil {
		report(initStatus{StartError: err.Error()})
		return 127
	}
	reaped := make(chan syscall.WaitStatus, 1)
	go reapUntil(pid, reaped)
	for {
		select {
		case s := <-sigs:
			syscall.Kill(-1, s.(syscall.Signal))
		case ws := <-reaped:
			var s initStatus
			switch {
			case ws.Exited():
				s.Exited, s.Code = true, ws.ExitStatus()
			case ws.Signaled():
				s.Signal = int(ws.Signal())
			default:
				s.Signal = int(syscall.SIGKILL)
			}
			report(s)
			if s.Signal != 0 {
				return 128 + s.Signal
			}
			return s.Code
		}
	}
}

// isolateMounts keeps the namespace's mounts to itself, gives it a /proc
// that shows only its own processes, and masks the builder's secrets.
func isolateMounts(hide []string) error {
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making the mounts private: %w", err)
	}
	if err := syscall.Mount("proc", "/proc", "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting a fresh /proc: %w", err)
	}
	for _, p := range hide {
		fi, err := os.Stat(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("hiding %s: %w", p, err)
		}
		if fi.IsDir() {
			err = syscall.Mount("tmpfs", p, "tmpfs", syscall.MS_RDONLY|syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, "size=4k,mode=0555")
		} else {
			err = syscall.Mount("/dev/null", p, "", syscall.MS_BIND, "")
		}
		if err != nil {
			return fmt.Errorf("hiding %s: %w", p, err)
		}
	}
	return nil
}

// closeOnExecAbove2 keeps every descriptor but stdin, stdout and stderr
// from the job: one the builder inherited without close-on-exec (from a
// shell, a service manager) would otherwise pass through to it.
func closeOnExecAbove2() {
	entries, _ := os.ReadDir("/proc/self/fd")
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

// startJobChild starts the job's main process in a session of its own, as
// the job user or in a nested user namespace.
func startJobChild(spec *initSpec) (int, error) {
	if len(spec.Args) == 0 {
		return 0, fmt.Errorf("no command")
	}
	path, err := lookPathIn(spec.Args[0], envValue(spec.Env, "PATH"), spec.Dir)
	if err != nil {
		return 0, err
	}
	sys := &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	if spec.SetUser {
		sys.Credential = &syscall.Credential{Uid: uint32(spec.UID), Gid: uint32(spec.GID), Groups: []uint32{}}
	}
	if spec.NestUser {
		sys.Cloneflags = syscall.CLONE_NEWUSER
		sys.UidMappings = []syscall.SysProcIDMap{{ContainerID: spec.NestUID, HostID: 0, Size: 1}}
		sys.GidMappings = []syscall.SysProcIDMap{{ContainerID: spec.NestGID, HostID: 0, Size: 1}}
		sys.GidMappingsEnableSetgroups = false
	}
	pid, err := syscall.ForkExec(path, spec.Args, &syscall.ProcAttr{Dir: spec.Dir, Env: spec.Env, Files: []uintptr{0, 1, 2}, Sys: sys})
	if err != nil {
		return 0, fmt.Errorf("fork/exec %s: %w", path, err)
	}
	return pid, nil
}

// reapUntil reaps every child the init inherits (orphans of the job) and
// sends the wait status of pid when it ends.
func reapUntil(pid int, done chan<- syscall.WaitStatus) {
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(-1, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			// No child left without having seen the job's: report it killed.
			done <- syscall.WaitStatus(syscall.SIGKILL)
			return
		}
		if got == pid {
			done <- ws
			return
		}
	}
}

// lookPathIn finds a command as exec.LookPath would, in the job's PATH.
func lookPathIn(file, path, dir string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			d = "."
		}
		p := filepath.Join(d, file)
		check := p
		if !filepath.IsAbs(check) {
			check = filepath.Join(dir, check)
		}
		if fi, err := os.Stat(check); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec: %q: executable file not found in $PATH", file)
}

func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}
