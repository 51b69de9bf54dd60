//! `/metrics` in the OpenMetrics text format, encoded by `prometheus-client`.
//!
//! Each part of the host keeps the state it already needs (counters, device records, the
//! outbox) and describes it at scrape time as a [`Collector`]: a scrape reads that state once,
//! under its own locks, and copies no record. [`Page`] gathers the collectors of what runs in
//! the process and encodes them; the helpers below write one family from an iterator of
//! (labels, value) samples.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelValue, EncodeMetric, LabelValueEncoder,
};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::fmt::{self, Write as _};

/// The content type of the page (OpenMetrics 1.0, which Prometheus negotiates first).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A label value, escaped as the exposition formats require (`\`, `"` and line feeds):
/// prometheus-client writes values as given, and some come from outside (Sonar's host IDs,
/// plugin and credential names), where one quote would make the whole page unreadable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelValue<S = String>(pub S);

impl<S: AsRef<str>> EncodeLabelValue for LabelValue<S> {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> fmt::Result {
        for c in self.0.as_ref().chars() {
            match c {
                '\\' => encoder.write_str("\\\\")?,
                '"' => encoder.write_str("\\\"")?,
                '\n' => encoder.write_str("\\n")?,
                c => encoder.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// The labels of one sample: names and values, values escaped on the way out.
pub type Labels<'a, const N: usize> = [(&'static str, &'a str); N];

fn escaped<const N: usize>(labels: Labels<'_, N>) -> [(&'static str, LabelValue<&str>); N] {
    labels.map(|(name, value)| (name, LabelValue(value)))
}

/// A family of counters, one sample per label set. `name` is the family's name without
/// `_total`, which OpenMetrics adds to each sample. A family without samples is left out
/// (valid OpenMetrics, but not every reader takes an empty family).
pub fn counters<'a, const N: usize>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (Labels<'a, N>, u64)>,
) -> fmt::Result {
    let mut samples = samples.into_iter().peekable();
    if samples.peek().is_none() {
        return Ok(());
    }
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in samples {
        let labels = escaped(labels);
        ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A family of gauges, one sample per label set; left out without samples.
pub fn gauges<'a, const N: usize>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (Labels<'a, N>, f64)>,
) -> fmt::Result {
    let mut samples = samples.into_iter().peekable();
    if samples.peek().is_none() {
        return Ok(());
    }
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in samples {
        let labels = escaped(labels);
        ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// One counter without labels.
pub fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    ConstCounter::new(value).encode(encoder.encode_descriptor(
        name,
        help,
        None,
        MetricType::Counter,
    )?)
}

/// One gauge without labels.
pub fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: f64) -> fmt::Result {
    ConstGauge::new(value).encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

/// `efi_build_info{version,commit,plugin_api} 1`: what is running, for dashboards and
/// alerts that compare hosts.
pub fn build_info(encoder: &mut DescriptorEncoder) -> fmt::Result {
    gauges(
        encoder,
        "efi_build_info",
        "The running efi-poller: its version, the commit it was built from, the plugin API it speaks.",
        [(
            [
                ("version", crate::version::VERSION),
                ("commit", crate::version::COMMIT),
                ("plugin_api", efi_plugin_api::API_VERSION),
            ],
            1.0,
        )],
    )
}

/// The collectors of one scrape.
#[derive(Default)]
pub struct Page {
    registry: Registry,
}

/// A part of the host that describes itself at scrape time.
struct Part<F> {
    name: &'static str,
    encode: F,
}

impl<F> fmt::Debug for Part<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl<F> Collector for Part<F>
where
    F: Fn(&mut DescriptorEncoder) -> fmt::Result + Send + Sync + 'static,
{
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        (self.encode)(&mut encoder)
    }
}

impl Page {
    /// A page that starts with [`build_info`].
    pub fn new() -> Page {
        let mut page = Page::default();
        page.add("build", build_info);
        page
    }

    /// Adds the families `encode` writes (`part` names it in debug output).
    pub fn add(
        &mut self,
        part: &'static str,
        encode: impl Fn(&mut DescriptorEncoder) -> fmt::Result + Send + Sync + 'static,
    ) {
        self.registry
            .register_collector(Box::new(Part { name: part, encode }));
    }

    /// The page's text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!("/metrics could not be encoded: {e}");
        }
        out
    }
}

/// The page of one part alone (a component's tests, the Sonar poller role's own listener).
pub fn render_part<T: Send + Sync + 'static>(
    state: std::sync::Arc<T>,
    encode: fn(&T, &mut DescriptorEncoder) -> fmt::Result,
) -> String {
    let mut page = Page::default();
    page.add("part", move |e| encode(&state, e));
    page.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_openmetrics_with_escaped_labels() {
        let mut page = Page::default();
        page.add("sample", |e| {
            counters(
                e,
                "efi_x",
                "X.",
                [([("source", "a\"b\\c\nd")], 3), ([("source", "e")], 0)],
            )?;
            gauges(
                e,
                "efi_empty",
                "Nothing.",
                std::iter::empty::<(Labels<'_, 1>, f64)>(),
            )?;
            gauge(e, "efi_y", "Y.", 0.5)
        });
        assert_eq!(
            page.render(),
            "# HELP efi_x X.\n# TYPE efi_x counter\nefi_x_total{source=\"a\\\"b\\\\c\\nd\"} 3\nefi_x_total{source=\"e\"} 0\n\
             # HELP efi_y Y.\n# TYPE efi_y gauge\nefi_y 0.5\n# EOF\n"
        );
    }
}
