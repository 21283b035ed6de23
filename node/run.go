package node

import (
	"context"
	"errors"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/edgedl/edgedl/tensor"
)

// RunOptions configure Device.RunMany.
type RunOptions struct {
	// Count is the number of requests.
	Count int
	// Concurrency is how many run at once (default 1).
	Concurrency int
	// Inputs returns request i's inputs (in the model's input order).
	Inputs func(i int) []*tensor.Tensor
	// Each, when set, receives every request's result or error; calls are
	// serialised (not ordered).
	Each func(i int, r *Result, err error)
}

// Stats summarise a RunMany: what `edgedl infer --json` prints.
// Latencies are per request, end to end; the tier times are means over
// completed requests (emulated, and raw measured compute).
type Stats struct {
	Completed  int     `json:"completed"`
	Failed     int     `json:"failed"`
	Fallbacks  int     `json:"fallbacks"`
	Uploads    int     `json:"uploads"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	MeanMs     float64 `json:"mean_ms"`
	MaxMs      float64 `json:"max_ms"`
	ElapsedMs  float64 `json:"elapsed_ms"`
	Throughput float64 `json:"throughput_rps"`
	BytesUp    int64   `json:"bytes_up"`
	BytesDown  int64   `json:"bytes_down"`

	DeviceMs    float64 `json:"device_ms"`
	DeviceRawMs float64 `json:"device_raw_ms"`
	EdgeMs      float64 `json:"edge_ms"`
	EdgeRawMs   float64 `json:"edge_raw_ms"`
	CloudMs     float64 `json:"cloud_ms"`
	CloudRawMs  float64 `json:"cloud_raw_ms"`
	NetworkMs   float64 `json:"network_ms"`

	// Paths counts requests by where they ran ("device>edge>cloud").
	Paths map[string]int `json:"paths"`
	// Errors holds up to 5 distinct error messages of failed requests.
	Errors []string `json:"errors,omitempty"`
}

// RunMany runs opts.Count requests, opts.Concurrency at a time, and
// summarises them. It stops early when ctx ends (the rest count as
// failed).
func (d *Device) RunMany(ctx context.Context, opts RunOptions) (Stats, error) {
	if opts.Count < 0 || opts.Inputs == nil {
		return Stats{}, errors.New("node: RunMany needs Count >= 0 and an Inputs function")
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 1
	}
	results := make([]*Result, opts.Count)
	errs := make([]error, opts.Count)
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		next int
	)
	start := time.Now()
	for w := 0; w < min(opts.Concurrency, opts.Count); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= opts.Count {
					return
				}
				var r *Result
				err := ctx.Err()
				if err == nil {
					r, err = d.Infer(ctx, opts.Inputs(i))
				}
				results[i], errs[i] = r, err
				if opts.Each != nil {
					mu.Lock()
					opts.Each(i, r, err)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return summarize(results, errs, time.Since(start)), nil
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// summarize computes Stats from per-request results.
func summarize(results []*Result, errs []error, elapsed time.Duration) Stats {
	s := Stats{Paths: map[string]int{}, ElapsedMs: ms(elapsed)}
	var lat []time.Duration
	var sum Timings
	seen := map[string]bool{}
	for i, r := range results {
		if errs[i] != nil || r == nil {
			s.Failed++
			if msg := errs[i].Error(); !seen[msg] && len(s.Errors) < 5 {
				seen[msg] = true
				s.Errors = append(s.Errors, msg)
			}
			continue
		}
		s.Completed++
		lat = append(lat, r.Total)
		if r.Fallback {
			s.Fallbacks++
		}
		s.Uploads += r.Uploads
		s.Paths[r.Path]++
		s.BytesUp += r.BytesUp
		s.BytesDown += r.BytesDown
		sum.Total += r.Total
		sum.Device += r.Device
		sum.DeviceRaw += r.DeviceRaw
		sum.Edge += r.Edge
		sum.EdgeRaw += r.EdgeRaw
		sum.Cloud += r.Cloud
		sum.CloudRaw += r.CloudRaw
		sum.Network += r.Network
	}
	if n := len(lat); n > 0 {
		sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
		s.P50Ms = ms(percentile(lat, 0.50))
		s.P99Ms = ms(percentile(lat, 0.99))
		s.MaxMs = ms(lat[n-1])
		f := float64(n)
		s.MeanMs = ms(sum.Total) / f
		s.DeviceMs, s.DeviceRawMs = ms(sum.Device)/f, ms(sum.DeviceRaw)/f
		s.EdgeMs, s.EdgeRawMs = ms(sum.Edge)/f, ms(sum.EdgeRaw)/f
		s.CloudMs, s.CloudRawMs = ms(sum.Cloud)/f, ms(sum.CloudRaw)/f
		s.NetworkMs = ms(sum.Network) / f
	}
	if elapsed > 0 {
		s.Throughput = float64(s.Completed) / elapsed.Seconds()
	}
	return s
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	k := int(math.Ceil(p*float64(len(sorted)))) - 1
	k = max(0, min(k, len(sorted)-1))
	return sorted[k]
}
