//go:build !unix

package main

import "errors"

var errUnsupported = errors.New("echobench: process accounting needs a unix system")

func cpuTime() (user, sys int64, err error) { return 0, 0, errUnsupported }

func raiseNoFile() error { return errUnsupported }

func noFileLimit() uint64 { return 0 }

func residentBytes() (uint64, error) { return 0, errUnsupported }

func syscallCounts() (reads, writes int64) { return 0, 0 }
