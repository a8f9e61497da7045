package postproc

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
)

// BenchmarkSmallJobs runs jobs for 32 KiB files (not images), 32 waiting
// at a time as under many tus clients, through the default steps and the
// install on a real SQLite file: it measures what a job costs beyond its
// bytes, which is mostly the durable records it writes.
func BenchmarkSmallJobs(b *testing.B) {
	f := newFixture(b)
	r := f.runner(b, func(c *Config) { c.Workers = 0 })
	content := make([]byte, 32<<10)
	rand.Read(content)
	if _, err := f.tree.Mkdir(context.Background(), "s", "b"); err != nil {
		b.Fatal(err)
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	var failed sync.Once
	for range 32 {
		wg.Go(func() {
			for i := range jobs {
				id := fmt.Sprintf("bench-%d", i)
				if err := r.Submit(context.Background(), f.stage(b, id, fmt.Sprintf("b/f%d.bin", i%64), content)); err != nil {
					failed.Do(func() { b.Error(err) })
					continue
				}
				if _, err := r.Wait(context.Background(), id); err != nil {
					failed.Do(func() { b.Error(err) })
				}
			}
		})
	}
	b.ResetTimer()
	for i := range b.N {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}
