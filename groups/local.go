package groups

import (
	"context"
	"errors"
	"sync"
)

// NewLocal returns the in-process backend: groups that span the sockets
// of one process, with nothing to run beside it. It serves one Hub.
// Publish delivers at once, from the publisher's goroutine; presence
// lives in memory and goes with the process.
func NewLocal() Backend { return &local{} }

var errLocalClosed = errors.New("groups: local backend closed")

type local struct {
	// mu serialises deliveries, as Backend requires, and guards the rest.
	mu      sync.Mutex
	deliver func(group string, msg []byte)
	subs    map[string]bool
	closed  bool

	presence localPresence
}

func (l *local) Open(_ context.Context, deliver func(group string, msg []byte)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errLocalClosed
	}
	if l.deliver != nil {
		return errors.New("groups: local backend already open")
	}
	l.deliver = deliver
	l.subs = make(map[string]bool)
	return nil
}

func (l *local) Subscribe(_ context.Context, group string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	l.subs[group] = true
	return nil
}

func (l *local) Unsubscribe(_ context.Context, group string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	delete(l.subs, group)
	return nil
}

func (l *local) Publish(_ context.Context, group string, msg []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if l.subs[group] {
		l.deliver(group, msg)
	}
	return nil
}

func (l *local) Presence() PresenceStore { return &l.presence }

func (l *local) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errLocalClosed
	}
	l.closed = true
	l.subs = nil
	l.presence.clear()
	return nil
}

// usable reports why l cannot be used, if it cannot; l.mu is held.
func (l *local) usable() error {
	switch {
	case l.closed:
		return errLocalClosed
	case l.deliver == nil:
		return errors.New("groups: local backend not open")
	}
	return nil
}

// localPresence is a PresenceStore in memory.
type localPresence struct {
	mu      sync.Mutex
	entries map[string]map[string]Member // group, key
	closed  bool
}

func (p *localPresence) Add(_ context.Context, group, key string, m Member) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errLocalClosed
	}
	if p.entries == nil {
		p.entries = make(map[string]map[string]Member)
	}
	g := p.entries[group]
	if g == nil {
		g = make(map[string]Member)
		p.entries[group] = g
	}
	g[key] = m
	return nil
}

func (p *localPresence) Remove(_ context.Context, group, key string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errLocalClosed
	}
	if g := p.entries[group]; g != nil {
		delete(g, key)
		if len(g) == 0 {
			delete(p.entries, group)
		}
	}
	return nil
}

func (p *localPresence) List(_ context.Context, group string) ([]Member, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errLocalClosed
	}
	g := p.entries[group]
	list := make([]Member, 0, len(g))
	for _, m := range g {
		list = append(list, m)
	}
	return list, nil
}

func (p *localPresence) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.entries = nil
}
