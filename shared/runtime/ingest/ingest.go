// Package ingest turns S3 uploads under incoming/<type>/ into jobs of that
// type. Notifications arrive through an SQS queue (in AWS and locally alike);
// the handler answers with partial batch failures, so a notification it
// cannot turn into a job (unknown type, invalid object) is retried and then
// dead-lettered, never silently dropped. Each object version makes at most
// one job: S3's duplicate deliveries hit the same idempotency key.
package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Submitter creates jobs (app/jobs.Service).
type Submitter interface {
	Submit(ctx context.Context, req admission.Request) (*farm.Job, bool, error)
}

// Handler handles S3 notifications delivered through SQS.
type Handler struct {
	Jobs Submitter
	// IncomingPrefix is the key prefix uploads land under ("incoming/").
	IncomingPrefix string
	Logger         *slog.Logger
}

// HandleLambda handles one SQS batch and reports the messages to retry.
func (h *Handler) HandleLambda(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for _, msg := range ev.Records {
		if err := h.handleMessage(ctx, msg.Body); err != nil {
			h.Logger.ErrorContext(ctx, "upload not ingested; the message will be retried, then dead-lettered", "message_id", msg.MessageId, "err", err)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: msg.MessageId})
		}
	}
	return resp, nil
}

// testEvent is what S3 sends once when a notification is configured.
type testEvent struct {
	Event string `json:"Event"`
}

func (h *Handler) handleMessage(ctx context.Context, body string) error {
	var probe testEvent
	if err := json.Unmarshal([]byte(body), &probe); err != nil {
		return fmt.Errorf("message is not JSON: %w", err)
	}
	if probe.Event == "s3:TestEvent" {
		h.Logger.InfoContext(ctx, "S3 test event ignored")
		return nil
	}
	var n notification
	if err := json.Unmarshal([]byte(body), &n); err != nil {
		return fmt.Errorf("message is not an S3 event: %w", err)
	}
	if len(n.Records) == 0 {
		return fmt.Errorf("message holds no S3 records")
	}
	for _, r := range n.Records {
		if err := h.handleRecord(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// notification is the part of an S3 event notification ingest reads. It is
// decoded on its own rather than through events.S3Event, whose strict time
// parsing refuses the event times some emulators write.
type notification struct {
	Records []notificationRecord `json:"Records"`
}

type notificationRecord struct {
	EventName string `json:"eventName"`
	S3        struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key       string `json:"key"`
			VersionID string `json:"versionId"`
			Sequencer string `json:"sequencer"`
		} `json:"object"`
	} `json:"s3"`
}

func (h *Handler) handleRecord(ctx context.Context, r notificationRecord) error {
	if !strings.HasPrefix(r.EventName, "ObjectCreated:") {
		h.Logger.InfoContext(ctx, "S3 event ignored", "event", r.EventName)
		return nil
	}
	bucket, obj := r.S3.Bucket.Name, r.S3.Object
	// Keys arrive URL-encoded, spaces as '+'.
	key, err := url.QueryUnescape(obj.Key)
	if err != nil {
		return fmt.Errorf("object key %q is not URL-encoded: %w", obj.Key, err)
	}
	typ, name, ok := strings.Cut(strings.TrimPrefix(key, h.IncomingPrefix), "/")
	if !strings.HasPrefix(key, h.IncomingPrefix) || !ok || typ == "" {
		return fmt.Errorf("object %s is not under %s<type>/", key, h.IncomingPrefix)
	}
	if name == "" || strings.HasSuffix(name, "/") {
		h.Logger.InfoContext(ctx, "folder marker ignored", "key", key)
		return nil
	}
	// One job per object version: S3 may deliver a notification twice.
	version := obj.VersionID
	if version == "" {
		version = obj.Sequencer
	}
	payload, err := json.Marshal(farm.Source{Source: "s3://" + bucket + "/" + key, SourceVersion: obj.VersionID})
	if err != nil {
		return err
	}
	job, created, err := h.Jobs.Submit(ctx, admission.Request{
		Type:             typ,
		Payload:          payload,
		IdempotencyKey:   idempotencyKey(bucket, key, version),
		IdempotencyScope: "s3-ingest",
		RequestedBy:      "s3:" + bucket,
	})
	if err != nil {
		return fmt.Errorf("upload %s: %w", key, err)
	}
	h.Logger.InfoContext(ctx, "upload ingested", "key", key, "job_id", job.ID, "type", job.Type, "created", created)
	return nil
}

// idempotencyKey names one object version. S3 keys run to 1024 bytes,
// longer than an idempotency key may be: a long name is replaced by its
// SHA-256, which names the version just as uniquely.
func idempotencyKey(bucket, key, version string) string {
	k := bucket + "/" + key + "#" + version
	if len(k) <= admission.MaxIdempotencyKeyLen {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return "sha256:" + hex.EncodeToString(sum[:])
}
