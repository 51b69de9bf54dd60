//! Normalisation of BEC's SNMP strings: units stripped, sentinels made absent.

use efi_plugin_api::SnmpValue;

/// Text of a value; the vendor's "no value" answers (`-`, `N/A`, `65535`, empty) are `None`.
pub fn text(v: &SnmpValue) -> Option<String> {
    let t = v.as_text()?;
    let absent = matches!(t.as_str(), "-" | "--" | "N/A" | "n/a" | "65535" | "NULL");
    (!absent).then_some(t)
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

/// `RSRP:-95 RSRQ:-10 SINR:12.4` → (rsrp, rsrq, sinr); missing or `-` parts are `None`.
pub fn signal_triplet(s: &str) -> (Option<f64>, Option<f64>, Option<f64>) {
    let mut out = (None, None, None);
    for part in s.split_whitespace() {
        let Some((key, value)) = part.split_once(':') else {
            continue;
        };
        let v = if value == "-" { None } else { number(value) };
        match key.to_uppercase().as_str() {
            "RSRP" => out.0 = v,
            "RSRQ" => out.1 = v,
            "SINR" => out.2 = v,
            _ => {}
        }
    }
    out
}

/// An E-UTRAN cell identity, decimal or (when it has hex letters or a `0x` prefix) hex;
/// must fit 28 bits.
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
    if n <= 0.0 {
        return None;
    }
    Some(if part.contains("khz") || n >= 1000.0 {
        n / 1000.0
    } else {
        n
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_strings() {
        assert_eq!(
            signal_triplet("RSRP:-95 RSRQ:-10 SINR:12.4"),
            (Some(-95.0), Some(-10.0), Some(12.4))
        );
        assert_eq!(signal_triplet("RSRP:- RSRQ:- SINR:-"), (None, None, None));
        assert_eq!(signal_triplet("sinr:3"), (None, None, Some(3.0)));
    }

    #[test]
    fn cell_ids_decimal_or_hex() {
        assert_eq!(eci("42529"), Some(42529));
        assert_eq!(eci("A621"), Some(0xA621));
        assert_eq!(eci("0xA621"), Some(42529));
        assert_eq!(eci("0"), None);
        assert_eq!(eci("FFFFFFFF"), None, "over 28 bits");
    }

    #[test]
    fn bandwidths_in_any_unit() {
        assert_eq!(bandwidth_mhz("BandWidth: 20MHz"), Some(20.0));
        assert_eq!(bandwidth_mhz("Bandwidth:20000"), Some(20.0));
        assert_eq!(bandwidth_mhz("10"), Some(10.0));
        assert_eq!(bandwidth_mhz("BW: 15000 kHz"), Some(15.0));
        assert_eq!(bandwidth_mhz("BW: -"), None);
    }

    #[test]
    fn sentinels_are_absent() {
        assert_eq!(text(&SnmpValue::OctetString(b"-".to_vec())), None);
        assert_eq!(text(&SnmpValue::OctetString(b"65535".to_vec())), None);
        assert_eq!(
            text(&SnmpValue::OctetString(b"869910040000001\r".to_vec())).as_deref(),
            Some("869910040000001")
        );
        assert_eq!(number("-104 dBm"), Some(-104.0));
    }
}
