// Package blobs is the contract between the farm's application services and
// its object storage (S3 in AWS and on the emulator: adapter/s3blobs; in
// memory for tests: adapter/memblobs): what an object, a download and a
// presigned request are, and where the bucket keeps what. Everything lives
// in one bucket under the prefixes the design fixes: artifacts/<job
// id>/<run>/<name>, logs/<job id>/<run>.log and incoming/<type>/... Each service
// declares the subset of Store it uses beside itself.
package blobs

import (
	"context"
	"io"
	"strconv"
	"strings"
	"time"
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

// LogKey is where the full log of run attempt of job jobID is stored: a
// builder's presigned log upload can write only its own run's log.
func LogKey(jobID string, attempt int) string {
	return LogsPrefix + jobID + "/" + strconv.Itoa(attempt) + ".log"
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

// Store reads, writes and presigns objects of the farm's bucket. A missing
// object is an ENotFound *farm.Error; storage that cannot be reached is
// EUnavailable.
type Store interface {
	// Bucket is the bucket's name.
	Bucket() string
	// PresignPut returns a URL that uploads key with PUT until ttl has passed.
	PresignPut(ctx context.Context, key string, ttl time.Duration) (*Presigned, error)
	// PresignGet returns a URL that downloads key with GET until ttl has passed.
	PresignGet(ctx context.Context, key string, ttl time.Duration) (*Presigned, error)
	// PresignDownload returns a URL that downloads one version of an object
	// (the latest when VersionID is empty) until ttl has passed.
	PresignDownload(ctx context.Context, d Download, ttl time.Duration) (*Presigned, error)
	// Put stores body at key.
	Put(ctx context.Context, key, contentType string, body []byte) error
	// Get opens the object at key; the caller closes it.
	Get(ctx context.Context, key string) (io.ReadCloser, *Object, error)
	// Head describes the object at key.
	Head(ctx context.Context, key string) (*Object, error)
	// List describes every object under prefix, in key order.
	List(ctx context.Context, prefix string) ([]Object, error)
}
