package farm

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestBuiltinTypesValidateAndNameTheBadField(t *testing.T) {
	t.Parallel()
	reg := DefaultRegistry()
	if got := strings.Join(reg.Kinds(), ","); got != "binary-build,clean-resource,live-image-build,recipe-build,script" {
		t.Fatalf("kinds %s", got)
	}
	for _, tc := range []struct {
		typ, payload, field string
	}{
		{TypeScript, `{}`, "payload.script"},
		{TypeScript, `{"script":"   "}`, "payload.script"},
		{TypeScript, `{"script":"x","pool":"Not A Pool"}`, "payload.pool"},
		{TypeScript, `{"script":"x","env":{"1BAD":"v"}}`, "payload.env"},
		{TypeScript, `{"script":"x","then":[{"payload":{}}]}`, "payload.then[0].type"},
		{TypeScript, `{"script":"x","surprise":true}`, "payload.surprise"},
		{TypeScript, `{"script":42}`, "payload.script"},
		{TypeScript, `{"script":"x","source":"ftp://x"}`, "payload.source"},
		{TypeScript, `[1]`, "payload"},
		{TypeBinaryBuild, `{}`, "payload.source"},
		{TypeBinaryBuild, `{"package":"p","arch":"AMD64!"}`, "payload.arch"},
		{TypeBinaryBuild, `{"package":"p","component":"nowhere"}`, "payload.component"},
		{TypeBinaryBuild, `{"package":"p","urgency":"whenever"}`, "payload.urgency"},
		{TypeBinaryBuild, `{"package":"p","archive_score":1e9}`, "payload.archive_score"},
		{TypeLiveImageBuild, `{"series":"noble"}`, "payload.project"},
		{TypeLiveImageBuild, `{"project":"ubuntu"}`, "payload.series"},
		{TypeRecipeBuild, `{}`, "payload.branch"},
		{TypeRecipeBuild, `{"branch":"lp:x","archs":["amd64","amd64"]}`, "payload.archs[1]"},
		{TypeCleanResource, `{"resource":"r"}`, "payload.resource_pool"},
		{TypeCleanResource, `{"resource_pool":"p"}`, "payload.resource"},
	} {
		typ, err := reg.Lookup(tc.typ)
		if err != nil {
			t.Fatal(err)
		}
		_, err = typ.Parse(json.RawMessage(tc.payload))
		var fe *Error
		if e, ok := err.(*Error); ok {
			fe = e
		}
		if fe == nil || fe.Code != EInvalid || fe.Field != tc.field || !strings.HasPrefix(fe.Message, tc.field) {
			t.Errorf("%s %s: %v (field %q), want invalid naming %q", tc.typ, tc.payload, err, fieldOf(fe), tc.field)
		}
	}
	if _, err := reg.Lookup("nope"); !IsCode(err, EInvalid) || !strings.Contains(err.Error(), "script") {
		t.Errorf("unknown type: %v", err)
	}
}

func fieldOf(e *Error) string {
	if e == nil {
		return ""
	}
	return e.Field
}

func TestScoresAndPools(t *testing.T) {
	t.Parallel()
	reg := DefaultRegistry()
	for _, tc := range []struct {
		typ, payload string
		priority     int64
		score        int64
		pool         string
	}{
		// Launchpad's additive score: pocket + component + urgency (+ private bonus, archive score) + priority.
		{TypeBinaryBuild, `{"package":"p"}`, 0, 1500 + 1000 + 10, "amd64"},
		{TypeBinaryBuild, `{"package":"p","pocket":"security","component":"universe","urgency":"emergency"}`, 0, 4500 + 250 + 20, "amd64"},
		{TypeBinaryBuild, `{"package":"p","pocket":"backports","component":"multiverse","urgency":"low"}`, -5, 0 + 0 + 5 - 5, "amd64"},
		{TypeBinaryBuild, `{"package":"p","private":true,"archive_score":100}`, 7, 1500 + 1000 + 10 + PrivateArchiveBonus + 100 + 7, "amd64"},
		{TypeBinaryBuild, `{"package":"p","arch":"arm64"}`, 0, 2510, "arm64"},
		{TypeBinaryBuild, `{"package":"p","arch":"all"}`, 0, 2510, "amd64"},
		{TypeBinaryBuild, `{"package":"p","arch":"arm64","virtualized":false}`, 0, 2510, "arm64-metal"},
		{TypeLiveImageBuild, `{"project":"ubuntu","series":"noble","arch":"arm64"}`, 0, LiveImageBaseScore + 1500, "arm64"},
		{TypeRecipeBuild, `{"branch":"lp:x","manual":true}`, 1, LiveImageBaseScore + 1000 + 1, "amd64"},
		{TypeCleanResource, `{"resource_pool":"p","resource":"r"}`, 0, CleanResourceScore, "default"},
		{TypeScript, `{"script":"x"}`, 42, 42, "default"},
		{TypeScript, `{"script":"x","pool":"gpu"}`, 0, 0, "gpu"},
	} {
		typ, _ := reg.Lookup(tc.typ)
		args, err := typ.Parse(json.RawMessage(tc.payload))
		if err != nil {
			t.Fatalf("%s %s: %v", tc.typ, tc.payload, err)
		}
		if s, p := typ.Score(args, tc.priority), typ.Pool(args); s != tc.score || p != tc.pool {
			t.Errorf("%s %s: score %d pool %s, want %d %s", tc.typ, tc.payload, s, p, tc.score, tc.pool)
		}
	}
}

func TestRecipeFansOutOneBinaryBuildPerArch(t *testing.T) {
	t.Parallel()
	typ, _ := DefaultRegistry().Lookup(TypeRecipeBuild)
	args, err := typ.Parse(json.RawMessage(`{"branch":"lp:hello","archs":["amd64","arm64"]}`))
	if err != nil {
		t.Fatal(err)
	}
	// Run 1 failed after uploading a package; run 2 succeeded: its package is the input.
	job := &Job{ID: "01J", Priority: 3, Run: 2, Artifacts: []Artifact{
		{Name: "hello_1.0.dsc", Bucket: "b", Key: "artifacts/01J/1/hello_1.0.dsc", Attempt: 1, VersionID: "v1"},
		{Name: "hello_1.0.dsc", Bucket: "b", Key: "artifacts/01J/2/hello_1.0.dsc", Attempt: 2, VersionID: "v2"},
	}}
	fos, err := typ.FollowOns(args, job)
	if err != nil || len(fos) != 2 {
		t.Fatalf("follow-ons %v %v", fos, err)
	}
	for i, arch := range []string{"amd64", "arm64"} {
		var p BinaryBuildArgs
		if err := json.Unmarshal(fos[i].Payload, &p); err != nil {
			t.Fatal(err)
		}
		if fos[i].Type != TypeBinaryBuild || p.Arch != arch || p.Source.Source != "s3://b/artifacts/01J/2/hello_1.0.dsc" || p.Source.SourceVersion != "v2" || fos[i].Priority != 3 {
			t.Errorf("follow-on %d: %+v %s", i, fos[i], fos[i].Payload)
		}
	}
}

func TestDecodeStrict(t *testing.T) {
	t.Parallel()
	type body struct {
		A int    `json:"a"`
		B string `json:"b"`
	}
	for _, tc := range []struct{ in, field, msg string }{
		{`{"a":1,"c":2}`, "c", "unknown field"},
		{`{"a":"x"}`, "a", "must be a number"},
		{`{"a":1}{"a":2}`, "", "single JSON value"},
		{``, "", "empty"},
		{`{"a":`, "", "unexpected end"},
		{`{"a" 1}`, "", "malformed JSON"},
	} {
		var b body
		err := DecodeStrict(strings.NewReader(tc.in), &b)
		e, ok := err.(*Error)
		if !ok || e.Code != EInvalid || e.Field != tc.field || !strings.Contains(e.Message, tc.msg) {
			t.Errorf("%q: %v (field %q)", tc.in, err, fieldOf(e))
		}
	}
	var b body
	if err := DecodeStrict(strings.NewReader(` {"a":1,"b":"x"} `), &b); err != nil || b.A != 1 {
		t.Fatalf("valid body: %v", err)
	}
}

func TestErrorHelpers(t *testing.T) {
	t.Parallel()
	err := Internal(json.Unmarshal([]byte("x"), new(int)))
	if ErrorCode(err) != EInternal || ErrorMessage(err) != "internal error" || strings.Contains(ErrorMessage(err), "invalid character") {
		t.Fatalf("internal error leaks: %q", ErrorMessage(err))
	}
	if ErrorCode(nil) != "" || ErrorCode(json.Unmarshal([]byte("x"), new(int))) != EInternal {
		t.Fatal("codes of nil / foreign errors")
	}
	if e := FieldError("x", "bad %d", 1); e.Message != "x: bad 1" || e.Field != "x" || ErrorMessage(e) != "x: bad 1" {
		t.Fatalf("field error %+v", e)
	}
}

// A script reaches the job by file, so a 200 KiB one is fine; the bound is
// the payload's.
func TestLargeScriptsAreValid(t *testing.T) {
	t.Parallel()
	typ, err := DefaultRegistry().Lookup(TypeScript)
	if err != nil {
		t.Fatal(err)
	}
	big, _ := json.Marshal(ScriptArgs{Script: strings.Repeat("true\n", 200<<10/5)})
	if _, err := typ.Parse(big); err != nil {
		t.Fatalf("a 200 KiB script: %v", err)
	}
	tooBig, _ := json.Marshal(ScriptArgs{Script: strings.Repeat("x", MaxScriptBytes+1)})
	if _, err := typ.Parse(tooBig); !IsCode(err, EInvalid) {
		t.Fatalf("a script over %d bytes: %v", MaxScriptBytes, err)
	}
}
