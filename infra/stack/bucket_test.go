package stack

import (
	"strconv"
	"strings"
	"testing"
)

func TestBucket(t *testing.T) {
	t.Parallel()
	fx := defaultFarm
	cfg, top := fx.farm.Config, fx.farm.Topology
	if n := len(fx.ofType("AWS::S3::Bucket")); n != 2 {
		t.Errorf("%d buckets, want the farm bucket and its access-log bucket", n)
	}
	for _, key := range []string{"bucket", "accessLogs"} {
		p := fx.res[fx.ids[key]].Properties
		if p["BucketName"] != nil {
			t.Errorf("%s has a fixed name %v: CloudFormation should name it", key, p["BucketName"])
		}
		pab := `{"BlockPublicAcls":true,"BlockPublicPolicy":true,"IgnorePublicAcls":true,"RestrictPublicBuckets":true}`
		if toJSON(p["PublicAccessBlockConfiguration"]) != pab {
			t.Errorf("%s public access %s", key, toJSON(p["PublicAccessBlockConfiguration"]))
		}
		if !strings.Contains(toJSON(p["BucketEncryption"]), `"SSEAlgorithm":"AES256"`) {
			t.Errorf("%s encryption %s", key, toJSON(p["BucketEncryption"]))
		}
	}
	p := fx.res[fx.ids["bucket"]].Properties
	if toJSON(p["VersioningConfiguration"]) != `{"Status":"Enabled"}` {
		t.Errorf("versioning %v", p["VersioningConfiguration"])
	}
	if !strings.Contains(toJSON(p["LoggingConfiguration"]), fx.ids["accessLogs"]) {
		t.Errorf("server access logs %v", p["LoggingConfiguration"])
	}
	rules := map[string]map[string]any{}
	for _, r := range list(p["LifecycleConfiguration"].(map[string]any)["Rules"]) {
		r := r.(map[string]any)
		rules[r["Id"].(string)] = r
	}
	expect := map[string]struct {
		prefix string
		days   int
	}{
		"expire-logs":      {top.Bucket.LogsPrefix, cfg.LogsExpireDays},
		"expire-artifacts": {top.Bucket.ArtifactsPrefix, cfg.ArtifactsExpireDays},
		"expire-incoming":  {top.Bucket.IncomingPrefix, cfg.IncomingExpireDays},
	}
	for id, e := range expect {
		r := rules[id]
		if r["Prefix"] != e.prefix || r["ExpirationInDays"] != float64(e.days) || r["Status"] != "Enabled" {
			t.Errorf("lifecycle %s = %v, want prefix %s after %d days", id, r, e.prefix, e.days)
		}
	}
	// A job's log and artifacts outlive the job that points at them: its
	// retention (the functions' FARM_JOB_RETENTION_DAYS) from its end, plus
	// the longest it may run.
	fnEnv := fx.res[fx.ids["fn:"+FnAPI]].Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
	jobDays, err := strconv.Atoi(fnEnv[EnvJobRetention].(string))
	if err != nil {
		t.Fatalf("%s = %v", EnvJobRetention, fnEnv[EnvJobRetention])
	}
	for _, id := range []string{"expire-logs", "expire-artifacts"} {
		if days := rules[id]["ExpirationInDays"].(float64); days < float64(jobDays+7) {
			t.Errorf("%s after %v days: sooner than the jobs pointing at them expire (%d days + 7)", id, days, jobDays)
		}
	}
	nc := rules["noncurrent-and-incomplete"]
	if toJSON(nc["NoncurrentVersionExpiration"]) != toJSON(map[string]any{"NoncurrentDays": float64(cfg.NoncurrentExpireDays)}) {
		t.Errorf("noncurrent versions %v", nc)
	}
	// Bucket policies deny plain HTTP on both buckets.
	for _, pol := range fx.ofType("AWS::S3::BucketPolicy") {
		if !strings.Contains(toJSON(pol.Properties["PolicyDocument"]), `"aws:SecureTransport":"false"`) {
			t.Errorf("bucket policy without SSL enforcement: %s", toJSON(pol.Properties["PolicyDocument"]))
		}
	}
	if n := len(fx.ofType("AWS::S3::BucketPolicy")); n != 2 {
		t.Errorf("%d bucket policies", n)
	}
}

func TestIncomingUploadsNotifyTheIngestQueue(t *testing.T) {
	t.Parallel()
	fx := defaultFarm
	top := fx.farm.Topology
	var found int
	for _, n := range fx.ofType("Custom::S3BucketNotifications") {
		found++
		want := map[string]any{"QueueConfigurations": []any{map[string]any{
			"Events":   []any{"s3:ObjectCreated:*"},
			"Filter":   map[string]any{"Key": map[string]any{"FilterRules": []any{map[string]any{"Name": "prefix", "Value": top.Bucket.IncomingPrefix}}}},
			"QueueArn": getAtt(fx.ids["queue:"+top.IngestQueue.ID], "Arn"),
		}}}
		if toJSON(n.Properties["NotificationConfiguration"]) != toJSON(want) {
			t.Errorf("notifications %s\nwant %s", toJSON(n.Properties["NotificationConfiguration"]), toJSON(want))
		}
		if toJSON(n.Properties["BucketName"]) != toJSON(ref(fx.ids["bucket"])) {
			t.Errorf("notifications on %v", n.Properties["BucketName"])
		}
	}
	if found != 1 {
		t.Errorf("%d notification resources", found)
	}
	// S3 may send to the ingest queue, only from this bucket.
	var allowed bool
	for _, pol := range fx.ofType("AWS::SQS::QueuePolicy") {
		if toJSON(pol.Properties["Queues"]) != toJSON([]any{ref(fx.ids["queue:"+top.IngestQueue.ID])}) {
			continue
		}
		for _, st := range statements(pol.Properties["PolicyDocument"]) {
			if st["Effect"] == "Allow" && toJSON(st["Principal"]) == `{"Service":"s3.amazonaws.com"}` &&
				strings.Contains(toJSON(st["Condition"]), fx.ids["bucket"]) {
				allowed = true
			}
		}
	}
	if !allowed {
		t.Error("ingest queue policy does not let this bucket's notifications in")
	}
	// CDK's handler role: no managed policy, its own log group with retention.
	role := fx.res[fx.ids["notificationsRole"]].Properties
	if role["ManagedPolicyArns"] != nil {
		t.Errorf("notifications role keeps managed policies %v", role["ManagedPolicyArns"])
	}
}
