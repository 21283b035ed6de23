//go:build !linux

package netns

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
)

// Available reports that namespaces exist only on Linux.
func Available() error { return fmt.Errorf("%w: %s is not linux", ErrUnavailable, runtime.GOOS) }

// Setup fails: namespaces exist only on Linux.
func Setup(context.Context, Config) (*Pair, error) { return nil, Available() }

// Close does nothing.
func (p *Pair) Close() error { return nil }

// InA fails.
func (p *Pair) InA(func() error) error { return Available() }

// InB fails.
func (p *Pair) InB(func() error) error { return Available() }

// Command returns a command that cannot run.
func (p *Pair) Command(ctx context.Context, ns string, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "false")
}
