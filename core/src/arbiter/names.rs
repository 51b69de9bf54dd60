//! Subscriber-name normalisation for matching EPC subscriber names to Sonar account names.

/// Normalises a name: case folded, whitespace collapsed, configured junk prefixes (tower or
/// model codes) and edge punctuation removed. Names starting with `!` or `_` are operator
/// markers for "do not link" and give `None`, as does a name left empty.
pub fn normalise(name: &str, prefixes: &[String]) -> Option<String> {
    let trimmed = name.trim();
    if trimmed.starts_with('!') || trimmed.starts_with('_') {
        return None;
    }
    let mut s: String = trimmed
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    loop {
        let before = s.len();
        for p in prefixes {
            let p = p.trim().to_lowercase();
            if !p.is_empty() && s.starts_with(&p) {
                s = s[p.len()..].trim_start().to_owned();
            }
        }
        s = s
            .trim_matches(|c: char| {
                c.is_whitespace() || matches!(c, '-' | ':' | '/' | '.' | ',' | '#')
            })
            .to_owned();
        if s.len() == before {
            break;
        }
    }
    (!s.is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_spacing_prefixes_and_markers() {
        let prefixes = vec!["TWR1".to_owned(), "RW6900".to_owned()];
        assert_eq!(
            normalise("  Jane   DOE ", &prefixes).as_deref(),
            Some("jane doe")
        );
        assert_eq!(
            normalise("TWR1 - Jane Doe", &prefixes).as_deref(),
            Some("jane doe")
        );
        assert_eq!(
            normalise("twr1 rw6900: Jane Doe", &prefixes).as_deref(),
            Some("jane doe")
        );
        assert_eq!(normalise("!Jane Doe", &prefixes), None);
        assert_eq!(normalise("_spare", &prefixes), None);
        assert_eq!(normalise("TWR1", &prefixes), None);
        assert_eq!(
            normalise("Acme Farms LLC", &[]).as_deref(),
            Some("acme farms llc")
        );
    }
}
