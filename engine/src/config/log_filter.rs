//! The `log.level` grammar qbridge accepts, checked before `tracing`'s own parser sees it.
//!
//! `EnvFilter`'s parser also accepts span and field filters (`target[span{field=value}]`),
//! whose values compile into regexes; fuzzing found inputs on which that path panics instead
//! of refusing. An operator needs levels per target, not span matchers, so qbridge accepts
//! only `level`, `target` and `target=level` directives separated by commas, and bounds the
//! length — anything else is refused with the usual "expected …" message.

/// Longest filter accepted: far above any real one (`qbridge=debug,hyper=warn,…`).
const MAX_LEN: usize = 256;

const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];

/// Whether `filter` is a comma-separated list (no spaces: `tracing` reads them as part of a
/// level) of `level`, `target` or `target=level`.
pub(super) fn is_valid(filter: &str) -> bool {
    filter.len() <= MAX_LEN
        && !filter.is_empty()
        && filter
            .split(',')
            .all(|directive| match directive.split_once('=') {
                Some((target, level)) => is_target(target) && is_level(level),
                None => is_level(directive) || is_target(directive),
            })
}

fn is_level(word: &str) -> bool {
    LEVELS.iter().any(|l| l.eq_ignore_ascii_case(word))
}

/// A module path such as `qbridge::pipeline` or a crate name such as `tower-http`.
fn is_target(word: &str) -> bool {
    !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_targets_and_pairs_are_accepted() {
        for ok in [
            "info",
            "WARN",
            "qbridge=debug",
            "qbridge::pipeline=trace,hyper=warn,info",
            "tower-http",
        ] {
            assert!(is_valid(ok), "{ok} refused");
            tracing_subscriber::EnvFilter::try_new(ok).expect("tracing accepts what qbridge does");
        }
    }

    /// Span and field matchers (the path on which `EnvFilter` panicked under fuzzing), stray
    /// punctuation, empty directives and overlong filters are refused.
    #[test]
    fn span_filters_punctuation_and_long_filters_are_refused() {
        let long = "a".repeat(MAX_LEN + 1);
        for bad in [
            "",
            " ",
            "qbridge[sync{id=1}]=debug",
            "[{a=\"((((((((((\"}]",
            "a=b=c",
            "a=loud",
            "info,,warn",
            "info, warn",
            "é=info",
            long.as_str(),
        ] {
            assert!(!is_valid(bad), "{bad:?} accepted");
        }
    }
}
