// Package metrics is the contract between the services and where their
// measurements go (CloudWatch embedded metric format records in Lambda:
// adapter/emf.Writer): a named value with its unit, published with the
// dimensions it is broken down by.
package metrics

import "time"

// Metric is one measured value.
type Metric struct {
	Name  string
	Unit  string // Seconds, Count, ...
	Value float64
}

// Publisher publishes measurements taken at at, broken down by dims (one
// record per call).
type Publisher interface {
	Publish(at time.Time, dims map[string]string, metrics ...Metric) error
}
