//! The main journey in a real browser: headless Chromium driven over chromedriver, by
//! visible labels and buttons, as a person would. Every page of the journey is checked
//! with axe-core (zero serious or critical violations) and saved as a full-page
//! screenshot under `$CARGO_TARGET_DIR/e2e/` (default `target/e2e/`), a CI artifact.
//! On the main pages it also takes README's screenshots (see `screenshots.rs`): kept in
//! the e2e folder as `readme-*.png`, and written to `docs/screenshots/` with
//! `KEYHOLD_SCREENSHOTS=write`.
//!
//! Needs `chromium` and `chromedriver` on the `PATH` (Debian: `chromium chromium-driver`)
//! and `KEYHOLD_AXE_JS` pointing at axe-core's `axe.min.js` (`npm install axe-core@4`); see
//! `.ci/run`. Without them the test says it was skipped and passes, unless
//! `KEYHOLD_E2E=required` (CI) makes it fail.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp};
use crate::screenshots::Shots;

/// How long to wait for a page, an element or a text (a loaded 2-core machine is slow).
const WAIT: Duration = Duration::from_secs(10);
/// How often to look again while waiting.
const POLL: Duration = Duration::from_millis(100);

const ADMIN: &str = "admin@example.test";
const OWNER: &str = "owner@example.test";
const MEMBER: &str = "member@example.test";
const BYOK_OFF_SUBJECT: &str = "BYOK for OpenAI was turned off";

// ---------------------------------------------------------------- tools and skipping

/// What the journey needs outside cargo.
struct Tools {
    chromium: PathBuf,
    chromedriver: PathBuf,
    axe_js: String,
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The tools, or what is missing.
fn find_tools() -> Result<Tools, Vec<String>> {
    let mut missing = Vec::new();
    let chromium = on_path("chromium");
    if chromium.is_none() {
        missing.push("`chromium` is not on the PATH".to_owned());
    }
    let chromedriver = on_path("chromedriver");
    if chromedriver.is_none() {
        missing.push("`chromedriver` is not on the PATH".to_owned());
    }
    let axe_js = match std::env::var("KEYHOLD_AXE_JS") {
        Ok(path) if !path.is_empty() => match std::fs::read_to_string(&path) {
            Ok(js) => Some(js),
            Err(e) => {
                missing.push(format!("KEYHOLD_AXE_JS={path} cannot be read: {e}"));
                None
            }
        },
        _ => {
            missing.push("KEYHOLD_AXE_JS (the path of axe-core's axe.min.js) is not set".into());
            None
        }
    };
    match (chromium, chromedriver, axe_js) {
        (Some(chromium), Some(chromedriver), Some(axe_js)) => Ok(Tools {
            chromium,
            chromedriver,
            axe_js,
        }),
        _ => Err(missing),
    }
}

/// Where screenshots go: `$CARGO_TARGET_DIR/e2e`, else `target/e2e` in the crate.
fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let target = if target.is_relative() {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(target)
    } else {
        target
    };
    target.join("e2e")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

// ---------------------------------------------------------------- chromedriver

/// A running chromedriver and the browser profile it uses. Dropping it (also while a
/// failing test unwinds) ends the browser session, kills chromedriver and then any
/// Chromium process still using the profile, by PID, and removes the profile.
struct Driver {
    child: Child,
    port: u16,
    profile: tempfile::TempDir,
    /// The open WebDriver session, if any.
    session: std::sync::Mutex<Option<String>>,
}

impl Driver {
    async fn start(tools: &Tools, log: &Path) -> Driver {
        let port = free_port();
        let log = std::fs::File::create(log).expect("create the chromedriver log");
        let child = Command::new(&tools.chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("start chromedriver");
        let driver = Driver {
            child,
            port,
            profile: tempfile::tempdir().expect("profile dir"),
            session: Default::default(),
        };
        // Ready once /status answers.
        let status = format!("{}/status", driver.url());
        let http = reqwest::Client::new();
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(r) = http.get(&status).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer on port {port} within {WAIT:?}"
            );
            tokio::time::sleep(POLL).await;
        }
        driver
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A new browser session: headless Chromium with the flags of TOOLCHAIN.md and a
    /// fresh profile.
    async fn session(&self, tools: &Tools) -> Client {
        let caps = json!({
            "goog:chromeOptions": {
                "binary": tools.chromium,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    format!("--user-data-dir={}", self.profile.path().display()),
                ],
            }
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let c = ClientBuilder::rustls()
            .expect("a WebDriver client")
            .capabilities(caps)
            .connect(&self.url())
            .await
            .expect("a Chromium session from chromedriver");
        *self.session.lock().expect("session lock") = c.session_id().await.ok().flatten();
        c.set_window_size(1280, 900).await.expect("window size");
        c
    }

    /// Ends the session: chromedriver closes the browser.
    async fn close(&self, c: Client) {
        c.close().await.expect("close the browser session");
        *self.session.lock().expect("session lock") = None;
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // A session still open (the test failed): chromedriver closes the browser, and so
        // reaps its processes. Plain blocking HTTP, as Drop cannot await.
        let open = self.session.lock().ok().and_then(|mut s| s.take());
        if let Some(id) = open
            && let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", self.port))
        {
            use std::io::Read as _;
            let _ = conn.set_read_timeout(Some(WAIT));
            let _ = write!(
                conn,
                "DELETE /session/{id} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
                     Content-Length: 0\r\nConnection: close\r\n\r\n",
                self.port
            );
            let _ = conn.read_to_end(&mut Vec::new());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A browser chromedriver left behind (the test failed before closing the session):
        // every process whose command line names this test's profile directory.
        let profile = self.profile.path().display().to_string();
        if let Ok(procs) = std::fs::read_dir("/proc") {
            for p in procs.flatten() {
                let Ok(pid) = p.file_name().to_string_lossy().parse::<u32>() else {
                    continue;
                };
                let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
                if String::from_utf8_lossy(&cmdline).contains(&profile) {
                    let _ = Command::new("kill")
                        .args(["-9", &pid.to_string()])
                        .stderr(Stdio::null())
                        .status();
                }
            }
        }
    }
}

// ---------------------------------------------------------------- the person at the browser

/// One browser session and what the journey checks on every page.
struct Browser {
    c: Client,
    /// chromedriver's address, for the Chrome DevTools commands WebDriver lacks.
    driver_url: String,
    app_url: String,
    dir: PathBuf,
    axe_js: String,
    /// Pages checked with axe, and the serious/critical violations found.
    axe_pages: Vec<String>,
    axe_failures: Vec<String>,
    /// Minor and moderate findings, reported but not failing.
    axe_notes: Vec<String>,
    /// Secrets that must never be in any page's source.
    secrets: Vec<String>,
    /// Time spent injecting and running axe-core.
    axe_time: std::cell::Cell<Duration>,
    /// README's screenshots, written when the journey has passed.
    shots: Shots,
}

/// How one of README's screenshots shows its page.
#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    /// A desktop's 1280 × 900.
    Desktop,
    /// A phone's 390 × 844.
    Phone,
    /// As `Desktop`, in the dark color scheme.
    Dark,
}

impl Browser {
    async fn js(&self, script: &str) -> Value {
        self.c.execute(script, vec![]).await.expect("run a script")
    }

    async fn body_text(&self) -> String {
        match self
            .c
            .execute(
                "return document.body ? document.body.innerText : '';",
                vec![],
            )
            .await
        {
            Ok(Value::String(s)) => s,
            _ => String::new(),
        }
    }

    async fn open(&self, path: &str) {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.app_url)
        };
        self.c.goto(&url).await.expect("open a page");
    }

    /// Panics with what the page shows (and a screenshot) when a wait runs out.
    async fn fail(&self, what: &str) {
        let url = self
            .c
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default();
        let slug: String = what
            .chars()
            .map(|c| if c.is_alphanumeric() { c } else { '-' })
            .take(48)
            .collect();
        let name = format!("failed-{slug}");
        self.screenshot_as(&name).await;
        let text = self.body_text().await;
        panic!("{what}\n  at {url}\n  screenshot {name}.png\n---- page text ----\n{text}\n----");
    }

    /// Waits until the page's visible text holds every one of `needles`.
    async fn expect_text(&self, needles: &[&str]) {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.body_text().await;
            if needles.iter().all(|n| text.contains(n)) {
                return;
            }
            if Instant::now() > deadline {
                let missing: Vec<_> = needles.iter().filter(|n| !text.contains(*n)).collect();
                self.fail(&format!("the page does not show {missing:?}"))
                    .await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Reloads the page until its visible text holds every one of `needles` (what another
    /// process writes, like the usage queue, shows up a little later).
    async fn reload_until(&self, needles: &[&str]) {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.body_text().await;
            if needles.iter().all(|n| text.contains(n)) {
                return;
            }
            if Instant::now() > deadline {
                let missing: Vec<_> = needles.iter().filter(|n| !text.contains(*n)).collect();
                self.fail(&format!(
                    "after reloading, the page does not show {missing:?}"
                ))
                .await;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            self.c.refresh().await.expect("reload the page");
        }
    }

    /// Waits for a displayed element matching an XPath.
    async fn displayed(&self, xpath: &str, what: &str) -> Element {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(all) = self.c.find_all(Locator::XPath(xpath)).await {
                for el in all {
                    if el.is_displayed().await.unwrap_or(false) {
                        return el;
                    }
                }
            }
            if Instant::now() > deadline {
                self.fail(&format!("no visible {what}")).await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The form control whose `<label>` reads `label` (the first visible one).
    async fn control(&self, label: &str) -> Element {
        let xpath = format!("//label[normalize-space(.)={}]", xpath_literal(label));
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(labels) = self.c.find_all(Locator::XPath(&xpath)).await {
                for l in labels {
                    let control = match l.attr("for").await.ok().flatten() {
                        Some(id) => self.c.find(Locator::Id(&id)).await,
                        None => l.find(Locator::Css("input, select, textarea")).await,
                    };
                    if let Ok(control) = control
                        && control.is_displayed().await.unwrap_or(false)
                    {
                        return control;
                    }
                }
            }
            if Instant::now() > deadline {
                self.fail(&format!("no visible field labelled {label:?}"))
                    .await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Types `value` into the field labelled `label` (clearing it first).
    async fn fill(&self, label: &str, value: &str) {
        let field = self.control(label).await;
        field.clear().await.expect("clear a field");
        field.send_keys(value).await.expect("type into a field");
    }

    /// Picks the option shown as `option` in the select labelled `label`.
    async fn choose(&self, label: &str, option: &str) {
        let select = self.control(label).await;
        // The option that reads `option` (or names it, like "openai/gpt-4o-mini").
        let xpath = format!(
            ".//option[normalize-space(.)={o} or contains(normalize-space(.), {o})]",
            o = xpath_literal(option)
        );
        if let Err(e) = select.select_by(Locator::XPath(&xpath)).await {
            let shown = select.text().await.unwrap_or_default();
            self.fail(&format!(
                "cannot choose {option:?} in {label:?} ({e}); it offers: {shown}"
            ))
            .await;
        }
    }

    /// Sets the checkbox (or switch) labelled `label` by clicking its label if needed.
    async fn set_checkbox(&self, label: &str, on: bool) {
        let input = self.control(label).await;
        if input.is_selected().await.expect("checkbox state") != on {
            let xpath = format!("//label[normalize-space(.)={}]", xpath_literal(label));
            self.displayed(&xpath, label)
                .await
                .click()
                .await
                .expect("click a label");
        }
        assert_eq!(
            input.is_selected().await.expect("checkbox state"),
            on,
            "{label} should be {}",
            if on { "on" } else { "off" }
        );
    }

    /// Clicks the element and waits until the browser has loaded the next page.
    async fn click_to_load(&self, el: Element, what: &str) {
        self.js("window.__khStale = true; return null;").await;
        el.click()
            .await
            .unwrap_or_else(|e| panic!("click {what}: {e}"));
        let deadline = Instant::now() + WAIT;
        loop {
            // Errors while the old page unloads just mean "not yet".
            if let Ok(Value::Bool(true)) = self
                .c
                .execute(
                    "return window.__khStale !== true && document.readyState === 'complete';",
                    vec![],
                )
                .await
            {
                return;
            }
            if Instant::now() > deadline {
                self.fail(&format!("{what} did not load a new page")).await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Presses the button that reads `text` and waits for the next page.
    async fn press(&self, text: &str) {
        let xpath = format!(
            "//button[normalize-space(.)={t}] | //input[@type='submit' and @value={t}]",
            t = xpath_literal(text)
        );
        let button = self.displayed(&xpath, &format!("button {text:?}")).await;
        self.click_to_load(button, &format!("the button {text:?}"))
            .await;
    }

    /// Follows the link that reads `text`.
    async fn follow(&self, text: &str) {
        let xpath = format!("//a[normalize-space(.)={}]", xpath_literal(text));
        let link = self.displayed(&xpath, &format!("link {text:?}")).await;
        self.click_to_load(link, &format!("the link {text:?}"))
            .await;
    }

    /// Signs out with the header's button, and forgets every cookie: the next person
    /// starts in a fresh browser session.
    async fn sign_out(&self) {
        self.press("Sign out").await;
        self.expect_text(&["Sign in"]).await;
        self.c.delete_all_cookies().await.expect("delete cookies");
    }

    /// Signs in on the sign-in page.
    async fn sign_in(&mut self, email: &str) {
        self.open("/login").await;
        self.page("sign-in").await;
        self.fill("Email", email).await;
        self.fill("Password", PASSWORD).await;
        self.press("Sign in").await;
        self.expect_text(&[email]).await;
    }

    /// What every page of the journey must pass: no secret in its source (the DOM and
    /// the HTML the server sent), and no serious or critical axe violation.
    async fn page(&mut self, name: &str) {
        let dom = self.c.source().await.expect("page source");
        let raw = self
            .c
            .execute_async(
                "var done = arguments[arguments.length - 1];
                 fetch(location.href, { credentials: 'same-origin' })
                   .then(function (r) { return r.text(); })
                   .then(done, function (e) { done('fetch failed: ' + e); });",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        for secret in &self.secrets {
            assert!(
                !dom.contains(secret.as_str()) && !raw.contains(secret.as_str()),
                "the page {name} holds a secret in its source"
            );
        }
        self.axe(name).await;
        self.phone_width(name).await;
    }

    /// At a phone's width (390 px) the page is no wider than the viewport: nothing scrolls
    /// sideways (an overflowing table scrolls inside its own wrapper).
    async fn phone_width(&mut self, name: &str) {
        let _ = self.c.set_window_size(390, 844).await;
        let widths = self
            .two_numbers("return [document.documentElement.scrollWidth, window.innerWidth];")
            .await;
        let _ = self.c.set_window_size(1280, 900).await;
        match widths {
            Some((page, viewport)) if page > viewport => self.axe_failures.push(format!(
                "[{name}] at 390 px the page is {page} px wide, wider than its {viewport} px viewport"
            )),
            Some(_) => {}
            None => self
                .axe_failures
                .push(format!("[{name}] the page width at 390 px could not be read")),
        }
    }

    /// The two numbers a script returns as `[a, b]`.
    async fn two_numbers(&self, script: &str) -> Option<(u64, u64)> {
        let v = self.c.execute(script, vec![]).await.ok()?;
        let v = v.as_array()?;
        Some((v.first()?.as_u64()?, v.get(1)?.as_u64()?))
    }

    /// Injects axe-core into the current page and runs it: the violations found.
    async fn run_axe(&self, name: &str) -> Vec<Value> {
        let t = Instant::now();
        let injected = self
            .c
            .execute(
                &format!("{}\n;return typeof window.axe;", self.axe_js),
                vec![],
            )
            .await
            .expect("inject axe-core");
        assert_eq!(injected, json!("object"), "axe-core did not load on {name}");
        let result = self
            .c
            .execute_async(
                "var done = arguments[arguments.length - 1];
                 window.axe.run(document, { resultTypes: ['violations'] }).then(function (r) {
                   done(r.violations.map(function (v) {
                     return { id: v.id, impact: v.impact, help: v.help, url: v.helpUrl,
                       nodes: v.nodes.map(function (n) {
                         return { target: JSON.stringify(n.target), html: n.html,
                                  summary: n.failureSummary };
                       }) };
                   }));
                 }).catch(function (e) { done({ error: String(e) }); });",
                vec![],
            )
            .await
            .expect("run axe-core");
        self.axe_time.set(self.axe_time.get() + t.elapsed());
        match result {
            Value::Array(violations) => violations,
            other => panic!("axe-core failed on {name}: {other}"),
        }
    }

    /// axe-core on the current page: serious and critical violations fail the test
    /// (at its end, all listed together), the others are reported.
    /// Emulates `prefers-color-scheme: <scheme>` (through chromedriver's DevTools bridge).
    async fn color_scheme(&self, scheme: &str) {
        let id = self
            .c
            .session_id()
            .await
            .ok()
            .flatten()
            .expect("a WebDriver session id");
        let r = reqwest::Client::new()
            .post(format!("{}/session/{id}/goog/cdp/execute", self.driver_url))
            .json(&json!({
                "cmd": "Emulation.setEmulatedMedia",
                "params": { "features": [{ "name": "prefers-color-scheme", "value": scheme }] },
            }))
            .send()
            .await
            .expect("emulate a color scheme");
        assert!(r.status().is_success(), "emulate {scheme}: {}", r.status());
        let query = format!("return matchMedia('(prefers-color-scheme: {scheme})').matches;");
        assert_eq!(
            self.js(&query).await,
            json!(true),
            "{scheme} scheme emulated"
        );
    }

    /// axe-core on the current page, in the light and the dark color scheme: serious and
    /// critical violations fail the test (at its end, all listed together), the others
    /// are reported.
    async fn axe(&mut self, name: &str) {
        self.axe_pages.push(name.to_owned());
        self.color_scheme("dark").await;
        let dark = self.run_axe(name).await;
        self.color_scheme("light").await;
        let light = self.run_axe(name).await;
        let dark_name = format!("{name}, dark");
        self.record_axe(name, light);
        self.record_axe(&dark_name, dark);
    }

    fn record_axe(&mut self, name: &str, violations: Vec<Value>) {
        for v in violations {
            let impact = v["impact"].as_str().unwrap_or("unknown");
            let mut line = format!(
                "[{name}] {impact}: {} — {} ({})",
                v["id"].as_str().unwrap_or_default(),
                v["help"].as_str().unwrap_or_default(),
                v["url"].as_str().unwrap_or_default()
            );
            for n in v["nodes"].as_array().into_iter().flatten() {
                let _ = write!(
                    line,
                    "\n    at {}\n       {}\n       {}",
                    n["target"].as_str().unwrap_or_default(),
                    n["html"].as_str().unwrap_or_default(),
                    n["summary"]
                        .as_str()
                        .unwrap_or_default()
                        .replace('\n', "\n       ")
                );
            }
            if matches!(impact, "serious" | "critical") {
                self.axe_failures.push(line);
            } else {
                self.axe_notes.push(line);
            }
        }
    }

    /// Saves a full-page screenshot as `<dir>/<name>.png`.
    async fn screenshot_as(&self, name: &str) {
        // As tall as the page, so the whole page is in one picture. The window is taller
        // than its viewport by an amount the page cannot see, so measure and adjust.
        let mut height: u64 = 900;
        for _ in 0..3 {
            let _ = self.c.set_window_size(1280, height as u32).await;
            let Some((page, viewport)) = self
                .two_numbers("return [document.documentElement.scrollHeight, window.innerHeight];")
                .await
            else {
                break;
            };
            if viewport >= page || height >= 8000 {
                break;
            }
            height = (height + page - viewport).min(8000);
        }
        if let Ok(png) = self.c.screenshot().await {
            let _ = std::fs::write(self.dir.join(format!("{name}.png")), png);
        }
        let _ = self.c.set_window_size(1280, 900).await;
    }

    /// Resizes the window until the page's viewport is `width` × `height` CSS pixels (the
    /// window is larger than its viewport by an amount the page cannot see).
    async fn viewport(&self, width: u32, height: u32) {
        let want = (u64::from(width), u64::from(height));
        let (mut w, mut h) = want;
        let mut seen = Vec::new();
        for _ in 0..6 {
            let _ = self.c.set_window_size(w as u32, h as u32).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            let Some(inner) = self
                .two_numbers("return [window.innerWidth, window.innerHeight];")
                .await
            else {
                continue;
            };
            if inner == want {
                return;
            }
            seen.push(inner);
            w = (w + want.0).saturating_sub(inner.0);
            h = (h + want.1).saturating_sub(inner.1);
        }
        self.fail(&format!(
            "the viewport cannot be set to {width} × {height} (it was {seen:?})"
        ))
        .await;
    }

    /// Takes README's screenshot `<name>.png` of the current page (already checked by
    /// `step` or `page`): its top, at the size and in the scheme of `view` (the viewport,
    /// not the whole page, so that each picture stays small).
    async fn readme_shot(&mut self, name: &str, view: View) {
        self.readme_shot_at(name, view, None).await;
    }

    /// As `readme_shot`, scrolled down to the card holding the element `at` (a CSS
    /// selector) when given.
    async fn readme_shot_at(&mut self, name: &str, view: View, at: Option<&str>) {
        let (width, height) = if view == View::Phone {
            (390, 844)
        } else {
            (1280, 900)
        };
        self.viewport(width, height).await;
        if view == View::Dark {
            self.color_scheme("dark").await;
        }
        // Without a focus ring, a blinking caret or the page's scroll bar (phones and many
        // desktops show none); from the top or from the card asked for.
        let scrolled = self
            .c
            .execute(
                "document.documentElement.style.scrollbarWidth = 'none';
                 if (document.activeElement) document.activeElement.blur();
                 var at = arguments[0] && document.querySelector(arguments[0]);
                 var card = at && (at.closest('.card') || at);
                 window.scrollTo(0, card ? card.getBoundingClientRect().top + window.scrollY - 16 : 0);
                 return !arguments[0] || !!at;",
                vec![json!(at)],
            )
            .await
            .expect("prepare a screenshot");
        if scrolled != json!(true) {
            self.fail(&format!("no {at:?} to scroll to for {name}"))
                .await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let png = self.c.screenshot().await.expect("a screenshot");
        self.js("document.documentElement.style.scrollbarWidth = ''; return null;")
            .await;
        if view == View::Dark {
            self.color_scheme("light").await;
        }
        let _ = self.c.set_window_size(1280, 900).await;
        self.shots.add(&format!("{name}.png"), png);
    }

    /// One step: checks the page (secrets, axe), asserts its visible text, and keeps
    /// a screenshot.
    async fn step(&mut self, shot: &str, expect: &[&str]) {
        self.expect_text(expect).await;
        self.page(shot).await;
        self.screenshot_as(shot).await;
    }
}

/// `s` as an XPath string literal.
fn xpath_literal(s: &str) -> String {
    if !s.contains('\'') {
        format!("'{s}'")
    } else if !s.contains('"') {
        format!("\"{s}\"")
    } else {
        let parts: Vec<String> = s.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

/// The key of the last chat completion the mock provider received.
fn last_chat_key(app: &TestApp) -> Option<String> {
    app.provider
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path.ends_with("/chat/completions"))
        .and_then(|r| r.key)
}

// ---------------------------------------------------------------- the journey

#[tokio::test]
async fn the_main_journey_works_in_a_real_browser() {
    let tools = match find_tools() {
        Ok(tools) => tools,
        Err(missing) => {
            let why = missing.join("; ");
            if std::env::var("KEYHOLD_E2E").as_deref() == Ok("required") {
                panic!("KEYHOLD_E2E=required, but the browser journey cannot run: {why}");
            }
            // Straight to stderr, past the test harness's capture: a skip must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "browser::the_main_journey_works_in_a_real_browser skipped: install chromium \
                 chromium-driver and set KEYHOLD_AXE_JS (see .ci/run) [{why}]"
            );
            return;
        }
    };
    let started = Instant::now();
    let dir = artifacts_dir();
    std::fs::create_dir_all(&dir).expect("create the e2e artifacts dir");
    for old in std::fs::read_dir(&dir).expect("read the e2e dir").flatten() {
        if old.path().extension().is_some_and(|e| e == "png") {
            let _ = std::fs::remove_file(old.path());
        }
    }

    let app = TestApp::spawn().await;
    let driver = Driver::start(&tools, &dir.join("chromedriver.log")).await;
    let mut b = Browser {
        c: driver.session(&tools).await,
        driver_url: driver.url(),
        app_url: app.address.clone(),
        dir: dir.clone(),
        axe_js: tools.axe_js.clone(),
        axe_pages: Vec::new(),
        axe_failures: Vec::new(),
        axe_notes: Vec::new(),
        secrets: Vec::new(),
        axe_time: Default::default(),
        shots: Shots::default(),
    };

    // axe-core really reports: a page with an image without alt text fails.
    b.c.goto(
        "data:text/html,<!doctype html><html lang=en><title>t</title><main><img src=x.png></main></html>",
    )
    .await
    .expect("open the axe self-check page");
    let found = b.run_axe("self-check").await;
    assert!(
        found
            .iter()
            .any(|v| v["id"] == "image-alt" && v["impact"] == "critical"),
        "axe-core should flag an image without alt text: {found:?}"
    );
    // Unique to this run, but their masks (on README's screenshots) end in fixed words.
    let global_key = format!("sk-proj-PLATFORM-{}-main", uuid::Uuid::new_v4().simple());
    let canary = format!("sk-proj-CANARY-{}-demo", uuid::Uuid::new_v4().simple());
    b.secrets.push(global_key.clone());
    b.secrets.push(canary.clone());

    // 1. First start: the setup link creates the first admin.
    let token = keyhold::services::accounts::issue_setup_token(&mut app.db())
        .expect("issue a setup token")
        .expect("no user yet, so a token");
    b.open(&format!("/setup?token={token}")).await;
    b.fill("Name", "Ada Admin").await;
    b.fill("Email", ADMIN).await;
    b.fill("Password", PASSWORD).await;
    b.fill("Repeat password", PASSWORD).await;
    b.step(
        "01-setup",
        &["Set up Keyhold", "Create the first platform admin"],
    )
    .await;
    b.readme_shot("01-setup", View::Desktop).await;
    b.press("Create admin account").await;
    b.step(
        "02-admin-overview",
        &["Welcome to Keyhold. You are the platform admin.", ADMIN],
    )
    .await;

    // The price table the usage pages price calls with (Settings → Prices).
    b.follow("Prices").await;
    b.step("02b-prices", &["Price table", "gpt-4o-mini", "$0.15"])
        .await;

    // 2. The admin enables OpenAI with a global key and turns BYOK on.
    b.follow("Integrations").await;
    b.step("03-integrations", &["Integrations", "OpenAI"]).await;
    b.follow("OpenAI").await;
    b.set_checkbox("Enabled", true).await;
    b.fill("Global API key (optional)", &global_key).await;
    b.set_checkbox("Custom API keys (BYOK)", true).await;
    b.press("Save changes").await;
    let global_mask = keyhold::domain::providers::catalogue()[0].mask_key(&global_key);
    b.step(
        "04-openai-enabled",
        &[
            "Changes saved. The global key was tested and saved.",
            &global_mask,
        ],
    )
    .await;
    b.readme_shot("02-integrations", View::Desktop).await;

    // 3. The admin creates a workspace and invites an owner and a member.
    b.follow("Workspaces").await;
    b.fill("Name", "Acme Research").await;
    b.press("Create workspace").await;
    b.expect_text(&["Workspace “Acme Research” created."]).await;
    for (email, role) in [(OWNER, "Owner"), (MEMBER, "Member")] {
        b.fill("Email", email).await;
        b.choose("Role", role).await;
        b.press("Send invitation").await;
        b.expect_text(&[&format!("Invitation sent to {email}.")])
            .await;
    }
    b.step(
        "05-workspace-invitations",
        &[
            "Acme Research",
            "owner@example.test",
            "member@example.test",
            "Link works until",
            "Resend",
        ],
    )
    .await;
    b.readme_shot("03-workspace", View::Desktop).await;
    let mut links = Vec::new();
    for email in [OWNER, MEMBER] {
        let mail = app
            .smtp
            .wait_for(
                |m| m.to.iter().any(|t| t == email) && m.link_with("/invite/").is_some(),
                WAIT,
            )
            .await
            .unwrap_or_else(|| panic!("no invitation mail for {email}"));
        links.push(mail.link_with("/invite/").expect("an invitation link"));
    }
    b.sign_out().await;

    // The owner accepts in a fresh session...
    b.open(&links[0]).await;
    b.fill("Name", "Olive Owner").await;
    b.fill("Password", PASSWORD).await;
    b.fill("Repeat password", PASSWORD).await;
    b.step(
        "06-owner-invitation",
        &["Join Acme Research", "You were invited to Acme Research as"],
    )
    .await;
    b.press("Create account and join").await;
    b.expect_text(&["Welcome! You have joined the workspace.", OWNER])
        .await;
    b.page("owner-landing").await;
    b.follow("Usage").await;
    b.expect_text(&["This month BYOK saved the platform $0.00."])
        .await;
    b.page("owner-usage").await;

    // 4. ...and adds the workspace's own OpenAI key: then only its mask shows.
    b.follow("Provider keys").await;
    b.page("owner-keys-empty").await;
    b.fill("API key", &canary).await;
    b.fill("Label", "Production").await;
    b.press("Save key").await;
    let canary_mask = keyhold::domain::providers::catalogue()[0].mask_key(&canary);
    b.step(
        "07-owner-key-saved",
        &["Production", &canary_mask, "Workspace key"],
    )
    .await;
    assert!(
        !b.body_text().await.contains(&canary),
        "the key itself is shown"
    );
    b.readme_shot_at("04-owner-keys", View::Desktop, Some("#p-openai"))
        .await;
    b.readme_shot("04-owner-keys-phone", View::Phone).await;

    // ...and an API token for a program: shown once, then only its prefix.
    b.follow("Access tokens").await;
    b.fill("Name", "Support bot").await;
    b.press("Create token").await;
    b.expect_text(&["Your new token “Support bot”", "Copy it now"])
        .await;
    let api_token = b
        .displayed("//code[@id='new-token']", "the new token")
        .await
        .text()
        .await
        .expect("the new token's text");
    assert!(api_token.starts_with("kh_"), "a token: {}", api_token.len());
    b.secrets.push(api_token.clone());
    b.follow("Access tokens").await;
    b.step("token-list", &["Support bot", "Active", "Olive Owner"])
        .await;
    b.readme_shot("05-tokens", View::Desktop).await;

    // The program's call (README's curl) is answered with the workspace key.
    let answer = reqwest::Client::new()
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&api_token)
        .json(&json!({
            "model": "openai/gpt-4o-mini",
            "messages": [{ "role": "user", "content": "Hi" }],
        }))
        .send()
        .await
        .expect("call the API with the token");
    assert_eq!(answer.status(), reqwest::StatusCode::OK, "the API call");
    let answer: Value = answer.json().await.expect("a JSON answer");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        json!("mock answer to: Hi")
    );
    assert_eq!(
        last_chat_key(&app).as_deref(),
        Some(canary.as_str()),
        "the workspace key answered the token's call"
    );
    b.sign_out().await;

    // 5. The member accepts in a fresh session and chats: the workspace key answers.
    b.open(&links[1]).await;
    b.fill("Name", "Milo Member").await;
    b.fill("Password", PASSWORD).await;
    b.fill("Repeat password", PASSWORD).await;
    b.step("08-member-invitation", &["Join Acme Research"])
        .await;
    b.press("Create account and join").await;
    b.expect_text(&["Welcome! You have joined the workspace.", MEMBER])
        .await;
    b.follow("Chat").await;
    b.page("member-chat-empty").await;
    b.choose("Model", "gpt-4o-mini").await;
    b.fill("Prompt", "Hello from the workspace").await;
    // The streaming path (app.js): the answer grows in place, no page load.
    let send = b
        .displayed("//button[normalize-space(.)='Send']", "button \"Send\"")
        .await;
    send.click().await.expect("click Send");
    b.step(
        "09-member-chat-workspace-key",
        &[
            "mock answer to: Hello from the workspace",
            "Answered with your workspace key",
        ],
    )
    .await;
    b.readme_shot("06-chat", View::Desktop).await;
    b.readme_shot("06-chat-dark", View::Dark).await;
    assert_eq!(
        last_chat_key(&app).as_deref(),
        Some(canary.as_str()),
        "the workspace key went to the provider"
    );
    b.sign_out().await;

    // 6. The admin turns BYOK off after the impact preview...
    b.sign_in(ADMIN).await;
    b.follow("Integrations").await;
    b.follow("OpenAI").await;
    b.set_checkbox("Custom API keys (BYOK)", false).await;
    b.press("Save changes").await;
    b.step(
        "10-byok-off-impact",
        &[
            "Turn BYOK off for OpenAI?",
            "1 workspace uses its own OpenAI key; it will switch to the platform key.",
        ],
    )
    .await;
    b.press("Turn BYOK off").await;
    b.step(
        "11-byok-off-saved",
        &["Changes saved.", "1 workspace owner was notified by mail."],
    )
    .await;
    // The audit log reads as sentences; the chain's state is on top; filters by name.
    b.follow("Audit log").await;
    b.step(
        "11b-admin-audit",
        &[
            "Chain verified up to event",
            "Ada Admin turned off BYOK for OpenAI: every workspace now uses the platform key.",
        ],
    )
    .await;
    assert!(b.body_text().await.contains("Ada Admin signed in."));
    b.set_checkbox("Hide sign-ins", true).await;
    b.press("Filter").await;
    b.expect_text(&["Ada Admin turned off BYOK for OpenAI"])
        .await;
    assert!(
        !b.body_text().await.contains("signed in."),
        "sign-ins are hidden"
    );
    b.choose("Workspace", "Acme Research").await;
    b.press("Filter").await;
    b.expect_text(&["Olive Owner added the OpenAI key"]).await;
    b.page("admin-audit-filtered").await;
    b.sign_out().await;

    // ...and the member's next answer comes from the platform key.
    b.sign_in(MEMBER).await;
    b.choose("Model", "gpt-4o-mini").await;
    b.fill("Prompt", "Hello again").await;
    let send = b
        .displayed("//button[normalize-space(.)='Send']", "button \"Send\"")
        .await;
    send.click().await.expect("click Send");
    b.step(
        "12-member-chat-platform-key",
        &[
            "mock answer to: Hello again",
            "Answered with the platform key",
        ],
    )
    .await;
    assert_eq!(
        last_chat_key(&app).as_deref(),
        Some(global_key.as_str()),
        "the global key went to the provider"
    );
    let mail = app
        .smtp
        .wait_for(
            |m| m.subject.contains(BYOK_OFF_SUBJECT) && m.to.iter().any(|t| t == OWNER),
            WAIT,
        )
        .await
        .expect("the owner is told that BYOK was turned off");
    assert!(!mail.shows(&canary) && !mail.shows(&global_key));
    b.sign_out().await;

    // 7. The owner sees the workspace's usage (two calls on its key, one on the platform's,
    // once the usage queue has recorded them) and its audit log: their events, and the
    // platform's change to their routing marked as such, the admin unnamed.
    b.sign_in(OWNER).await;
    b.follow("Usage").await;
    b.reload_until(&["on the platform key and 2 on workspace keys"])
        .await;
    b.step("13-owner-usage", &["Usage", "By provider and key source"])
        .await;
    b.readme_shot("07-usage", View::Desktop).await;
    b.follow("Audit log").await;
    b.step(
        "14-owner-audit",
        &[
            "Platform",
            "An administrator turned off BYOK for OpenAI: every workspace now uses the platform key.",
            &format!(
                "Olive Owner added the OpenAI key \u{201c}Production\u{201d} ({canary_mask}) in Acme Research."
            ),
        ],
    )
    .await;
    assert!(
        !b.body_text().await.contains("Ada Admin turned off BYOK"),
        "the admin is not named on a platform event"
    );
    b.readme_shot("08-audit", View::Desktop).await;

    driver.close(b.c.clone()).await;
    drop(driver);

    for note in &b.axe_notes {
        let _ = writeln!(std::io::stderr(), "axe (not failing): {note}");
    }
    assert!(
        b.axe_failures.is_empty(),
        "axe-core found serious or critical violations:\n{}",
        b.axe_failures.join("\n")
    );
    // Only a journey that passed writes README's screenshots.
    let shots = std::mem::take(&mut b.shots).finish(&dir);
    let _ = writeln!(
        std::io::stderr(),
        "browser journey: {} pages checked with axe-core (light and dark), 0 serious or critical violations, \
         {} minor/moderate (axe took {:.1} s); screenshots in {}, README's in {}; {:.1} s",
        b.axe_pages.len(),
        b.axe_notes.len(),
        b.axe_time.get().as_secs_f64(),
        dir.display(),
        shots.display(),
        started.elapsed().as_secs_f64()
    );
}
