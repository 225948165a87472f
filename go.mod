module github.com/pistoke/pistoke

go 1.25

require (
	github.com/coder/websocket v1.8.15
	github.com/go-chi/chi/v5 v5.5.0
	github.com/gorilla/websocket v1.5.3
	github.com/justinas/nosurf v1.2.0
	go.uber.org/goleak v1.3.0
)
