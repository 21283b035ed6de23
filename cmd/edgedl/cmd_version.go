package main

import (
	"flag"
	"fmt"
	goruntime "runtime"
	"runtime/debug"

	"github.com/edgedl/edgedl/kernels"
)

// version is set at link time: go build -ldflags "-X main.version=v0.1.0".
var version = "devel"

func setupVersion(e *env, fs *flag.FlagSet) func([]string) error {
	return func([]string) error {
		v := version
		if bi, ok := debug.ReadBuildInfo(); ok {
			if v == "devel" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
				v = bi.Main.Version
			}
			var rev, modified string
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					if s.Value == "true" {
						modified = "+dirty"
					}
				}
			}
			if len(rev) > 12 {
				rev = rev[:12]
			}
			if rev != "" {
				v += " (" + rev + modified + ")"
			}
		}
		fmt.Fprintf(e.stdout, "edgedl %s %s %s/%s, %d operators registered\n",
			v, goruntime.Version(), goruntime.GOOS, goruntime.GOARCH, len(kernels.Registered()))
		return nil
	}
}
