package main

import (
	"flag"

	"github.com/edgedl/edgedl/demo"
)

// setupDemo is the default main job: the embedded model on embedded digits.
func setupDemo(e *env, fs *flag.FlagSet) func([]string) error {
	threads := fs.Int("threads", 0, "intra-op `threads` (0: one per CPU)")
	samples := fs.Int("samples", 200, "how many embedded digits to classify one by one (1-200)")
	return func([]string) error {
		_, err := demo.Run(e.stdout, demo.Options{Threads: *threads, Samples: *samples})
		return err
	}
}
