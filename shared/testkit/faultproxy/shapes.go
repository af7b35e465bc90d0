package faultproxy

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"hash/crc32"
	"net/http"
	"strconv"
	"strings"
)

// errorKind is what an injected error says happened.
type errorKind int

const (
	kindThrottle    errorKind = iota // too many requests
	kindInternal                     // 500: the service failed
	kindUnavailable                  // 503: the service is down (outages)
)

// serviceError is one error answer in a service's own wire shape.
type serviceError struct {
	status int
	code   string // the error code the SDK reports (ErrorCode())
	// jsonType is the awsJson __type (namespace#Name) when it differs from code.
	jsonType string
	// queryError is the x-amzn-query-error header of awsQuery-compatible JSON
	// services (SQS): "<code>;Sender|Receiver".
	queryError string
	message    string
	// sender marks a client-side fault in awsQuery shapes.
	sender bool
}

// errorFor returns the error a real service answers for kind. The shapes
// follow AWS's: DynamoDB's and DynamoDB Streams' awsJson errors with
// __type, SQS's awsJson errors with the x-amzn-query-error header of its
// query compatibility, S3's <Error> XML (SlowDown is a 503), EC2's
// <Response><Errors> XML and the awsQuery <ErrorResponse> of Auto Scaling
// and others. code overrides the default code of a throttle.
func errorFor(svc string, op string, kind errorKind, code string) serviceError {
	var e serviceError
	switch svc {
	case ServiceDynamoDB, ServiceStreams:
		ns := "com.amazonaws.dynamodb.v20120810#"
		switch kind {
		case kindThrottle:
			e = serviceError{status: 400, code: "ProvisionedThroughputExceededException", message: "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API."}
			if svc == ServiceStreams {
				e = serviceError{status: 400, code: "LimitExceededException", message: "Rate exceeded for shard"}
			} else if !dynamoDataPlane[op] {
				e = serviceError{status: 400, code: "ThrottlingException", jsonType: "com.amazon.coral.availability#ThrottlingException", message: "Rate of requests exceeds the allowed throughput."}
			}
		case kindInternal:
			e = serviceError{status: 500, code: "InternalServerError", message: "Internal server error"}
		default:
			e = serviceError{status: 503, code: "ServiceUnavailable", jsonType: "com.amazon.coral.availability#ServiceUnavailableException", message: "Service Unavailable"}
		}
		if e.jsonType == "" {
			e.jsonType = ns + e.code
		}
	case ServiceSQS:
		switch kind {
		case kindThrottle:
			e = serviceError{status: 400, code: "RequestThrottled", queryError: "RequestThrottled;Sender", message: "Request is throttled."}
		case kindInternal:
			e = serviceError{status: 500, code: "InternalFailure", queryError: "InternalFailure;Receiver", message: "The request processing has failed because of an unknown error, exception or failure."}
		default:
			e = serviceError{status: 503, code: "AWS.SimpleQueueService.ServiceUnavailable", queryError: "AWS.SimpleQueueService.ServiceUnavailable;Receiver", message: "The request has failed due to a temporary failure of the server."}
		}
		e.jsonType = "com.amazonaws.sqs#" + strings.TrimPrefix(e.code, "AWS.SimpleQueueService.")
	case ServiceS3:
		switch kind {
		case kindThrottle:
			e = serviceError{status: 503, code: "SlowDown", message: "Please reduce your request rate."}
		case kindInternal:
			e = serviceError{status: 500, code: "InternalError", message: "We encountered an internal error. Please try again."}
		default:
			e = serviceError{status: 503, code: "ServiceUnavailable", message: "Service is unable to handle request."}
		}
	case ServiceEC2:
		switch kind {
		case kindThrottle:
			e = serviceError{status: 503, code: "RequestLimitExceeded", message: "Request limit exceeded."}
		case kindInternal:
			e = serviceError{status: 500, code: "InternalError", message: "An internal error has occurred."}
		default:
			e = serviceError{status: 503, code: "Unavailable", message: "The server is overloaded and can't handle the request."}
		}
	default: // awsQuery services (Auto Scaling, ...) and other awsJson services
		switch kind {
		case kindThrottle:
			e = serviceError{status: 400, code: "Throttling", message: "Rate exceeded", sender: true}
		case kindInternal:
			e = serviceError{status: 500, code: "InternalFailure", message: "An internal error has occurred."}
		default:
			e = serviceError{status: 503, code: "ServiceUnavailable", message: "Service Unavailable"}
		}
		e.jsonType = e.code
	}
	if code != "" && kind == kindThrottle {
		e.code, e.jsonType = code, code
		if e.queryError != "" {
			e.queryError = code + ";Sender"
		}
	}
	return e
}

// dynamoDataPlane lists the DynamoDB item operations, which are throttled
// with ProvisionedThroughputExceededException; control-plane operations
// answer ThrottlingException.
var dynamoDataPlane = map[string]bool{
	"GetItem": true, "PutItem": true, "UpdateItem": true, "DeleteItem": true, "Query": true, "Scan": true,
	"BatchGetItem": true, "BatchWriteItem": true, "TransactGetItems": true, "TransactWriteItems": true,
}

// write answers the error in the wire shape of the request's protocol.
func (e serviceError) write(w http.ResponseWriter, req request, requestID string) {
	h := w.Header()
	switch {
	case req.proto == protoJSON:
		h.Set("Content-Type", "application/x-amz-json-1.0")
		h.Set("X-Amzn-RequestId", requestID)
		if e.queryError != "" {
			h.Set("X-Amzn-Query-Error", e.queryError)
		}
		body, _ := json.Marshal(map[string]string{"__type": e.jsonType, "message": e.message})
		if req.Service == ServiceDynamoDB || req.Service == ServiceStreams {
			// DynamoDB signs every answer with the CRC32 of its body.
			h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
		}
		w.WriteHeader(e.status)
		w.Write(body)
	case req.Service == ServiceS3 || req.Service == ServiceEmulator:
		h.Set("Content-Type", "application/xml")
		h.Set("X-Amz-Request-Id", requestID)
		h.Set("X-Amz-Id-2", requestID)
		w.WriteHeader(e.status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n<Error><Code>%s</Code><Message>%s</Message><RequestId>%s</RequestId><HostId>%s</HostId></Error>",
			esc(e.code), esc(e.message), requestID, requestID)
	case req.Service == ServiceEC2:
		h.Set("Content-Type", "text/xml;charset=UTF-8")
		w.WriteHeader(e.status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>%s</RequestID></Response>",
			esc(e.code), esc(e.message), requestID)
	default:
		fault := "Receiver"
		if e.sender {
			fault = "Sender"
		}
		h.Set("Content-Type", "text/xml")
		h.Set("X-Amzn-RequestId", requestID)
		w.WriteHeader(e.status)
		fmt.Fprintf(w, "<ErrorResponse><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>",
			fault, esc(e.code), esc(e.message), requestID)
	}
}

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
