package httpapi_test

import (
	"testing"

	"github.com/buildfarm/buildfarm/shared/adapter/httpapi"
	"github.com/buildfarm/buildfarm/shared/farm"
)

func TestParseBearer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		header, token string
		ok            bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER   abc  ", "abc", true},
		{"", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Basic dXNlcjpwYXNz", "", false},
		{"abc", "", false},
	} {
		got, err := httpapi.ParseBearer(tc.header)
		if tc.ok != (err == nil) || got != tc.token {
			t.Errorf("ParseBearer(%q) = %q, %v", tc.header, got, err)
		}
		if err != nil && !farm.IsCode(err, farm.EUnauthorized) {
			t.Errorf("ParseBearer(%q) error %v is not unauthorized", tc.header, err)
		}
	}
}
