package httpapi

import (
	"bytes"
	_ "embed"
	"fmt"

	"github.com/oasdiff/yaml"
)

// openAPIYAML is the OpenAPI 3 document of the API, the source of truth
// kept in step with the router by TestOpenAPIMatchesRoutes.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// OpenAPIYAML returns the API's OpenAPI 3 document (YAML). Tests load it
// with an OpenAPI library (testkit/openapitest); the API only converts it
// to the JSON it serves, so that no OpenAPI library (and its start-up
// work) is in the farm's binaries.
func OpenAPIYAML() []byte { return bytes.Clone(openAPIYAML) }

// openAPIJSON is the document as served at /v1/openapi.json.
func openAPIJSON() ([]byte, error) {
	doc, err := yaml.YAMLToJSON(openAPIYAML)
	if err != nil {
		return nil, fmt.Errorf("httpapi: openapi.yaml: %w", err)
	}
	return doc, nil
}
