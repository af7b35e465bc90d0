// Package s3blobs is the farm's object storage on S3 (app/blobs.Store):
// presigned uploads of artifacts and logs for builders, presigned downloads
// of job sources and artifacts, and the services' own reads and writes of
// logs and artifacts, in the one bucket whose layout app/blobs fixes.
package s3blobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/buildfarm/buildfarm/shared/app/blobs"
	"github.com/buildfarm/buildfarm/shared/farm"
)

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
	return NewPresigning(client, client, bucket)
}

// NewPresigning is New with presigned URLs made by presigner: they name its
// endpoint, where builders reach S3, when that is not the farm's own.
func NewPresigning(client, presigner *s3.Client, bucket string) *Store {
	return &Store{api: client, presign: s3.NewPresignClient(presigner), bucket: bucket, now: time.Now}
}

// Bucket is the bucket's name.
func (s *Store) Bucket() string { return s.bucket }

// PresignPut returns a URL that uploads key with PUT until ttl has passed.
func (s *Store) PresignPut(ctx context.Context, key string, ttl time.Duration) (*blobs.Presigned, error) {
	now := s.now()
	req, err := s.presign.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key}, s3.WithPresignExpires(ttl))
	if err != nil {
		return nil, farm.Internal(fmt.Errorf("s3blobs: presign put %s: %w", key, err))
	}
	return presigned(req.URL, req.Method, req.SignedHeader, now.Add(ttl)), nil
}

// PresignGet returns a URL that downloads key with GET until ttl has passed.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (*blobs.Presigned, error) {
	now := s.now()
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key}, s3.WithPresignExpires(ttl))
	if err != nil {
		return nil, farm.Internal(fmt.Errorf("s3blobs: presign get %s: %w", key, err))
	}
	return presigned(req.URL, req.Method, req.SignedHeader, now.Add(ttl)), nil
}

// PresignDownload returns a URL that downloads one version of an object
// (the latest when VersionID is empty) with GET until ttl has passed.
func (s *Store) PresignDownload(ctx context.Context, d blobs.Download, ttl time.Duration) (*blobs.Presigned, error) {
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

func presigned(url, method string, signed http.Header, expires time.Time) *blobs.Presigned {
	p := &blobs.Presigned{URL: url, Method: method, ExpiresAt: expires.UTC().Truncate(time.Second)}
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
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, *blobs.Object, error) {
	out, err := s.api.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key}, func(o *s3.Options) {
		// Objects are uploaded by builders through presigned URLs, mostly
		// without checksums: validate only when one was asked for.
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	if err != nil {
		return nil, nil, storageError("get", key, err)
	}
	return out.Body, &blobs.Object{Key: key, Size: aws.ToInt64(out.ContentLength), LastModified: aws.ToTime(out.LastModified)}, nil
}

// Head describes the object at key. A missing object is ENotFound.
func (s *Store) Head(ctx context.Context, key string) (*blobs.Object, error) {
	out, err := s.api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return nil, storageError("head", key, err)
	}
	return &blobs.Object{Key: key, Size: aws.ToInt64(out.ContentLength), LastModified: aws.ToTime(out.LastModified), VersionID: aws.ToString(out.VersionId)}, nil
}

// MaxList bounds a listing: List stops with an error rather than read more.
const MaxList = 10000

// List describes every object under prefix, in key order.
func (s *Store) List(ctx context.Context, prefix string) ([]blobs.Object, error) {
	var out []blobs.Object
	p := s3.NewListObjectsV2Paginator(s.api, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, storageError("list", prefix, err)
		}
		for _, o := range page.Contents {
			out = append(out, blobs.Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), LastModified: aws.ToTime(o.LastModified)})
		}
		if len(out) > MaxList {
			return nil, farm.Errorf(farm.ETooLarge, "more than %d objects under %s", MaxList, prefix)
		}
	}
	return out, nil
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

var _ blobs.Store = (*Store)(nil)
