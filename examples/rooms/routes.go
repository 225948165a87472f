package main

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/groups"
)

// maxBody bounds a message published over HTTP, like the sockets' read
// limit.
const maxBody = 1 << 20

// newHandler builds the application: the contract's routes on one
// ServeMux, behind pistoke.Handler.
//
// POST /rooms/{room} has no authentication and no CSRF protection, so
// that any client can drive the contract; a real application puts both in
// front of it.
func newHandler(hub *groups.Hub, opts pistoke.Options, logger *slog.Logger) http.Handler {
	rooms := &rooms{hub: hub, log: logger}
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /rooms/{room}", http.HandlerFunc(rooms.handshake))
	mux.HandleFunc("POST /rooms/{room}", rooms.post)
	mux.HandleFunc("GET /rooms/{room}/presence", rooms.presence)
	return pistoke.Handler(mux, opts)
}

type rooms struct {
	hub *groups.Hub
	log *slog.Logger
}

// handshake refuses with 400, before the upgrade, a socket without a
// member id, or with a room name or id that the hub would refuse, and
// opens the others.
func (x *rooms) handshake(w http.ResponseWriter, r *http.Request) {
	room, id := r.PathValue("room"), r.URL.Query().Get("id")
	switch {
	case id == "":
		http.Error(w, "Bad Request: the query needs ?id=member", http.StatusBadRequest)
		return
	case len(id) > groups.MaxMemberIDBytes || !utf8.ValidString(id):
		http.Error(w, "Bad Request: the id must be UTF-8 text of at most "+strconv.Itoa(groups.MaxMemberIDBytes)+" bytes", http.StatusBadRequest)
		return
	case len(room) > groups.MaxGroupBytes || !utf8.ValidString(room):
		http.Error(w, "Bad Request: the room must be UTF-8 text of at most "+strconv.Itoa(groups.MaxGroupBytes)+" bytes", http.StatusBadRequest)
		return
	}
	pistoke.HandlerFunc(x.member).ServeHTTP(w, r)
}

// member joins the room and publishes every message its client sends.
func (x *rooms) member(ws *pistoke.Conn) error {
	r := ws.Request()
	room, id := r.PathValue("room"), r.URL.Query().Get("id")
	if _, err := x.hub.Join(ws, room, &groups.JoinOptions{Presence: &groups.Member{ID: id}}); err != nil {
		if refused(err) {
			return &pistoke.CloseError{Code: pistoke.ClosePolicyViolation, Reason: "room or id refused"}
		}
		return unavailable(err)
	}
	for typ, msg := range ws.Messages() {
		if err := x.hub.Publish(ws.Context(), room, typ, msg); err != nil {
			return unavailable(err)
		}
	}
	return ws.Err()
}

// unavailable turns a broker failure into close 1013, so that the client
// reconnects later, perhaps to another node, rather than reporting a
// server bug.
func unavailable(err error) error {
	if errors.Is(err, pistoke.ErrClosed) {
		return err
	}
	return &pistoke.CloseError{Code: 1013, Reason: "rooms unavailable"}
}

// refused reports whether the hub refused a request of the client's
// rather than failed to serve it.
func refused(err error) bool {
	return errors.Is(err, groups.ErrInvalidGroup) || errors.Is(err, groups.ErrInvalidMember) ||
		errors.Is(err, groups.ErrTooManyGroups)
}

// post publishes the request's text body to the room.
func (x *rooms) post(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "Request Entity Too Large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	if !utf8.Valid(body) {
		http.Error(w, "Bad Request: the body must be UTF-8 text", http.StatusBadRequest)
		return
	}
	if err := x.hub.Publish(r.Context(), r.PathValue("room"), pistoke.Text, body); err != nil {
		if refused(err) {
			http.Error(w, "Bad Request: "+err.Error(), http.StatusBadRequest)
			return
		}
		x.log.Warn("rooms: publish failed", slog.String("room", r.PathValue("room")), slog.Any("error", err))
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// presence answers the sorted ids of the room's members, on every node.
func (x *rooms) presence(w http.ResponseWriter, r *http.Request) {
	members, err := x.hub.Presence(r.Context(), r.PathValue("room"))
	if err != nil {
		if refused(err) {
			http.Error(w, "Bad Request: "+err.Error(), http.StatusBadRequest)
			return
		}
		x.log.Warn("rooms: presence failed", slog.String("room", r.PathValue("room")), slog.Any("error", err))
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
		return
	}
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.ID
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(ids)
}
