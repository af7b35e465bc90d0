package httpapi

import (
	"context"
	"log/slog"

	"github.com/buildfarm/buildfarm/shared/farm"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	stateKey
)

// RequestID returns the id of the request ctx belongs to ("" outside one).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// requestState is what the request learns as it goes (who the caller is),
// visible to the access log written after the handler returns.
type requestState struct {
	principal farm.Principal
}

func withRequest(ctx context.Context, id string) (context.Context, *requestState) {
	st := &requestState{}
	ctx = context.WithValue(ctx, requestIDKey, id)
	return context.WithValue(ctx, stateKey, st), st
}

// principal is the authenticated caller (the zero Principal on public routes).
func principal(ctx context.Context) farm.Principal {
	if st, ok := ctx.Value(stateKey).(*requestState); ok {
		return st.principal
	}
	return farm.Principal{}
}

func setPrincipal(ctx context.Context, p farm.Principal) {
	if st, ok := ctx.Value(stateKey).(*requestState); ok {
		st.principal = p
	}
}

// ContextHandler adds the request id of a record's context to every log
// record, so that lines logged deeper down (the scheduler, the store) carry
// it too when they log with the request's context.
func ContextHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(ctxHandler); ok {
		return h
	}
	return ctxHandler{h}
}

type ctxHandler struct{ slog.Handler }

func (h ctxHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h ctxHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return ctxHandler{h.Handler.WithAttrs(attrs)}
}

func (h ctxHandler) WithGroup(name string) slog.Handler {
	return ctxHandler{h.Handler.WithGroup(name)}
}
