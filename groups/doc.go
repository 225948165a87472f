// Package groups broadcasts messages to groups of WebSocket connections,
// in one process or across a cluster, and tracks who is present in each
// group.
//
// A [Hub] is created once per process over a [Backend]: [NewLocal] for a
// single process, or a broker-backed one (packages groups/redis and
// groups/nats) so that several processes behind a load balancer form one
// cluster. A socket handler joins its connection to a group and
// publishes what its client sends:
//
//	hub, err := groups.New(ctx, nil, nil)
//	...
//	mux.Handle("WEBSOCKET /rooms/{room}", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
//		room := ws.Request().PathValue("room")
//		if _, err := hub.Join(ws, room, nil); err != nil {
//			return err
//		}
//		for typ, msg := range ws.Messages() {
//			if err := hub.Publish(ws.Context(), room, typ, msg); err != nil {
//				return err
//			}
//		}
//		return ws.Err()
//	}))
//
// # Delivery
//
// Every socket that joined a group receives each message published to it
// afterwards, on any node, the publisher's own socket included. Messages
// one publisher sends to one group arrive in the order it sent them.
// Each message is encoded once and written
// to each member from a bounded queue of its own, so that a publisher
// never waits for a socket: a member that falls behind loses messages or
// its connection, as [Options.Policy] says, and nobody else notices. A
// connection the hub drops gets the same close as a [pistoke.Conn] that
// drops a slow consumer, see [pistoke.Options.SendQueue].
// Across the broker delivery is at most once: what is published while a
// node is cut off from the broker is lost for that node.
//
// # Presence
//
// A socket that joins with [JoinOptions.Presence] is listed by
// [Hub.Presence] until it leaves or its connection ends; if its node dies
// without closing, until the backend's TTL expires. [Hub.Subscribe]
// delivers the group's messages and [Joined] and [Left] events to code
// that handles them itself.
//
// # Limits
//
// Group names and presence members usually come from clients, and a
// member's entry travels to every node with every presence list, so a
// hub bounds them: a group name to [MaxGroupBytes], a member's ID to
// [MaxMemberIDBytes] and its Meta to [MaxMetaBytes], all valid UTF-8,
// and the memberships of one connection to [Options.MaxGroupsPerConn].
// Beyond them calls fail with [ErrInvalidGroup], [ErrInvalidMember] and
// [ErrTooManyGroups]. How many sockets a client may open, and so how
// many presence entries it may add to one group, is the application's to
// bound (pistoke.Options.MaxConns, a limit per user).
package groups
