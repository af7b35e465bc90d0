package httpapi

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

// openAPIYAML is the OpenAPI 3 document of the API, the source of truth
// kept in step with the router by TestOpenAPIMatchesRoutes.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// OpenAPIDocument loads the API's OpenAPI document.
func OpenAPIDocument(ctx context.Context) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	loader.Context = ctx
	doc, err := loader.LoadFromData(openAPIYAML)
	if err != nil {
		return nil, fmt.Errorf("httpapi: openapi.yaml: %w", err)
	}
	return doc, nil
}

var (
	openAPIOnce sync.Once
	openAPIDoc  []byte
	openAPIErr  error
)

// openAPIJSON is the document as served at /v1/openapi.json.
func openAPIJSON() ([]byte, error) {
	openAPIOnce.Do(func() {
		doc, err := OpenAPIDocument(context.Background())
		if err != nil {
			openAPIErr = err
			return
		}
		openAPIDoc, openAPIErr = json.Marshal(doc)
	})
	return openAPIDoc, openAPIErr
}
