package eventpattern_test

import (
	"testing"

	"github.com/buildfarm/buildfarm/shared/adapter/eventpattern"
)

func TestMatch(t *testing.T) {
	t.Parallel()
	f := eventpattern.Filter{
		{"d": eventpattern.Pattern{
			"New": eventpattern.Pattern{
				"status": eventpattern.Pattern{"S": eventpattern.Equal("failed", "succeeded")},
				"flag":   eventpattern.Pattern{"BOOL": eventpattern.Equal(true)},
				"done":   eventpattern.Pattern{"BOOL": eventpattern.Exists(false)},
			},
			"Old": eventpattern.Pattern{"status": eventpattern.Pattern{"S": eventpattern.AnythingBut("failed", "succeeded")}},
		}},
		{"d": eventpattern.Pattern{"New": eventpattern.Pattern{"n": eventpattern.Pattern{"N": eventpattern.Equal(3)}, "k": eventpattern.Pattern{"S": eventpattern.Exists(true)}}}},
	}
	m := f.MustCompile()
	for _, c := range []struct {
		name  string
		event string
		want  bool
	}{
		{"all conditions", `{"d":{"New":{"status":{"S":"failed"},"flag":{"BOOL":true}},"Old":{"status":{"S":"running"}}}}`, true},
		{"other listed value", `{"d":{"New":{"status":{"S":"succeeded"},"flag":{"BOOL":true}},"Old":{"status":{"S":"queued"}}}}`, true},
		{"value not listed", `{"d":{"New":{"status":{"S":"running"},"flag":{"BOOL":true}},"Old":{"status":{"S":"queued"}}}}`, false},
		{"flag false", `{"d":{"New":{"status":{"S":"failed"},"flag":{"BOOL":false}},"Old":{"status":{"S":"running"}}}}`, false},
		{"flag absent", `{"d":{"New":{"status":{"S":"failed"}},"Old":{"status":{"S":"running"}}}}`, false},
		{"must-be-absent present", `{"d":{"New":{"status":{"S":"failed"},"flag":{"BOOL":true},"done":{"BOOL":true}},"Old":{"status":{"S":"running"}}}}`, false},
		{"anything-but hit", `{"d":{"New":{"status":{"S":"failed"},"flag":{"BOOL":true}},"Old":{"status":{"S":"failed"}}}}`, false},
		{"anything-but on an absent field", `{"d":{"New":{"status":{"S":"failed"},"flag":{"BOOL":true}}}}`, false},
		{"wrong type tag", `{"d":{"New":{"status":{"N":"1"},"flag":{"BOOL":true}},"Old":{"status":{"S":"running"}}}}`, false},
		{"rule on an object", `{"d":{"New":{"status":{"S":{"x":1}},"flag":{"BOOL":true}},"Old":{"status":{"S":"running"}}}}`, false},
		{"second pattern, number", `{"d":{"New":{"n":{"N":3.0},"k":{"S":"x"}}}}`, true},
		{"second pattern, string is not a number", `{"d":{"New":{"n":{"N":"3"},"k":{"S":"x"}}}}`, false},
		{"second pattern, exists missing", `{"d":{"New":{"n":{"N":3}}}}`, false},
		{"array element-wise", `{"d":{"New":{"n":{"N":[1,3]},"k":{"S":"x"}}}}`, true},
		{"nothing", `{}`, false},
	} {
		got, err := m.Match([]byte(c.event))
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s: match %v, want %v", c.name, got, c.want)
		}
	}
}

func TestCompileRefusesWhatItCannotMatch(t *testing.T) {
	t.Parallel()
	for _, p := range []string{
		`{"a":[{"prefix":"x"}]}`,
		`{"a":[{"numeric":[">",1]}]}`,
		`{"a":"x"}`,
		`{"a":[]}`,
		`{}`,
		`{"a":[{"exists":"yes"}]}`,
		`{"a":[{"exists":true,"anything-but":["x"]}]}`,
		`not json`,
	} {
		if _, err := eventpattern.Compile(p); err == nil {
			t.Errorf("Compile(%s) accepted it", p)
		}
	}
}

func TestPatternJSONIsWhatAMappingTakes(t *testing.T) {
	t.Parallel()
	p := eventpattern.Pattern{"dynamodb": eventpattern.Pattern{"NewImage": eventpattern.Pattern{"status": eventpattern.Pattern{"S": eventpattern.Equal("queued")}}}}
	if got, want := p.JSON(), `{"dynamodb":{"NewImage":{"status":{"S":["queued"]}}}}`; got != want {
		t.Fatalf("JSON %s, want %s", got, want)
	}
}
