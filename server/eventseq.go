package server

import "time"

// firstSeq is the seq of the first event of a run started at now: its
// microseconds since 1970. Each run's seqs are then above those of the
// runs before it (a run publishes far fewer than a million events a
// second), so that a client's since from an earlier run is below what the
// bus keeps and answered "too old" rather than taken for a seq of this
// run. Below 2^53 until the year 2255: exact in JavaScript's numbers.
func firstSeq(now time.Time) uint64 { return uint64(now.UnixMicro()) }
