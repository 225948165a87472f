// Package hook carries test-only signals between pistoke and pistoketest
// through a request's context, so that the test client can learn how a
// handler ended without pistoke exporting that machinery.
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

// CloseCounting closes a *pistoke.Conn with code and reason and returns
// how many data messages arrived unread. pistoke sets it at init, so that
// the test client can tell output the test never read.
var CloseCounting func(conn any, code int, reason string) (unread int, err error)
