package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// show prints the farm's last answer: its raw JSON with --output json, else
// the table that render writes.
func (c *call) show(render func(w io.Writer)) error {
	if c.output == outputJSON {
		return c.printRaw()
	}
	tw := newTable(c.stdout)
	render(tw)
	return tw.Flush()
}

// printRaw prints the farm's last JSON answer byte for byte.
func (c *call) printRaw() error {
	b := c.raw.take()
	if b == nil {
		return errors.New("the farm's answer was not JSON")
	}
	return writeJSONLine(c.stdout, b)
}

// printJSON prints a value farmctl built itself (version, pages joined by --all).
func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeJSONLine(w, b)
}

func writeJSONLine(w io.Writer, b []byte) error {
	if !bytes.HasSuffix(b, []byte("\n")) {
		b = append(b, '\n')
	}
	_, err := w.Write(b)
	return err
}

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

// row writes one tab-separated table row; empty cells show as "-".
func row(w io.Writer, cells ...string) {
	for i, s := range cells {
		if s == "" {
			cells[i] = "-"
		}
		// A tab or newline in a value (an error message) would break the table.
		cells[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(cells[i])
	}
	fmt.Fprintln(w, strings.Join(cells, "\t"))
}

// field is one line of a detail view ("status:  running").
type field struct{ name, value string }

// fields writes a detail view, leaving out empty values.
func fields(w io.Writer, fs []field) {
	for _, f := range fs {
		if f.value != "" {
			fmt.Fprintf(w, "%s:\t%s\n", f.name, strings.ReplaceAll(f.value, "\n", " "))
		}
	}
}

const timeLayout = "2006-01-02T15:04:05Z"

// fmtTime shows a time in UTC to the second, "" for none.
func fmtTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// fmtSeconds shows a duration in seconds, rounded for people.
func fmtSeconds(s *float64) string {
	if s == nil {
		return ""
	}
	return fmtDuration(time.Duration(*s * float64(time.Second)))
}

func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

// fmtUntil shows when t comes, from now ("in 1m30s", "now").
func fmtUntil(t *time.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	d := t.Sub(now).Round(time.Second)
	if d <= 0 {
		return "now"
	}
	return "in " + d.String()
}

func itoa(n int) string { return strconv.Itoa(n) }

// nonZero shows n, or "" for zero (left out of detail views).
func nonZero(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// compactJSON shows a JSON value on one line.
func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}
