//! Normalisation of the CPE12000SG's SNMP strings.

use efi_plugin_api::{format_mac, SnmpValue};

/// Text of a value; "no value" answers are `None`.
pub fn text(v: &SnmpValue) -> Option<String> {
    let t = v.as_text()?;
    (!matches!(t.as_str(), "-" | "N/A" | "65535")).then_some(t)
}

/// The first number in a string.
pub fn number(s: &str) -> Option<f64> {
    let start = s.find(|c: char| c.is_ascii_digit() || c == '-' || c == '.')?;
    let rest = &s[start..];
    let end = rest
        .char_indices()
        .skip(1)
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.'))
        .map(|(i, _)| i)
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The mean of the antennas that report (an unused antenna says 0).
pub fn average(values: &[f64]) -> Option<f64> {
    let used: Vec<f64> = values.iter().copied().filter(|v| *v != 0.0).collect();
    (!used.is_empty()).then(|| used.iter().sum::<f64>() / used.len() as f64)
}

/// `"4.320 kbps"` (or a bare number, in kbps) → bits per second; `"1.2 Mbps"` too.
pub fn kbps_to_bps(s: &str) -> Option<f64> {
    let n = number(s)?;
    let l = s.to_lowercase();
    let factor = if l.contains("mbps") {
        1e6
    } else if l.contains("bps") && !l.contains("kbps") {
        1.0
    } else {
        1e3
    };
    Some(n * factor)
}

/// `"8 days 14 hours 45 minutes"` (singular or plural, any subset) → seconds.
pub fn uptime_text(s: &str) -> Option<u64> {
    let words: Vec<&str> = s.split_whitespace().collect();
    let mut total = 0u64;
    let mut found = false;
    for pair in words.windows(2) {
        let Ok(n) = pair[0].parse::<u64>() else {
            continue;
        };
        let unit = pair[1].to_lowercase();
        let secs = match unit.trim_end_matches(',') {
            u if u.starts_with("day") => 86_400,
            u if u.starts_with("hour") => 3_600,
            u if u.starts_with("min") => 60,
            u if u.starts_with("sec") => 1,
            _ => continue,
        };
        total += n * secs;
        found = true;
    }
    found.then_some(total)
}

/// A MAC in any of the usual notations (`80:02:9C:..`, `80029C..`, with dashes).
pub fn mac(s: &str) -> Option<String> {
    let hex: String = s.chars().filter(char::is_ascii_hexdigit).collect();
    if hex.len() != 12 {
        return None;
    }
    let bytes: Vec<u8> = (0..6)
        .filter_map(|i| u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).ok())
        .collect();
    format_mac(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_uptime_antennas_macs() {
        assert_eq!(kbps_to_bps("4.320 kbps"), Some(4320.0));
        assert_eq!(kbps_to_bps("5676.000"), Some(5_676_000.0));
        assert_eq!(
            uptime_text("8 days 14 hours 45 minutes"),
            Some(8 * 86_400 + 14 * 3_600 + 45 * 60)
        );
        assert_eq!(
            uptime_text("64 days 20 hours 3 minute"),
            Some(64 * 86_400 + 20 * 3_600 + 180)
        );
        assert_eq!(uptime_text("unknown"), None);
        assert_eq!(average(&[-90.0, -92.0, 0.0, 0.0]), Some(-91.0));
        assert_eq!(average(&[0.0]), None);
        assert_eq!(
            mac("80:02:9C:11:22:33").as_deref(),
            Some("80:02:9c:11:22:33")
        );
        assert_eq!(mac("80029c112233").as_deref(), Some("80:02:9c:11:22:33"));
    }
}
