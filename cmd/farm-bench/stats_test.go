package main

import (
	"math"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	sorted := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		p    float64
		want float64
	}{{50, 5}, {90, 9}, {99, 10}, {100, 10}, {10, 1}, {1, 1}, {55, 6}} {
		if got := Percentile(sorted, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if !math.IsNaN(Percentile(nil, 50)) {
		t.Error("the percentile of nothing should be NaN")
	}
	if got := Percentile([]float64{7}, 99); got != 7 {
		t.Errorf("one value: %v", got)
	}
}

func TestSummarize(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	s := Summarize(ds)
	want := Summary{N: 100, P50: 50, P90: 90, P99: 99, Mean: 50.5, Min: 1, Max: 100}
	if s != want {
		t.Errorf("got %+v, want %+v", s, want)
	}
	if (Summarize(nil) != Summary{}) {
		t.Error("an empty sample should summarize to zero")
	}
	if got := SummarizeMillis([]float64{0.123456}); got.P50 != 0.12 {
		t.Errorf("rounding: %+v", got)
	}
}

func TestRatio(t *testing.T) {
	if got := Ratio(30, 12); got != 2.5 {
		t.Errorf("30/12 = %v", got)
	}
	if got := Ratio(1, 3); got != 0.333 {
		t.Errorf("1/3 = %v", got)
	}
	if Ratio(1, 0) != 0 || Ratio(math.NaN(), 1) != 0 {
		t.Error("undefined ratios should be 0")
	}
}

func TestCostArithmetic(t *testing.T) {
	p := Prices{
		DynamoDBWriteUnitPerMillion: 0.625, DynamoDBReadUnitPerMillion: 0.125,
		SQSRequestPerMillion: 0.40, S3PutPerThousand: 0.005, S3GetPerThousand: 0.0004,
		LambdaRequestPerMillion: 0.20, LambdaGBSecond: 0.0000133334, APIGatewayHTTPPerMillion: 1,
	}
	p.CloudWatchLogsIngestPerGB = 0.50
	u := JobUsage{
		DynamoDBWriteUnits: 10, DynamoDBReadUnits: 8, // 6.25 + 1.00
		SQSRequests:   5,                   // 2.00
		S3PutRequests: 1, S3GetRequests: 1, // 5.00 + 0.40
		APIRequests:         4,    // 4.00
		FunctionURLRequests: 3,    // free
		LambdaInvocations:   6,    // 1.20
		LambdaGBSeconds:     0.05, // 50,000 GB-s = 0.66667
		// 2147.483648 bytes a job: 2 GiB a million jobs = 1.00
		CloudWatchLogsBytes: 2 * GB / 1e6,
	}
	c := p.PerMillion(u)
	want := Cost{DynamoDB: 7.25, SQS: 2, S3: 5.4, APIGateway: 4, Lambda: 1.8667, CloudWatchLogs: 1, Total: 21.5167}
	if c != want {
		t.Errorf("got %+v, want %+v", c, want)
	}
	// A million jobs of twice the usage cost twice as much.
	if d := p.PerMillion(u.Add(u)); math.Abs(d.Total-2*c.Total) > 0.001 {
		t.Errorf("doubling: %v vs %v", d.Total, c.Total)
	}
	if s := u.Scale(0.5); s.SQSRequests != 2.5 || s.LambdaGBSeconds != 0.025 || s.FunctionURLRequests != 1.5 || s.CloudWatchLogsBytes != GB/1e6 {
		t.Errorf("scale: %+v", s)
	}
	// The list prices are all set.
	lp := ListPrices
	for name, v := range map[string]float64{
		"wru": lp.DynamoDBWriteUnitPerMillion, "rru": lp.DynamoDBReadUnitPerMillion, "sqs": lp.SQSRequestPerMillion,
		"s3 put": lp.S3PutPerThousand, "s3 get": lp.S3GetPerThousand, "lambda": lp.LambdaRequestPerMillion,
		"gb-s": lp.LambdaGBSecond, "apigw": lp.APIGatewayHTTPPerMillion, "logs": lp.CloudWatchLogsIngestPerGB,
	} {
		if v <= 0 {
			t.Errorf("list price %s is not set", name)
		}
	}
	if lp.AsOf == "" {
		t.Error("list prices need their date")
	}
}

func TestSpreadOf(t *testing.T) {
	sp := SpreadOf([]float64{0.9, 0.3, 0.5})
	if sp.Median != 0.5 || sp.Min != 0.3 || sp.Max != 0.9 || len(sp.Runs) != 3 || sp.Runs[0] != 0.9 {
		t.Errorf("three runs: %+v", sp)
	}
	// An even number of runs: the mean of the middle two.
	if sp := SpreadOf([]float64{4, 1, 3, 2}); sp.Median != 2.5 || sp.Min != 1 || sp.Max != 4 {
		t.Errorf("four runs: %+v", sp)
	}
	// One outlier does not move the median.
	if sp := SpreadOf([]float64{1.0, 1.1, 9.0}); sp.Median != 1.1 || sp.Max != 9 {
		t.Errorf("outlier: %+v", sp)
	}
	if sp := SpreadOf(nil); sp.Median != 0 || sp.Runs == nil {
		t.Errorf("no runs: %+v", sp)
	}
	// The input is not reordered.
	in := []float64{3, 1, 2}
	SpreadOf(in)
	if in[0] != 3 || in[1] != 1 {
		t.Errorf("input sorted in place: %v", in)
	}
}

// Lambda's own lines are priced unless the system log level silences them.
func TestPlatformLogBytes(t *testing.T) {
	if platformLogBytes("INFO") < 200 || platformLogBytes("DEBUG") != platformLogBytes("INFO") {
		t.Errorf("INFO: %v", platformLogBytes("INFO"))
	}
	if platformLogBytes("WARN") != 0 || platformLogBytes("ERROR") != 0 {
		t.Error("WARN and ERROR write no platform lines")
	}
}

func TestTargets(t *testing.T) {
	r := &Report{CallsPerJob: 7, USDPerMillionJobs: 10.01, ThroughputRatioLikeForLike: 0.6, LatencyRatioP50LikeForLike: 2}
	got := map[string]bool{}
	for _, tg := range checkTargets(r) {
		got[tg.Name] = tg.Met
	}
	want := map[string]bool{"calls_per_job": true, "usd_per_million_jobs": false, "throughput_ratio_like_for_like": true, "latency_ratio_p50_like_for_like": false}
	if len(got) != len(want) {
		t.Fatalf("targets %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s met = %v, want %v", k, got[k], v)
		}
	}
}
