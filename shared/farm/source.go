package farm

import (
	"strings"
	"unicode"
)

// ObjectSource is implemented by the args of every type whose payload may
// name an uploaded object (those embedding Source).
type ObjectSource interface {
	ObjectSource() Source
}

// ObjectSource returns the object the payload names ("" for none).
func (s Source) ObjectSource() Source { return s }

// MaxObjectKey is S3's limit on an object key (bytes).
const MaxObjectKey = 1024

// SourcePolicy is where the objects a submitted job names as its source
// may live: under Prefix (the incoming/ drop zone) of the farm's own
// Bucket. Anything else — another job's logs or artifacts, another
// bucket's objects, a URL for a builder to fetch — is refused at submit,
// so that a job never receives an object its submitter could not upload.
// The zero policy refuses every source.
type SourcePolicy struct {
	Bucket string
	Prefix string
}

// Check validates a source URL against the policy; errors name the field "source".
func (p SourcePolicy) Check(src string) error {
	if src == "" {
		return nil
	}
	if p.Bucket == "" || p.Prefix == "" {
		return FieldError("source", "this farm takes no sources")
	}
	want := "s3://" + p.Bucket + "/" + p.Prefix
	rest, ok := strings.CutPrefix(src, "s3://")
	if !ok {
		return FieldError("source", "must be s3://%s<type>/... (an upload to the farm's %s prefix); fetch other URLs from the job itself", p.Bucket+"/"+p.Prefix, p.Prefix)
	}
	bucket, key, _ := strings.Cut(rest, "/")
	if bucket != p.Bucket || !strings.HasPrefix(key, p.Prefix) {
		return FieldError("source", "names an object outside %s: a job may only name uploads to the farm's %s prefix", want, p.Prefix)
	}
	if len(key) > MaxObjectKey {
		return FieldError("source", "the object key is longer than %d bytes", MaxObjectKey)
	}
	if len(key) == len(p.Prefix) || strings.HasSuffix(key, "/") {
		return FieldError("source", "names a folder, not an object")
	}
	// S3 takes keys literally, but a proxy or tool on the way might not:
	// no key may climb out of the prefix by its look.
	for _, seg := range strings.Split(strings.TrimPrefix(key, p.Prefix), "/") {
		if seg == "." || seg == ".." {
			return FieldError("source", "the object key must not hold '.' or '..' segments")
		}
	}
	if strings.IndexFunc(key, unicode.IsControl) >= 0 {
		return FieldError("source", "the object key must not hold control characters")
	}
	return nil
}
