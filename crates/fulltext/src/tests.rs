//! The engine's ranking, typo tolerance, markers and rebuilds.

use super::*;

const LAYOUT: Layout = &[("title", 3.0), ("body", 1.0)];

fn doc(id: &str, title: &str, body: &str) -> Document {
    Document {
        id: id.into(),
        texts: vec![title.into(), body.into()],
    }
}

fn ids(hits: Vec<(String, f32)>) -> Vec<String> {
    hits.into_iter().map(|h| h.0).collect()
}

#[tokio::test]
async fn heavier_fields_outrank_and_one_typo_still_finds() {
    let dir = tempfile::tempdir().expect("dir");
    let index = SearchIndex::open_async(dir.path().to_path_buf(), LAYOUT)
        .await
        .expect("index");
    index
        .apply(
            vec![
                doc("in-body", "Returns", "How to send back a parcel"),
                doc("in-title", "Parcel tracking", "Follow it"),
                doc("other", "Payments", "Cards we take"),
            ],
            vec![],
            "3:1".into(),
        )
        .await
        .expect("apply");
    assert_eq!(
        ids(index.search("parcel", 10).expect("search")),
        vec!["in-title", "in-body"]
    );
    assert_eq!(
        ids(index.search_async("parcle", 10).await.expect("search")),
        vec!["in-title", "in-body"],
        "transposition"
    );
    assert_eq!(
        ids(index.search("send parcel", 10).expect("search")),
        vec!["in-body"],
        "every word must match"
    );
    assert!(index.search("zzz", 10).expect("search").is_empty());
    assert!(index.search("  ", 10).expect("search").is_empty());
    assert!(index.is_current(&Marker {
        count: 3,
        latest: 1
    }));
    assert_eq!(index.doc_count(), 3);

    index
        .apply(vec![], vec!["in-title".into()], "2:2".into())
        .await
        .expect("delete");
    assert_eq!(
        ids(index.search("parcel", 10).expect("search")),
        vec!["in-body"]
    );
}

#[tokio::test]
async fn a_document_of_the_wrong_shape_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let index = SearchIndex::open(dir.path(), LAYOUT).expect("index");
    let wrong = Document {
        id: "x".into(),
        texts: vec!["only one".into()],
    };
    assert!(matches!(
        index.apply(vec![wrong], vec![], "1:1".into()).await,
        Err(SearchError::Shape {
            given: 1,
            expected: 2
        })
    ));
}

#[tokio::test]
async fn ensure_rebuilds_only_when_the_marker_disagrees() {
    let dir = tempfile::tempdir().expect("dir");
    let index = SearchIndex::open(dir.path(), LAYOUT).expect("index");
    let marker = Marker {
        count: 1,
        latest: 10,
    };
    let load = || async { Ok::<_, SearchError>(vec![doc("a", "Shipping times", "Two days")]) };
    assert!(ensure(&index, marker, load).await.expect("first"));
    assert!(!ensure(&index, marker, load).await.expect("again"));
    assert_eq!(ids(index.search("shiping", 10).expect("search")), vec!["a"]);
    // A stale entry disappears with a rebuild.
    let newer = Marker {
        count: 1,
        latest: 11,
    };
    let reload = || async { Ok::<_, SearchError>(vec![doc("b", "Gift cards", "Balance")]) };
    assert!(ensure(&index, newer, reload).await.expect("rebuild"));
    assert!(index.search("shipping", 10).expect("search").is_empty());
    assert_eq!(index.doc_count(), 1);
}

#[test]
fn markers_read_back() {
    let marker = Marker {
        count: 12,
        latest: 1700,
    };
    assert_eq!(Marker::parse(&marker.to_string()), Some(marker));
    assert_eq!(Marker::parse("junk"), None);
}

#[test]
fn the_index_sits_beside_a_sqlite_file() {
    assert_eq!(
        index_dir_for("sqlite://data/support.db?mode=rwc"),
        PathBuf::from("data/support.db.search")
    );
    let dir = index_dir_for("postgres://h/vt_support");
    assert!(
        dir.ends_with(format!("viscount-search-vt_support-{}", std::process::id())),
        "{dir:?}"
    );
    assert!(is_per_process("postgres://h/vt_support"));
    assert!(!is_per_process("sqlite://data/support.db"));
    // A process's own directory goes when it stops; a SQLite file's stays.
    let temp = tempfile::tempdir().expect("temp dir");
    let kept = IndexDir::for_database(&format!("sqlite://{}/kept.db", temp.path().display()));
    std::fs::create_dir_all(&kept.path).expect("dir");
    kept.remove_if_own().expect("nothing to remove");
    assert!(kept.path.exists());
    let own = IndexDir::for_database("postgres://h/vt_support_own");
    std::fs::create_dir_all(&own.path).expect("dir");
    own.remove_if_own().expect("removed");
    assert!(!own.path.exists());
}
