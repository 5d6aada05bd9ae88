//go:build linux

package reports

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// unprivDirEnv hands TestReadResultsPermission's folder to the copy of the
// test binary it runs as an unprivileged user.
const unprivDirEnv = "STREAMBENCH_UNREADABLE_DIR"

// TestReadResultsPermission: a folder that cannot be read is an error that
// says so and names it, not "no trial records".
//
// Note: root reads a chmod 000 folder, so under root (as on CI) the check
// runs in a copy of this test binary as the user nobody.
func TestReadResultsPermission(t *testing.T) {
	if dir := os.Getenv(unprivDirEnv); dir != "" {
		checkUnreadable(t, dir)
		return
	}
	base, err := os.MkdirTemp("", "streambench-perm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(base, "locked"), 0o755); os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "locked")
	writeRun(t, filepath.Join(dir, "results.jsonl"), makeTrials(spec{scenario: "chat", variant: "mutex", conc: 4, n: 1, chunks: 100}))
	if err := os.Chmod(dir, 0); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		checkUnreadable(t, dir)
		return
	}
	exe := filepath.Join(base, "reports.test")
	if err := copyFile(os.Args[0], exe); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestReadResultsPermission$", "-test.v")
	cmd.Dir = base
	cmd.Env = append(os.Environ(), unprivDirEnv+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestReadResultsPermission") {
		t.Fatalf("the check as user nobody: %v\n%s", err, out)
	}
}

func checkUnreadable(t *testing.T, dir string) {
	t.Helper()
	_, _, _, err := ReadResults([]string{dir})
	if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), dir) {
		t.Errorf("ReadResults(unreadable folder) = %v, want a permission error naming it", err)
	}
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}
