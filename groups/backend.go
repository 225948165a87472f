package groups

import "context"

// Backend carries group messages and presence between the nodes of a
// cluster: the processes that share one broker. A Hub uses one Backend;
// the in-process backend (NewLocal) serves a single process, the Redis and
// NATS backends (packages groups/redis and groups/nats) a cluster.
//
// Messages are opaque bytes to a backend. Delivery is at most once: a
// message published while a node is cut off from the broker is lost for
// that node, and Publish reports an error while the publishing node is.
type Backend interface {
	// Open connects to the broker and starts calling deliver for every
	// message published to a group this node subscribes to, including
	// messages this node published. deliver is called from one goroutine
	// at a time, in the order in which one publisher published to one
	// group; it must not block. Open fails with a clear error when the
	// broker is unreachable.
	Open(ctx context.Context, deliver func(group string, msg []byte)) error

	// Subscribe starts the delivery of group's messages to this node;
	// Unsubscribe stops it. The Hub counts its members and calls each
	// once per group.
	Subscribe(ctx context.Context, group string) error
	Unsubscribe(ctx context.Context, group string) error

	// Publish sends msg to every node subscribed to group. It returns an
	// error, and drops msg, while the broker is unreachable.
	Publish(ctx context.Context, group string, msg []byte) error

	// Presence returns the backend's presence store.
	Presence() PresenceStore

	// Close stops deliveries, removes this node's presence entries and
	// disconnects.
	Close() error
}

// PresenceStore records who is present in each group, across nodes.
//
// Entries belong to the node that added them. A node keeps its entries
// alive while it runs (backends use a heartbeat); the entries of a node
// that stops without Close (a crash, SIGKILL) disappear within the
// backend's TTL.
type PresenceStore interface {
	// Add records m in group under key, unique per socket in the cluster.
	Add(ctx context.Context, group, key string, m Member) error
	// Remove deletes the entry under key.
	Remove(ctx context.Context, group, key string) error
	// List returns the live entries of group, in any order; a member
	// present through several sockets appears once per socket.
	List(ctx context.Context, group string) ([]Member, error)
}

// Member is an entry of a group's presence: who, and a little about them.
type Member struct {
	// ID identifies the member, a user id say; several sockets may share
	// it (one person, two tabs). At most MaxMemberIDBytes, valid UTF-8.
	ID string `json:"id"`
	// Meta is small application data shown with the member (a name, a
	// status): at most MaxMetaBytes encoded as JSON, valid UTF-8. It is
	// sent with every presence list, so the smaller the better.
	Meta map[string]string `json:"meta,omitempty"`
}
