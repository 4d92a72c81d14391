//! Each format against a small table with every kind of cell, the checks every format
//! shares, and the PDF's pagination.

use super::*;

fn sample() -> Table {
    Table {
        title: "Revenue by channel".into(),
        subtitle: "2026-12-01 to 2026-12-08 (UTC), tenant viscount".into(),
        columns: vec![
            "channel".into(),
            "revenue".into(),
            "currency".into(),
            "conversions".into(),
            "share".into(),
            "note".into(),
        ],
        rows: vec![
            vec![
                Cell::text("email"),
                Cell::money(1234, "USD"),
                Cell::text("USD"),
                Cell::Int(3),
                Cell::Ratio(0.123_456),
                Cell::Empty,
            ],
            vec![
                Cell::text("paid_search, \"brand\""),
                Cell::money(-5, "EUR"),
                Cell::text("EUR"),
                Cell::Int(-1),
                Cell::Ratio(f64::NAN),
                Cell::text("=HYPERLINK(\"http://evil\")"),
            ],
            vec![
                Cell::text("marketplace"),
                Cell::money(1234, "JPY"),
                Cell::text("JPY"),
                Cell::Int(0),
                Cell::Ratio(-0.000_01),
                Cell::text("line one\nline two"),
            ],
            vec![
                Cell::text("affiliate"),
                Cell::money(1_234_567, "KWD"),
                Cell::text("KWD"),
                Cell::Int(i64::MAX),
                Cell::Ratio(1.0),
                Cell::text("Café ✓"),
            ],
        ],
    }
}

fn records(csv: &[u8]) -> Vec<Vec<String>> {
    ::csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(csv)
        .records()
        .map(|r| r.expect("record").iter().map(str::to_owned).collect())
        .collect()
}

#[test]
fn names_round_trip() {
    for format in Format::ALL {
        assert_eq!(Format::parse(format.as_str()), Some(format));
        assert_eq!(format.extension(), format.as_str());
    }
    assert_eq!(Format::parse("xlsx"), None);
    assert_eq!(Format::parse("CSV"), None, "wire names are lower case");
    assert_eq!(Format::Csv.content_type(), "text/csv; charset=utf-8");
    assert_eq!(Format::Json.content_type(), "application/json");
    assert_eq!(Format::Pdf.content_type(), "application/pdf");

    let ids: Vec<&str> = Template::ALL.iter().map(|t| t.id()).collect();
    assert_eq!(
        ids,
        [
            "sales_summary",
            "revenue_by_channel",
            "attribution_by_model",
            "reconciliation",
            "inventory",
            "payments"
        ]
    );
    for template in Template::ALL {
        assert_eq!(Template::parse(template.id()), Some(template));
        assert!(!template.name().is_empty() && template.description().ends_with('.'));
    }
    assert_eq!(Template::parse("sales"), None);
    assert_eq!(Template::SalesSummary.name(), "Sales summary");
}

#[test]
fn csv_is_rfc_4180_with_money_in_major_units() {
    let bytes = render(&sample(), Format::Csv).expect("csv");
    let text = String::from_utf8(bytes.clone()).expect("utf-8");
    assert!(
        text.starts_with("channel,revenue,currency,conversions,share,note\r\n"),
        "{text}"
    );
    assert!(text.ends_with("\r\n"));
    assert!(
        text.contains("\"paid_search, \"\"brand\"\"\""),
        "a comma and quotes are quoted and doubled: {text}"
    );
    let rows = records(&bytes);
    assert_eq!(rows.len(), 5, "a header and four rows");
    assert_eq!(rows[1], ["email", "12.34", "USD", "3", "12.35%", ""]);
    assert_eq!(
        rows[2][..5],
        ["paid_search, \"brand\"", "-0.05", "EUR", "-1", ""]
    );
    assert_eq!(
        rows[2][5], "'=HYPERLINK(\"http://evil\")",
        "a formula is defused"
    );
    assert_eq!(rows[3][1], "1234", "JPY has no minor unit");
    assert_eq!(rows[3][4], "0.00%", "no negative zero");
    assert_eq!(
        rows[3][5], "line one\nline two",
        "a line break is quoted, kept"
    );
    assert_eq!(rows[4][1], "1234.567", "KWD has three decimals");
    assert_eq!(rows[4][3], i64::MAX.to_string());
    assert_eq!(rows[4][4], "100.00%");
    assert_eq!(rows[4][5], "Café ✓", "UTF-8 as given");
}

#[test]
fn json_rows_are_objects_keyed_by_column_with_api_money() {
    let bytes = render(&sample(), Format::Json).expect("json");
    let text = String::from_utf8(bytes.clone()).expect("utf-8");
    let value: serde_json::Value = serde_json::from_slice(&bytes).expect("parses");
    assert_eq!(value["title"], "Revenue by channel");
    assert_eq!(
        value["subtitle"],
        "2026-12-01 to 2026-12-08 (UTC), tenant viscount"
    );
    assert_eq!(value["columns"][1], "revenue");
    let rows = value["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 4);
    assert_eq!(
        rows[0],
        serde_json::json!({
            "channel": "email",
            "revenue": {"amount": 1234, "currency": "USD"},
            "currency": "USD",
            "conversions": 3,
            "share": 0.123_456,
            "note": null,
        })
    );
    assert_eq!(rows[1]["share"], serde_json::Value::Null, "NaN is null");
    assert_eq!(
        rows[1]["note"], "=HYPERLINK(\"http://evil\")",
        "JSON text is data, kept as given"
    );
    assert_eq!(rows[3]["conversions"], i64::MAX);
    // Keys keep the column order rather than sorting.
    let first_row = &text[text.find("\"rows\":[{").expect("rows")..];
    let channel = first_row.find("\"channel\"").expect("channel");
    let revenue = first_row.find("\"revenue\"").expect("revenue");
    let conversions = first_row.find("\"conversions\"").expect("conversions");
    assert!(channel < revenue && revenue < conversions, "{first_row}");
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    count(haystack, needle) > 0
}

/// `/Type /Page` objects, not the `/Type /Pages` tree.
fn pages(pdf: &[u8]) -> usize {
    count(pdf, b"/Type /Page") - count(pdf, b"/Type /Pages")
}

#[test]
fn a_pdf_holds_the_title_and_cells_as_text() {
    let pdf = render(&sample(), Format::Pdf).expect("pdf");
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(pdf.trim_ascii_end().ends_with(b"%%EOF"));
    assert!(contains(&pdf, b"(Revenue by channel)"), "the title");
    assert!(contains(&pdf, b"(email)"), "a cell");
    assert!(contains(&pdf, b"(12.34 USD)"), "money as people read it");
    assert!(contains(&pdf, b"(1,234.567 KWD)"));
    assert!(contains(&pdf, b"(12.35%)"));
    assert!(contains(&pdf, b"/BaseFont /Helvetica"));
    assert!(contains(&pdf, b"/Encoding /WinAnsiEncoding"));
    assert!(contains(&pdf, b"(Page 1 of 1)"));
    assert_eq!(pages(&pdf), 1);
    // "Café ✓" is in WinAnsi with the check mark replaced: hex, as it is not ASCII.
    assert!(contains(&pdf, b"<436166E9203F>"), "Caf\\xE9 ?");
}

#[test]
fn five_hundred_rows_take_several_pages_each_with_the_header() {
    let mut table = sample();
    table.rows = (0..500)
        .map(|i| {
            vec![
                Cell::text(format!("row-{i}")),
                Cell::money(i * 100, "USD"),
                Cell::text("USD"),
                Cell::Int(i),
                Cell::Ratio(0.5),
                Cell::Empty,
            ]
        })
        .collect();
    let pdf = render(&table, Format::Pdf).expect("pdf");
    let pages = pages(&pdf);
    assert!(pages > 1, "{pages} pages");
    assert_eq!(
        count(&pdf, b"(conversions)"),
        pages,
        "the header row on every page"
    );
    assert!(contains(&pdf, b"(row-0)") && contains(&pdf, b"(row-499)"));
    assert!(contains(
        &pdf,
        format!("(Page {pages} of {pages})").as_bytes()
    ));
    assert_eq!(count(&pdf, b"(row-"), 500, "every row exactly once");
}

#[test]
fn an_empty_or_very_wide_table_still_renders() {
    let empty = Table {
        title: "Payments".into(),
        subtitle: String::new(),
        columns: vec!["day".into()],
        rows: Vec::new(),
    };
    let pdf = render(&empty, Format::Pdf).expect("pdf");
    assert_eq!(pages(&pdf), 1);
    assert!(contains(&pdf, b"(No rows.)"));
    assert_eq!(
        render(&empty, Format::Csv).expect("csv"),
        b"day\r\n".to_vec()
    );

    let nothing = Table {
        title: String::new(),
        subtitle: String::new(),
        columns: Vec::new(),
        rows: vec![Vec::new()],
    };
    for format in Format::ALL {
        render(&nothing, format).expect("renders");
    }

    let long = "x".repeat(10_000);
    let wide = Table {
        title: "日本語のレポート".into(),
        subtitle: long.clone(),
        columns: (0..40).map(|i| format!("column {i}")).collect(),
        rows: vec![(0..40).map(|_| Cell::text(long.clone())).collect()],
    };
    let pdf = render(&wide, Format::Pdf).expect("pdf");
    assert!(contains(&pdf, b"/MediaBox [0 0 842 595]"), "landscape");
    assert!(!contains(&pdf, long.as_bytes()), "long text is cut");
    assert!(contains(&pdf, b"(????????)"), "the title as ?s");
}

#[test]
fn a_row_of_the_wrong_width_or_an_unknown_currency_is_refused_in_every_format() {
    let mut short = sample();
    short.rows[2].pop();
    let mut unknown = sample();
    unknown.rows[1][1] = Cell::money(100, "XXX");
    for format in Format::ALL {
        assert!(
            matches!(
                render(&short, format),
                Err(RenderError::RowWidth {
                    row: 2,
                    expected: 6,
                    found: 5
                })
            ),
            "{format:?}"
        );
        match render(&unknown, format) {
            Err(RenderError::UnknownCurrency {
                row,
                column,
                currency,
            }) => assert_eq!(
                (row, column.as_str(), currency.as_str()),
                (1, "revenue", "XXX")
            ),
            other => panic!("{format:?}: {other:?}"),
        }
    }
}

#[test]
fn decimals_cover_the_edges() {
    let cases = [
        (0, 2, "0.00"),
        (5, 2, "0.05"),
        (-5, 2, "-0.05"),
        (100, 2, "1.00"),
        (1234, 0, "1234"),
        (-1234, 0, "-1234"),
        (1, 3, "0.001"),
        (i64::MIN, 2, "-92233720368547758.08"),
        (i64::MAX, 2, "92233720368547758.07"),
    ];
    for (amount, exponent, want) in cases {
        assert_eq!(decimal(amount, exponent), want, "{amount} {exponent}");
    }
}
