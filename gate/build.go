package gate

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Builder builds the bench binary of a git ref or of a working tree, each
// once, into Dir.
type Builder struct {
	// Repo is a directory inside the git repository.
	Repo string
	// Dir receives the binaries (and, while they build, the checkouts).
	Dir string
}

// BuildRef checks ref out into a temporary git worktree, builds its bench
// command into Dir and removes the worktree. It returns the binary and the
// commit ref names.
func (b Builder) BuildRef(ctx context.Context, name, ref string) (bin, commit string, err error) {
	commit, err = b.git(ctx, "rev-parse", "--short=12", "--verify", ref+"^{commit}")
	if err != nil {
		return "", "", fmt.Errorf("ref %q: %v", ref, err)
	}
	src := filepath.Join(b.Dir, "src-"+name)
	if _, err := b.git(ctx, "worktree", "add", "--detach", src, commit); err != nil {
		return "", "", fmt.Errorf("checking out %s: %v", ref, err)
	}
	defer func() {
		if _, rerr := b.git(context.Background(), "worktree", "remove", "--force", src); rerr != nil && err == nil {
			err = fmt.Errorf("removing the worktree of %s: %v", ref, rerr)
		}
	}()
	bin = filepath.Join(b.Dir, name)
	if err := goBuild(ctx, src, bin); err != nil {
		return "", "", fmt.Errorf("building %s (%s): %v", ref, commit, err)
	}
	return bin, commit, nil
}

// BuildWorkingTree builds the bench command of the working tree as it is,
// uncommitted changes included.
func (b Builder) BuildWorkingTree(ctx context.Context, name string) (bin, commit string, err error) {
	root, err := b.git(ctx, "rev-parse", "--show-toplevel")
	if err != nil {
		return "", "", err
	}
	commit, _ = b.git(ctx, "rev-parse", "--short=12", "HEAD")
	if st, _ := b.git(ctx, "status", "--porcelain", "--untracked-files=no"); st != "" {
		commit += "+dirty"
	}
	bin = filepath.Join(b.Dir, name)
	if err := goBuild(ctx, root, bin); err != nil {
		return "", "", fmt.Errorf("building the working tree: %v", err)
	}
	return bin, commit, nil
}

func (b Builder) git(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = b.Repo
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

func goBuild(ctx context.Context, dir, bin string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/bench")
	cmd.Dir = dir
	cmd.Env = os.Environ()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
