module github.com/pistoke/pistoke

go 1.25

require (
	github.com/go-chi/chi/v5 v5.5.0
	github.com/justinas/nosurf v1.2.0
)
