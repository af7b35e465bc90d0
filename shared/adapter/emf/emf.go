// Package emf writes CloudWatch embedded metric format records: JSON log
// lines that CloudWatch Logs turns into metrics, so a Lambda publishes
// metrics by printing, with no API calls.
package emf

import (
	"encoding/json"
	"io"
	"slices"
	"time"
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

// Writer publishes single metrics as EMF records on W (stdout in Lambda):
// the metrics port of the application services.
type Writer struct{ W io.Writer }

// Publish writes one record of one metric.
func (w Writer) Publish(at time.Time, dims map[string]string, name, unit string, value float64) error {
	return Write(w.W, at, dims, Metric{Name: name, Unit: unit, Value: value})
}
