module github.com/pistoke/pistoke

go 1.25
