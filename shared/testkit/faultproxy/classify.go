package faultproxy

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Services the proxy tells apart. Other AWS services are named by their
// signing name (the service of the SigV4 credential scope).
const (
	ServiceDynamoDB    = "dynamodb"
	ServiceStreams     = "streams" // DynamoDB Streams (signed as "dynamodb")
	ServiceSQS         = "sqs"
	ServiceS3          = "s3"
	ServiceEC2         = "ec2"
	ServiceAutoScaling = "autoscaling"
	// ServiceEmulator is the emulator's own API (moto's /moto-api/): never faulted.
	ServiceEmulator = "emulator"
)

// Key names what a request does: its service and operation.
type Key struct {
	Service   string `json:"service"`
	Operation string `json:"operation"`
}

func (k Key) String() string { return k.Service + "." + k.Operation }

// protocol is how a service encodes requests and errors.
type protocol int

const (
	protoJSON  protocol = iota // awsJson 1.0/1.1: X-Amz-Target, JSON errors with __type
	protoQuery                 // awsQuery / ec2Query: form-encoded Action=, XML errors
	protoREST                  // restXml (S3): the operation is in the method, path and query
)

// request is what the proxy learnt of an incoming request.
type request struct {
	Key
	proto protocol
	// attempt is the SDK's attempt number (amz-sdk-request: attempt=N), 0 when absent.
	attempt int
}

// jsonTargets maps X-Amz-Target prefixes to services.
var jsonTargets = map[string]string{
	"DynamoDB_20120810":        ServiceDynamoDB,
	"DynamoDBStreams_20120810": ServiceStreams,
	"AmazonSQS":                ServiceSQS,
}

// classify names a request's service and operation. A form-encoded body is
// read (and put back) to find its Action.
func classify(r *http.Request) request {
	out := request{attempt: sdkAttempt(r.Header.Get("amz-sdk-request"))}
	if strings.HasPrefix(r.URL.Path, "/moto-api") {
		out.Service, out.Operation, out.proto = ServiceEmulator, r.URL.Path, protoREST
		return out
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		prefix, op, _ := strings.Cut(target, ".")
		svc, ok := jsonTargets[prefix]
		if !ok {
			svc = signingService(r)
			if svc == "" {
				svc = strings.ToLower(prefix)
			}
		}
		out.Service, out.Operation, out.proto = svc, op, protoJSON
		return out
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") && r.Method == http.MethodPost {
		if action := formAction(r); action != "" {
			out.Service, out.Operation, out.proto = signingService(r), action, protoQuery
			if out.Service == "" {
				out.Service = "unknown"
			}
			return out
		}
	}
	if action := r.URL.Query().Get("Action"); action != "" && r.Method == http.MethodGet {
		out.Service, out.Operation, out.proto = signingService(r), action, protoQuery
		return out
	}
	out.Service, out.Operation, out.proto = ServiceS3, s3Operation(r), protoREST
	return out
}

// signingService reads the service from the SigV4 credential scope
// (.../<date>/<region>/<service>/aws4_request), in the Authorization header
// or, for presigned requests, the X-Amz-Credential query parameter.
func signingService(r *http.Request) string {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if auth := r.Header.Get("Authorization"); auth != "" {
		if _, rest, ok := strings.Cut(auth, "Credential="); ok {
			cred, _, _ = strings.Cut(rest, ",")
		}
	}
	parts := strings.Split(cred, "/")
	if len(parts) == 5 && parts[4] == "aws4_request" {
		return parts[3]
	}
	return ""
}

// formAction reads Action from a form-encoded body and restores the body.
func formAction(r *http.Request) string {
	if r.Body == nil {
		return ""
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return ""
	}
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return ""
	}
	return v.Get("Action")
}

// sdkAttempt parses "attempt=2; max=5".
func sdkAttempt(h string) int {
	for _, part := range strings.Split(h, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && k == "attempt" {
			n := 0
			for _, c := range v {
				if c < '0' || c > '9' {
					return 0
				}
				n = n*10 + int(c-'0')
			}
			return n
		}
	}
	return 0
}

// s3Subresources maps a query parameter of a bucket or object request to the
// operation it selects, per method.
var s3Subresources = []struct {
	method, param string
	object        bool
	op            string
}{
	{http.MethodPut, "notification", false, "PutBucketNotificationConfiguration"},
	{http.MethodGet, "notification", false, "GetBucketNotificationConfiguration"},
	{http.MethodPut, "lifecycle", false, "PutBucketLifecycleConfiguration"},
	{http.MethodGet, "lifecycle", false, "GetBucketLifecycleConfiguration"},
	{http.MethodPut, "policy", false, "PutBucketPolicy"},
	{http.MethodPut, "versioning", false, "PutBucketVersioning"},
	{http.MethodPut, "encryption", false, "PutBucketEncryption"},
	{http.MethodPut, "publicAccessBlock", false, "PutPublicAccessBlock"},
	{http.MethodPut, "cors", false, "PutBucketCors"},
	{http.MethodPut, "tagging", false, "PutBucketTagging"},
	{http.MethodGet, "location", false, "GetBucketLocation"},
	{http.MethodGet, "versions", false, "ListObjectVersions"},
	{http.MethodGet, "uploads", false, "ListMultipartUploads"},
	{http.MethodPost, "delete", false, "DeleteObjects"},
	{http.MethodPut, "tagging", true, "PutObjectTagging"},
	{http.MethodGet, "tagging", true, "GetObjectTagging"},
	{http.MethodPut, "acl", true, "PutObjectAcl"},
	{http.MethodGet, "acl", true, "GetObjectAcl"},
	{http.MethodPost, "uploads", true, "CreateMultipartUpload"},
	{http.MethodPost, "uploadId", true, "CompleteMultipartUpload"},
	{http.MethodGet, "uploadId", true, "ListParts"},
	{http.MethodDelete, "uploadId", true, "AbortMultipartUpload"},
	{http.MethodPut, "uploadId", true, "UploadPart"},
}

// s3Operation infers an S3 REST operation from the method, the path
// (path-style: /bucket/key) and the query.
func s3Operation(r *http.Request) string {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	object := key != ""
	q := r.URL.Query()
	for _, s := range s3Subresources {
		if s.method == r.Method && s.object == object && q.Has(s.param) {
			if s.op == "UploadPart" && r.Header.Get("X-Amz-Copy-Source") != "" {
				return "UploadPartCopy"
			}
			return s.op
		}
	}
	switch {
	case bucket == "" && r.Method == http.MethodGet:
		return "ListBuckets"
	case !object:
		switch r.Method {
		case http.MethodPut:
			return "CreateBucket"
		case http.MethodHead:
			return "HeadBucket"
		case http.MethodDelete:
			return "DeleteBucket"
		case http.MethodGet:
			if q.Get("list-type") == "2" {
				return "ListObjectsV2"
			}
			return "ListObjects"
		}
	default:
		switch r.Method {
		case http.MethodPut:
			if r.Header.Get("X-Amz-Copy-Source") != "" {
				return "CopyObject"
			}
			return "PutObject"
		case http.MethodGet:
			return "GetObject"
		case http.MethodHead:
			return "HeadObject"
		case http.MethodDelete:
			return "DeleteObject"
		case http.MethodPost:
			return "PostObject"
		}
	}
	return r.Method
}
