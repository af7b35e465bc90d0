// Package farm is the buildfarm domain: jobs, their states and transitions,
// job types with their validation, scoring and routing, builders, resource
// pools, tokens and the application error type.
//
// It imports no AWS package. Adapters (DynamoDB, SQS, S3, HTTP) live in
// sibling packages and translate to and from these types.
package farm
