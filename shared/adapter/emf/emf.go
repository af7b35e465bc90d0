// Package emf writes CloudWatch embedded metric format records: JSON log
// lines that CloudWatch Logs turns into metrics, so a Lambda publishes
// metrics by printing, with no API calls.
package emf

import (
	"encoding/json"
	"io"
	"slices"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/metrics"
)

// Namespace of every buildfarm metric.
const Namespace = "Buildfarm"

// Metric is one value.
type Metric struct {
	Name  string
	Unit  string // Seconds, Count, ...
	Value float64
}

type metricDef struct {
	Name string `json:"Name"`
	Unit string `json:"Unit,omitempty"`
}

type directive struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []metricDef `json:"Metrics"`
}

type meta struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

// Write writes one EMF record of metrics with the given dimensions.
func Write(w io.Writer, now time.Time, dims map[string]string, metrics ...Metric) error {
	rec := map[string]any{}
	names := make([]string, 0, len(dims))
	for k, v := range dims {
		rec[k] = v
		names = append(names, k)
	}
	slices.Sort(names)
	d := directive{Namespace: Namespace, Dimensions: [][]string{names}}
	for _, m := range metrics {
		d.Metrics = append(d.Metrics, metricDef{Name: m.Name, Unit: m.Unit})
		rec[m.Name] = m.Value
	}
	rec["_aws"] = meta{Timestamp: now.UnixMilli(), CloudWatchMetrics: []directive{d}}
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	_, err = w.Write(append(line, '\n'))
	return err
}

// Writer publishes the services' metrics as EMF records on W (stdout in
// Lambda): app/metrics.Publisher.
type Writer struct{ W io.Writer }

var _ metrics.Publisher = Writer{}

// Publish writes one record of metrics.
func (w Writer) Publish(at time.Time, dims map[string]string, ms ...metrics.Metric) error {
	out := make([]Metric, len(ms))
	for i, m := range ms {
		out[i] = Metric{Name: m.Name, Unit: m.Unit, Value: m.Value}
	}
	return Write(w.W, at, dims, out...)
}
