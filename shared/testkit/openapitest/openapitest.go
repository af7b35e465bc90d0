// Package openapitest loads the API's OpenAPI document
// (adapter/httpapi.OpenAPIYAML) for the tests that check the router, real
// requests and answers against it.
package openapitest

import (
	"context"
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/buildfarm/buildfarm/shared/adapter/httpapi"
)

// Document loads the API's OpenAPI document.
func Document(ctx context.Context) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	loader.Context = ctx
	doc, err := loader.LoadFromData(httpapi.OpenAPIYAML())
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	return doc, nil
}
