module github.com/pistoke/pistoke/bench

go 1.25.0

require (
	github.com/gorilla/websocket v1.5.3
	github.com/pistoke/pistoke v0.0.0
)

require github.com/justinas/nosurf v1.2.0 // indirect

replace github.com/pistoke/pistoke => ../
