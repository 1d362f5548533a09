//! Naming conventions: how source keys become table and column names.
//!
//! [`NamingConvention::snake_case`] follows dlt's default `snake_case` rules exactly, including
//! the shortening of identifiers that are longer than a destination allows (a 6-character tag
//! computed from the full identifier is placed in the middle), so that data loaded by sluice
//! lands in the same tables and columns that dlt would use.

use base64::Engine;
use regex::Regex;
use sha3::Shake128;
use sha3::digest::{ExtendableOutput, Update, XofReader};
use std::sync::LazyLock;

/// Separator between the parts of a nested path (`orders__items`).
pub const PATH_SEPARATOR: &str = "__";

static RE_NON_ALNUM: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[^a-zA-Z\d_]+").unwrap());
static RE_BREAK_1: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"([^_])([A-Z][a-z]+)").unwrap());
static RE_BREAK_2: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"([a-z0-9])([A-Z])").unwrap());
static RE_UNDERSCORES: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"__+").unwrap());

/// A naming convention bound to a maximum identifier length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamingConvention {
    /// Longest identifier the destination accepts; longer ones are shortened with a tag.
    pub max_length: usize,
}

impl NamingConvention {
    /// dlt's `snake_case` convention with the given maximum identifier length.
    pub fn snake_case(max_length: usize) -> Self {
        Self { max_length }
    }

    /// Normalize one identifier (a table name or one key). An identifier that contains `__`
    /// is treated as a path: each part is normalized on its own.
    pub fn normalize_identifier(&self, identifier: &str) -> String {
        let identifier = identifier.trim();
        if identifier.contains(PATH_SEPARATOR) {
            let parts: Vec<String> = identifier
                .split(PATH_SEPARATOR)
                .filter(|p| !p.is_empty())
                .map(|p| snake_case_fragment(p.trim()))
                .collect();
            if !parts.is_empty() {
                return self.shorten_fragments(&parts);
            }
        }
        shorten_identifier(
            &snake_case_fragment(identifier),
            identifier,
            self.max_length,
        )
    }

    /// Join already normalized fragments with `__` and shorten the result.
    pub fn shorten_fragments<S: AsRef<str>>(&self, fragments: &[S]) -> String {
        let joined = fragments
            .iter()
            .map(|s| s.as_ref())
            .collect::<Vec<_>>()
            .join(PATH_SEPARATOR);
        shorten_identifier(&joined, &joined, self.max_length)
    }

    /// Normalize a table name made from a path of source names.
    pub fn normalize_path<S: AsRef<str>>(&self, path: &[S]) -> String {
        let parts: Vec<String> = path
            .iter()
            .map(|p| self.normalize_identifier(p.as_ref()))
            .collect();
        self.shorten_fragments(&parts)
    }
}

/// dlt's snake_case transformation of one fragment, without shortening.
pub fn snake_case_fragment(identifier: &str) -> String {
    if identifier.is_empty() {
        return "_empty".to_string();
    }
    let translated: String = identifier
        .chars()
        .map(|c| match c {
            '+' => 'x',
            '-' => '_',
            '*' => 'x',
            '@' => 'a',
            '|' => 'l',
            c => c,
        })
        .collect();
    let s = RE_NON_ALNUM.replace_all(&translated, "_");
    let s = RE_BREAK_1.replace_all(&s, "${1}_${2}");
    let s = RE_BREAK_2.replace_all(&s, "${1}_${2}").to_lowercase();
    let mut s = if s.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        format!("_{s}")
    } else {
        s
    };
    let stripped_len = s.trim_end_matches('_').len();
    let trailing = s.len() - stripped_len;
    s.truncate(stripped_len);
    s.extend(std::iter::repeat_n('x', trailing));
    RE_UNDERSCORES.replace_all(&s, "_").into_owned()
}

/// Shorten `normalized` to `max_length` when it is longer, with a tag computed from `original`
/// (dlt's `shorten_identifier`).
pub fn shorten_identifier(normalized: &str, original: &str, max_length: usize) -> String {
    let len = normalized.chars().count();
    if max_length == 0 || len <= max_length {
        return normalized.to_string();
    }
    let tag = identifier_tag(original);
    let remaining = max_length - tag.len();
    let head = remaining / 2 + remaining % 2;
    let tail = remaining / 2;
    let chars: Vec<char> = normalized.chars().collect();
    let mut out: String = chars[..head].iter().collect();
    out.push_str(&tag);
    out.extend(&chars[len - tail..]);
    out
}

/// A 6-character lower-case tag: base64 of 4 bytes of SHAKE-128 of the identifier, as dlt does.
pub fn identifier_tag(identifier: &str) -> String {
    let mut hasher = Shake128::default();
    hasher.update(identifier.as_bytes());
    let mut digest = [0u8; 4];
    hasher.finalize_xof().read(&mut digest);
    base64::engine::general_purpose::STANDARD_NO_PAD
        .encode(digest)
        .chars()
        .map(|c| match c {
            '/' => 'a',
            '+' => 'b',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// dlt's `digest128`: base64 of `len` bytes of SHAKE-128, without padding.
pub fn digest128(value: &str, len: usize) -> String {
    let mut hasher = Shake128::default();
    hasher.update(value.as_bytes());
    let mut digest = vec![0u8; len];
    hasher.finalize_xof().read(&mut digest);
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        NamingConvention::snake_case(usize::MAX).normalize_identifier(s)
    }

    #[test]
    fn dlt_documented_examples() {
        assert_eq!(n("DealFlow"), "deal_flow");
        assert_eq!(n("userID"), "user_id");
        assert_eq!(n("HTTPResponse"), "http_response");
        assert_eq!(n("Column Name!"), "column_namex");
        assert_eq!(n("123abc"), "_123abc");
        assert_eq!(n("orderId"), "order_id");
        assert_eq!(n("Order ID"), "order_id");
        assert_eq!(n("order_id"), "order_id");
        assert_eq!(n("  padded "), "padded");
        assert_eq!(n("a+b-c*d@e|f"), "axb_cxdaelf");
        assert_eq!(n("name_"), "namex");
        // `__` marks a path: the parts `a` and `_b` are normalized separately and joined again
        assert_eq!(n("a___b"), "a___b");
        assert_eq!(snake_case_fragment("a___b"), "a_b");
        assert_eq!(n("price (EUR)"), "price_eurx");
        assert_eq!(n("Straße"), "stra_e");
        assert_eq!(n(""), "_empty");
    }

    #[test]
    fn keys_with_double_underscore_are_paths() {
        assert_eq!(n("Parent__ChildKey"), "parent__child_key");
    }

    #[test]
    fn shortening_keeps_length_and_is_stable() {
        let naming = NamingConvention::snake_case(63);
        let long = "a_very_long_column_name_that_goes_on_and_on_well_past_the_postgres_limit";
        let short = naming.normalize_identifier(long);
        assert_eq!(short.len(), 63);
        // computed with dlt's algorithm in Python (shake_128, base64, `/+` -> `ab`, lower)
        assert_eq!(
            short,
            "a_very_long_column_name_that_yjpb3gwell_past_the_postgres_limit"
        );
        let other = naming.normalize_identifier(&format!("{long}2"));
        assert_ne!(short, other);
        assert_eq!(identifier_tag(long).len(), 6);
    }

    #[test]
    fn digest128_is_unpadded_base64() {
        assert_eq!(digest128("abc_orders__items_0", 10), "mxAqSiR8UUyNVw");
    }
}
