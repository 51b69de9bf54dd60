//! Normalisation helpers for driver authors: the vendor quirks of
//! shared/reference/devices.md section 7, solved once. Absent is `None`, never zero; units
//! come out as the `DeviceRecord` field names say.

use crate::io::SnmpValue;
use crate::record::format_mac;

/// Text of a value, with the "no value" answers vendors use (`-`, `--`, `N/A`, `65535`,
/// `NULL`, empty, whitespace and `\r`) turned into `None`.
pub fn text(v: &SnmpValue) -> Option<String> {
    text_str(&v.as_text()?)
}

/// [`text`] for a value that came as a string (TR-069 parameters, web pages): trimmed of
/// whitespace and control characters (the `\r` some CPEs leave after an IMEI), with the
/// "no value" answers turned into `None`.
pub fn text_str(s: &str) -> Option<String> {
    let t = s.trim_matches(|c: char| c.is_whitespace() || c.is_control());
    (!t.is_empty() && !matches!(t, "-" | "--" | "N/A" | "n/a" | "65535" | "NULL"))
        .then(|| t.to_owned())
}

/// The first number in a string (`"-95 dBm"` → -95, `"12.4dB"` → 12.4).
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

/// ECI = eNB × 256 + local cell, when both fit (a cell ID above 255 is not a local one,
/// and an eNB that overflows is no eNB).
pub fn eci_from_parts(enb: u32, local_cell: u32) -> Option<u32> {
    (local_cell < 256)
        .then(|| enb.checked_mul(256)?.checked_add(local_cell))
        .flatten()
}

/// An E-UTRAN cell identity, decimal or (with hex letters or a `0x` prefix) hex; it must
/// fit 28 bits and not be zero.
pub fn eci(s: &str) -> Option<u32> {
    let t = s.trim();
    let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u32::from_str_radix(h, 16).ok()?
    } else if t.chars().all(|c| c.is_ascii_digit()) {
        t.parse().ok()?
    } else if t.chars().all(|c| c.is_ascii_hexdigit()) {
        u32::from_str_radix(t, 16).ok()?
    } else {
        return None;
    };
    (v > 0 && v < (1 << 28)).then_some(v)
}

/// Bandwidth in MHz from the vendor's text: the part after the last `:`, in MHz (`"20"`,
/// `"20MHz"`) or kHz (`"20000"`, `"20000 kHz"`).
pub fn bandwidth_mhz(s: &str) -> Option<f64> {
    let part = s.rsplit(':').next()?.trim().to_lowercase();
    let n = number(&part)?;
    if n <= 0.0 || n == 65535.0 {
        return None;
    }
    Some(if part.contains("khz") || n >= 1000.0 {
        n / 1000.0
    } else {
        n
    })
}

/// A rate in bits per second from `"4.320 kbps"`, `"1.2 Mbps"`, `"800 bps"`, or a bare
/// number taken as kbps (how Telrad prints it).
pub fn rate_bps(s: &str) -> Option<f64> {
    let n = number(s)?;
    let l = s.to_lowercase();
    let factor = if l.contains("mbps") {
        1e6
    } else if l.contains("kbps") || !l.contains("bps") {
        1e3
    } else {
        1.0
    };
    Some(n * factor)
}

/// Uptime in seconds from text: `"8 days 14 hours 45 minutes"` (any subset, singular or
/// plural) or `"hh:mm:ss"` / `"d:hh:mm:ss"`.
pub fn uptime_text(s: &str) -> Option<u64> {
    let t = s.trim();
    if t.contains(':') && t.chars().all(|c| c.is_ascii_digit() || c == ':') {
        let parts: Vec<u64> = t
            .split(':')
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        let weights: &[u64] = match parts.len() {
            3 => &[3_600, 60, 1],
            4 => &[86_400, 3_600, 60, 1],
            _ => return None,
        };
        return Some(parts.iter().zip(weights).map(|(p, w)| p * w).sum());
    }
    let words: Vec<&str> = t.split_whitespace().collect();
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

/// A MAC written in text in any usual notation (`80:02:9C:..`, `80029c..`, dashes).
pub fn mac_text(s: &str) -> Option<String> {
    let hex: String = s.chars().filter(char::is_ascii_hexdigit).collect();
    if hex.len() != 12 {
        return None;
    }
    let bytes: Vec<u8> = (0..6)
        .filter_map(|i| u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).ok())
        .collect();
    format_mac(&bytes)
}

/// The mean of the antennas that report (an unused antenna says 0).
pub fn average_nonzero(values: &[f64]) -> Option<f64> {
    let used: Vec<f64> = values.iter().copied().filter(|v| *v != 0.0).collect();
    (!used.is_empty()).then(|| used.iter().sum::<f64>() / used.len() as f64)
}

/// Digits-only identifier (IMEI, IMSI) of at least `min` digits, else `None`.
pub fn digits(s: Option<String>, min: usize) -> Option<String> {
    s.filter(|v| v.len() >= min && v.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_quirk_of_section_7() {
        assert_eq!(text(&SnmpValue::OctetString(b"-".to_vec())), None);
        assert_eq!(text(&SnmpValue::OctetString(b"65535".to_vec())), None);
        assert_eq!(
            text(&SnmpValue::OctetString(b"869910040000001\r".to_vec())).as_deref(),
            Some("869910040000001")
        );
        assert_eq!(number("-104 dBm"), Some(-104.0));
        assert_eq!(eci("42529"), Some(42529));
        assert_eq!(eci("A621"), Some(0xA621));
        assert_eq!(eci("0xA621"), Some(42529));
        assert_eq!(eci("FFFFFFFF"), None);
        assert_eq!(bandwidth_mhz("BandWidth: 20MHz"), Some(20.0));
        assert_eq!(bandwidth_mhz("20000"), Some(20.0));
        assert_eq!(bandwidth_mhz("20"), Some(20.0));
        assert_eq!(bandwidth_mhz("65535"), None);
        assert_eq!(rate_bps("4.320 kbps"), Some(4320.0));
        assert_eq!(rate_bps("5676.000"), Some(5_676_000.0));
        assert_eq!(rate_bps("2 Mbps"), Some(2e6));
        assert_eq!(
            uptime_text("8 days 14 hours 45 minutes"),
            Some(8 * 86_400 + 14 * 3_600 + 45 * 60)
        );
        assert_eq!(
            uptime_text("64 days 20 hours 3 minute"),
            Some(64 * 86_400 + 20 * 3_600 + 180)
        );
        assert_eq!(uptime_text("01:02:03"), Some(3_723));
        assert_eq!(uptime_text("unknown"), None);
        assert_eq!(
            mac_text("80:02:9C:11:22:33").as_deref(),
            Some("80:02:9c:11:22:33")
        );
        assert_eq!(average_nonzero(&[-90.0, -92.0, 0.0]), Some(-91.0));
        assert_eq!(digits(Some("00101".into()), 6), None);
    }
}
