package conformance_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/edgedl/edgedl/conformance"
	"github.com/edgedl/edgedl/internal/testenv"
	_ "github.com/edgedl/edgedl/kernels/all"
)

// TestNodeSuite runs the ONNX backend node tests. EDGEDL_CONF_FILTER (a
// regexp on the folder name) narrows the run while developing an operator;
// EDGEDL_CONF_VERBOSE=1 logs every failure and skip.
func TestNodeSuite(t *testing.T) {
	root := filepath.Join(testenv.Shared(t), "onnx-node-tests", "node")
	dirs, err := conformance.Find(root)
	if err != nil {
		t.Fatal(err)
	}
	var filter *regexp.Regexp
	if f := os.Getenv("EDGEDL_CONF_FILTER"); f != "" {
		filter = regexp.MustCompile(f)
	}
	verbose := os.Getenv("EDGEDL_CONF_VERBOSE") != ""
	var results []conformance.Result
	for _, d := range dirs {
		if filter != nil && !filter.MatchString(filepath.Base(d)) {
			continue
		}
		r := conformance.RunDir(d, conformance.Options{})
		results = append(results, r)
		if verbose && r.Status != conformance.Pass {
			t.Logf("%s %s: %s", r.Status, r.Name, conformance.FirstLine(r.Reason))
		}
	}
	p, f, s := conformance.Summary(results)
	t.Logf("%d passed, %d failed, %d skipped", p, f, s)
}
