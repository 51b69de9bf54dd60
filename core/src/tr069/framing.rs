//! Splits one direction of a proxied connection into HTTP/1.1 messages without altering
//! it: every byte is handed back to be forwarded as it arrives (a head once it is
//! complete, with one `Forwarded:` line added to requests when asked). Requests come back
//! with their bodies captured for the snooper; responses with their status, so the
//! snooper can tell which requests the ACS accepted. A stream that stops looking like
//! HTTP is forwarded raw from then on, never cut.

/// One complete request, as the snooper sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `POST`, ...
    pub method: String,
    /// The request target, unchanged.
    pub target: String,
    /// `Content-Type`, when sent.
    pub content_type: Option<String>,
    /// `Content-Encoding`, when sent.
    pub content_encoding: Option<String>,
    /// The body (chunked bodies de-chunked), or `None` when it was larger than the capture
    /// limit (it was still forwarded whole).
    pub body: Option<Vec<u8>>,
}

/// What to do with the bytes fed in, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Send these bytes upstream.
    Forward(Vec<u8>),
    /// A request ended (its bytes were all forwarded before this).
    Request(Request),
    /// A response's head was read: its status (1xx interim ones included).
    Response(u16),
    /// The stream is not HTTP/1.1 as expected (from here on it is only forwarded); why.
    GaveUp(String),
}

/// The longest request head kept while waiting for its end.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

#[derive(Debug)]
enum Body {
    Length(u64),
    Chunked(Chunk),
    /// A response without length or chunking: it ends when the connection does.
    UntilClose,
}

#[derive(Debug)]
enum Chunk {
    /// Reading a chunk-size line.
    Size(Vec<u8>),
    /// Inside a chunk's data.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Trailer lines after the last chunk, until an empty one.
    Trailer(Vec<u8>),
}

#[derive(Debug)]
enum State {
    Head(Vec<u8>),
    Body { body: Body, request: Request },
    Raw,
}

/// The splitter of one direction of one connection.
#[derive(Debug)]
pub struct Splitter {
    state: State,
    responses: bool,
    forwarded_for: Option<String>,
    capture_limit: usize,
}

impl Splitter {
    /// A splitter of requests that adds `Forwarded: for=<forwarded_for>` to every request
    /// head (when given) and captures bodies up to `capture_limit` bytes.
    pub fn new(forwarded_for: Option<std::net::IpAddr>, capture_limit: usize) -> Self {
        Splitter {
            state: State::Head(Vec::new()),
            responses: false,
            forwarded_for: forwarded_for.map(|ip| match ip {
                std::net::IpAddr::V4(v4) => v4.to_string(),
                std::net::IpAddr::V6(v6) => format!("\"[{v6}]\""),
            }),
            capture_limit,
        }
    }

    /// A splitter of responses (to POSTs: a body unless 1xx, 204 or 304); bodies are not
    /// captured.
    pub fn responses() -> Self {
        Splitter {
            state: State::Head(Vec::new()),
            responses: true,
            forwarded_for: None,
            capture_limit: 0,
        }
    }

    /// At the end of the stream: the bytes of a head that never ended (held while waiting
    /// for its end), to be forwarded all the same.
    pub fn flush(&mut self) -> Option<Vec<u8>> {
        match &mut self.state {
            State::Head(buf) if !buf.is_empty() => Some(std::mem::take(buf)),
            _ => None,
        }
    }

    /// True once the stream has been given up on (it is forwarded raw).
    pub fn is_raw(&self) -> bool {
        matches!(self.state, State::Raw)
    }

    /// Feeds the next bytes read from the CPE.
    pub fn feed(&mut self, mut data: &[u8]) -> Vec<Piece> {
        let mut out = Vec::new();
        while !data.is_empty() {
            match &mut self.state {
                State::Raw => {
                    out.push(Piece::Forward(data.to_vec()));
                    return out;
                }
                State::Head(buf) => {
                    // Look for the blank line from a little before the new bytes.
                    let from = buf.len().saturating_sub(3);
                    buf.extend_from_slice(data);
                    data = &[];
                    let Some(end) = find_head_end(&buf[from..]).map(|e| e + from) else {
                        // TLS (a ClientHello starts with 0x16) or other non-HTTP bytes are
                        // known at once: waiting for a blank line would stall the handshake.
                        let mut headers = [httparse::EMPTY_HEADER; 128];
                        let parsed = if self.responses {
                            httparse::Response::new(&mut headers).parse(buf).map(|_| ())
                        } else {
                            httparse::Request::new(&mut headers).parse(buf).map(|_| ())
                        };
                        if let Err(e) = parsed {
                            let held = std::mem::take(buf);
                            self.give_up(
                                &mut out,
                                held,
                                format!(
                                    "not an HTTP/1.1 request ({e}; TLS is passed through unread)"
                                ),
                            );
                            continue;
                        }
                        if buf.len() > MAX_HEAD_BYTES {
                            let held = std::mem::take(buf);
                            self.give_up(
                                &mut out,
                                held,
                                format!("a request head longer than {MAX_HEAD_BYTES} bytes"),
                            );
                        }
                        continue;
                    };
                    let mut held = std::mem::take(buf);
                    let rest = held.split_off(end);
                    match self.head(&held) {
                        Ok((head, body, request, status)) => {
                            out.push(Piece::Forward(head));
                            if let Some(status) = status {
                                out.push(Piece::Response(status));
                            }
                            self.state = State::Body { body, request };
                            if matches!(
                                self.state,
                                State::Body {
                                    body: Body::Length(0),
                                    ..
                                }
                            ) {
                                self.finish(&mut out);
                            }
                            // The rest belongs to the body (or the next request).
                            let more = self.feed(&rest);
                            out.extend(more);
                        }
                        Err(why) => {
                            held.extend_from_slice(&rest);
                            self.give_up(&mut out, held, why);
                        }
                    }
                    return out;
                }
                State::Body { body, request } => {
                    let used = match body {
                        Body::Length(remaining) => {
                            let n = (*remaining).min(data.len() as u64) as usize;
                            *remaining -= n as u64;
                            capture(request, &data[..n], self.capture_limit);
                            n
                        }
                        Body::Chunked(chunk) => {
                            match dechunk(chunk, data, request, self.capture_limit) {
                                Ok(n) => n,
                                Err(why) => {
                                    let rest = data.to_vec();
                                    self.give_up(&mut out, rest, why);
                                    return out;
                                }
                            }
                        }
                        Body::UntilClose => data.len(),
                    };
                    out.push(Piece::Forward(data[..used].to_vec()));
                    data = &data[used..];
                    let done = match body {
                        Body::Length(remaining) => *remaining == 0,
                        Body::Chunked(Chunk::Trailer(line)) => line.as_slice() == b"\x00done",
                        Body::Chunked(_) | Body::UntilClose => false,
                    };
                    if done {
                        self.finish(&mut out);
                    }
                }
            }
        }
        out
    }

    fn finish(&mut self, out: &mut Vec<Piece>) {
        if let State::Body { request, .. } =
            std::mem::replace(&mut self.state, State::Head(Vec::new()))
        {
            if !self.responses {
                out.push(Piece::Request(request));
            }
        }
    }

    fn give_up(&mut self, out: &mut Vec<Piece>, held: Vec<u8>, why: String) {
        if !held.is_empty() {
            out.push(Piece::Forward(held));
        }
        out.push(Piece::GaveUp(why));
        self.state = State::Raw;
    }

    /// Parses a complete head; returns it as it is forwarded, the body framing, the
    /// request so far and, for a response, its status.
    fn head(&self, head: &[u8]) -> Result<(Vec<u8>, Body, Request, Option<u16>), String> {
        let mut headers = [httparse::EMPTY_HEADER; 128];
        let (method, target, status, headers) = if self.responses {
            let mut parsed = httparse::Response::new(&mut headers);
            match parsed.parse(head) {
                Ok(httparse::Status::Complete(_)) => {}
                Ok(httparse::Status::Partial) => return Err("a response head cut short".into()),
                Err(e) => return Err(format!("not an HTTP/1.1 response head ({e})")),
            }
            (
                String::new(),
                String::new(),
                parsed.code,
                parsed.headers.to_vec(),
            )
        } else {
            let mut parsed = httparse::Request::new(&mut headers);
            match parsed.parse(head) {
                Ok(httparse::Status::Complete(_)) => {}
                Ok(httparse::Status::Partial) => return Err("a request head cut short".into()),
                Err(e) => return Err(format!("not an HTTP/1.1 request head ({e})")),
            }
            (
                parsed.method.unwrap_or_default().to_owned(),
                parsed.path.unwrap_or_default().to_owned(),
                None,
                parsed.headers.to_vec(),
            )
        };
        let header = |name: &str| {
            headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).trim().to_owned())
        };
        let chunked = headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("transfer-encoding"))
            .any(|h| {
                String::from_utf8_lossy(h.value)
                    .to_ascii_lowercase()
                    .contains("chunked")
            });
        let body = if status.is_some_and(|s| (100..200).contains(&s) || s == 204 || s == 304) {
            Body::Length(0)
        } else if chunked {
            Body::Chunked(Chunk::Size(Vec::new()))
        } else {
            match header("content-length") {
                Some(n) => Body::Length(
                    n.parse()
                        .map_err(|_| format!("a Content-Length that is not a number: {n:?}"))?,
                ),
                // A request without a length has no body; a response runs to the close.
                None if self.responses => Body::UntilClose,
                None => Body::Length(0),
            }
        };
        let request = Request {
            method,
            target,
            content_type: header("content-type"),
            content_encoding: header("content-encoding"),
            body: (!self.responses).then(Vec::new),
        };
        let mut bytes = head.to_vec();
        if let Some(addr) = &self.forwarded_for {
            // Before the blank line that ends the head; the request line and every other
            // header stay as they were (Digest checks the URI, not the headers we add).
            let at = bytes.len() - if bytes.ends_with(b"\r\n\r\n") { 2 } else { 1 };
            let line = if bytes.ends_with(b"\r\n\r\n") {
                format!("Forwarded: for={addr}\r\n")
            } else {
                format!("Forwarded: for={addr}\n")
            };
            bytes.splice(at..at, line.into_bytes());
        }
        Ok((bytes, body, request, status))
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    // CRLF CRLF, or bare LF LF from sloppy clients.
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn capture(request: &mut Request, bytes: &[u8], limit: usize) {
    if let Some(body) = &mut request.body {
        if body.len() + bytes.len() > limit {
            request.body = None;
        } else {
            body.extend_from_slice(bytes);
        }
    }
}

/// Reads chunked framing from `data`; returns how many bytes belong to this body. The
/// trailer state holds the marker `\0done` once the body has ended.
fn dechunk(
    chunk: &mut Chunk,
    data: &[u8],
    request: &mut Request,
    limit: usize,
) -> Result<usize, String> {
    let mut i = 0;
    while i < data.len() {
        match chunk {
            Chunk::Size(line) => {
                let b = data[i];
                i += 1;
                if b != b'\n' {
                    line.push(b);
                    if line.len() > 1024 {
                        return Err("a chunk-size line longer than 1024 bytes".into());
                    }
                    continue;
                }
                let text = String::from_utf8_lossy(line);
                let size = text.split(';').next().unwrap_or("").trim();
                let size = u64::from_str_radix(size, 16)
                    .map_err(|_| format!("a chunk size that is not hex: {size:?}"))?;
                *chunk = if size == 0 {
                    Chunk::Trailer(Vec::new())
                } else {
                    Chunk::Data(size)
                };
            }
            Chunk::Data(remaining) => {
                let n = (*remaining).min((data.len() - i) as u64) as usize;
                capture(request, &data[i..i + n], limit);
                *remaining -= n as u64;
                i += n;
                if *remaining == 0 {
                    *chunk = Chunk::DataEnd;
                }
            }
            Chunk::DataEnd => {
                let b = data[i];
                i += 1;
                match b {
                    b'\r' => {}
                    b'\n' => *chunk = Chunk::Size(Vec::new()),
                    other => return Err(format!("byte {other:#04x} after a chunk's data")),
                }
            }
            Chunk::Trailer(line) => {
                let b = data[i];
                i += 1;
                if b != b'\n' {
                    line.push(b);
                    if line.len() > MAX_HEAD_BYTES {
                        return Err("a chunked trailer longer than 64 KiB".into());
                    }
                    continue;
                }
                if line.is_empty() || line.as_slice() == b"\r" {
                    *line = b"\x00done".to_vec();
                    return Ok(i);
                }
                line.clear();
            }
        }
    }
    Ok(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(pieces: &[Piece]) -> Vec<u8> {
        pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Forward(b) => Some(b.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    fn requests(pieces: &[Piece]) -> Vec<Request> {
        pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Request(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    }

    /// Feeds `stream` in pieces of `size` bytes.
    fn feed_by(splitter: &mut Splitter, stream: &[u8], size: usize) -> Vec<Piece> {
        stream.chunks(size).flat_map(|c| splitter.feed(c)).collect()
    }

    const TWO: &[u8] = b"POST /acs HTTP/1.1\r\nHost: acs\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: 5\r\n\r\n<a/>\nPOST /acs HTTP/1.1\r\nHost: acs\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn requests_are_forwarded_unchanged_at_any_read_size() {
        for size in [1, 2, 3, 7, 64, 4096] {
            let mut s = Splitter::new(None, 1 << 20);
            let pieces = feed_by(&mut s, TWO, size);
            assert_eq!(forwarded(&pieces), TWO, "read size {size}");
            let reqs = requests(&pieces);
            assert_eq!(reqs.len(), 2, "read size {size}");
            assert_eq!(reqs[0].body.as_deref(), Some(&b"<a/>\n"[..]));
            assert_eq!(
                reqs[0].content_type.as_deref(),
                Some("text/xml; charset=utf-8")
            );
            assert_eq!(reqs[1].body.as_deref(), Some(&b""[..]), "the empty POST");
            assert_eq!(
                (reqs[1].method.as_str(), reqs[1].target.as_str()),
                ("POST", "/acs")
            );
        }
    }

    #[test]
    fn the_forwarded_line_is_the_only_change() {
        let mut s = Splitter::new(Some("127.10.0.9".parse().unwrap()), 1 << 20);
        let out = forwarded(&feed_by(&mut s, TWO, 5));
        let want = String::from_utf8_lossy(TWO)
            .replace("\r\n\r\n", "\r\nForwarded: for=127.10.0.9\r\n\r\n");
        assert_eq!(String::from_utf8_lossy(&out), want);
        let mut s = Splitter::new(Some("::1".parse().unwrap()), 1 << 20);
        let out = forwarded(&s.feed(b"POST / HTTP/1.1\r\n\r\n"));
        assert!(String::from_utf8_lossy(&out).contains("Forwarded: for=\"[::1]\"\r\n\r\n"));
    }

    #[test]
    fn chunked_bodies_are_forwarded_as_chunks_and_captured_whole() {
        let stream = b"POST /acs HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\n<ab>\r\n3\r\n</x\r\n0\r\nX-Trailer: 1\r\n\r\nPOST /acs HTTP/1.1\r\n\r\n";
        for size in [1, 3, 10, 1000] {
            let mut s = Splitter::new(None, 1 << 20);
            let pieces = feed_by(&mut s, stream, size);
            assert_eq!(forwarded(&pieces), stream);
            let reqs = requests(&pieces);
            assert_eq!(reqs.len(), 2, "read size {size}");
            assert_eq!(reqs[0].body.as_deref(), Some(&b"<ab></x"[..]));
        }
    }

    #[test]
    fn responses_give_their_status_in_order_and_pass_unchanged() {
        let stream = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 401 Unauthorized\r\nContent-Length: 3\r\nWWW-Authenticate: Basic\r\n\r\nno!HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n\r\nto the close";
        for size in [1, 5, 4096] {
            let mut s = Splitter::responses();
            let pieces = feed_by(&mut s, stream, size);
            assert_eq!(forwarded(&pieces), stream, "read size {size}");
            let statuses: Vec<u16> = pieces
                .iter()
                .filter_map(|p| match p {
                    Piece::Response(s) => Some(*s),
                    _ => None,
                })
                .collect();
            assert_eq!(statuses, [100, 401, 200, 204, 200], "read size {size}");
            assert!(requests(&pieces).is_empty());
        }
    }

    #[test]
    fn fuzz_found_streams_are_forwarded_exactly() {
        // cwmp_stream's first byte picks the read size; the rest is the stream.
        let input = include_bytes!("testdata/fuzz-lost-byte.bin");
        let (step, stream) = (usize::from(input[0] % 64) + 1, &input[1..]);
        for mut s in [Splitter::new(None, 1 << 20), Splitter::responses()] {
            let mut pieces = feed_by(&mut s, stream, step);
            // The stream ends inside the next request's head: those bytes go too.
            pieces.extend(s.flush().map(Piece::Forward));
            assert_eq!(forwarded(&pieces), stream);
        }
    }

    #[test]
    fn a_body_over_the_limit_is_forwarded_but_not_captured() {
        let mut s = Splitter::new(None, 3);
        let pieces = s.feed(TWO);
        assert_eq!(forwarded(&pieces), TWO);
        assert_eq!(requests(&pieces)[0].body, None);
    }

    #[test]
    fn a_stream_that_is_not_http_is_forwarded_raw() {
        // A TLS ClientHello, then more bytes.
        let mut s = Splitter::new(Some("127.0.0.1".parse().unwrap()), 100);
        let hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
        let mut pieces = s.feed(hello);
        pieces.extend(s.feed(b"more"));
        assert!(s.is_raw());
        assert!(pieces.iter().any(|p| matches!(p, Piece::GaveUp(_))));
        assert_eq!(forwarded(&pieces), [&hello[..], b"more"].concat());
        // A bad chunk size, mid-body: what came before and after is forwarded as it was.
        let mut s = Splitter::new(None, 100);
        let bad = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc";
        let pieces = s.feed(bad);
        assert_eq!(forwarded(&pieces), bad);
        assert!(matches!(pieces.last(), Some(Piece::GaveUp(w)) if w.contains("\"zz\"")));
        // A head that never ends.
        let mut s = Splitter::new(None, 100);
        let long = vec![b'a'; MAX_HEAD_BYTES + 10];
        let pieces = s.feed(&long);
        assert_eq!(forwarded(&pieces), long);
        assert!(s.is_raw());
    }
}
