package awscalls

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Proxy counts the AWS calls of other processes — the benchmark's
// farm-builder agents, whose binary counts nothing itself — as they pass
// on their way to an upstream endpoint (the emulator). Point their
// AWS_ENDPOINT_URL at it, and the farm's presigned URLs too (its builders'
// uploads go there): JSON-protocol calls (SQS) are counted by service,
// operation and queue, with the messages a receive returned; presigned
// requests as the Transport counts them (Presigned<METHOD>). Other
// requests — the farm's own header-signed S3 calls, which its SDK
// middleware counts — pass uncounted.
type Proxy struct {
	// URL is where the proxy listens (http://127.0.0.1:port).
	URL string

	c   *Counter
	srv *http.Server
}

// NewProxy starts a proxy to upstream (a base URL) counting into c.
func NewProxy(upstream string, c *Counter) (*Proxy, error) {
	target, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{URL: "http://" + ln.Addr().String(), c: c}
	rp := httputil.NewSingleHostReverseProxy(target)
	// Keep a connection per concurrent caller (every agent's long poll
	// holds one): the default keeps 2 idle, so a busy proxy would open a
	// new connection, and the emulator a new thread, for most requests.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	rp.Transport = tr
	// A client that gives up (an agent's long poll cut short by its drain)
	// is no error of the proxy's: it answers 502 without logging.
	rp.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }
	p.srv = &http.Server{Handler: p.count(rp), ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(ln)
	return p, nil
}

// Close stops the proxy.
func (p *Proxy) Close() error { return p.srv.Close() }

// jsonServices names the services of JSON-protocol targets.
var jsonServices = map[string]string{"AmazonSQS": "SQS", "DynamoDB_20120810": "DynamoDB", "DynamoDBStreams_20120810": "DynamoDB Streams"}

func (p *Proxy) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := classify(r)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		var queue struct {
			QueueURL string `json:"QueueUrl"`
		}
		if r.Body != nil && key.Service == "SQS" {
			body, _ := io.ReadAll(r.Body)
			r.Body.Close()
			r.Body = io.NopCloser(bytes.NewReader(body))
			_ = json.Unmarshal(body, &queue)
			key.Resource = queueName(queue.QueueURL)
		}
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		next.ServeHTTP(rec, r)
		st := Stat{Attempts: 1, Nanos: int64(time.Since(start))}
		// An SDK retry is another attempt of the same call.
		if attempt(r.Header.Get("amz-sdk-request")) <= 1 {
			st.Calls = 1
		}
		if rec.status >= 300 {
			st.Errors = 1
		}
		if key.Operation == "ReceiveMessage" && rec.status < 300 {
			var out struct{ Messages []json.RawMessage }
			if json.Unmarshal(rec.body.Bytes(), &out) == nil && len(out.Messages) > 0 {
				st.Records, st.NonEmpty = int64(len(out.Messages)), 1
			}
		}
		p.c.Add(key, st)
	})
}

// classify names a counted request's service and operation; ok is false
// for a request that passes uncounted.
func classify(r *http.Request) (Key, bool) {
	q := r.URL.Query()
	if q.Get("X-Amz-Signature") != "" {
		service := "S3"
		if parts := strings.Split(q.Get("X-Amz-Credential"), "/"); len(parts) == 5 && parts[3] != "s3" {
			service = parts[3]
		}
		return Key{Service: service, Operation: "Presigned" + r.Method}, true
	}
	prefix, op, ok := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	if !ok {
		return Key{}, false
	}
	service := jsonServices[prefix]
	if service == "" {
		service = prefix
	}
	return Key{Service: service, Operation: op}, true
}

// attempt reads the SDK's amz-sdk-request header ("attempt=2; max=5").
func attempt(h string) int {
	for _, part := range strings.Split(h, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "attempt="); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 1
}

// recorder keeps the status and (small) body of an answer it passes on.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.body.Len() < 1<<20 {
		r.body.Write(b)
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
