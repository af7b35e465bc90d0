package emf_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/emf"
)

func TestWriteProducesAnEMFRecord(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	now := time.UnixMilli(1795435200123)
	if err := emf.Write(&buf, now, map[string]string{"Pool": "arm64"}, emf.Metric{Name: "QueuedJobs", Unit: "Count", Value: 3}); err != nil {
		t.Fatal(err)
	}
	var got struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		Pool       string
		QueuedJobs float64
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	d := got.AWS.CloudWatchMetrics[0]
	if got.AWS.Timestamp != 1795435200123 || d.Namespace != "Buildfarm" || d.Dimensions[0][0] != "Pool" || d.Metrics[0].Name != "QueuedJobs" || got.Pool != "arm64" || got.QueuedJobs != 3 {
		t.Fatalf("record %s", buf.String())
	}
}
