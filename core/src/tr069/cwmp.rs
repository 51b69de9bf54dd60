//! CWMP (TR-069) SOAP messages as a snooper reads them: the body decoded (gzip, deflate,
//! charset), the envelope parsed by local names (prefixes differ by vendor), and the two
//! messages that carry parameter values, Inform and GetParameterValuesResponse, extracted.
//! Facts: shared/reference/epc-acs-tr069.md section 4.

use efi_plugin_api::Tr069Param;
use std::io::Read;

/// Why a CWMP body could not be read. Each names what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CwmpError {
    /// `Content-Encoding` names something this reader does not decode.
    #[error("unsupported Content-Encoding {0:?} (gzip, deflate and identity are read)")]
    Encoding(String),
    /// The compressed body does not decompress.
    #[error("{encoding} body does not decompress: {detail}")]
    Decompress {
        /// gzip or deflate.
        encoding: String,
        /// The decoder's complaint.
        detail: String,
    },
    /// The decompressed body is larger than allowed.
    #[error("body decompresses to more than {0} bytes")]
    TooLarge(usize),
    /// The charset is not known.
    #[error("unknown charset {0:?}")]
    Charset(String),
    /// The text is not well-formed XML.
    #[error("not XML: {0}")]
    Xml(String),
    /// XML, but not a SOAP envelope with a body.
    #[error("not a SOAP envelope: {0}")]
    Soap(String),
    /// An Inform without the DeviceId fields a CPE must send.
    #[error("Inform without {0} (a CPE must send DeviceId OUI and SerialNumber)")]
    Inform(&'static str),
}

/// A CPE's identity from an Inform's `DeviceId`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct DeviceId {
    /// `Manufacturer`.
    pub manufacturer: String,
    /// `OUI` (6 hex digits).
    pub oui: String,
    /// `ProductClass` (may be empty).
    pub product_class: String,
    /// `SerialNumber`.
    pub serial: String,
}

impl DeviceId {
    /// The ID GenieACS gives this device: `OUI-ProductClass-Serial` (`OUI-Serial` without a
    /// product class), each part with every byte outside `[A-Za-z0-9_]` percent-encoded.
    pub fn genieacs_id(&self) -> String {
        let esc = |s: &str| {
            let mut out = String::new();
            for b in s.bytes() {
                if b.is_ascii_alphanumeric() || b == b'_' {
                    out.push(b as char);
                } else {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            out
        };
        if self.product_class.is_empty() {
            format!("{}-{}", esc(&self.oui), esc(&self.serial))
        } else {
            format!(
                "{}-{}-{}",
                esc(&self.oui),
                esc(&self.product_class),
                esc(&self.serial)
            )
        }
    }
}

/// An Inform: who the CPE is, why it called and the parameters it sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inform {
    /// The DeviceId.
    pub device_id: DeviceId,
    /// Event codes (`2 PERIODIC`, `1 BOOT`, ...).
    pub events: Vec<String>,
    /// `CurrentTime` as sent.
    pub current_time: Option<String>,
    /// `RetryCount`, when it is a number.
    pub retry_count: Option<u32>,
    /// The ParameterList.
    pub params: Vec<Tr069Param>,
}

/// What one CWMP body holds, as far as a snooper cares.
#[derive(Debug, Clone, PartialEq)]
pub enum CwmpMessage {
    /// An Inform.
    Inform(Inform),
    /// A GetParameterValuesResponse (the values an ACS asked for).
    ParameterValues(Vec<Tr069Param>),
    /// A SOAP Fault, with its `FaultCode` and `FaultString` when present.
    Fault(String),
    /// Any other RPC, by its local name (`TransferComplete`, `SetParameterValuesResponse`).
    Other(String),
}

/// Decodes a message body to text: undoes `Content-Encoding` (at most `max_bytes` out), then
/// the charset of `Content-Type`, or of the XML declaration, or UTF-8.
pub fn decode_body(
    body: &[u8],
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    max_bytes: usize,
) -> Result<String, CwmpError> {
    let bytes: std::borrow::Cow<[u8]> = match content_encoding
        .map(|e| e.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("") | Some("identity") => body.into(),
        Some(enc @ ("gzip" | "x-gzip")) => {
            inflate(flate2::read::GzDecoder::new(body), enc, max_bytes)?.into()
        }
        Some("deflate") => {
            // "deflate" is zlib-wrapped by the RFC, raw by some implementations: try both.
            match inflate(flate2::read::ZlibDecoder::new(body), "deflate", max_bytes) {
                Ok(b) => b.into(),
                Err(CwmpError::TooLarge(n)) => return Err(CwmpError::TooLarge(n)),
                Err(_) => inflate(
                    flate2::read::DeflateDecoder::new(body),
                    "deflate",
                    max_bytes,
                )?
                .into(),
            }
        }
        Some(other) => return Err(CwmpError::Encoding(other.to_owned())),
    };
    let label = content_type
        .and_then(charset_of_content_type)
        .or_else(|| charset_of_declaration(&bytes));
    let encoding = match label {
        Some(l) => encoding_rs::Encoding::for_label(l.as_bytes())
            .ok_or_else(|| CwmpError::Charset(l.clone()))?,
        None => encoding_rs::UTF_8,
    };
    let (text, _, _) = encoding.decode(&bytes);
    Ok(text.into_owned())
}

fn inflate(mut reader: impl Read, encoding: &str, max_bytes: usize) -> Result<Vec<u8>, CwmpError> {
    let mut out = Vec::new();
    reader
        .by_ref()
        .take(max_bytes as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| CwmpError::Decompress {
            encoding: encoding.to_owned(),
            detail: e.to_string(),
        })?;
    if out.len() > max_bytes {
        return Err(CwmpError::TooLarge(max_bytes));
    }
    Ok(out)
}

fn charset_of_content_type(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|part| {
        let (k, v) = part.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches(['"', '\'']).to_owned())
    })
}

fn charset_of_declaration(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(200)];
    let head = std::str::from_utf8(head).ok().or_else(|| {
        // A multi-byte character cut at 200 bytes: the declaration is ASCII anyway.
        let valid = std::str::from_utf8(head).err()?.valid_up_to();
        std::str::from_utf8(&head[..valid]).ok()
    })?;
    let decl = head.strip_prefix('\u{feff}').unwrap_or(head);
    let decl = &decl[..decl.find("?>")?];
    let at = decl.find("encoding")? + "encoding".len();
    let rest = decl[at..].trim_start().strip_prefix('=')?.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let rest = &rest[1..];
    Some(rest[..rest.find(quote)?].to_owned())
}

/// Parses one SOAP envelope. An empty body (the CPE's "no more requests") is `Ok(None)`.
pub fn parse(text: &str) -> Result<Option<CwmpMessage>, CwmpError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let doc = roxmltree::Document::parse(text).map_err(|e| CwmpError::Xml(e.to_string()))?;
    let envelope = doc.root_element();
    if envelope.tag_name().name() != "Envelope" {
        return Err(CwmpError::Soap(format!(
            "the root element is <{}>, not <Envelope>",
            envelope.tag_name().name()
        )));
    }
    let body = child(envelope, "Body").ok_or_else(|| CwmpError::Soap("no <Body>".into()))?;
    let Some(rpc) = body.children().find(|n| n.is_element()) else {
        return Err(CwmpError::Soap("an empty <Body>".into()));
    };
    Ok(Some(match rpc.tag_name().name() {
        "Inform" => CwmpMessage::Inform(inform(rpc)?),
        "GetParameterValuesResponse" => CwmpMessage::ParameterValues(
            child(rpc, "ParameterList")
                .map(parameter_list)
                .unwrap_or_default(),
        ),
        "Fault" => {
            let code = descendant_text(rpc, "FaultCode");
            let string = descendant_text(rpc, "FaultString");
            CwmpMessage::Fault(format!("{} {}", code, string).trim().to_owned())
        }
        other => CwmpMessage::Other(other.to_owned()),
    }))
}

fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children()
        .find(|n| n.is_element() && n.tag_name().name() == name)
}

fn text_of(node: roxmltree::Node) -> String {
    node.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect::<String>()
        .trim()
        .to_owned()
}

fn child_text(node: roxmltree::Node, name: &str) -> Option<String> {
    child(node, name).map(text_of)
}

fn descendant_text(node: roxmltree::Node, name: &str) -> String {
    node.descendants()
        .find(|n| n.is_element() && n.tag_name().name() == name)
        .map(text_of)
        .unwrap_or_default()
}

fn inform(rpc: roxmltree::Node) -> Result<Inform, CwmpError> {
    let id = child(rpc, "DeviceId").ok_or(CwmpError::Inform("DeviceId"))?;
    let field = |name| child_text(id, name).unwrap_or_default();
    let device_id = DeviceId {
        manufacturer: field("Manufacturer"),
        oui: field("OUI").to_ascii_uppercase(),
        product_class: field("ProductClass"),
        serial: field("SerialNumber"),
    };
    if device_id.oui.is_empty() {
        return Err(CwmpError::Inform("DeviceId/OUI"));
    }
    if device_id.serial.is_empty() {
        return Err(CwmpError::Inform("DeviceId/SerialNumber"));
    }
    let events = child(rpc, "Event")
        .map(|e| {
            e.children()
                .filter(|n| n.is_element())
                .filter_map(|s| child_text(s, "EventCode"))
                .filter(|c| !c.is_empty())
                .collect()
        })
        .unwrap_or_default();
    Ok(Inform {
        device_id,
        events,
        current_time: child_text(rpc, "CurrentTime").filter(|t| !t.is_empty()),
        retry_count: child_text(rpc, "RetryCount").and_then(|t| t.parse().ok()),
        params: child(rpc, "ParameterList")
            .map(parameter_list)
            .unwrap_or_default(),
    })
}

/// `ParameterValueStruct`s: name, value and its `xsi:type` (matched by local name; a
/// missing type is `xsd:string`, as GenieACS reads it). Structs without a name are skipped.
fn parameter_list(list: roxmltree::Node) -> Vec<Tr069Param> {
    list.children()
        .filter(|n| n.is_element())
        .filter_map(|pvs| {
            let name = child_text(pvs, "Name").filter(|n| !n.is_empty())?;
            let value = child(pvs, "Value");
            let xsd_type = value
                .and_then(|v| {
                    v.attributes()
                        .find(|a| a.name() == "type")
                        .map(|a| a.value().to_owned())
                })
                .unwrap_or_else(|| "xsd:string".to_owned());
            Some(Tr069Param {
                path: name,
                // Values keep their inner spaces and vendor junk (`\r` after an IMEI);
                // drivers normalise, the cache keeps what the CPE sent.
                value: value
                    .map(|v| {
                        v.descendants()
                            .filter(|n| n.is_text())
                            .filter_map(|n| n.text())
                            .collect()
                    })
                    .unwrap_or_default(),
                xsd_type: Some(xsd_type),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const INFORM: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:SOAP-ENC="http://schemas.xmlsoap.org/soap/encoding/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:cwmp="urn:dslforum-org:cwmp-1-0">
 <SOAP-ENV:Header><cwmp:ID SOAP-ENV:mustUnderstand="1">k3j2h1</cwmp:ID></SOAP-ENV:Header>
 <SOAP-ENV:Body><cwmp:Inform>
  <DeviceId><Manufacturer>Baicells</Manufacturer><OUI>48bf74</OUI><ProductClass>ODU/EG7010AM11/GDM7243QT</ProductClass><SerialNumber>1203000AQ0000000001</SerialNumber></DeviceId>
  <Event SOAP-ENC:arrayType="cwmp:EventStruct[2]"><EventStruct><EventCode>1 BOOT</EventCode><CommandKey/></EventStruct><EventStruct><EventCode>2 PERIODIC</EventCode><CommandKey></CommandKey></EventStruct></Event>
  <MaxEnvelopes>1</MaxEnvelopes><CurrentTime>2026-11-26T12:00:00Z</CurrentTime><RetryCount>2</RetryCount>
  <ParameterList SOAP-ENC:arrayType="cwmp:ParameterValueStruct[16]">
   <ParameterValueStruct><Name>InternetGatewayDevice.DeviceInfo.SoftwareVersion</Name><Value xsi:type="xsd:string">BaiCE_BG_1.6.16</Value></ParameterValueStruct>
   <ParameterValueStruct><Name>InternetGatewayDevice.DeviceInfo.UpTime</Name><Value xsi:type="xsd:unsignedInt">3600</Value></ParameterValueStruct>
   <ParameterValueStruct><Name>InternetGatewayDevice.X.Untyped</Name><Value>a b </Value></ParameterValueStruct>
   <ParameterValueStruct><Name></Name><Value>nameless</Value></ParameterValueStruct>
  </ParameterList></cwmp:Inform></SOAP-ENV:Body></SOAP-ENV:Envelope>"#;

    #[test]
    fn an_inform_gives_its_device_id_events_and_parameters() {
        let Some(CwmpMessage::Inform(i)) = parse(INFORM).unwrap() else {
            panic!("not an Inform");
        };
        assert_eq!(i.device_id.oui, "48BF74", "upper-cased");
        assert_eq!(i.device_id.serial, "1203000AQ0000000001");
        assert_eq!(
            i.device_id.genieacs_id(),
            "48BF74-ODU%2FEG7010AM11%2FGDM7243QT-1203000AQ0000000001"
        );
        assert_eq!(i.events, ["1 BOOT", "2 PERIODIC"]);
        assert_eq!(i.current_time.as_deref(), Some("2026-11-26T12:00:00Z"));
        assert_eq!(i.retry_count, Some(2));
        assert_eq!(i.params.len(), 3, "the nameless struct is skipped");
        assert_eq!(i.params[1].value, "3600");
        assert_eq!(i.params[1].xsd_type.as_deref(), Some("xsd:unsignedInt"));
        assert_eq!(i.params[2].value, "a b ", "values are kept as sent");
        assert_eq!(i.params[2].xsd_type.as_deref(), Some("xsd:string"));
    }

    #[test]
    fn other_prefixes_and_a_default_namespace_read_the_same() {
        let plain = INFORM
            .replace("SOAP-ENV:", "soap:")
            .replace("xmlns:SOAP-ENV", "xmlns:soap")
            .replace("cwmp:Inform", "Inform");
        let Some(CwmpMessage::Inform(i)) = parse(&plain).unwrap() else {
            panic!("not an Inform");
        };
        assert_eq!(i.params.len(), 3);
    }

    #[test]
    fn an_inform_without_oui_or_serial_is_refused_by_name() {
        let no_serial = INFORM.replace("<SerialNumber>1203000AQ0000000001</SerialNumber>", "");
        assert_eq!(
            parse(&no_serial).unwrap_err(),
            CwmpError::Inform("DeviceId/SerialNumber")
        );
        let no_oui = INFORM.replace("<OUI>48bf74</OUI>", "<OUI> </OUI>");
        assert_eq!(
            parse(&no_oui).unwrap_err(),
            CwmpError::Inform("DeviceId/OUI")
        );
    }

    #[test]
    fn gpv_responses_faults_and_other_rpcs() {
        let gpv = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><soap:Body><cwmp:GetParameterValuesResponse><ParameterList><ParameterValueStruct><Name>A.B</Name><Value>-104</Value></ParameterValueStruct></ParameterList></cwmp:GetParameterValuesResponse></soap:Body></soap:Envelope>"#;
        assert_eq!(
            parse(gpv).unwrap(),
            Some(CwmpMessage::ParameterValues(vec![Tr069Param {
                path: "A.B".into(),
                value: "-104".into(),
                xsd_type: Some("xsd:string".into()),
            }]))
        );
        let fault = r#"<Envelope><Body><Fault><faultcode>Client</faultcode><detail><cwmp:Fault xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><FaultCode>9005</FaultCode><FaultString>Invalid parameter name</FaultString></cwmp:Fault></detail></Fault></Body></Envelope>"#;
        assert_eq!(
            parse(fault).unwrap(),
            Some(CwmpMessage::Fault("9005 Invalid parameter name".into()))
        );
        let other = "<Envelope><Body><TransferComplete/></Body></Envelope>";
        assert_eq!(
            parse(other).unwrap(),
            Some(CwmpMessage::Other("TransferComplete".into()))
        );
        assert_eq!(parse("  \r\n").unwrap(), None, "the empty POST");
    }

    #[test]
    fn garbage_is_an_error_that_says_what_it_is() {
        assert!(matches!(parse("<Envelope><Body>"), Err(CwmpError::Xml(_))));
        assert!(matches!(parse("<html/>"), Err(CwmpError::Soap(m)) if m.contains("<html>")));
        assert!(matches!(parse("<Envelope/>"), Err(CwmpError::Soap(m)) if m.contains("Body")));
    }

    #[test]
    fn gzip_deflate_and_charsets_are_decoded() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(INFORM.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(
            decode_body(&gz, None, Some("gzip"), 1 << 20).unwrap(),
            INFORM
        );
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(b"<x/>").unwrap();
        let z = z.finish().unwrap();
        assert_eq!(
            decode_body(&z, None, Some("deflate"), 1 << 20).unwrap(),
            "<x/>"
        );
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(b"<y/>").unwrap();
        let raw = raw.finish().unwrap();
        assert_eq!(
            decode_body(&raw, None, Some("deflate"), 1 << 20).unwrap(),
            "<y/>"
        );
        assert_eq!(
            decode_body(&gz, None, Some("gzip"), 100).unwrap_err(),
            CwmpError::TooLarge(100)
        );
        assert!(matches!(
            decode_body(b"not gzip", None, Some("gzip"), 100),
            Err(CwmpError::Decompress { .. })
        ));
        assert_eq!(
            decode_body(b"x", None, Some("br"), 100).unwrap_err(),
            CwmpError::Encoding("br".into())
        );
        // ISO-8859-1 from the header, then from the XML declaration.
        let latin = b"<v>Caf\xe9</v>";
        assert_eq!(
            decode_body(latin, Some("text/xml; charset=\"ISO-8859-1\""), None, 100).unwrap(),
            "<v>Caf\u{e9}</v>"
        );
        let declared = b"<?xml version=\"1.0\" encoding='iso-8859-1'?><v>\xe9</v>";
        assert!(decode_body(declared, Some("text/xml"), None, 100)
            .unwrap()
            .ends_with("<v>\u{e9}</v>"));
        assert_eq!(
            decode_body(b"x", Some("text/xml; charset=klingon"), None, 100).unwrap_err(),
            CwmpError::Charset("klingon".into())
        );
    }
}
