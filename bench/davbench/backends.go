package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/wharfhq/wharf/internal/testservers"
)

// backendDBs is how many databases -backends creates: one per start of a
// tusbench replica row (two rows, each started for its timed runs and
// again for its parallel phase), with room for a second run.
const backendDBs = 16

// serveBackends is -backends FILE: PostgreSQL (durable, as -db postgres)
// and SeaweedFS's S3 gateway, started for a program that cannot start them
// itself (tusbench is standard library only). It creates the databases
// w1…w16 and writes to file, as shell exports, what tusbench's -db and
// -blobs take and the credentials the replicas need:
//
//	TUSBENCH_DB=postgres://…/w%d  TUSBENCH_BLOBS=s3://…  AWS_ACCESS_KEY_ID=…  AWS_SECRET_ACCESS_KEY=…
//
// It serves until interrupted (SIGINT, SIGTERM or the -timeout), then stops
// both and removes their directories and the file.
func serveBackends(ctx context.Context, file string) int {
	pg, err := testservers.StartPostgresDurable(ctx)
	if err != nil {
		progress("-backends: %v", err)
		return 1
	}
	defer pg.Stop()
	for i := range backendDBs {
		if err := pg.CreateDatabase(ctx, fmt.Sprintf("w%d", i+1), ""); err != nil {
			progress("-backends: %v", err)
			return 1
		}
	}
	s3, err := testservers.RunS3()
	if err != nil {
		progress("-backends: %v", err)
		return 1
	}
	defer s3.Stop()
	lines := []string{
		"TUSBENCH_DB=" + strings.Replace(pg.URL("w1"), "/w1?", "/w%d?", 1),
		"TUSBENCH_BLOBS=" + s3.URL(),
	}
	lines = append(lines, s3.Env()...)
	var out strings.Builder
	for _, l := range lines {
		k, v, _ := strings.Cut(l, "=")
		fmt.Fprintf(&out, "export %s='%s'\n", k, v)
	}
	if err := os.WriteFile(file, []byte(out.String()), 0o600); err != nil {
		progress("-backends: %v", err)
		return 1
	}
	defer os.Remove(file)
	progress("PostgreSQL at %s (databases w1…w%d), S3 at %s; exports in %s; serving until interrupted", pg.Addr(), backendDBs, s3.Endpoint, file)
	fmt.Printf("backends ready file=%s\n", file)
	<-ctx.Done()
	return 0
}
