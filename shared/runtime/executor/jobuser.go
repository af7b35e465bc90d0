package executor

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"time"
)

// lookupJobUser finds the user jobs run as, adding it when create is set and
// it does not exist. A job user that is root is refused: it would be no
// isolation at all.
func lookupJobUser(name string, create bool) (*JobUser, error) {
	u, err := user.Lookup(name)
	var unknown user.UnknownUserError
	if errors.As(err, &unknown) && create {
		if cerr := createJobUser(name); cerr != nil {
			return nil, cerr
		}
		u, err = user.Lookup(name)
	}
	if errors.As(err, &unknown) {
		return nil, fmt.Errorf("job user %q does not exist: create it (useradd --system --user-group --no-create-home --shell /usr/sbin/nologin %s) or name another with --job-user", name, name)
	}
	if err != nil {
		return nil, fmt.Errorf("job user %q: %w", name, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("job user %q: uid %q gid %q are not numbers", name, u.Uid, u.Gid)
	}
	if uid == 0 || gid == 0 {
		return nil, fmt.Errorf("job user %q has uid %d, gid %d: jobs must not run as root or in its group", name, uid, gid)
	}
	return &JobUser{Name: name, UID: uid, GID: gid}, nil
}

// createJobUser adds a system user with a group of its own, no home and no
// login shell. Builders starting at once may race: a user that exists by the
// time useradd fails is success.
func createJobUser(name string) error {
	shell := "/bin/false"
	for _, s := range []string{"/usr/sbin/nologin", "/sbin/nologin"} {
		if _, err := os.Stat(s); err == nil {
			shell = s
			break
		}
	}
	var last error
	for attempt := 0; attempt < 10; attempt++ {
		out, err := exec.Command("useradd", "--system", "--user-group", "--no-create-home",
			"--home-dir", "/nonexistent", "--shell", shell, name).CombinedOutput()
		if _, lerr := user.Lookup(name); lerr == nil {
			return nil
		}
		if err == nil {
			return fmt.Errorf("useradd %s succeeded but the user is not found", name)
		}
		last = fmt.Errorf("useradd %s: %v: %s", name, err, strings.TrimSpace(string(out)))
		if errors.Is(err, exec.ErrNotFound) {
			break
		}
		time.Sleep(time.Duration(100*(attempt+1)) * time.Millisecond)
	}
	return fmt.Errorf("creating job user %q: %w", name, last)
}

// EnsureJobUser returns the job user name, adding it when it does not
// exist: what install paths and the local runtime do before starting
// builders as root.
func EnsureJobUser(name string) (*JobUser, error) {
	if name == "" {
		name = DefaultJobUser
	}
	return lookupJobUser(name, true)
}
