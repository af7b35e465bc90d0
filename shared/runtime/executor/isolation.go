package executor

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
)

// DefaultJobUser is the unprivileged user a root builder runs jobs as.
const DefaultJobUser = "farm-job"

// Isolation is how a builder keeps the jobs it runs away from itself: its
// token, its memory and environment, its other processes. The zero value is
// the weakest: a job runs as the builder's own user in a process group of
// its own. DetectIsolation picks the strongest this machine allows.
type Isolation struct {
	// User runs every job as this unprivileged user (a root builder); nil
	// runs jobs as the builder's own user.
	User *JobUser
	// Namespaces runs each job under a small init in PID and mount
	// namespaces of its own, with a fresh /proc: the job sees only its own
	// processes, and everything it started dies when it ends.
	Namespaces bool
	// UserNamespace wraps those namespaces in unprivileged user namespaces
	// (a builder that is not root), the job in a nested one without
	// capabilities over the mounts that hide the builder.
	UserNamespace bool
	// CgroupParent is a cgroup v2 directory under which each job gets a
	// cgroup of its own, killed whole (cgroup.kill) when the job ends ("":
	// none).
	CgroupParent string
	// Hide are files and directories of the builder (its token file) that a
	// job's mount namespace masks: a file reads empty, a directory is an
	// empty read-only tmpfs.
	Hide []string
}

// JobUser is the user jobs run as.
type JobUser struct {
	Name     string
	UID, GID int
}

// String describes the isolation for the builder's log.
func (iso *Isolation) String() string {
	if iso == nil {
		return "none"
	}
	var parts []string
	if iso.User != nil {
		parts = append(parts, fmt.Sprintf("job user %s (uid %d)", iso.User.Name, iso.User.UID))
	} else {
		parts = append(parts, fmt.Sprintf("the builder's own user (uid %d)", os.Geteuid()))
	}
	switch {
	case iso.Namespaces && iso.UserNamespace:
		parts = append(parts, "user, PID and mount namespaces with a fresh /proc")
	case iso.Namespaces:
		parts = append(parts, "PID and mount namespaces with a fresh /proc")
	default:
		parts = append(parts, "a process group of its own")
	}
	if iso.CgroupParent != "" {
		parts = append(parts, "a cgroup under "+iso.CgroupParent)
	}
	return strings.Join(parts, ", ")
}

// IsolationConfig is what DetectIsolation is asked for.
type IsolationConfig struct {
	// JobUser is the user a root builder runs jobs as (default farm-job).
	JobUser string
	// CreateUser adds JobUser (useradd --system) when it does not exist.
	CreateUser bool
	// Hide are the builder's own files jobs must not read (its token file).
	Hide []string
	// NoNamespaces and NoCgroup turn those layers off (tests of the
	// fallbacks; machines where they misbehave).
	NoNamespaces, NoCgroup bool
}

// DetectIsolation returns the strongest isolation this process can give its
// jobs, and warnings for the builder to log loudly about what is missing.
//
// As root: jobs run as the job user (created when missing and CreateUser is
// set) in PID and mount namespaces and, where cgroup v2 is usable, a cgroup
// each. Not as root: in unprivileged user, PID and mount namespaces when the
// kernel allows them, else in a process group as the builder's own user. An
// error means a root builder cannot run jobs safely (no job user).
func DetectIsolation(cfg IsolationConfig) (*Isolation, []string, error) {
	iso := &Isolation{Hide: cfg.Hide}
	var warnings []string
	root := os.Geteuid() == 0
	if root {
		name := cfg.JobUser
		if name == "" {
			name = DefaultJobUser
		}
		u, err := lookupJobUser(name, cfg.CreateUser)
		if err != nil {
			return nil, nil, err
		}
		iso.User = u
	} else {
		warnings = append(warnings, fmt.Sprintf("NOT RUNNING AS ROOT (uid %d): jobs run as the builder's own user and can read every file it can; run the builder as root so that jobs run as an unprivileged job user", os.Geteuid()))
	}
	if cfg.NoNamespaces {
		warnings = append(warnings, "PID and mount namespaces are turned off: jobs can see the builder's processes")
	} else {
		try := *iso
		try.Namespaces, try.UserNamespace = true, !root
		err := probe(&try)
		if err != nil && len(try.Hide) > 0 {
			// Masking is a second lock on files jobs cannot read anyway
			// (as root); namespaces without it beat none.
			bare := try
			bare.Hide = nil
			if probe(&bare) == nil {
				warnings = append(warnings, fmt.Sprintf("cannot mask %v in jobs' mount namespaces (%v): jobs are kept from it by its permissions only", try.Hide, err))
				try, err = bare, nil
			}
		}
		if err == nil {
			*iso = try
		} else if root {
			warnings = append(warnings, fmt.Sprintf("PID and mount namespaces are unavailable (%v): jobs can see the builder's processes and a job that leaves its process group (setsid) may outlive it", err))
		} else {
			warnings = append(warnings, fmt.Sprintf("unprivileged user namespaces are unavailable (%v): jobs run in a process group only, can read the builder's environment and memory through /proc, signal it, and outlive their end with setsid", err))
		}
	}
	if cfg.NoCgroup && !iso.Namespaces {
		warnings = append(warnings, "neither namespaces nor a cgroup: a job's processes that leave its process group (setsid) outlive it")
	}
	if !cfg.NoCgroup {
		if dir, err := cgroupParent(); err == nil {
			try := *iso
			try.CgroupParent = dir
			if err := probe(&try); err == nil {
				*iso = try
			} else {
				warnings = append(warnings, fmt.Sprintf("cgroup v2 at %s is not usable (%v): jobs get no cgroup of their own", dir, err))
			}
		} else if !iso.Namespaces {
			warnings = append(warnings, fmt.Sprintf("no usable cgroup v2 (%v): a job's processes that leave its process group (setsid) outlive it", err))
		}
	}
	return iso, warnings, nil
}

var defaultIsolation = sync.OnceValues(func() (*Isolation, error) {
	iso, _, err := DetectIsolation(IsolationConfig{JobUser: DefaultJobUser, CreateUser: true})
	return iso, err
})

// DefaultIsolation is DetectIsolation with the default job user (created
// when missing), detected once per process: the isolation of a Set made
// without one.
func DefaultIsolation() (*Isolation, error) { return defaultIsolation() }

// errIsolation marks a job that could not be isolated as asked.
var errIsolation = errors.New("isolation")
