//! A real headless Chromium for the console's tests, driven over WebDriver: Debian's
//! `chromium` and `chromium-driver` (chromedriver), started per test on a port of its
//! own and stopped with it. Helpers fill forms by their fields' ids, wait for what a
//! page shows (polling with a deadline, never sleeping), save screenshots under
//! `target/console-screenshots/`, and run axe-core (vendored) on a page.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// axe-core, vendored from its npm package (see `tests/assets/README.md`).
const AXE: &str = include_str!("../assets/axe.min.js");

/// Longest a page may take to show what a test waits for.
const DEADLINE: Duration = Duration::from_secs(20);

/// chromedriver, stopped when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One browser window.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    /// The platform's address (`http://127.0.0.1:port`).
    pub base: String,
    _driver: Driver,
}

/// Whether the browser tests must run (CI) rather than be skipped when Chromium is missing.
fn required() -> bool {
    std::env::var("VISCOUNT_TEST_REQUIRE_BROWSER").is_ok_and(|v| v == "1")
        || std::env::var("VISCOUNT_TEST_REQUIRE_DISTRIBUTED").is_ok_and(|v| v == "1")
}

fn found(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Browser {
    /// A headless Chromium pointed at `base`; `None` (the test is skipped) when Chromium
    /// or chromedriver is not installed and the run does not require them.
    pub async fn open(base: &str) -> Option<Self> {
        let driver =
            std::env::var("VISCOUNT_TEST_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let chromium =
            std::env::var("VISCOUNT_TEST_CHROMIUM").unwrap_or_else(|_| "chromium".into());
        if !found(&driver) || !found(&chromium) {
            assert!(
                !required(),
                "{driver} or {chromium} is missing; install chromium and chromium-driver"
            );
            eprintln!("skipped: {driver} or {chromium} is not installed");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let guard = Driver(child);
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(started.elapsed() < DEADLINE, "chromedriver does not listen");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let chromium_path = which(&chromium);
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium_path,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1000",
                         "--disable-search-engine-choice-screen", "--no-first-run"],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session");
        Some(Self {
            client,
            base: base.to_owned(),
            _driver: guard,
        })
    }

    /// Opens `path` of the platform.
    pub async fn go(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|err| panic!("open {path}: {err}"));
    }

    /// The current path and query.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current url");
        let mut path = url.path().to_owned();
        if let Some(query) = url.query() {
            path.push('?');
            path.push_str(query);
        }
        path
    }

    /// The element `css` matches, waiting for it.
    pub async fn find(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(DEADLINE)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(err) => panic!("no {css} on {}: {err}", self.path_now().await),
        }
    }

    async fn path_now(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    /// Whether `css` matches now (no waiting).
    pub async fn has(&self, css: &str) -> bool {
        self.client
            .find_all(Locator::Css(css))
            .await
            .is_ok_and(|found| !found.is_empty())
    }

    /// Types `text` into the field with id `id` (after clearing it).
    pub async fn fill(&self, id: &str, text: &str) {
        let field = self.find(&format!("#{id}")).await;
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    /// Presses `key` on what has the focus (the page, if nothing has).
    pub async fn key(&self, key: fantoccini::key::Key) {
        let focused = self
            .client
            .active_element()
            .await
            .expect("the focused element");
        focused
            .send_keys(&char::from(key).to_string())
            .await
            .expect("key pressed");
    }

    /// The focused element's attribute `name` (e.g. `id`, `href`), if any.
    pub async fn focused(&self, name: &str) -> Option<String> {
        self.client
            .active_element()
            .await
            .expect("the focused element")
            .attr(name)
            .await
            .expect("attribute")
    }

    /// The focused element's text.
    pub async fn text_of_focused(&self) -> String {
        self.client
            .active_element()
            .await
            .expect("the focused element")
            .text()
            .await
            .expect("text")
    }

    /// Clicks what `css` matches (and waits for the page it may load).
    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|err| panic!("click {css}: {err}"));
    }

    /// Clicks the submit button whose text contains `label`.
    pub async fn press(&self, label: &str) {
        let xpath = format!("//button[contains(normalize-space(.), \"{label}\")]");
        self.client
            .wait()
            .at_most(DEADLINE)
            .for_element(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|err| panic!("no button {label}: {err}"))
            .click()
            .await
            .unwrap_or_else(|err| panic!("press {label}: {err}"));
    }

    /// Follows the link whose text is `text`.
    pub async fn follow(&self, text: &str) {
        self.client
            .wait()
            .at_most(DEADLINE)
            .for_element(Locator::LinkText(text))
            .await
            .unwrap_or_else(|err| panic!("no link {text}: {err}"))
            .click()
            .await
            .expect("follow");
    }

    /// The text of what `css` matches (read again if the page changed under it).
    pub async fn text(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            match self.find(css).await.text().await {
                Ok(text) => return text,
                // The page was replaced between finding and reading: a navigation.
                Err(err) if started.elapsed() < DEADLINE => {
                    let _ = err;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(err) => panic!("text of {css}: {err}"),
            }
        }
    }

    /// The page's visible text.
    pub async fn body(&self) -> String {
        self.text("body").await
    }

    /// Waits until the page's text contains `wanted`, reloading it while `reload`.
    pub async fn wait_for_text(&self, wanted: &str, reload: bool) {
        let started = Instant::now();
        loop {
            if self.body().await.contains(wanted) {
                return;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "{wanted:?} never shown on {}: {}",
                self.path_now().await,
                self.body().await
            );
            if reload {
                self.client.refresh().await.expect("reload");
            } else {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// Waits until the text of what `css` matches contains `wanted` (a part of the page,
    /// where the whole would also match the options of a filter, say).
    pub async fn wait_for_text_in(&self, css: &str, wanted: &str) {
        let started = Instant::now();
        loop {
            if self.has(css).await && self.text(css).await.contains(wanted) {
                return;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "{wanted:?} never in {css} on {}: {}",
                self.path_now().await,
                self.body().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until nothing matches `css` (what a pressed button's page no longer shows).
    pub async fn wait_for_none(&self, css: &str) {
        let started = Instant::now();
        while self.has(css).await {
            assert!(
                started.elapsed() < DEADLINE,
                "{css} still on {}",
                self.path_now().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the path starts with `prefix`.
    pub async fn wait_for_path(&self, prefix: &str) -> String {
        let started = Instant::now();
        loop {
            let path = self.path().await;
            if path.starts_with(prefix) {
                return path;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "never at {prefix}; at {path}: {}",
                self.body().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves a screenshot of the page as `target/console-screenshots/{name}.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot written");
    }

    /// Runs axe-core on the page (WCAG 2 A and AA rules) and returns its serious and
    /// critical violations, each as `rule: what, on the first element`.
    pub async fn accessibility_violations(&self) -> Vec<String> {
        self.client
            .execute(AXE, Vec::new())
            .await
            .expect("axe loads");
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];\
                 axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})\
                   .then(r => done(r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')\
                     .map(v => v.id + ': ' + v.help + ' (' + (v.nodes[0] ? v.nodes[0].target.join(' ') : '') + ')')))\
                   .catch(e => done(['axe failed: ' + e]));",
                Vec::new(),
            )
            .await
            .expect("axe runs");
        match found {
            Value::Array(items) => items
                .into_iter()
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .collect(),
            other => vec![format!("axe answered {other}")],
        }
    }

    /// Screenshot and accessibility check of the page as `name`: panics on a serious
    /// violation.
    pub async fn check_page(&self, name: &str) {
        self.screenshot(name).await;
        let violations = self.accessibility_violations().await;
        assert!(
            violations.is_empty(),
            "{name}: accessibility violations: {violations:#?}"
        );
    }

    /// What the link `css` leads to, fetched by the page itself (with its cookies, as a
    /// click would, but read back rather than handed to a download folder).
    pub async fn fetch_link(&self, css: &str) -> Fetched {
        let href = self
            .find(css)
            .await
            .attr("href")
            .await
            .expect("href")
            .unwrap_or_else(|| panic!("{css} has no href"));
        let answer = self
            .client
            .execute_async(
                "const [href, done] = arguments;\
                 fetch(href, {credentials: 'same-origin'}).then(async r => {\
                   const bytes = new Uint8Array(await r.arrayBuffer());\
                   done({status: r.status, type: r.headers.get('content-type') || '',\
                         disposition: r.headers.get('content-disposition') || '',\
                         head: Array.from(bytes.slice(0, 16)), length: bytes.length});\
                 }).catch(e => done({status: 0, type: String(e)}));",
                vec![json!(href)],
            )
            .await
            .expect("the page fetches the link");
        let head = answer["head"]
            .as_array()
            .map(|bytes| {
                bytes
                    .iter()
                    .filter_map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                    .collect()
            })
            .unwrap_or_default();
        Fetched {
            status: answer["status"].as_u64().unwrap_or(0),
            content_type: answer["type"].as_str().unwrap_or_default().to_owned(),
            disposition: answer["disposition"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            head,
            length: answer["length"].as_u64().unwrap_or(0),
        }
    }

    /// Ends the session.
    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// What a link led to, as the page fetched it.
#[derive(Debug)]
pub struct Fetched {
    /// The HTTP status (0: the fetch itself failed).
    pub status: u64,
    /// `Content-Type` (or, when the fetch failed, why).
    pub content_type: String,
    /// `Content-Disposition`.
    pub disposition: String,
    /// The first bytes of the body.
    pub head: Vec<u8>,
    /// The body's length in bytes.
    pub length: u64,
}

/// Where screenshots go: `target/console-screenshots` of the workspace.
pub fn screenshots_dir() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
        });
    target.join("console-screenshots")
}

/// The absolute path of `program` on `PATH` (Chromium's options need one).
fn which(program: &str) -> String {
    if program.contains('/') {
        return program.to_owned();
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .map_or_else(|| program.to_owned(), |path| path.display().to_string())
}
