package reports

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streambench/streambench/result"
)

// TestReportInBrowser opens a report built from hand-made trials in
// headless Chromium, driven through chromedriver over the W3C WebDriver
// protocol, and checks what only a browser can tell: every image decoded
// and has a size, the page fetched nothing over the network, and nothing
// was logged to the console at error level. It saves a full-page
// screenshot as a test artefact in $STREAMBENCH_ARTIFACTS, or in the
// test's temporary directory, and logs its path.
//
// The test skips when STREAMBENCH_NO_BROWSER=1, or outside CI when
// chromium or chromedriver is missing; under CI=true a missing browser is
// a failure, so CI cannot pass by silently not testing.
func TestReportInBrowser(t *testing.T) {
	chromium, driver := browserOrSkip(t)

	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	trials := standardRun()
	figs := mustFigures(t, trials)
	var b bytes.Buffer
	if err := writeHTML(&b, testHeader, trials, figs, DefaultOptions); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	wd := startWebDriver(t, driver, chromium)
	pageURL := (&url.URL{Scheme: "file", Path: page}).String()
	wd.call(t, "POST", "/url", map[string]any{"url": pageURL}, nil)

	// Chromium decodes images lazily; wait for every <img> to settle
	// (decode() rejects on a broken image, which the check below reports)
	// and then read what the browser made of each.
	var imgs []struct {
		Alt      string `json:"alt"`
		Complete bool   `json:"complete"`
		Width    int    `json:"naturalWidth"`
		Height   int    `json:"naturalHeight"`
	}
	wd.script(t, `return Promise.all(Array.from(document.images, i => i.decode().catch(() => null))).then(() =>
		Array.from(document.images, i => ({alt: i.alt, complete: i.complete, naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight})));`, &imgs)
	if len(imgs) != len(figs) {
		t.Errorf("browser sees %d images, want one per figure (%d)", len(imgs), len(figs))
	}
	for _, im := range imgs {
		if !im.Complete || im.Width == 0 || im.Height == 0 {
			t.Errorf("image %q did not render: complete=%v %dx%d", im.Alt, im.Complete, im.Width, im.Height)
		}
	}

	checkOffline(t, wd)
	if errs := wd.consoleErrors(t); len(errs) > 0 {
		t.Errorf("console errors while loading the report:\n%s", strings.Join(errs, "\n"))
	}

	shot := wd.screenshot(t)
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if h := img.Bounds().Dy(); h < 2000 {
		t.Errorf("full-page screenshot is %d px tall; the report should be far longer", h)
	}
	if len(colours(img)) < 16 {
		t.Error("screenshot looks blank")
	}
	out := os.Getenv("STREAMBENCH_ARTIFACTS")
	if out == "" {
		out = t.TempDir()
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(out, "report-screenshot.png")
	if err := os.WriteFile(p, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the report: %s", p)

	// The checks above must be able to fail: a console error and a fetch
	// from a loopback server, made on purpose now, must both be seen.
	t.Run("checks can fail", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "image/png")
			w.Write(figs[0].PNG)
		}))
		defer srv.Close()
		var loaded bool
		wd.script(t, `const i = new Image(); i.src = arguments[0]; console.error("streambench probe");
			return i.decode().then(() => true, () => false);`, &loaded, srv.URL+"/probe.png")
		if !loaded {
			t.Error("the probe image from the loopback server did not load")
		}
		if fetched := wd.networkURLs(t); !strings.Contains(strings.Join(fetched, " "), srv.URL) {
			t.Errorf("the network check missed a fetch from %s; saw %v", srv.URL, fetched)
		}
		if errs := wd.consoleErrors(t); !strings.Contains(strings.Join(errs, " "), "streambench probe") {
			t.Errorf("the console check missed console.error; saw %v", errs)
		}
	})
}

// mustFigures renders the figures of trials.
func mustFigures(t *testing.T, trials []*result.Trial) []Figure {
	t.Helper()
	figs, err := Figures(trials, DefaultOptions)
	if err != nil {
		t.Fatal(err)
	}
	return figs
}

// checkOffline checks that the loaded page refers to nothing outside
// itself and that the browser fetched nothing over http(s).
func checkOffline(t *testing.T, wd *webDriver) {
	t.Helper()
	if urls := wd.networkURLs(t); len(urls) > 0 {
		t.Errorf("the report fetched over the network: %v", urls)
	}
	// Every attribute and stylesheet that can name a resource must be
	// inline data; the static check in checkHTML reads the file, this one
	// reads the DOM the browser built.
	var external []string
	wd.script(t, `const out = [];
		for (const el of document.querySelectorAll("[src],[href],[srcset],[poster],[data]"))
			for (const a of ["src", "href", "srcset", "poster", "data"]) {
				const v = el.getAttribute(a);
				if (v !== null && !v.startsWith("data:") && !v.startsWith("#")) out.push(el.tagName + " " + a + "=" + v);
			}
		for (const s of document.styleSheets) {
			if (s.href) out.push("stylesheet " + s.href);
			for (const r of s.cssRules) if (/url\(\s*['"]?(?!data:)/.test(r.cssText)) out.push("css " + r.cssText);
		}
		return out;`, &external)
	if len(external) > 0 {
		t.Errorf("the report refers outside itself: %v", external)
	}
}

// browserOrSkip returns the paths of chromium and chromedriver, or skips
// (or, under CI, fails) when they are missing.
func browserOrSkip(t *testing.T) (chromium, driver string) {
	t.Helper()
	if os.Getenv("STREAMBENCH_NO_BROWSER") == "1" {
		t.Skip("STREAMBENCH_NO_BROWSER=1")
	}
	var missing []string
	for _, p := range []*string{&chromium, &driver} {
		name := map[*string]string{&chromium: "chromium", &driver: "chromedriver"}[p]
		path, err := exec.LookPath(name)
		if err != nil {
			missing = append(missing, name)
		}
		*p = path
	}
	if len(missing) == 0 {
		return chromium, driver
	}
	msg := strings.Join(missing, " and ") + " not found (Debian packages chromium and chromium-driver; .ci/run installs them)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; under CI the browser test must run")
	}
	t.Skip(msg + "; set CI=true to make this a failure")
	return "", ""
}

// webDriver is one WebDriver session of a chromedriver this test started.
type webDriver struct {
	base    string // http://127.0.0.1:port/session/id
	client  *http.Client
	logsBuf []string // browser log entries already read, which the driver hands out once
}

// startWebDriver starts chromedriver on a free loopback port, opens a
// session of headless Chromium with a fresh profile and registers the
// cleanup that ends both.
func startWebDriver(t *testing.T, driver, chromium string) *webDriver {
	t.Helper()
	port := freePort(t)
	var logs bytes.Buffer
	cmd := exec.Command(driver, fmt.Sprintf("--port=%d", port), "--allowed-ips=127.0.0.1")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("chromedriver output:\n%s", logs.String())
		}
	})
	wd := &webDriver{client: &http.Client{Timeout: 60 * time.Second}}
	root := fmt.Sprintf("http://127.0.0.1:%d", port)

	// Wait for the driver to listen. Note: this polls a process we just
	// started, with a deadline; no test result depends on the timing.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		var status struct {
			Ready bool `json:"ready"`
		}
		if err := wd.do(ctx, "GET", root+"/status", nil, &status); err == nil && status.Ready {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("chromedriver did not become ready: %v\n%s", ctx.Err(), logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}

	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{
			"binary": chromium,
			"args": []string{
				"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
				"--disable-background-networking", "--disable-component-update", "--disable-sync",
				"--hide-scrollbars", "--window-size=1200,900",
				"--user-data-dir=" + t.TempDir(),
			},
		},
		"goog:loggingPrefs": map[string]string{"browser": "ALL"},
	}}}
	var session struct {
		SessionID string `json:"sessionId"`
	}
	if err := wd.do(t.Context(), "POST", root+"/session", caps, &session); err != nil {
		t.Fatalf("new session: %v\n%s", err, logs.String())
	}
	wd.base = root + "/session/" + session.SessionID
	t.Cleanup(func() {
		// Deleting the session quits Chromium before chromedriver is killed.
		wd.do(context.Background(), "DELETE", wd.base, nil, nil)
	})
	return wd
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// call sends one command of the session and decodes its value into out.
func (wd *webDriver) call(t *testing.T, method, path string, body, out any) {
	t.Helper()
	if err := wd.do(t.Context(), method, wd.base+path, body, out); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
}

// script runs JavaScript in the page (a returned Promise is awaited) and
// decodes its result into out.
func (wd *webDriver) script(t *testing.T, js string, out any, args ...any) {
	t.Helper()
	if args == nil {
		args = []any{}
	}
	wd.call(t, "POST", "/execute/sync", map[string]any{"script": js, "args": args}, out)
}

// networkURLs returns the http(s) URLs the page has fetched, from the
// Resource Timing entries.
func (wd *webDriver) networkURLs(t *testing.T) []string {
	t.Helper()
	var urls []string
	wd.script(t, `return performance.getEntriesByType("resource").map(e => e.name).filter(n => /^https?:/i.test(n));`, &urls)
	return urls
}

// consoleErrors returns the browser log entries at SEVERE level so far.
func (wd *webDriver) consoleErrors(t *testing.T) []string {
	t.Helper()
	var entries []struct {
		Level   string `json:"level"`
		Message string `json:"message"`
	}
	wd.call(t, "POST", "/se/log", map[string]string{"type": "browser"}, &entries)
	for _, e := range entries {
		if e.Level == "SEVERE" {
			wd.logsBuf = append(wd.logsBuf, e.Message)
		}
	}
	return wd.logsBuf
}

// screenshot returns a PNG of the whole page, beyond the viewport, taken
// through the DevTools protocol.
func (wd *webDriver) screenshot(t *testing.T) []byte {
	t.Helper()
	var res struct {
		Data string `json:"data"`
	}
	wd.call(t, "POST", "/goog/cdp/execute", map[string]any{
		"cmd":    "Page.captureScreenshot",
		"params": map[string]any{"format": "png", "captureBeyondViewport": true},
	}, &res)
	b, err := base64.StdEncoding.DecodeString(res.Data)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// do sends a WebDriver request and decodes the "value" of its answer into
// out; a WebDriver error becomes a Go error.
func (wd *webDriver) do(ctx context.Context, method, url string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := wd.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("%s: %w", resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		json.Unmarshal(env.Value, &e)
		return fmt.Errorf("%s: %s: %s", resp.Status, e.Error, e.Message)
	}
	if out == nil || len(env.Value) == 0 || string(env.Value) == "null" {
		return nil
	}
	if err := json.Unmarshal(env.Value, out); err != nil {
		return errors.New("decoding " + string(env.Value[:min(len(env.Value), 200)]) + ": " + err.Error())
	}
	return nil
}
