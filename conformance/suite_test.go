package conformance_test

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/edgedl/edgedl/conformance"
	"github.com/edgedl/edgedl/internal/testenv"
	_ "github.com/edgedl/edgedl/kernels/all"
)

var update = flag.Bool("update", false, "rewrite testdata/expected_pass.txt from this run")

// minPass is the bar: at least 1,100 of the 1,802 node tests.
const minPass = 1100

const expectedFile = "testdata/expected_pass.txt"

// TestNodeSuite runs the ONNX backend node tests against the reasoned list
// of tests expected to pass (testdata/expected_pass.txt): any of them that
// fails is a regression. EDGEDL_CONF_FILTER (a regexp on the folder name)
// narrows the run while developing an operator; EDGEDL_CONF_VERBOSE=1 logs
// every failure and skip. -update rewrites the list from the run.
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
	expected := map[string]bool{}
	if b, err := os.ReadFile(expectedFile); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				expected[line] = true
			}
		}
	}
	var results []conformance.Result
	var passed, newPasses []string
	for _, d := range dirs {
		name := filepath.Base(d)
		if filter != nil && !filter.MatchString(name) {
			continue
		}
		r := conformance.RunDir(d, conformance.Options{})
		results = append(results, r)
		if verbose && r.Status != conformance.Pass {
			t.Logf("%s %s: %s", r.Status, r.Name, conformance.FirstLine(r.Reason))
		}
		if r.Status == conformance.Pass {
			passed = append(passed, name)
			if !expected[name] {
				newPasses = append(newPasses, name)
			}
		} else if expected[name] && !*update {
			t.Errorf("regression: %s no longer passes: %s", name, conformance.FirstLine(r.Reason))
		}
	}
	p, f, s := conformance.Summary(results)
	t.Logf("%d passed, %d failed, %d skipped", p, f, s)
	if len(newPasses) > 0 && !*update {
		t.Logf("%d tests pass that are not in %s (run with -update to record them): %s",
			len(newPasses), expectedFile, strings.Join(newPasses, " "))
	}
	if *update {
		if filter != nil {
			t.Fatal("-update needs the full suite: unset EDGEDL_CONF_FILTER")
		}
		sort.Strings(passed)
		body := "# ONNX node tests edgedl passes; a test listed here that fails is a regression.\n" +
			"# Regenerate with: go test ./conformance -run NodeSuite -update\n" + strings.Join(passed, "\n") + "\n"
		if err := os.WriteFile(expectedFile, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if filter == nil && p < minPass {
		t.Errorf("only %d node tests pass; the bar is %d", p, minPass)
	}
}
