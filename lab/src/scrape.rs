//! Reading efi-poller's `/metrics` text (Prometheus exposition) for the reports of the soak
//! and the fleet benchmark: the samples of one metric, their sum, a label's value.

use std::collections::BTreeMap;

/// Every sample of metric `name` on `page`: the line and its value. A metric whose name
/// merely starts with `name` (`efi_polls_total_extra`) is not one of them.
pub fn samples<'a>(page: &'a str, name: &'a str) -> impl Iterator<Item = (&'a str, f64)> + 'a {
    page.lines()
        .filter(move |l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| Some((l, l.rsplit(' ').next()?.parse::<f64>().ok()?)))
}

/// The sum of every sample of metric `name` on `page`.
pub fn sum(page: &str, name: &str) -> f64 {
    samples(page, name).map(|(_, v)| v).sum()
}

/// The value of label `label` in a sample line (`name{a="x",label="y"} 1` → `y`).
pub fn label<'a>(line: &'a str, label: &str) -> Option<&'a str> {
    let inner = line.split_once('{')?.1.split_once('}')?.0;
    inner.split(',').find_map(|pair| {
        pair.strip_prefix(label)?
            .strip_prefix("=\"")?
            .strip_suffix('"')
    })
}

/// The samples of metric `name` summed by the value of their label `by` (`?` when absent).
pub fn sum_by(page: &str, name: &str, by: &str) -> BTreeMap<String, f64> {
    let mut sums = BTreeMap::new();
    for (line, value) in samples(page, name) {
        *sums
            .entry(label(line, by).unwrap_or("?").to_owned())
            .or_insert(0.0) += value;
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "# HELP efi_polls_total x\n\
                        efi_polls_total{driver=\"a\",result=\"ok\"} 3\n\
                        efi_polls_total{driver=\"b\",result=\"failed\"} 2\n\
                        efi_polls_total{driver=\"a\",result=\"failed\"} 1\n\
                        efi_polls_total_extra 100\n\
                        efi_poll_lag_seconds 1.5\n";

    #[test]
    fn a_metric_is_summed_over_its_labels_and_not_confused_with_a_longer_name() {
        assert_eq!(sum(PAGE, "efi_polls_total"), 6.0);
        assert_eq!(sum(PAGE, "efi_poll_lag_seconds"), 1.5);
        assert_eq!(sum(PAGE, "efi_absent"), 0.0);
    }

    #[test]
    fn samples_are_summed_by_a_label_value() {
        let by_result = sum_by(PAGE, "efi_polls_total", "result");
        assert_eq!(by_result["ok"], 3.0);
        assert_eq!(by_result["failed"], 3.0);
        assert_eq!(
            label("x{driver=\"a\",xresult=\"no\",result=\"ok\"} 1", "result"),
            Some("ok")
        );
        assert_eq!(label("efi_poll_lag_seconds 1.5", "result"), None);
    }
}
