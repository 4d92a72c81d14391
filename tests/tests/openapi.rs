//! The API's description (issue 18): the gateway's `/openapi.json` is one valid
//! OpenAPI 3.1 document covering every route of every service it fronts, each path
//! documented by the service the gateway sends it to, and `/docs` renders it in a real
//! headless browser.
//!
//! External checkers: `openapi-spec-validator` (PyPI) and Debian's `chromium`, which the
//! README's test command installs. Where the run requires every part
//! (`VISCOUNT_TEST_REQUIRE_DISTRIBUTED=1`, as CI sets), a missing checker fails the test;
//! elsewhere the test says it skipped.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use platform::service::ServiceKind;
use serde_json::Value;
use viscount_tests::*;

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// The workspace root (this crate is `tests/`).
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

/// `name` from the environment variable `variable`, the workspace's `.tools/venv/bin`
/// or `PATH`; `None` (after saying so, or failing where every part is required).
fn checker(variable: &str, name: &str) -> Option<PathBuf> {
    let found = std::env::var_os(variable)
        .map(PathBuf::from)
        .or_else(|| {
            let local = workspace().join(".tools/venv/bin").join(name);
            local.is_file().then_some(local)
        })
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join(name))
                    .find(|candidate| candidate.is_file())
            })
        });
    if found.is_none() {
        assert!(
            std::env::var("VISCOUNT_TEST_REQUIRE_DISTRIBUTED").as_deref() != Ok("1"),
            "{name} is required here (set {variable} or install it; scripts/test does)"
        );
        eprintln!("skipped: {name} is not installed (set {variable})");
    }
    found
}

async fn served_document(app: &TestApp) -> Value {
    let response = app.get("/openapi.json", None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    response.json().await.expect("the document is JSON")
}

/// Every (method, path) of a document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                found.push((method.to_owned(), path.clone(), operation.clone()));
            }
        }
    }
    found
}

#[tokio::test]
async fn the_gateway_serves_one_valid_openapi_3_1_document_of_every_service() {
    let Some(app) = spawn_app(Shape::Embedded).await else {
        return;
    };
    let doc = served_document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let operations = operations(&doc);

    // Every service the gateway fronts is described, and every operation is whole.
    let mut ids = BTreeSet::new();
    for (method, path, operation) in &operations {
        let id = operation["operationId"].as_str().unwrap_or_default();
        assert!(
            ids.insert(id.to_owned()),
            "{method} {path}: operationId {id} is not unique"
        );
        assert!(
            operation["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{method} {path} has no summary"
        );
        let responses = operation["responses"].as_object().expect("responses");
        assert!(
            responses
                .keys()
                .any(|status| status.starts_with('2') || status.starts_with('3')),
            "{method} {path} documents no success"
        );
        assert!(
            responses.contains_key("default"),
            "{method} {path} has no default problem"
        );
    }
    let tagged: BTreeSet<&str> = operations
        .iter()
        .filter_map(|(_, _, operation)| operation["tags"][0].as_str())
        .collect();
    for kind in ServiceKind::backends() {
        if !gateway::public_paths(kind).is_empty() {
            assert!(
                tagged.contains(kind.as_str()),
                "{kind:?} documents no operation"
            );
        }
    }
    eprintln!("{} operations documented", operations.len());

    // The document is valid OpenAPI 3.1 to an independent validator.
    let Some(validator) = checker("VISCOUNT_TEST_OPENAPI_VALIDATOR", "openapi-spec-validator")
    else {
        return;
    };
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), serde_json::to_vec_pretty(&doc).expect("json")).expect("write");
    let output = Command::new(&validator)
        .arg(file.path())
        .output()
        .expect("the validator runs");
    assert!(
        output.status.success(),
        "openapi-spec-validator refused the document:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_documented_path_is_routed_to_the_service_that_documents_it() {
    for doc in viscount::api_documents() {
        for (method, path, operation) in operations(&doc) {
            let service = operation["tags"][0].as_str().unwrap_or_default().to_owned();
            // A concrete request path: each `{parameter}` becomes one segment.
            let concrete: String = path
                .split('/')
                .map(|segment| {
                    if segment.starts_with('{') {
                        "x"
                    } else {
                        segment
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            assert_eq!(
                gateway::owner(&concrete).map(|kind| kind.as_str().to_owned()),
                Some(service.clone()),
                "{method} {path} is documented by {service} but the gateway sends it elsewhere"
            );
        }
    }
}

/// The calls that declare a route without `routes!` (and so without its description).
const UNDOCUMENTED_DECLARATIONS: [&str; 4] =
    [".route(", ".route_service(", ".nest(", ".nest_service("];

/// The Rust files of a service's crate, without its test modules' files.
fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            found.push(path);
        }
    }
}

#[test]
fn every_route_is_declared_with_its_documentation() {
    let mut offenders = Vec::new();
    for kind in ServiceKind::backends() {
        let mut files = Vec::new();
        sources(
            &workspace().join("services").join(kind.as_str()).join("src"),
            &mut files,
        );
        assert!(!files.is_empty(), "{kind:?} has sources");
        for file in files {
            let text = std::fs::read_to_string(&file).expect("readable");
            // Test modules may build routers of their own.
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (number, line) in code.lines().enumerate() {
                if UNDOCUMENTED_DECLARATIONS
                    .iter()
                    .any(|call| line.contains(call))
                {
                    offenders.push(format!(
                        "{}:{}: {}",
                        file.display(),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "routes declared without their OpenAPI description (use ApiRouter::routes(routes!(..))):\n{}",
        offenders.join("\n")
    );
}

#[tokio::test]
async fn the_docs_page_renders_the_document_in_a_headless_browser() {
    let Some(app) = spawn_app(Shape::Embedded).await else {
        return;
    };
    let page = app.get("/docs", None).await;
    assert_eq!(page.status(), 200);
    let Some(chromium) = checker("VISCOUNT_TEST_CHROMIUM", "chromium") else {
        return;
    };
    let profile = tempfile::tempdir().expect("profile dir");
    let output = tokio::task::spawn_blocking({
        let url = app.url("/docs");
        let profile = profile.path().to_path_buf();
        move || {
            Command::new(chromium)
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--disable-extensions",
                    // Swagger UI fetches the document and renders after load; the
                    // virtual-time budget lets it finish before the DOM is dumped.
                    "--virtual-time-budget=20000",
                ])
                .arg(format!("--user-data-dir={}", profile.display()))
                .arg("--dump-dom")
                .arg(url)
                .output()
        }
    })
    .await
    .expect("joined")
    .expect("chromium runs");
    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Rendered, not just served: Swagger UI's own markup around the document's content.
    assert!(dom.contains("swagger-ui"), "no Swagger UI in:\n{dom:.2000}");
    assert!(
        dom.contains("Viscount API"),
        "the title is not rendered:\n{dom:.2000}"
    );
    // Each service's section, rendered from the document's tags.
    for kind in ServiceKind::backends() {
        if !gateway::public_paths(kind).is_empty() {
            let section = format!("operations-tag-{}", kind.as_str());
            assert!(dom.contains(&section), "{kind:?}'s section is not rendered");
        }
    }
}
