package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/edgedl/edgedl/conformance"
)

type confResult struct {
	Name       string  `json:"name"`
	Dir        string  `json:"dir"`
	Status     string  `json:"status"`
	Reason     string  `json:"reason,omitempty"`
	DurationMS float64 `json:"duration_ms"`
}

type confReport struct {
	Passed  int          `json:"passed"`
	Failed  int          `json:"failed"`
	Skipped int          `json:"skipped"`
	Results []confResult `json:"results"`
}

func setupConformance(e *env, fs *flag.FlagSet) func([]string) error {
	filter := fs.String("filter", "", "run only tests whose folder name matches `REGEXP`")
	timeout := fs.Duration("timeout", 60*time.Second, "per-test `timeout`")
	asJSON := fs.Bool("json", false, "print every result and the counts as JSON")
	listPassing := fs.String("list-passing", "", "write the names of passing tests to `FILE`, one per line")
	expect := fs.String("expect", "", "fail if a test named in `FILE` (one per line, # comments) runs and does not pass")
	showSkipped := fs.Bool("show-skipped", false, "print a line per skipped test too")
	failUnder := fs.Int("fail-under", 0, "exit with status 1 if fewer than `N` tests pass")
	threads := fs.Int("threads", 1, "intra-op `threads` per test")
	rtol := fs.Float64("rtol", 1e-3, "relative `tolerance`")
	atol := fs.Float64("atol", 1e-7, "absolute `tolerance`")
	return func(roots []string) error {
		var re *regexp.Regexp
		if *filter != "" {
			var err error
			if re, err = regexp.Compile(*filter); err != nil {
				return usagef("--filter: %v", err)
			}
		}
		for _, r := range roots {
			if st, err := os.Stat(r); err != nil {
				return err
			} else if !st.IsDir() {
				return fmt.Errorf("%s: not a directory", r)
			}
		}
		var expected []string
		if *expect != "" {
			var err error
			if expected, err = readNameList(*expect); err != nil {
				return err
			}
		}
		dirs, err := conformance.Find(roots...)
		if err != nil {
			return err
		}
		var todo []string
		for _, d := range dirs {
			if re == nil || re.MatchString(filepath.Base(d)) {
				todo = append(todo, d)
			}
		}
		e.log.Info("conformance", "tests", len(todo), "found", len(dirs))
		progress := isTerminal(e.stderr)
		opts := conformance.Options{RTol: *rtol, ATol: *atol, Timeout: *timeout, Threads: *threads}
		var results []conformance.Result
		rep := confReport{Results: []confResult{}}
		for i, d := range todo {
			if progress {
				fmt.Fprintf(e.stderr, "\r\033[K[%d/%d] %s", i+1, len(todo), filepath.Base(d))
			}
			r := conformance.RunDir(d, opts)
			results = append(results, r)
			reason := conformance.FirstLine(r.Reason)
			rep.Results = append(rep.Results, confResult{Name: r.Name, Dir: r.Dir, Status: r.Status.String(),
				Reason: reason, DurationMS: float64(r.Duration.Microseconds()) / 1e3})
			e.log.Debug("test", "name", r.Name, "status", r.Status.String(), "duration", r.Duration)
			if *asJSON {
				continue
			}
			if r.Status == conformance.Fail || (r.Status == conformance.Skip && *showSkipped) {
				if progress {
					fmt.Fprint(e.stderr, "\r\033[K")
				}
				fmt.Fprintf(e.stdout, "%s %s: %s\n", r.Status, r.Name, reason)
			}
		}
		if progress && len(todo) > 0 {
			fmt.Fprint(e.stderr, "\r\033[K")
		}
		rep.Passed, rep.Failed, rep.Skipped = conformance.Summary(results)
		if *asJSON {
			if err := writeJSON(e.stdout, rep); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(e.stdout, "%d passed, %d failed, %d skipped\n", rep.Passed, rep.Failed, rep.Skipped)
		}
		passing, ran := map[string]bool{}, map[string]bool{}
		var names []string
		for _, r := range results {
			ran[r.Name] = true
			if r.Status == conformance.Pass {
				passing[r.Name] = true
				names = append(names, r.Name)
			}
		}
		if *listPassing != "" {
			sort.Strings(names)
			text := strings.Join(names, "\n")
			if text != "" {
				text += "\n"
			}
			if err := os.WriteFile(*listPassing, []byte(text), 0o644); err != nil {
				return err
			}
		}
		var missing []string
		for _, n := range expected {
			if ran[n] && !passing[n] { // tests left out by --filter do not count
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			more := ""
			if len(missing) > 5 {
				more = fmt.Sprintf(" and %d more", len(missing)-5)
				missing = missing[:5]
			}
			return fmt.Errorf("%s: %s%s expected to pass but did not", *expect, strings.Join(missing, ", "), more)
		}
		if rep.Passed < *failUnder {
			return fmt.Errorf("%d passed, fewer than --fail-under %d", rep.Passed, *failUnder)
		}
		return nil
	}
}

// readNameList reads one name per line, ignoring blank lines and # comments.
func readNameList(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
