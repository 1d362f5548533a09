//! The scd2 cases of the conformance suite: dlt's example over several full extracts, dlt's
//! settings, the data's own row version, and a table that switches to scd2 after append.

use super::{Case, Target, hints};
use serde_json::json;
use sluice_core::{ResourceHints, Result, WriteDisposition};
use sluice_pipeline::RunInfo;

fn scd2_hints(settings: sluice_core::schema::Scd2Settings) -> ResourceHints {
    let mut h = hints("dim", WriteDisposition::Merge, &[]);
    h.merge_strategy = Some(sluice_core::MergeStrategy::Scd2);
    h.scd2 = settings;
    h
}

/// A timestamp as RFC 3339 in UTC, however the destination prints it (`null` stays `null`).
fn ts(cell: &str) -> String {
    sluice_core::sql::timestamp_to_rfc3339(cell.trim().trim_end_matches(" UTC"))
}

/// The boundary of a load without `boundary_timestamp`: the time of its load id.
fn boundary(info: &RunInfo) -> String {
    let load_id = &info.packages[0].load_id;
    ts(&sluice_core::sql::load_id_time(load_id).expect("load ids are times"))
}

/// `(nk, c1, valid from, valid to)` of every row version, by key and valid-from.
async fn versions(case: &Case, from: &str, to: &str) -> Result<Vec<Vec<String>>> {
    let rows = case
        .select(
            "dim",
            &["nk", "c1", from, to],
            "SELECT {c0}, {c1}, {c2}, {c3} FROM {t} ORDER BY {c0}, {c2}",
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| vec![r[0].clone(), r[1].clone(), ts(&r[2]), ts(&r[3])])
        .collect())
}

fn row(nk: &str, c1: &str, from: &str, to: &str) -> Vec<String> {
    vec![nk.to_string(), c1.to_string(), ts(from), ts(to)]
}

/// The scd2 merge strategy over four full extracts (dlt's example): a row that changes gets
/// a new version and its old one is retired at the load's time; a row that disappears is
/// retired; a row that comes back gets a new active version with the same row hash, whose
/// nested rows are not inserted twice. A destination without scd2 refuses it, naming the
/// table.
pub async fn scd2(t: &Target) -> Result<()> {
    let case = Case::new(t, "scd2");
    let h = scd2_hints(Default::default());
    let caps = t.registry.get(&t.destination)?.capabilities();
    if !caps.supports_merge_strategy(sluice_core::MergeStrategy::Scd2) {
        let e = case
            .load(json!([{"nk": 1}]), h)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("table dim") && e.contains("scd2"), "{e}");
        return Ok(());
    }
    let (from, to) = ("_dlt_valid_from", "_dlt_valid_to");
    let nk1 = json!({"nk": 1, "c1": "foo", "tags": ["a", "b"]});
    let nk1_new = json!({"nk": 1, "c1": "foo_updated", "tags": ["a", "b", "x"]});
    let nk2 = json!({"nk": 2, "c1": "bar", "tags": ["c"]});
    let t1 = boundary(&case.load(json!([nk1, nk2]), h.clone()).await?);
    assert_eq!(
        versions(&case, from, to).await?,
        vec![row("1", "foo", &t1, "null"), row("2", "bar", &t1, "null")]
    );
    assert_eq!(case.count("dim__tags").await?, 3);
    let t2 = boundary(&case.load(json!([nk1_new, nk2]), h.clone()).await?);
    assert_eq!(
        versions(&case, from, to).await?,
        vec![
            row("1", "foo", &t1, &t2),
            row("1", "foo_updated", &t2, "null"),
            row("2", "bar", &t1, "null")
        ]
    );
    assert_eq!(
        case.count("dim__tags").await?,
        6,
        "the new version's nested rows"
    );
    let t3 = boundary(&case.load(json!([nk1_new]), h.clone()).await?);
    assert_eq!(
        versions(&case, from, to).await?,
        vec![
            row("1", "foo", &t1, &t2),
            row("1", "foo_updated", &t2, "null"),
            row("2", "bar", &t1, &t3)
        ]
    );
    assert_eq!(case.count("dim__tags").await?, 6);
    let t4 = boundary(&case.load(json!([nk1_new, nk2, nk2]), h).await?);
    assert_eq!(
        versions(&case, from, to).await?,
        vec![
            row("1", "foo", &t1, &t2),
            row("1", "foo_updated", &t2, "null"),
            row("2", "bar", &t1, &t3),
            row("2", "bar", &t4, "null")
        ]
    );
    assert_eq!(
        case.count("dim__tags").await?,
        6,
        "nested rows are not inserted twice"
    );
    // Both versions of nk 2 carry the same row hash, and it is dlt's.
    let ids = case
        .select(
            "dim",
            &["nk", C_DLT_ID_COLUMN],
            "SELECT DISTINCT {c1} FROM {t} WHERE {c0} = 2",
        )
        .await?;
    assert_eq!(ids.len(), 1, "{ids:?}");
    let schema = case.pipeline()?.schema(&case.name)?.expect("schema stored");
    let dim = schema.table("dim").expect("dim");
    assert!(dim.columns[from].valid_from && dim.columns[to].valid_to);
    assert!(dim.columns[C_DLT_ID_COLUMN].row_version && !dim.columns[C_DLT_ID_COLUMN].unique);
    assert!(
        !schema
            .table("dim__tags")
            .expect("dim__tags")
            .columns
            .contains_key("_dlt_root_id"),
        "scd2 does not propagate the root key"
    );
    Ok(())
}

const C_DLT_ID_COLUMN: &str = "_dlt_id";

/// scd2 with dlt's settings: named validity columns, a high active record timestamp instead
/// of NULL, a fixed boundary timestamp (changed between loads), and a merge key that retires
/// only the versions of keys the load has (incremental scd2).
pub async fn scd2_settings(t: &Target) -> Result<()> {
    if !t
        .registry
        .get(&t.destination)?
        .capabilities()
        .supports_merge_strategy(sluice_core::MergeStrategy::Scd2)
    {
        println!(
            "SKIPPED scd2_settings on {}: no scd2 (see scd2)",
            t.destination
        );
        return Ok(());
    }
    let case = Case::new(t, "scd2_settings");
    let active = "9999-12-31T00:00:00.000000Z";
    let (b1, b2) = ("2024-08-21T12:15:00.000000Z", "2024-08-22T00:00:00.000000Z");
    let settings = |boundary: &str| sluice_core::schema::Scd2Settings {
        validity_column_names: Some(["ValidFrom".into(), "ValidTo".into()]),
        active_record_timestamp: Some("9999-12-31".into()),
        boundary_timestamp: Some(boundary.into()),
        row_version_column_name: None,
    };
    let mut h = scd2_hints(settings(b1));
    h.merge_key = vec!["nk".into()];
    case.load(
        json!([{"nk": 1, "c1": "a"}, {"nk": 2, "c1": "b"}, {"nk": 3, "c1": "c"}]),
        h.clone(),
    )
    .await?;
    let (from, to) = ("valid_from", "valid_to");
    assert_eq!(
        versions(&case, from, to).await?,
        vec![
            row("1", "a", b1, active),
            row("2", "b", b1, active),
            row("3", "c", b1, active)
        ]
    );
    h.scd2 = settings(b2);
    // nk 1 changes; nk 2 is absent but its key is not in the load: it stays active.
    case.load(json!([{"nk": 1, "c1": "A"}, {"nk": 3, "c1": "c"}]), h)
        .await?;
    assert_eq!(
        versions(&case, from, to).await?,
        vec![
            row("1", "a", b1, b2),
            row("1", "A", b2, active),
            row("2", "b", b1, active),
            row("3", "c", b1, active)
        ]
    );
    Ok(())
}

/// scd2 with the data's own row version (`row_version_column_name`): a change outside the
/// version makes no new version, and the nested rows of an unchanged row (whose `_dlt_id`s are
/// random then) are not inserted again; a new version brings its nested rows.
pub async fn scd2_row_version(t: &Target) -> Result<()> {
    if !t
        .registry
        .get(&t.destination)?
        .capabilities()
        .supports_merge_strategy(sluice_core::MergeStrategy::Scd2)
    {
        println!(
            "SKIPPED scd2_row_version on {}: no scd2 (see scd2)",
            t.destination
        );
        return Ok(());
    }
    let case = Case::new(t, "scd2_row_version");
    let h = scd2_hints(sluice_core::schema::Scd2Settings {
        row_version_column_name: Some("rowHash".into()),
        ..Default::default()
    });
    let t1 = boundary(
        &case
            .load(
                json!([{"nk": 1, "c1": "a", "rowHash": "h1", "tags": ["x"]}]),
                h.clone(),
            )
            .await?,
    );
    case.load(
        json!([{"nk": 1, "c1": "ignored", "rowHash": "h1", "tags": ["x"]}]),
        h.clone(),
    )
    .await?;
    let (from, to) = ("_dlt_valid_from", "_dlt_valid_to");
    assert_eq!(
        versions(&case, from, to).await?,
        vec![row("1", "a", &t1, "null")]
    );
    assert_eq!(case.count("dim__tags").await?, 1);
    let t3 = boundary(
        &case
            .load(
                json!([{"nk": 1, "c1": "b", "rowHash": "h2", "tags": ["x", "y"]}]),
                h,
            )
            .await?,
    );
    assert_eq!(
        versions(&case, from, to).await?,
        vec![row("1", "a", &t1, &t3), row("1", "b", &t3, "null")]
    );
    assert_eq!(case.count("dim__tags").await?, 3);
    Ok(())
}

/// A table loaded with append switches to scd2: its validity columns are added at the end, its
/// old rows count as active (NULL valid-to) and are retired like any other version.
pub async fn scd2_after_append(t: &Target) -> Result<()> {
    if !t
        .registry
        .get(&t.destination)?
        .capabilities()
        .supports_merge_strategy(sluice_core::MergeStrategy::Scd2)
    {
        println!(
            "SKIPPED scd2_after_append on {}: no scd2 (see scd2)",
            t.destination
        );
        return Ok(());
    }
    let case = Case::new(t, "scd2_after_append");
    case.load(
        json!([{"nk": 1, "c1": "foo"}, {"nk": 2, "c1": "bar"}]),
        hints("dim", WriteDisposition::Append, &[]),
    )
    .await?;
    let mut h = scd2_hints(Default::default());
    h.merge_key = vec!["nk".into()];
    let t2 = boundary(
        &case
            .load(
                json!([{"nk": 1, "c1": "foo"}, {"nk": 2, "c1": "bar"}]),
                h.clone(),
            )
            .await?,
    );
    let t3 = boundary(
        &case
            .load(
                json!([{"nk": 1, "c1": "foo_updated"}, {"nk": 3, "c1": "baz"}]),
                h,
            )
            .await?,
    );
    let (from, to) = ("_dlt_valid_from", "_dlt_valid_to");
    let mut rows = versions(&case, from, to).await?;
    rows.sort();
    let mut expected = vec![
        row("1", "foo", "null", &t2),
        row("1", "foo", &t2, &t3),
        row("1", "foo_updated", &t3, "null"),
        row("2", "bar", "null", &t2),
        row("2", "bar", &t2, "null"),
        row("3", "baz", &t3, "null"),
    ];
    expected.sort();
    assert_eq!(rows, expected);
    Ok(())
}
