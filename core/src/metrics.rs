//! The Prometheus text exposition format, written by hand: a few families of gauges and
//! counters need no registry.

use std::fmt::Write as _;

/// A page of metrics under construction.
#[derive(Default)]
pub struct Exposition {
    out: String,
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Exposition {
    /// Starts a family with its type and help text.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    /// One sample.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        if labels.is_empty() {
            let _ = writeln!(self.out, "{name} {value}");
        } else {
            let l: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = writeln!(self.out, "{name}{{{}}} {value}", l.join(","));
        }
    }

    /// The text.
    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_families_and_escapes_labels() {
        let mut m = Exposition::default();
        m.family("efi_x_total", "counter", "X.");
        m.sample("efi_x_total", &[("source", "a\"b")], 3.0);
        m.sample("efi_y", &[], 0.5);
        assert_eq!(
            m.finish(),
            "# HELP efi_x_total X.\n# TYPE efi_x_total counter\nefi_x_total{source=\"a\\\"b\"} 3\nefi_y 0.5\n"
        );
    }
}
