package farm

import (
	"errors"
	"fmt"
)

// Error codes. They are part of the API contract: clients switch on them.
const (
	EInvalid             = "invalid"              // the request is malformed or fails validation
	ENotFound            = "not_found"            // the named thing does not exist
	EConflict            = "conflict"             // the state changed underneath, or the transition is not allowed
	EForbidden           = "forbidden"            // authenticated, but not allowed to do this
	EUnauthorized        = "unauthorized"         // no or unknown credentials
	EIdempotencyMismatch = "idempotency_mismatch" // the idempotency key was used with a different request
	ENoneFree            = "none_free"            // a resource pool has no free resource
	ETooLarge            = "too_large"            // the request body is over the limit
	EUnavailable         = "unavailable"          // a dependency is down; try again
	EInternal            = "internal"             // a bug or an unexpected failure; details are logged, not shown
)

// Error is the one application error type. Message is safe to show to clients;
// Field names the offending input field for EInvalid errors when known.
type Error struct {
	Code    string
	Message string
	Field   string
	// Err is an underlying cause, kept for logs and errors.Is; never shown to clients.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an EInvalid error naming the bad field.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Code: EInvalid, Field: field, Message: field + ": " + fmt.Sprintf(format, args...)}
}

// Internal wraps an unexpected error. Its message is generic; the cause is kept for logs.
func Internal(err error) *Error {
	return &Error{Code: EInternal, Message: "internal error", Err: err}
}

// ErrorCode returns the code of an application error, EInternal for any other
// non-nil error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the client-safe message of an error.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Code != EInternal {
		return e.Message
	}
	return "internal error"
}

// IsCode reports whether err is an application error with the given code.
func IsCode(err error, code string) bool {
	return ErrorCode(err) == code
}

// Clip shortens client input quoted back in an error message.
func Clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
