package main

import (
	"math"
	"slices"
	"time"
)

// Summary describes a sample of durations, in milliseconds.
type Summary struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Mean float64 `json:"mean"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
}

// Percentile is the nearest-rank percentile p (0 < p <= 100) of sorted
// values: the smallest value with at least p% of the sample at or below it.
// With fewer than 100 values, p99 is the maximum.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Summarize describes durations in milliseconds.
func Summarize(ds []time.Duration) Summary {
	ms := make([]float64, len(ds))
	for i, d := range ds {
		ms[i] = float64(d) / float64(time.Millisecond)
	}
	return SummarizeMillis(ms)
}

// SummarizeMillis describes values already in milliseconds.
func SummarizeMillis(ms []float64) Summary {
	if len(ms) == 0 {
		return Summary{}
	}
	sorted := slices.Clone(ms)
	slices.Sort(sorted)
	sum := 0.0
	for _, v := range sorted {
		sum += v
	}
	return Summary{
		N:    len(sorted),
		P50:  round(Percentile(sorted, 50), 2),
		P90:  round(Percentile(sorted, 90), 2),
		P99:  round(Percentile(sorted, 99), 2),
		Mean: round(sum/float64(len(sorted)), 2),
		Min:  round(sorted[0], 2),
		Max:  round(sorted[len(sorted)-1], 2),
	}
}

// Ratio is a/b, rounded, or 0 when b is 0.
func Ratio(a, b float64) float64 {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return 0
	}
	return round(a/b, 3)
}

// round rounds v to digits decimals.
func round(v float64, digits int) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	f := math.Pow(10, float64(digits))
	return math.Round(v*f) / f
}

// Spread is a figure measured in several runs: the median (the headline),
// the smallest and the largest, and every run's value in run order.
type Spread struct {
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	Runs   []float64 `json:"runs"`
}

// SpreadOf describes the runs' values. The median of an even number of runs
// is the mean of the middle two. No runs: all zero.
func SpreadOf(runs []float64) Spread {
	if len(runs) == 0 {
		return Spread{Runs: []float64{}}
	}
	sorted := slices.Clone(runs)
	slices.Sort(sorted)
	n := len(sorted)
	med := sorted[n/2]
	if n%2 == 0 {
		med = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	return Spread{Median: round(med, 4), Min: sorted[0], Max: sorted[n-1], Runs: slices.Clone(runs)}
}
