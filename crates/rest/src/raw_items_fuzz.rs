//! A randomized differential test of the page splitter ([`crate::raw_items`]): random JSON pages,
//! written with random whitespace and escapes, some of them damaged byte by byte, are split at a
//! random key path and compared with what parsing the whole page says. The splitter must agree on
//! every page: the same body around the items, the same items in the same order, and an error
//! exactly when the page is not JSON; it must never panic.
//!
//! A short run (a fixed seed, 3 000 pages) is part of `cargo test`; `make fuzz` runs it for
//! `SLUICE_FUZZ_SECONDS` (default 600) from a seed taken from the clock, printed so that a
//! failure can be replayed with `SLUICE_FUZZ_SEED`.

use crate::raw_items::split_items;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::time::Instant;

const KEYS: &[&str] = &["data", "items", "next", "a", "é", "k\"q", "", "data"];

fn key(rng: &mut StdRng) -> String {
    KEYS[rng.random_range(0..KEYS.len())].to_string()
}

fn ws(rng: &mut StdRng, out: &mut String) {
    for _ in 0..rng.random_range(0..3) {
        out.push([' ', '\n', '\t', '\r'][rng.random_range(0..4)]);
    }
}

fn string(rng: &mut StdRng, s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if rng.random_bool(0.1) => out.push_str(&format!("\\u{:04x}", c as u32 & 0xFFFF)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A random JSON value, at most `depth` levels deep, as text.
fn value(rng: &mut StdRng, depth: u32, out: &mut String) {
    let kind = if depth == 0 {
        rng.random_range(0..6)
    } else {
        rng.random_range(0..9)
    };
    match kind {
        0 => out.push_str("null"),
        1 => out.push_str(if rng.random_bool(0.5) {
            "true"
        } else {
            "false"
        }),
        2 => out.push_str(&rng.random_range(-1_000_000i64..1_000_000).to_string()),
        3 => out.push_str(
            ["12345678901234567890123", "-0", "1.5e300", "0.1", "2E-3"][rng.random_range(0..5)],
        ),
        4 | 5 => {
            let s = ["", "x", "päge", "a\"b", "c\\d", "🦀", "\u{1}"][rng.random_range(0..7)];
            string(rng, s, out);
        }
        6 | 7 => {
            out.push('{');
            for i in 0..rng.random_range(0..4) {
                if i > 0 {
                    out.push(',');
                }
                ws(rng, out);
                let k = key(rng);
                string(rng, &k, out);
                ws(rng, out);
                out.push(':');
                ws(rng, out);
                value(rng, depth - 1, out);
            }
            out.push('}');
        }
        _ => {
            out.push('[');
            for i in 0..rng.random_range(0..4) {
                if i > 0 {
                    out.push(',');
                }
                ws(rng, out);
                value(rng, depth - 1, out);
            }
            out.push(']');
        }
    }
}

/// What splitting `page` at `keys` must give, computed from the whole parsed page.
fn expected(mut page: Value, keys: &[String]) -> (Value, Option<Vec<Value>>) {
    fn take(v: &mut Value, keys: &[String]) -> Option<Vec<Value>> {
        let (k, rest) = keys.split_first().expect("a non-empty path");
        let obj = v.as_object_mut()?;
        let Some(child) = obj.get_mut(k) else {
            return Some(Vec::new());
        };
        if !rest.is_empty() {
            return take(child, rest);
        }
        match child.take() {
            Value::Array(a) => {
                *child = Value::Array(Vec::new());
                Some(a)
            }
            Value::Null => Some(Vec::new()),
            other => Some(vec![other]),
        }
    }
    let items = take(&mut page, keys);
    (page, items)
}

/// What one page was: 0 valid with items split off, 1 valid without, 2 not JSON.
fn one_page(rng: &mut StdRng) -> usize {
    let mut text = String::new();
    ws(rng, &mut text);
    if rng.random_bool(0.8) {
        // Mostly pages shaped like an API's: an object with a list of items somewhere.
        text.push('{');
        string(rng, "data", &mut text);
        text.push(':');
        value(rng, 5, &mut text);
        text.push_str(", \"next\": ");
        value(rng, 2, &mut text);
        text.push('}');
    } else {
        value(rng, 6, &mut text);
    }
    ws(rng, &mut text);
    if rng.random_bool(0.2) {
        // Damage: cut it short, or replace, insert or drop a byte (on a char boundary).
        let cut = rng.random_range(0..=text.len());
        let cut = (0..=cut)
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        match rng.random_range(0..4) {
            0 => text.truncate(cut),
            1 => text.insert(
                cut,
                ['{', '}', '[', ']', ',', ':', '"', '\\', 'x'][rng.random_range(0..9)],
            ),
            2 if cut < text.len() => {
                text.remove(cut);
            }
            _ => text.push_str(" trailing"),
        }
    }
    let keys: Vec<String> = (0..rng.random_range(1..3)).map(|_| key(rng)).collect();
    let reference = serde_json::from_str::<Value>(&text);
    let split = split_items(text.clone(), &keys);
    match (reference, split) {
        (Ok(page), Ok((body, raw))) => {
            let (want_body, want_items) = expected(page, &keys);
            assert_eq!(body, want_body, "body of {text:?} at {keys:?}");
            let got = raw.map(|mut r| r.next_chunk(usize::MAX).expect("items parse"));
            assert_eq!(got, want_items, "items of {text:?} at {keys:?}");
            usize::from(got.is_none_or(|g| g.is_empty()))
        }
        (Err(_), Err(_)) => 2,
        (Ok(_), Err((e, _))) => panic!("splitter rejects valid JSON {text:?} at {keys:?}: {e}"),
        (Err(e), Ok((_, raw))) => {
            // The splitter only locates items; then parsing them must fail.
            let parsed = raw.map(|mut r| r.next_chunk(usize::MAX));
            assert!(
                matches!(parsed, Some(Err(_))),
                "splitter accepts invalid JSON {text:?} at {keys:?} (whole-page parse: {e})"
            );
            2
        }
    }
}

#[test]
fn the_splitter_agrees_with_parsing_the_whole_page() {
    let (seed, deadline) = sluice_core::test_support::fuzz_budget();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut pages = 0u64;
    let mut kinds = [0u64; 3];
    while pages < 3_000 || Instant::now() < deadline {
        kinds[one_page(&mut rng)] += 1;
        pages += 1;
    }
    println!(
        "{pages} pages agreed: {} with items split off, {} valid without, {} not JSON",
        kinds[0], kinds[1], kinds[2]
    );
    assert!(
        kinds.iter().all(|k| *k > pages / 50),
        "every kind of page is exercised: {kinds:?}"
    );
}
