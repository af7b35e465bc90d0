package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/testkit/faultproxy"
)

func TestOptions(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "farm-builder")
	if err := os.WriteFile(bin, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	o, err := parseOptions([]string{"-builder-bin", bin}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s, err := o.spec()
	if err != nil {
		t.Fatal(err)
	}
	faults := map[faultproxy.Fault]int{}
	for _, r := range s.Rules {
		faults[r.Fault]++
		if r.Fault == faultproxy.FaultLoseAnswer && r.Service != faultproxy.ServiceDynamoDB {
			t.Errorf("lost answers outside DynamoDB writes: %+v", r)
		}
	}
	if faults[faultproxy.FaultThrottle] != 1 || faults[faultproxy.FaultError] != 1 || faults[faultproxy.FaultLatency] != 1 || faults[faultproxy.FaultLoseAnswer] != len(writeOps) {
		t.Errorf("default rules %+v", s.Rules)
	}
	if len(s.Outages) != 1 || s.Outages[0].Duration.D() != 20*time.Second || s.Outages[0].After.D() != 15*time.Second {
		t.Errorf("default outage %+v", s.Outages)
	}
	if o.jobs != 150 || o.lease <= o.outage {
		t.Errorf("defaults: %d jobs, lease %v, outage %v", o.jobs, o.lease, o.outage)
	}

	o, err = parseOptions([]string{"-builder-bin", bin, "-outage", "0", "-latency", "0", "-spec", `{"seed":9,"rules":[{"fault":"error","rate":0.5}]}`}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := o.spec(); s.Seed != 9 || len(s.Rules) != 1 || len(s.Outages) != 0 {
		t.Errorf("-spec did not replace the rules: %+v", s)
	}

	for _, bad := range [][]string{
		{},
		{"-builder-bin", bin, "-jobs", "0"},
		{"-builder-bin", bin, "-jobs", "100000"},
		{"-builder-bin", bin, "-timeout", "100h"},
		{"-builder-bin", bin, "-lease", "1s", "-heartbeat", "1s"},
		{"-builder-bin", bin, "-throttle", "2"},
		{"-builder-bin", bin, "-outage-mode", "sideways"},
		{"-builder-bin", bin, "-emulator", "http://10.0.0.1:4566"},
		{"-builder-bin", bin, "extra"},
		{"-builder-bin", filepath.Join(t.TempDir(), "missing")},
	} {
		if _, err := parseOptions(bad, io.Discard); err == nil {
			t.Errorf("parseOptions(%s) accepted it", strings.Join(bad, " "))
		}
	}
}
