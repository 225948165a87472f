package groups

import "context"

// PreparedCount returns how many messages h has encoded for its sockets.
func PreparedCount(h *Hub) int64 { return h.prepared.Load() }

// MemberCount returns how many local members group has.
func MemberCount(h *Hub, group string) int {
	h.mu.RLock()
	g := h.groups[group]
	h.mu.RUnlock()
	if g == nil {
		return 0
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	return len(g.members)
}

// NewWithWriteHook is New for a hub whose writers call f before they
// write for a member.
func NewWithWriteHook(ctx context.Context, b Backend, opts *Options, f func()) (*Hub, error) {
	return newHub(ctx, b, opts, f)
}

// WriteChunk is how many members a writer takes at a time.
const WriteChunk = writeChunk

// CountedConns returns how many connections hold memberships of h.
func CountedConns(h *Hub) int {
	h.connMu.Lock()
	defer h.connMu.Unlock()
	return len(h.joins)
}
