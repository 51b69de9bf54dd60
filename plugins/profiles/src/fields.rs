//! The record fields a profile can set, the transforms that turn a device's text into a
//! field's unit (the SDK's `normalise`, so a profile handles quirks as a compiled driver
//! does), and how a value is put into a record.

use crate::schema::ValueSpec;
use efi_plugin_api::normalise::{
    average_nonzero, bandwidth_mhz, digits, eci, mac_text, number, rate_bps, text_str, uptime_text,
};
use efi_plugin_api::{DeviceRecord, Metric};

/// What kind of value a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text.
    Text,
    /// A number (stored as the field's integer type where it has one).
    Number,
    /// True or false.
    Bool,
}

/// Every field, its kind and its natural transform.
pub const FIELDS: &[(&str, Kind, &str)] = &[
    ("vendor", Kind::Text, "text"),
    ("model", Kind::Text, "text"),
    ("firmware", Kind::Text, "text"),
    ("hardware", Kind::Text, "text"),
    ("hostname", Kind::Text, "text"),
    ("description", Kind::Text, "text"),
    ("serial", Kind::Text, "text"),
    ("imei", Kind::Text, "digits"),
    ("imsi", Kind::Text, "digits"),
    ("mac", Kind::Text, "mac"),
    ("plmn", Kind::Text, "digits"),
    ("eci", Kind::Number, "eci"),
    ("enb_id", Kind::Number, "integer"),
    ("cell_id", Kind::Number, "integer"),
    ("band", Kind::Number, "integer"),
    ("earfcn", Kind::Number, "integer"),
    ("pci", Kind::Number, "integer"),
    ("tx_mcs", Kind::Number, "integer"),
    ("rx_mcs", Kind::Number, "integer"),
    ("rsrp_dbm", Kind::Number, "number"),
    ("rsrq_db", Kind::Number, "number"),
    ("sinr_db", Kind::Number, "number"),
    ("rssi_dbm", Kind::Number, "number"),
    ("bandwidth_mhz", Kind::Number, "bandwidth_mhz"),
    ("rx_rate_bps", Kind::Number, "rate_bps"),
    ("tx_rate_bps", Kind::Number, "rate_bps"),
    ("uptime_s", Kind::Number, "integer"),
    ("packets_sent", Kind::Number, "integer"),
    ("packets_failed", Kind::Number, "integer"),
    ("octets_sent", Kind::Number, "integer"),
    ("octets_received", Kind::Number, "integer"),
    ("octets_failed", Kind::Number, "integer"),
    ("connected", Kind::Bool, "bool"),
];

/// Every transform and the kind of value it gives.
pub const TRANSFORMS: &[(&str, Kind)] = &[
    ("text", Kind::Text),
    ("digits", Kind::Text),
    ("mac", Kind::Text),
    ("number", Kind::Number),
    ("integer", Kind::Number),
    ("hex", Kind::Number),
    ("eci", Kind::Number),
    ("bandwidth_mhz", Kind::Number),
    ("rate_bps", Kind::Number),
    ("uptime_text", Kind::Number),
    ("timeticks", Kind::Number),
    ("antennas", Kind::Number),
    ("bool", Kind::Bool),
];

/// A value on its way into a field.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text.
    Text(String),
    /// A number.
    Number(f64),
    /// True or false.
    Bool(bool),
}

/// A field name checked against [`FIELDS`] (or `metric.<name>`), with its transform.
#[derive(Debug, Clone)]
pub struct Target {
    /// The field.
    pub field: String,
    /// The transform.
    pub transform: &'static str,
    /// Multiplier after the transform.
    pub scale: Option<f64>,
    /// Extra "no value" answers.
    pub absent_if: Vec<String>,
}

impl Target {
    /// Checks a value spec: the field exists, the transform exists and gives what the field
    /// holds. The error names the key at fault (`field`, `transform` or `scale`).
    pub fn compile(spec: &ValueSpec) -> Result<Target, (&'static str, String)> {
        let (kind, natural) = if let Some(name) = spec.field.strip_prefix("metric.") {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                return Err((
                    "field",
                    format!(
                        "{:?}: a metric name is lower-case letters, digits and `_`",
                        spec.field
                    ),
                ));
            }
            (Kind::Number, "number")
        } else {
            let Some((_, kind, natural)) = FIELDS.iter().find(|(n, _, _)| *n == spec.field) else {
                return Err((
                    "field",
                    format!(
                        "unknown field {:?} (known: {}, or metric.<name>)",
                        spec.field,
                        FIELDS.iter().map(|f| f.0).collect::<Vec<_>>().join(", ")
                    ),
                ));
            };
            (*kind, *natural)
        };
        let name = spec.transform.as_deref().unwrap_or(natural);
        let Some((transform, gives)) = TRANSFORMS.iter().find(|(n, _)| *n == name) else {
            return Err((
                "transform",
                format!(
                    "unknown transform {name:?} (known: {})",
                    TRANSFORMS
                        .iter()
                        .map(|t| t.0)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        let fits = *gives == kind || (kind == Kind::Text && *gives == Kind::Number);
        if !fits {
            return Err((
                "transform",
                format!(
                    "{name:?} gives a {gives:?} value, field {:?} holds {kind:?}",
                    spec.field
                ),
            ));
        }
        if spec.scale.is_some() && *gives != Kind::Number {
            return Err((
                "scale",
                format!("field {:?}: only numbers scale", spec.field),
            ));
        }
        Ok(Target {
            field: spec.field.clone(),
            transform,
            scale: spec.scale,
            absent_if: spec.absent_if.clone(),
        })
    }

    /// The value of `raw` for this field, or why there is none (`Ok(None)`: the device
    /// said "no value").
    pub fn read(&self, raw: &str) -> Result<Option<Value>, String> {
        let trimmed = raw.trim_matches(|c: char| c.is_whitespace() || c.is_control());
        if self.absent_if.iter().any(|a| a == trimmed) {
            return Ok(None);
        }
        let Some(t) = text_str(raw) else {
            return Ok(None);
        };
        let bad = || format!("{:?} is not a valid {}", t, self.transform);
        let value = match self.transform {
            "text" => Value::Text(t.clone()),
            "digits" => Value::Text(digits(Some(t.clone()), 1).ok_or_else(bad)?),
            "mac" => Value::Text(mac_text(&t).ok_or_else(bad)?),
            "number" => Value::Number(number(&t).ok_or_else(bad)?),
            "integer" => Value::Number(number(&t).ok_or_else(bad)?.trunc()),
            "hex" => Value::Number(
                u64::from_str_radix(t.trim_start_matches("0x").trim_start_matches("0X"), 16)
                    .map_err(|_| bad())? as f64,
            ),
            "eci" => Value::Number(f64::from(eci(&t).ok_or_else(bad)?)),
            "bandwidth_mhz" => Value::Number(bandwidth_mhz(&t).ok_or_else(bad)?),
            "rate_bps" => Value::Number(rate_bps(&t).ok_or_else(bad)?),
            "uptime_text" => Value::Number(uptime_text(&t).ok_or_else(bad)? as f64),
            "timeticks" => Value::Number((number(&t).ok_or_else(bad)? / 100.0).trunc()),
            "antennas" => {
                let values: Vec<f64> = t
                    .split(['/', ','])
                    .filter_map(text_str)
                    .map(|v| number(&v).ok_or_else(bad))
                    .collect::<Result<_, _>>()?;
                match average_nonzero(&values) {
                    Some(v) => Value::Number(v),
                    None => return Ok(None),
                }
            }
            "bool" => match t.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "up" | "on" | "connected" | "online" => Value::Bool(true),
                "0" | "false" | "no" | "down" | "off" | "disconnected" | "offline" => {
                    Value::Bool(false)
                }
                _ => return Err(bad()),
            },
            other => return Err(format!("unknown transform {other:?}")),
        };
        Ok(Some(match (value, self.scale) {
            (Value::Number(n), Some(s)) => Value::Number(n * s),
            (v, _) => v,
        }))
    }
}

/// What a poll read, field by field, before it becomes a record.
#[derive(Debug, Default)]
pub struct Values {
    /// (field, value), the first read of a field wins.
    pub values: Vec<(String, Value)>,
}

impl Values {
    /// Keeps `value` for `field` unless an earlier read already gave one.
    pub fn put(&mut self, field: &str, value: Value) {
        if !self.values.iter().any(|(f, _)| f == field) {
            self.values.push((field.to_owned(), value));
        }
    }

    /// True when `field` has a value.
    pub fn has(&self, field: &str) -> bool {
        self.values.iter().any(|(f, _)| f == field)
    }

    /// The record.
    pub fn record(&self, vendor: &str, model: Option<&str>) -> DeviceRecord {
        let mut r = DeviceRecord {
            vendor: Some(vendor.to_owned()),
            model: model.map(str::to_owned),
            ..DeviceRecord::default()
        };
        let (mut eci_v, mut enb, mut cell) = (None, None, None);
        for (field, value) in &self.values {
            let text = match value {
                Value::Text(t) => Some(t.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(_) => None,
            };
            let num = match value {
                Value::Number(n) => Some(*n),
                Value::Text(t) => number(t),
                Value::Bool(_) => None,
            };
            let int = |max: f64| num.filter(|n| *n >= 0.0 && *n <= max).map(|n| n as u64);
            match field.as_str() {
                "vendor" => r.vendor = text,
                "model" => r.model = text,
                "firmware" => r.firmware = text,
                "hardware" => r.hardware = text,
                "hostname" => r.hostname = text,
                "description" => r.description = text,
                "serial" => r.identity.serial = text,
                "imei" => r.identity.imei = digits(text, 14),
                "imsi" => r.identity.imsi = digits(text, 6),
                "mac" => r.identity.mac = text.as_deref().and_then(mac_text),
                "plmn" => r.plmn = text,
                "eci" => eci_v = int(f64::from(u32::MAX)).map(|v| v as u32),
                "enb_id" => enb = int(f64::from(u32::MAX)).map(|v| v as u32),
                "cell_id" => cell = int(f64::from(u32::MAX)).map(|v| v as u32),
                "band" => r.band = int(f64::from(u16::MAX)).map(|v| v as u16),
                "earfcn" => r.earfcn = int(f64::from(u32::MAX)).map(|v| v as u32),
                "pci" => r.pci = int(f64::from(u16::MAX)).map(|v| v as u16),
                "tx_mcs" => r.tx_mcs = int(f64::from(u8::MAX)).map(|v| v as u8),
                "rx_mcs" => r.rx_mcs = int(f64::from(u8::MAX)).map(|v| v as u8),
                "rsrp_dbm" => r.rsrp_dbm = num,
                "rsrq_db" => r.rsrq_db = num,
                "sinr_db" => r.sinr_db = num,
                "rssi_dbm" => r.rssi_dbm = num,
                "bandwidth_mhz" => r.bandwidth_mhz = num,
                "rx_rate_bps" => r.rx_rate_bps = num,
                "tx_rate_bps" => r.tx_rate_bps = num,
                "uptime_s" => r.uptime_s = int(u64::MAX as f64),
                "packets_sent" => r.packets_sent = int(u64::MAX as f64),
                "packets_failed" => r.packets_failed = int(u64::MAX as f64),
                "octets_sent" => r.octets_sent = int(u64::MAX as f64),
                "octets_received" => r.octets_received = int(u64::MAX as f64),
                "octets_failed" => r.octets_failed = int(u64::MAX as f64),
                "connected" => {
                    if let Value::Bool(b) = value {
                        r.connected = Some(*b);
                    }
                }
                metric => {
                    if let (Some(name), Some(v)) = (metric.strip_prefix("metric."), num) {
                        r.metrics.push(Metric {
                            name: name.to_owned(),
                            labels: Vec::new(),
                            value: v,
                        });
                    }
                }
            }
        }
        r.set_cell(eci_v, enb, cell);
        if let Some(up) = r.uptime_s {
            r.last_boot_unix_s = Some((efi_plugin_api::now_unix_ms() / 1000) as i64 - up as i64);
        }
        if r.connected.is_none() && self.has("rsrp_dbm") {
            r.connected = Some(r.rsrp_dbm.is_some());
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(field: &str, transform: Option<&str>) -> Result<Target, String> {
        Target::compile(&ValueSpec {
            field: field.into(),
            transform: transform.map(str::to_owned),
            scale: None,
            absent_if: vec!["0".into()],
        })
        .map_err(|(key, message)| format!("{key}: {message}"))
    }

    #[test]
    fn transforms_turn_vendor_text_into_units_and_sentinels_into_absence() {
        let read = |field: &str, transform: Option<&str>, raw: &str| {
            target(field, transform).unwrap().read(raw)
        };
        assert_eq!(
            read("rsrp_dbm", None, "-95 dBm"),
            Ok(Some(Value::Number(-95.0)))
        );
        assert_eq!(read("rsrp_dbm", None, "-"), Ok(None));
        assert_eq!(read("rsrp_dbm", None, "0"), Ok(None), "absent_if");
        assert_eq!(
            read("rsrp_dbm", Some("antennas"), "-95 / -97, 0"),
            Ok(Some(Value::Number(-96.0)))
        );
        assert_eq!(read("eci", None, "A625"), Ok(Some(Value::Number(42533.0))));
        assert_eq!(
            read("eci", Some("hex"), "a625"),
            Ok(Some(Value::Number(42533.0)))
        );
        assert_eq!(
            read("bandwidth_mhz", None, "20000 kHz"),
            Ok(Some(Value::Number(20.0)))
        );
        assert_eq!(
            read("rx_rate_bps", None, "1.5 Mbps"),
            Ok(Some(Value::Number(1.5e6)))
        );
        assert_eq!(
            read("uptime_s", Some("timeticks"), "123456"),
            Ok(Some(Value::Number(1234.0)))
        );
        assert_eq!(
            read("uptime_s", Some("uptime_text"), "01:00:05"),
            Ok(Some(Value::Number(3605.0)))
        );
        assert_eq!(
            read("imei", None, "867945040000002\r"),
            Ok(Some(Value::Text("867945040000002".into())))
        );
        assert_eq!(
            read("mac", None, "48BF74000002"),
            Ok(Some(Value::Text("48:bf:74:00:00:02".into())))
        );
        assert_eq!(
            read("connected", None, "Connected"),
            Ok(Some(Value::Bool(true)))
        );
        let e = read("rsrp_dbm", None, "strong").unwrap_err();
        assert!(e.contains("\"strong\" is not a valid number"), "{e}");
    }

    #[test]
    fn a_spec_must_name_a_known_field_and_a_transform_that_fits_it() {
        assert!(target("rsrp", None)
            .unwrap_err()
            .contains("unknown field \"rsrp\""));
        assert!(target("rsrp_dbm", Some("nope"))
            .unwrap_err()
            .contains("unknown transform"));
        assert!(target("rsrp_dbm", Some("mac"))
            .unwrap_err()
            .contains("gives a Text value"));
        assert!(target("metric.tx power", None)
            .unwrap_err()
            .contains("metric name"));
        assert!(target("metric.tx_power_dbm", None).is_ok());
        assert!(
            target("firmware", Some("number")).is_ok(),
            "a number fits a text field"
        );
    }
}
