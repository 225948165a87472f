// Package hook carries pistoketest's requests to pistoke through the
// context of a connection served by the test client: tell me how each
// handler ends, and let CSRF checks pass. pistoke consults it in two
// places (a socket's end, and the CSRF check); nothing else sets these
// values, so production servers never see them.
package hook

import "context"

// Result is how a socket handler ended.
type Result struct {
	Err    error // what the handler returned, or a *pistoke.PanicError
	Unread int   // data messages the handler left unread
	Code   int   // close code pistoke sent
}

// Observer is told once when a socket handler has ended and the
// connection is closed.
type Observer interface {
	HandlerDone(Result)
}

type observerKey struct{}
type skipCSRFKey struct{}

// WithObserver returns ctx carrying obs.
func WithObserver(ctx context.Context, obs Observer) context.Context {
	return context.WithValue(ctx, observerKey{}, obs)
}

// ObserverFrom returns the observer in ctx, or nil.
func ObserverFrom(ctx context.Context) Observer {
	obs, _ := ctx.Value(observerKey{}).(Observer)
	return obs
}

// WithSkipCSRF returns ctx telling pistoke's CSRF checks to pass, as the
// test client does unless told to enforce them.
func WithSkipCSRF(ctx context.Context) context.Context {
	return context.WithValue(ctx, skipCSRFKey{}, true)
}

// SkipCSRF reports whether CSRF checks should pass for ctx.
func SkipCSRF(ctx context.Context) bool {
	skip, _ := ctx.Value(skipCSRFKey{}).(bool)
	return skip
}
