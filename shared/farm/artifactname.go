package farm

import (
	"regexp"
	"strings"
)

// MaxArtifactName bounds an artifact's name.
const MaxArtifactName = 512

var artifactNameSegment = regexp.MustCompile(`^[A-Za-z0-9._+@=,~-]+$`)

// CheckArtifactName accepts relative paths of plain segments: no empty, "."
// or ".." segment, no leading slash, nothing outside a conservative set of
// characters (they become S3 keys and file names on other machines).
// Errors name field.
func CheckArtifactName(field, name string) error {
	if name == "" {
		return FieldError(field, "is required")
	}
	if len(name) > MaxArtifactName {
		return FieldError(field, "is longer than %d characters", MaxArtifactName)
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." || !artifactNameSegment.MatchString(seg) {
			return FieldError(field, "%q is not a relative path of names made of letters, digits and ._+@=,~-", Clip(name))
		}
	}
	return nil
}
