//! Finding text in a page or a command's output: an XPath (a documented subset) into XML, a
//! CSS selector into HTML (`scraper`, so broken markup still reads), a JSON pointer, and a
//! regular expression over what those found or over the whole text.

use crate::schema::Selector;
use regex::Regex;

/// A compiled selector.
#[derive(Debug, Clone)]
pub struct Select {
    how: How,
    regex: Option<Regex>,
}

#[derive(Debug, Clone)]
enum How {
    Whole,
    XPath(XPath),
    Css(String),
    Pointer(String),
}

impl Select {
    /// Compiles a selector; the error names the key at fault.
    pub fn compile(s: &Selector) -> Result<Select, String> {
        let set = [s.xpath.is_some(), s.css.is_some(), s.pointer.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if set > 1 {
            return Err("give at most one of xpath, css and pointer".into());
        }
        let how = if let Some(x) = &s.xpath {
            How::XPath(XPath::parse(x).map_err(|e| format!("xpath {x:?}: {e}"))?)
        } else if let Some(c) = &s.css {
            scraper::Selector::parse(c).map_err(|e| format!("css {c:?}: {e}"))?;
            How::Css(c.clone())
        } else if let Some(p) = &s.pointer {
            if !(p.is_empty() || p.starts_with('/')) {
                return Err(format!("pointer {p:?}: a JSON pointer starts with `/`"));
            }
            How::Pointer(p.clone())
        } else {
            How::Whole
        };
        let regex = match &s.regex {
            Some(r) => Some(Regex::new(r).map_err(|e| format!("regex {r:?}: {e}"))?),
            None => None,
        };
        if matches!(how, How::Whole) && regex.is_none() {
            return Err("say where the value is: xpath, css, pointer or regex".into());
        }
        Ok(Select { how, regex })
    }

    /// True when the selector is a bare regular expression (the only kind CLI output takes).
    pub fn is_regex_only(&self) -> bool {
        matches!(self.how, How::Whole)
    }

    /// The text selected from `text`, or why there is none.
    pub fn find(&self, text: &str) -> Result<String, String> {
        let found = match &self.how {
            How::Whole => text.to_owned(),
            How::XPath(x) => x.find(text)?,
            How::Css(c) => {
                let selector = scraper::Selector::parse(c).map_err(|e| e.to_string())?;
                let doc = scraper::Html::parse_document(text);
                let node = doc
                    .select(&selector)
                    .next()
                    .ok_or_else(|| format!("css {c:?}: nothing matches"))?;
                node.text().collect::<String>()
            }
            How::Pointer(p) => {
                let v: serde_json::Value =
                    serde_json::from_str(text.trim_start_matches('\u{feff}'))
                        .map_err(|e| format!("not JSON ({e})"))?;
                match v.pointer(p) {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(serde_json::Value::Null) | None => {
                        return Err(format!("pointer {p:?}: no value"))
                    }
                    Some(other) => other.to_string(),
                }
            }
        };
        match &self.regex {
            None => Ok(found),
            Some(re) => {
                let caps = re
                    .captures(&found)
                    .ok_or_else(|| format!("regex {:?}: no match", re.as_str()))?;
                let m = caps
                    .name("value")
                    .or_else(|| caps.get(1))
                    .or_else(|| caps.get(0))
                    .map(|m| m.as_str().to_owned())
                    .unwrap_or_default();
                Ok(m)
            }
        }
    }
}

/// The XPath subset: location steps of element names (or `*`), each after `/` (a child) or
/// `//` (any descendant), each with an optional `[n]` position (1-based), and at the end
/// optionally `@attr` or `text()`. Enough for the CGI XML pages CPEs serve; anything else is
/// refused when the profile is loaded, never mis-read at poll time.
#[derive(Debug, Clone, PartialEq)]
pub struct XPath {
    steps: Vec<Step>,
    attribute: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
struct Step {
    descendant: bool,
    name: String,
    position: Option<usize>,
}

impl XPath {
    /// Parses the subset; the error says what is not in it.
    pub fn parse(text: &str) -> Result<XPath, String> {
        let mut rest = text.trim();
        if !rest.starts_with('/') {
            return Err("must start with / or //".into());
        }
        let mut steps = Vec::new();
        let mut attribute = None;
        while !rest.is_empty() {
            let descendant = rest.starts_with("//");
            rest = rest.trim_start_matches('/');
            let end = rest.find('/').unwrap_or(rest.len());
            let (step, tail) = rest.split_at(end);
            rest = tail;
            if step.is_empty() {
                return Err("an empty step".into());
            }
            if let Some(attr) = step.strip_prefix('@') {
                if !rest.is_empty() || !valid_name(attr) {
                    return Err(format!("@{attr}: an attribute comes last and is a name"));
                }
                attribute = Some(attr.to_owned());
                break;
            }
            if step == "text()" {
                if !rest.is_empty() {
                    return Err("text() comes last".into());
                }
                break;
            }
            let (name, position) = match step.split_once('[') {
                Some((name, pos)) => {
                    let n: usize = pos
                        .strip_suffix(']')
                        .and_then(|p| p.parse().ok())
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| {
                            format!("{step}: only a position such as [1] is supported in []")
                        })?;
                    (name, Some(n))
                }
                None => (step, None),
            };
            if name != "*" && !valid_name(name) {
                return Err(format!(
                    "{step:?}: only element names, *, [n], @attr and text() are supported"
                ));
            }
            steps.push(Step {
                descendant,
                name: name.to_owned(),
                position,
            });
        }
        if steps.is_empty() {
            return Err("no element step".into());
        }
        Ok(XPath { steps, attribute })
    }

    /// The text (or attribute) of the first node the path selects in `xml`.
    pub fn find(&self, xml: &str) -> Result<String, String> {
        let doc = roxmltree::Document::parse(xml.trim_start_matches('\u{feff}'))
            .map_err(|e| format!("not XML ({e})"))?;
        let mut nodes = vec![doc.root()];
        for step in &self.steps {
            let mut next = Vec::new();
            for node in &nodes {
                let candidates: Vec<roxmltree::Node> = if step.descendant {
                    node.descendants()
                        .skip(1)
                        .filter(|n| n.is_element() && matches(n, &step.name))
                        .collect()
                } else {
                    node.children()
                        .filter(|n| n.is_element() && matches(n, &step.name))
                        .collect()
                };
                match step.position {
                    Some(p) => next.extend(candidates.get(p - 1).copied()),
                    None => next.extend(candidates),
                }
            }
            nodes = next;
        }
        let node = nodes.first().ok_or("nothing matches")?;
        Ok(match &self.attribute {
            Some(a) => node
                .attribute(a.as_str())
                .ok_or_else(|| format!("no attribute {a}"))?
                .to_owned(),
            None => node
                .descendants()
                .filter(|n| n.is_text())
                .filter_map(|n| n.text())
                .collect(),
        })
    }
}

fn matches(node: &roxmltree::Node, name: &str) -> bool {
    name == "*" || node.tag_name().name() == name
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '.' || c == ':')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(
        xpath: Option<&str>,
        css: Option<&str>,
        pointer: Option<&str>,
        regex: Option<&str>,
    ) -> Select {
        Select::compile(&Selector {
            xpath: xpath.map(Into::into),
            css: css.map(Into::into),
            pointer: pointer.map(Into::into),
            regex: regex.map(Into::into),
        })
        .unwrap()
    }

    const XML: &str = "<?xml version=\"1.0\"?><root><wireless><rsrp>-95</rsrp>\
                       <ant n=\"2\"><v>1</v><v>2</v></ant></wireless><rsrp>-1</rsrp></root>";

    #[test]
    fn the_xpath_subset_selects_children_descendants_positions_and_attributes() {
        assert_eq!(
            sel(Some("//rsrp"), None, None, None).find(XML).unwrap(),
            "-95"
        );
        assert_eq!(
            sel(Some("/root/rsrp"), None, None, None).find(XML).unwrap(),
            "-1"
        );
        assert_eq!(
            sel(Some("//wireless/ant/v[2]"), None, None, None)
                .find(XML)
                .unwrap(),
            "2"
        );
        assert_eq!(
            sel(Some("//ant/@n"), None, None, None).find(XML).unwrap(),
            "2"
        );
        assert_eq!(
            sel(Some("/root/*/rsrp/text()"), None, None, None)
                .find(XML)
                .unwrap(),
            "-95"
        );
        let e = sel(Some("//nope"), None, None, None).find(XML).unwrap_err();
        assert_eq!(e, "nothing matches");
        for bad in ["rsrp", "//a[@x='1']", "//a/@b/c", "//a[0]", "//"] {
            assert!(XPath::parse(bad).is_err(), "{bad} is outside the subset");
        }
    }

    #[test]
    fn css_pointer_and_regex_find_text_in_html_json_and_cli_output() {
        let html = "<html><body><table><tr><td>RSRP</td><td id=r>-96 dBm</td></tr></table>";
        assert_eq!(
            sel(None, Some("td#r"), None, None).find(html).unwrap(),
            "-96 dBm"
        );
        let json = r#"{"radio":{"rsrp":-97,"cells":[{"pci":12}]}}"#;
        assert_eq!(
            sel(None, None, Some("/radio/rsrp"), None)
                .find(json)
                .unwrap(),
            "-97"
        );
        assert_eq!(
            sel(None, None, Some("/radio/cells/0/pci"), None)
                .find(json)
                .unwrap(),
            "12"
        );
        let out = "up 12345.67 99.0\n";
        assert_eq!(
            sel(None, None, None, Some(r"up (?P<value>[0-9.]+)"))
                .find(out)
                .unwrap(),
            "12345.67"
        );
        assert_eq!(
            sel(Some("//rsrp"), None, None, Some(r"-(\d+)"))
                .find(XML)
                .unwrap(),
            "95"
        );
        assert!(Select::compile(&Selector {
            regex: Some("(".into()),
            ..Selector::default()
        })
        .is_err());
        assert!(Select::compile(&Selector::default()).is_err());
    }
}
