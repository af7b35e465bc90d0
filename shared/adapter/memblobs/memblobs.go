// Package memblobs is an in-memory object store (app/blobs.Store) for
// tests: objects in a map, presigned URLs that only look like S3's
// (https://blobs.test/<bucket>/<key>?X-Amz-Signature=...), and failures on
// demand. Tests upload what a builder's presigned PUT would have stored
// with Upload.
package memblobs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/blobs"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Store is an in-memory bucket.
type Store struct {
	bucket string

	mu       sync.Mutex
	objects  map[string]object
	versions int64
	// fail, when set, is returned by every call that reaches storage.
	fail error
}

type object struct {
	data     []byte
	modified time.Time
	version  string
}

var _ blobs.Store = (*Store)(nil)

// New returns an empty bucket named bucket.
func New(bucket string) *Store { return &Store{bucket: bucket, objects: map[string]object{}} }

// Bucket is the bucket's name.
func (s *Store) Bucket() string { return s.bucket }

func (s *Store) url(key string, q url.Values) string {
	return "https://blobs.test/" + s.bucket + "/" + key + "?" + q.Encode()
}

// PresignPut returns a fake upload URL for key.
func (s *Store) PresignPut(_ context.Context, key string, ttl time.Duration) (*blobs.Presigned, error) {
	return &blobs.Presigned{URL: s.url(key, url.Values{"X-Amz-Signature": {"put"}}), Method: http.MethodPut, ExpiresAt: time.Now().Add(ttl).UTC()}, nil
}

// PresignGet returns a fake download URL for key.
func (s *Store) PresignGet(_ context.Context, key string, ttl time.Duration) (*blobs.Presigned, error) {
	return &blobs.Presigned{URL: s.url(key, url.Values{"X-Amz-Signature": {"get"}}), Method: http.MethodGet, ExpiresAt: time.Now().Add(ttl).UTC()}, nil
}

// PresignDownload returns a fake download URL naming the version and file
// name it is given (and nothing else).
func (s *Store) PresignDownload(_ context.Context, d blobs.Download, ttl time.Duration) (*blobs.Presigned, error) {
	q := url.Values{"X-Amz-Signature": {"get"}}
	for k, v := range map[string]string{"versionId": d.VersionID, "filename": d.Filename} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return &blobs.Presigned{URL: s.url(d.Key, q), Method: http.MethodGet, ExpiresAt: time.Now().Add(ttl).UTC()}, nil
}

// Put stores body at key.
func (s *Store) Put(_ context.Context, key, _ string, body []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.putLocked(key, body)
	return nil
}

func (s *Store) putLocked(key string, body []byte) {
	s.versions++
	s.objects[key] = object{data: bytes.Clone(body), modified: time.Now(), version: fmt.Sprintf("v%d", s.versions)}
}

// Get opens the object at key. A missing object is ENotFound.
func (s *Store) Get(_ context.Context, key string) (io.ReadCloser, *blobs.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, nil, s.fail
	}
	o, ok := s.objects[key]
	if !ok {
		return nil, nil, farm.Errorf(farm.ENotFound, "no object at %s", key)
	}
	return io.NopCloser(bytes.NewReader(o.data)), &blobs.Object{Key: key, Size: int64(len(o.data)), LastModified: o.modified, VersionID: o.version}, nil
}

// Head describes the object at key. A missing object is ENotFound.
func (s *Store) Head(ctx context.Context, key string) (*blobs.Object, error) {
	r, o, err := s.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	r.Close()
	return o, nil
}

// List describes every object under prefix, in key order.
func (s *Store) List(_ context.Context, prefix string) ([]blobs.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	var out []blobs.Object
	for k, o := range s.objects {
		if strings.HasPrefix(k, prefix) {
			out = append(out, blobs.Object{Key: k, Size: int64(len(o.data)), LastModified: o.modified})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Upload stores an object as a builder's presigned PUT would (whatever
// Fail says).
func (s *Store) Upload(key, data string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putLocked(key, []byte(data))
}

// Object returns the content of the object at key.
func (s *Store) Object(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[key]
	return string(o.data), ok
}

// Delete removes the object at key (gone from under the farm).
func (s *Store) Delete(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objects, key)
}

// Fail makes every later call that reaches storage return err (nil: work again).
func (s *Store) Fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}
