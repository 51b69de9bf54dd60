//! Object identifiers: parsed once, ordered numerically, printed in dotted form.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// An SNMP object identifier such as `1.3.6.1.2.1.1.1.0`.
///
/// Ordering is lexicographic on the numeric arcs, which is the order an SNMP walk follows.
/// It serialises as the dotted string so fixtures stay readable.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Oid(Vec<u32>);

impl Oid {
    /// Builds an OID from its numeric arcs.
    pub fn from_arcs(arcs: impl Into<Vec<u32>>) -> Self {
        Oid(arcs.into())
    }

    /// The numeric arcs.
    pub fn arcs(&self) -> &[u32] {
        &self.0
    }

    /// True when `self` lies strictly below `root` in the tree (`root` itself is not below).
    pub fn is_below(&self, root: &Oid) -> bool {
        self.0.len() > root.0.len() && self.0.starts_with(&root.0)
    }

    /// A new OID with `arc` appended (`ifDescr` + `.3` → the ifDescr of interface 3).
    pub fn child(&self, arc: u32) -> Oid {
        let mut arcs = self.0.clone();
        arcs.push(arc);
        Oid(arcs)
    }

    /// The arcs that follow `root`, when `self` is below it (the table index of a column cell).
    pub fn suffix_after(&self, root: &Oid) -> Option<&[u32]> {
        self.is_below(root).then(|| &self.0[root.0.len()..])
    }
}

/// The reason a dotted OID string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid OID {input:?}: {reason}")]
pub struct OidParseError {
    /// The text that failed to parse.
    pub input: String,
    /// What was wrong with it.
    pub reason: &'static str,
}

impl FromStr for Oid {
    type Err = OidParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| OidParseError {
            input: s.to_owned(),
            reason,
        };
        let trimmed = s.trim().trim_start_matches('.');
        if trimmed.is_empty() {
            return Err(err("empty"));
        }
        let arcs = trimmed
            .split('.')
            .map(|arc| {
                arc.parse::<u32>()
                    .map_err(|_| err("arcs must be unsigned 32-bit numbers"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if arcs.len() < 2 {
            return Err(err("needs at least two arcs"));
        }
        Ok(Oid(arcs))
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arc) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{arc}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oid({self})")
    }
}

/// Dotted text in human-readable formats (JSON fixtures), the bare arcs in binary ones (the
/// plugin boundary), where formatting and parsing would dominate the cost of a step.
impl Serialize for Oid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            self.0.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Oid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let text = std::borrow::Cow::<str>::deserialize(d)?;
            text.parse().map_err(serde::de::Error::custom)
        } else {
            Vec::<u32>::deserialize(d).map(Oid)
        }
    }
}

/// Parses a dotted OID known at compile time; panics on a typo, so use it for constants only.
///
/// ```
/// let sys_descr = efi_plugin_api::oid("1.3.6.1.2.1.1.1.0");
/// assert_eq!(sys_descr.arcs().len(), 9);
/// ```
pub fn oid(dotted: &str) -> Oid {
    dotted
        .parse()
        .unwrap_or_else(|e| panic!("bad OID literal: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_numerically_not_textually() {
        assert!(oid("1.3.6.1.2.1.2") < oid("1.3.6.1.2.1.10"));
        assert!(oid("1.3.6.1.2.1.2.2.1.2.9") < oid("1.3.6.1.2.1.2.2.1.2.10"));
    }

    #[test]
    fn rejects_bad_text_with_the_input_named() {
        let err = "1.3.x".parse::<Oid>().unwrap_err();
        assert!(err.to_string().contains("1.3.x"), "{err}");
        assert!("".parse::<Oid>().is_err());
        assert!("1".parse::<Oid>().is_err());
        assert_eq!(".1.3.6".parse::<Oid>().unwrap(), oid("1.3.6"));
    }

    #[test]
    fn text_in_json_arcs_in_messagepack() {
        let o = oid("1.3.6.1.2.1.1.1.0");
        assert_eq!(serde_json::to_string(&o).unwrap(), "\"1.3.6.1.2.1.1.1.0\"");
        let bytes = rmp_serde::to_vec_named(&o).unwrap();
        assert_eq!(rmp_serde::from_slice::<Oid>(&bytes).unwrap(), o);
        assert_eq!(
            serde_json::from_str::<Oid>("\"1.3.6.1.2.1.1.1.0\"").unwrap(),
            o
        );
    }

    #[test]
    fn below_and_suffix() {
        let col = oid("1.3.6.1.2.1.2.2.1.2");
        let cell = oid("1.3.6.1.2.1.2.2.1.2.7");
        assert!(cell.is_below(&col));
        assert!(!col.is_below(&col));
        assert_eq!(cell.suffix_after(&col), Some(&[7u32][..]));
        assert_eq!(col.child(7), cell);
    }
}
