// Package s3blobs is the farm's object storage on S3: presigned uploads of
// artifacts and logs for builders, presigned downloads of job sources, and
// the API's own reads and writes of logs and artifact listings. Everything
// lives in one bucket under the prefixes the design fixes: artifacts/<job
// id>/<run>/<name>, logs/<job id>.log and incoming/<type>/...
package s3blobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// Key prefixes of the bucket.
const (
	ArtifactsPrefix = "artifacts/"
	LogsPrefix      = "logs/"
	IncomingPrefix  = "incoming/"
)

// ArtifactKey is where artifact name of run attempt of job jobID is
// stored. Each run has its own prefix, so a retried job never overwrites
// what an earlier run uploaded.
func ArtifactKey(jobID string, attempt int, name string) string {
	return RunArtifactPrefix(jobID, attempt) + name
}

// RunArtifactPrefix is the prefix of the artifacts of one run of a job.
func RunArtifactPrefix(jobID string, attempt int) string {
	return ArtifactPrefix(jobID) + strconv.Itoa(attempt) + "/"
}

// ArtifactPrefix is the prefix of every artifact of job jobID.
func ArtifactPrefix(jobID string) string { return ArtifactsPrefix + jobID + "/" }

// LogKey is where the full log of job jobID is stored.
func LogKey(jobID string) string { return LogsPrefix + jobID + ".log" }

// Object describes a stored object.
type Object struct {
	Key          string
	Size         int64
	LastModified time.Time
	// VersionID is the object's version on a versioned bucket ("" or
	// "null" on one that is not).
	VersionID string
}

// Download names an object version to download and the file name the
// browser should save it as.
type Download struct {
	Key       string
	VersionID string
	// Filename, when set, is sent back as Content-Disposition: attachment.
	Filename string
}

// Presigned is a request anyone may make until ExpiresAt, without credentials.
type Presigned struct {
	URL    string
	Method string
	// Headers must be sent with the request (they are part of the signature).
	Headers   map[string]string
	ExpiresAt time.Time
}

// API is the part of the S3 client the store uses.
type API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// Store reads, writes and presigns objects of one bucket.
type Store struct {
	api     API
	presign *s3.PresignClient
	bucket  string
	now     func() time.Time
}

// New returns a Store for bucket. Build the client with awsconf.NewS3 so that
// an emulator is addressed path-style.
func New(client *s3.Client, bucket string) *Store {
	return &Store{api: client, presign: s3.NewPresignClient(client), bucket: bucket, now: time.Now}
}

// Bucket is the bucket's name.
func (s *Store) Bucket() string { return s.bucket }

// PresignPut returns a URL that uploads key with PUT until ttl has passed.
func (s *Store) PresignPut(ctx context.Context, key string, ttl time.Duration) (*Presigned, error) {
	now := s.now()
	req, err := s.presign.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key}, s3.WithPresignExpires(ttl))
	if err != nil {
		return nil, farm.Internal(fmt.Errorf("s3blobs: presign put %s: %w", key, err))
	}
	return presigned(req.URL, req.Method, req.SignedHeader, now.Add(ttl)), nil
}

// PresignGet returns a URL that downloads key with GET until ttl has passed.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (*Presigned, error) {
	now := s.now()
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key}, s3.WithPresignExpires(ttl))
	if err != nil {
		return nil, farm.Internal(fmt.Errorf("s3blobs: presign get %s: %w", key, err))
	}
	return presigned(req.URL, req.Method, req.SignedHeader, now.Add(ttl)), nil
}

// PresignDownload returns a URL that downloads one version of an object
// (the latest when VersionID is empty) with GET until ttl has passed.
func (s *Store) PresignDownload(ctx context.Context, d Download, ttl time.Duration) (*Presigned, error) {
	now := s.now()
	in := &s3.GetObjectInput{Bucket: &s.bucket, Key: &d.Key}
	if d.VersionID != "" && d.VersionID != "null" {
		in.VersionId = aws.String(d.VersionID)
	}
	if d.Filename != "" {
		in.ResponseContentDisposition = aws.String(mime.FormatMediaType("attachment", map[string]string{"filename": d.Filename}))
	}
	req, err := s.presign.PresignGetObject(ctx, in, s3.WithPresignExpires(ttl))
	if err != nil {
		return nil, farm.Internal(fmt.Errorf("s3blobs: presign get %s: %w", d.Key, err))
	}
	return presigned(req.URL, req.Method, req.SignedHeader, now.Add(ttl)), nil
}

func presigned(url, method string, signed http.Header, expires time.Time) *Presigned {
	p := &Presigned{URL: url, Method: method, ExpiresAt: expires.UTC().Truncate(time.Second)}
	for k, v := range signed {
		// Host is set by any HTTP client from the URL.
		if strings.EqualFold(k, "Host") || len(v) == 0 {
			continue
		}
		if p.Headers == nil {
			p.Headers = map[string]string{}
		}
		p.Headers[k] = strings.Join(v, ",")
	}
	return p
}

// Put stores body at key.
func (s *Store) Put(ctx context.Context, key, contentType string, body []byte) error {
	_, err := s.api.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        &s.bucket,
		Key:           &key,
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
		ContentType:   aws.String(contentType),
	})
	if err != nil {
		return storageError("put", key, err)
	}
	return nil
}

// Get opens the object at key; the caller closes it. A missing object is ENotFound.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, *Object, error) {
	out, err := s.api.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key}, func(o *s3.Options) {
		// Objects are uploaded by builders through presigned URLs, mostly
		// without checksums: validate only when one was asked for.
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	if err != nil {
		return nil, nil, storageError("get", key, err)
	}
	return out.Body, &Object{Key: key, Size: aws.ToInt64(out.ContentLength), LastModified: aws.ToTime(out.LastModified)}, nil
}

// Head describes the object at key. A missing object is ENotFound.
func (s *Store) Head(ctx context.Context, key string) (*Object, error) {
	out, err := s.api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return nil, storageError("head", key, err)
	}
	return &Object{Key: key, Size: aws.ToInt64(out.ContentLength), LastModified: aws.ToTime(out.LastModified), VersionID: aws.ToString(out.VersionId)}, nil
}

// MaxList bounds a listing: List stops with an error rather than read more.
const MaxList = 10000

// List describes every object under prefix, in key order.
func (s *Store) List(ctx context.Context, prefix string) ([]Object, error) {
	var out []Object
	p := s3.NewListObjectsV2Paginator(s.api, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, storageError("list", prefix, err)
		}
		for _, o := range page.Contents {
			out = append(out, Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), LastModified: aws.ToTime(o.LastModified)})
		}
		if len(out) > MaxList {
			return nil, farm.Errorf(farm.ETooLarge, "more than %d objects under %s", MaxList, prefix)
		}
	}
	return out, nil
}

// ParseURL splits an s3://bucket/key URL. ok is false for anything else.
func ParseURL(u string) (bucket, key string, ok bool) {
	rest, found := strings.CutPrefix(u, "s3://")
	if !found {
		return "", "", false
	}
	bucket, key, found = strings.Cut(rest, "/")
	if !found || bucket == "" || key == "" {
		return "", "", false
	}
	return bucket, key, true
}

// storageError turns an S3 failure into an application error: a missing
// object is ENotFound; a cancelled request keeps its context error; anything
// else is EUnavailable, with the cause kept for the logs only.
func storageError(op, key string, err error) error {
	if isNotFound(err) {
		return &farm.Error{Code: farm.ENotFound, Message: "no object at " + key, Err: err}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &farm.Error{Code: farm.EUnavailable, Message: "object storage is unavailable; try again", Err: fmt.Errorf("s3blobs: %s %s: %w", op, key, err)}
}
