package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
)

// Upload sends size bytes of body to a presigned URL from ArtifactURL, with
// the method and headers it names. The farm token is never sent there: the
// URL carries its own authorisation.
func (c *Client) Upload(ctx context.Context, dst *apiv1.ArtifactURL, body io.Reader, size int64) error {
	method := dst.Method
	if method == "" {
		method = http.MethodPut
	}
	if size == 0 {
		// Presigned PUTs refuse chunked bodies: say "Content-Length: 0" explicitly.
		body = http.NoBody
	}
	req, err := http.NewRequestWithContext(ctx, method, dst.URL, body)
	if err != nil {
		return fmt.Errorf("client: upload %s: %w", dst.Name, err)
	}
	req.ContentLength = size
	for k, v := range dst.Headers {
		req.Header.Set(k, v)
	}
	// Big artifacts take longer than an API call may: only ctx bounds an upload.
	uploader := &http.Client{Transport: c.http.Transport}
	resp, err := uploader.Do(req)
	if err != nil {
		return fmt.Errorf("client: upload %s: %w", dst.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return &StatusError{Status: resp.StatusCode, Err: uploadError(resp.StatusCode, dst.Name, strings.TrimSpace(string(msg)))}
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return nil
}
