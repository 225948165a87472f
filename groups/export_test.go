package groups

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

// SetWriteHook makes every hub's writers call f before they write for a
// member, until the test ends.
func SetWriteHook(t interface{ Cleanup(func()) }, f func()) {
	testHookWrite = f
	t.Cleanup(func() { testHookWrite = nil })
}

// WriteChunk is how many members a writer takes at a time.
const WriteChunk = writeChunk
