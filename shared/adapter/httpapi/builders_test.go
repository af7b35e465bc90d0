package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
)

func TestRegisterBuilder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var reg apiv1.BuilderRegistration
	e.must(http.StatusOK, builder1, "PUT", "/v1/builders/b1", map[string]any{
		"kind": "metal", "arch": "arm64", "pools": []string{"default", "amd64"}, "capabilities": []string{"kvm"}, "slots": 3,
	}, &reg)
	if reg.Builder == nil || reg.Name != "b1" || reg.Kind != farm.KindMetal || reg.Slots != 3 || reg.State != farm.BuilderIdle {
		t.Fatalf("registration %+v", reg)
	}
	if len(reg.QueueURLs) != 2 || reg.QueueURLs["amd64"] != "https://sqs.test/queue/pool-amd64" || reg.QueueURLs["default"] == "" {
		t.Fatalf("queue_urls %v", reg.QueueURLs)
	}
	if reg.HeartbeatSeconds != 10 || reg.LeaseSeconds != 30 {
		t.Fatalf("timing %d/%d, want the scheduler's 10/30", reg.HeartbeatSeconds, reg.LeaseSeconds)
	}
	// An admin may register any builder; re-registering updates it.
	e.must(http.StatusOK, admin, "PUT", "/v1/builders/b1", builderSpec, &reg)
	if reg.Slots != 2 || len(reg.Pools) != 1 {
		t.Fatalf("updated %+v", reg.Builder)
	}

	for _, tc := range []struct {
		name, path, body, field string
	}{
		{"kind", "/v1/builders/b9", `{"kind":"vm","arch":"amd64","pools":["default"]}`, "kind"},
		{"pools", "/v1/builders/b9", `{"kind":"ec2","arch":"amd64","pools":[]}`, "pools"},
		{"unserved pool", "/v1/builders/b9", `{"kind":"ec2","arch":"amd64","pools":["gpu"]}`, "pools"},
		{"slots", "/v1/builders/b9", `{"kind":"ec2","arch":"amd64","pools":["default"],"slots":65}`, "slots"},
		{"unknown field", "/v1/builders/b9", `{"kind":"ec2","arch":"amd64","pools":["default"],"ram":4}`, "ram"},
		{"name", "/v1/builders/Bad_Name", `{"kind":"ec2","arch":"amd64","pools":["default"]}`, "name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectError(t, e.do(admin, "PUT", tc.path, tc.body), http.StatusBadRequest, farm.EInvalid, tc.field)
		})
	}
}

func TestGetAndListBuilders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var list apiv1.BuilderList
	e.must(http.StatusOK, submitterA, "GET", "/v1/builders", nil, &list)
	if list.Builders == nil || len(list.Builders) != 0 {
		t.Fatalf("no builders yet: %s", e.do(submitterA, "GET", "/v1/builders", nil).Body)
	}
	e.register(builder1, "b1")
	e.register(builder2, "b2")
	e.must(http.StatusOK, submitterA, "GET", "/v1/builders", nil, &list)
	if len(list.Builders) != 2 {
		t.Fatalf("builders %+v", list.Builders)
	}
	var b farm.Builder
	e.must(http.StatusOK, builder2, "GET", "/v1/builders/b1", nil, &b)
	if b.Name != "b1" || b.LastHeartbeat == nil {
		t.Fatalf("builder %+v", b)
	}
	expectError(t, e.do(admin, "GET", "/v1/builders/b3", nil), http.StatusNotFound, farm.ENotFound, "")
	expectError(t, e.do(admin, "GET", "/v1/builders/NOT%20A%20NAME", nil), http.StatusNotFound, farm.ENotFound, "")
	expectError(t, e.do(admin, "GET", "/v1/builders?x=1", nil), http.StatusBadRequest, farm.EInvalid, "x")
}

func TestDisableEnableBuilder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register(builder1, "b1")
	e.submit(submitterA, "echo")
	expectError(t, e.do(admin, "POST", "/v1/builders/b1/disable", `{}`), http.StatusBadRequest, farm.EInvalid, "reason")
	expectError(t, e.do(admin, "POST", "/v1/builders/b1/disable", nil), http.StatusBadRequest, farm.EInvalid, "")
	var b farm.Builder
	e.must(http.StatusOK, admin, "POST", "/v1/builders/b1/disable", map[string]string{"reason": "disk failing"}, &b)
	if !b.Disabled || b.State != farm.BuilderDisabled || b.DisabledReason == "" {
		t.Fatalf("disabled builder %+v", b)
	}
	// A disabled builder claims nothing.
	expectError(t, e.do(builder1, "POST", "/v1/builders/b1/claim", map[string]string{"pool": "default"}), http.StatusConflict, farm.EConflict, "")
	e.must(http.StatusOK, admin, "POST", "/v1/builders/b1/enable", nil, &b)
	if b.Disabled || b.State != farm.BuilderIdle {
		t.Fatalf("enabled builder %+v", b)
	}
	e.must(http.StatusOK, admin, "POST", "/v1/builders/b1/enable", map[string]string{"reason": "disk replaced"}, nil)
	e.claim()
	expectError(t, e.do(admin, "POST", "/v1/builders/b7/disable", map[string]string{"reason": "x"}), http.StatusNotFound, farm.ENotFound, "")
	expectError(t, e.do(admin, "POST", "/v1/builders/b7/enable", nil), http.StatusNotFound, farm.ENotFound, "")
}
