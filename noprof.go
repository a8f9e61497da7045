//go:build !pprof

package main

func startProfiling() {}
