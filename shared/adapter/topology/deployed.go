package topology

// Facts of the deployed farm that cost money per request: the CDK stack
// (infra/stack) applies them and the benchmark (cmd/farm-bench) prices
// them, so that the two cannot disagree.

// APIEdge is how a client reaches the farm's API in AWS.
type APIEdge string

const (
	// EdgeHTTPAPI is the API Gateway HTTP API: every request is billed
	// (API Gateway) on top of the api function's invocation.
	EdgeHTTPAPI APIEdge = "api_gateway_http_api"
	// EdgeFunctionURL is the api function's Lambda Function URL: no charge
	// per request beyond the invocation.
	EdgeFunctionURL APIEdge = "lambda_function_url"
)

// BuilderAPIEdge is the edge the farm's builders reach the API through
// (their FARM_API): their registrations, claims, heartbeats and
// completions. People and tools (submissions, farmctl, the web page) use
// the HTTP API. A stack that gives builders the function URL sets this to
// EdgeFunctionURL.
const BuilderAPIEdge = EdgeFunctionURL

// The functions' log levels (Lambda's advanced logging controls, JSON
// format). At system level INFO Lambda writes a platform.start and a
// platform.report line per invocation into the function's log group; at
// WARN it writes neither. The application level filters what the
// functions' own slog loggers write.
const (
	LambdaApplicationLogLevel = "INFO"
	LambdaSystemLogLevel      = "WARN"
)
