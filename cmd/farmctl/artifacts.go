package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func runArtifactsList(c *call) error {
	args, err := c.parse(c.flags(), 1, 1)
	if err != nil {
		return err
	}
	list, err := c.client.ListArtifacts(c.ctx, args[0])
	if err != nil {
		return err
	}
	return c.show(func(w io.Writer) {
		row(w, "NAME", "ATTEMPT", "SIZE", "SHA256")
		for _, a := range list {
			row(w, a.Name, itoa(a.Attempt), strconv.FormatInt(a.Size, 10), a.SHA256)
		}
	})
}

// artifactsGetFlags are artifacts get's own: -o is the file here, so the
// global --output keeps only its long name.
func (c *call) artifactsGetFlags() (*flag.FlagSet, *string, *int) {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(&c.apiFlag, "api", "farm API base `URL` (env FARM_API, default "+defaultAPI+")")
	fs.Var(&c.tokenFlag, "token", "API `TOKEN` (env FARM_TOKEN)")
	fs.Var(&c.outputFlag, "output", "output `FORMAT` of the note on stderr: table or json (env FARM_OUTPUT)")
	file := fs.String("o", "", "write to `FILE` (- for stdout; default: the artifact's base name in this directory)")
	attempt := fs.Int("attempt", 0, "the `RUN` of the job whose artifact to get (default: the latest that has one)")
	return fs, file, attempt
}

// runArtifactsGet downloads an artifact through its presigned URL, shows
// a progress bar on a terminal, checks its SHA-256 and only then puts the
// file in place (a failed download leaves nothing behind).
func runArtifactsGet(c *call) error {
	fs, file, attempt := c.artifactsGetFlags()
	args, err := c.parse(fs, 2, 2)
	if err != nil {
		return err
	}
	if *attempt < 0 {
		return c.usage("--attempt must be a run number (1, 2, ...)")
	}
	id, name := args[0], args[1]
	d, err := c.client.ArtifactDownload(c.ctx, id, name, *attempt)
	if err != nil {
		return err
	}
	body, size, err := c.client.OpenArtifact(c.ctx, d)
	if err != nil {
		return err
	}
	defer body.Close()
	if size < 0 {
		size = d.Size
	}
	dst := *file
	if dst == "" {
		dst = path.Base(d.Name)
	}
	var out io.Writer = c.stdout
	var tmp *os.File
	if dst != "-" {
		tmp, err = os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".part-*")
		if err != nil {
			return err
		}
		defer func() {
			if tmp != nil {
				tmp.Close()
				os.Remove(tmp.Name())
			}
		}()
		out = tmp
	}
	h := sha256.New()
	var bar *progressBar
	if c.isTerminal(c.stderr) {
		bar = &progressBar{w: c.stderr, label: path.Base(d.Name), total: size, now: c.now}
		out = io.MultiWriter(out, bar)
	}
	n, err := io.Copy(io.MultiWriter(out, h), body)
	bar.done()
	if err != nil {
		return fmt.Errorf("download %s: %w", d.Name, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	switch {
	case n != d.Size:
		return fmt.Errorf("download %s: got %d bytes, the farm recorded %d", d.Name, n, d.Size)
	case d.SHA256 != "" && sum != d.SHA256:
		return fmt.Errorf("download %s: sha256 %s, the farm recorded %s: the file is not what the job uploaded", d.Name, sum, d.SHA256)
	}
	if tmp != nil {
		if err := tmp.Close(); err != nil {
			return err
		}
		if err := os.Rename(tmp.Name(), dst); err != nil {
			return err
		}
		tmp = nil
	}
	if c.output == outputTable && dst != "-" {
		fmt.Fprintf(c.stderr, "%s: %d bytes, sha256 %s (attempt %d)\n", dst, n, sum, d.Attempt)
	}
	return nil
}

// progressBar draws a download's progress on a terminal, at most every
// 100 ms: "name  [#####     ]  52%  5.2 MiB of 10 MiB".
type progressBar struct {
	w     io.Writer
	label string
	total int64
	now   func() time.Time

	n     int64
	drawn time.Time
	shown bool
}

func (p *progressBar) Write(b []byte) (int, error) {
	p.n += int64(len(b))
	if t := p.now(); t.Sub(p.drawn) >= 100*time.Millisecond {
		p.drawn = t
		p.draw()
	}
	return len(b), nil
}

func (p *progressBar) draw() {
	const width = 30
	line := p.label + "  "
	if p.total > 0 {
		done := int(min(p.n*width/p.total, width))
		line += "[" + strings.Repeat("#", done) + strings.Repeat(" ", width-done) + "] " + fmt.Sprintf("%3d%%  %s of %s", min(p.n*100/p.total, 100), fmtBytes(p.n), fmtBytes(p.total))
	} else {
		line += fmtBytes(p.n)
	}
	io.WriteString(p.w, "\r\x1b[2K"+line)
	p.shown = true
}

// done draws the final state and ends the line.
func (p *progressBar) done() {
	if p == nil {
		return
	}
	p.draw()
	if p.shown {
		io.WriteString(p.w, "\n")
	}
}

func fmtBytes(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	v, unit := float64(n)/1024, 0
	units := []string{"KiB", "MiB", "GiB", "TiB"}
	for v >= 1024 && unit < len(units)-1 {
		v /= 1024
		unit++
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + units[unit]
}
