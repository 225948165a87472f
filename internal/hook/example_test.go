package hook_test

import (
	"context"
	"fmt"

	"github.com/pistoke/pistoke/internal/hook"
)

type printer struct{}

func (printer) HandlerDone(r hook.Result) { fmt.Println("handler done, unread:", r.Unread) }

// The test client puts an observer in the request context; pistoke finds
// it there when the handler ends.
func Example() {
	ctx := hook.WithObserver(context.Background(), printer{})
	hook.ObserverFrom(ctx).HandlerDone(hook.Result{Unread: 2})
	fmt.Println(hook.SkipCSRF(ctx), hook.SkipCSRF(hook.WithSkipCSRF(ctx)))
	// Output:
	// handler done, unread: 2
	// false true
}
