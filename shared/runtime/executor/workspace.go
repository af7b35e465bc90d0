package executor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// MaxArtifacts bounds the files one job uploads (the farm records at most 100).
const MaxArtifacts = 100

// Workspace is a job run's directory, <root>/<job id>-<attempt>: the
// command's work dir, with the artifacts directory inside it.
type Workspace struct {
	Dir          string
	ArtifactsDir string
	SourceFile   string
}

// NewWorkspace makes a fresh, empty workspace for a run of job under root.
// A leftover of the same run (a builder that died) is removed first.
func NewWorkspace(root string, job *farm.Job) (*Workspace, error) {
	if job.ID == "" || job.ID == "." || job.ID == ".." || strings.ContainsAny(job.ID, `/\`) {
		return nil, fmt.Errorf("workspace: unsafe job id %q", job.ID)
	}
	dir := filepath.Join(root, job.ID+"-"+strconv.Itoa(job.Attempts))
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("workspace: clear %s: %w", dir, err)
	}
	w := &Workspace{Dir: dir, ArtifactsDir: filepath.Join(dir, "artifacts")}
	if err := os.MkdirAll(w.ArtifactsDir, 0o755); err != nil {
		return nil, fmt.Errorf("workspace: %w", err)
	}
	return w, nil
}

// Task returns the task of running job in this workspace.
func (w *Workspace) Task(job *farm.Job, sourceURL string, log io.Writer, kill <-chan struct{}) *Task {
	return &Task{Job: job, SourceURL: sourceURL, WorkDir: w.Dir, ArtifactsDir: w.ArtifactsDir, SourceFile: w.SourceFile, Log: log, Kill: kill}
}

// SourceName is the file name a job's source is saved as: the last part of
// the payload's source (s3://bucket/incoming/binary-build/hello-1.0.tar.gz
// gives hello-1.0.tar.gz), or "source".
func SourceName(job *farm.Job) string {
	var p farm.Source
	json.Unmarshal(job.Payload, &p)
	name := ""
	if u, err := url.Parse(p.Source); err == nil {
		name = path.Base(u.Path)
	}
	if name == "" || name == "." || name == "/" || name == ".." || strings.HasPrefix(name, ".") || name == "artifacts" {
		return "source"
	}
	return name
}

// FetchSource downloads the job's source from sourceURL into the workspace
// and sets SourceFile. An http(s) source in the payload is fetched directly
// when the farm gave no presigned URL.
func (w *Workspace) FetchSource(ctx context.Context, hc *http.Client, job *farm.Job, sourceURL string) error {
	if sourceURL == "" {
		var p farm.Source
		json.Unmarshal(job.Payload, &p)
		if strings.HasPrefix(p.Source, "http://") || strings.HasPrefix(p.Source, "https://") {
			sourceURL = p.Source
		}
	}
	if sourceURL == "" {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, sourceURL, nil)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		return fmt.Errorf("source: storage answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	file := filepath.Join(w.Dir, SourceName(job))
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("source: download: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("source: %w", err)
	}
	w.SourceFile = file
	return nil
}

// ArtifactFile is a file a job left in its artifacts directory.
type ArtifactFile struct {
	// Name is the path relative to the artifacts directory, with slashes.
	Name string
	Path string
	Size int64
}

// Artifacts lists the regular files in the artifacts directory, sorted by
// name, at most MaxArtifacts (more is an error). Symlinks are skipped: a job
// must not make the builder upload files from outside its workspace. A file
// owned by anyone but the workspace's owner (the job user, for a root
// builder) is an error: a hard link the job made to a file of the
// builder's, which the builder would otherwise upload with its own rights.
func (w *Workspace) Artifacts() ([]ArtifactFile, error) {
	owner, ownerKnown := fileOwner(w.Dir)
	var out []ArtifactFile
	err := filepath.WalkDir(w.ArtifactsDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(w.ArtifactsDir, p)
		if err != nil {
			return err
		}
		if uid, ok := fileOwner(p); ownerKnown && ok && uid != owner {
			return fmt.Errorf("artifacts: %s is not the job's own file (owner uid %d): not uploaded", filepath.ToSlash(rel), uid)
		}
		if len(out) == MaxArtifacts {
			return fmt.Errorf("artifacts: more than %d files in the artifacts directory", MaxArtifacts)
		}
		out = append(out, ArtifactFile{Name: filepath.ToSlash(rel), Path: p, Size: info.Size()})
		return nil
	})
	if os.IsNotExist(err) {
		return nil, nil
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// fileOwner is the uid owning path, without following a symlink.
func fileOwner(path string) (int, bool) {
	fi, err := os.Lstat(path)
	if err != nil {
		return 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

// Remove deletes the workspace. Files a job made read-only are made
// writable first, so that nothing stays behind.
func (w *Workspace) Remove() error {
	filepath.WalkDir(w.Dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	return os.RemoveAll(w.Dir)
}
