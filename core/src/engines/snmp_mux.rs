//! Shared-socket transport for SNMPv1/v2c: a few UDP sockets carry the requests of every
//! device in flight; answers are matched to their request by request ID and source address.
//!
//! Compared with a socket per device (snmp2's sessions) this saves the socket set-up and
//! tear-down and the 128 KiB of buffers per device, and one receive task drains many answers
//! per wake-up. Each try has a fresh request ID, so a late answer to an abandoned try finds
//! no waiter and is dropped. Requests are BER-encoded here (a GET, GETNEXT or GETBULK is a
//! handful of TLVs); answers are decoded by snmp2.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::{oneshot, OnceCell};

/// PDU tags.
pub const GET: u8 = 0xa0;
/// GetNextRequest.
pub const GET_NEXT: u8 = 0xa1;
/// GetBulkRequest.
pub const GET_BULK: u8 = 0xa5;

/// Requests in flight above which the receive task batches answers.
const COALESCE_ABOVE: usize = 16;

type Waiters = Arc<Mutex<HashMap<i32, (SocketAddr, oneshot::Sender<Vec<u8>>)>>>;

/// Datagrams that arrived on the shared sockets and were no answer to anything in flight.
#[derive(Default)]
pub struct MuxCounters {
    /// Not an SNMP v1/v2c message at all (cut short, garbage).
    pub malformed: std::sync::atomic::AtomicU64,
    /// A well-formed message nobody waits for (late answer to an abandoned try, or from
    /// another address than the one asked).
    pub unmatched: std::sync::atomic::AtomicU64,
}

struct Family {
    sockets: Vec<Arc<UdpSocket>>,
    next: AtomicUsize,
}

/// The shared sockets of one engine.
pub struct Mux {
    sockets_per_family: usize,
    receive_buffer: usize,
    v4: OnceCell<Family>,
    v6: OnceCell<Family>,
    waiters: Waiters,
    next_id: AtomicI32,
    counters: Arc<MuxCounters>,
}

/// Why a request got no answer.
#[derive(Debug)]
pub enum MuxError {
    /// Nothing came back in time.
    Timeout,
    /// The socket could not be opened or the datagram not sent.
    Io(std::io::Error),
}

impl Mux {
    /// A transport with `sockets` sockets per address family (opened on first use).
    pub fn new(sockets: usize, receive_buffer: usize) -> Mux {
        Mux {
            sockets_per_family: sockets.max(1),
            receive_buffer,
            v4: OnceCell::new(),
            v6: OnceCell::new(),
            waiters: Arc::new(Mutex::new(HashMap::new())),
            next_id: AtomicI32::new((std::process::id() as i32 & 0x7fff) << 16),
            counters: Arc::default(),
        }
    }

    /// What arrived that answered nothing.
    pub fn counters(&self) -> &MuxCounters {
        &self.counters
    }

    /// A request ID no request in flight has.
    pub fn request_id(&self) -> i32 {
        self.next_id.fetch_add(1, Ordering::Relaxed) & 0x7fff_ffff
    }

    /// Sends `datagram` (carrying `request_id`) to `agent` and waits up to `timeout` for the
    /// answer with that request ID from that address.
    pub async fn exchange(
        &self,
        agent: SocketAddr,
        request_id: i32,
        datagram: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, MuxError> {
        let family = self.family(agent.ip()).await.map_err(MuxError::Io)?;
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().insert(request_id, (agent, tx));
        let n = family.next.fetch_add(1, Ordering::Relaxed) % family.sockets.len();
        if let Err(e) = family.sockets[n].send_to(datagram, agent).await {
            self.waiters.lock().remove(&request_id);
            return Err(MuxError::Io(e));
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(answer)) => Ok(answer),
            _ => {
                self.waiters.lock().remove(&request_id);
                Err(MuxError::Timeout)
            }
        }
    }

    async fn family(&self, ip: IpAddr) -> std::io::Result<&Family> {
        let (cell, bind) = match ip {
            IpAddr::V4(_) => (&self.v4, SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))),
            IpAddr::V6(_) => (&self.v6, SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))),
        };
        cell.get_or_try_init(|| async {
            let mut sockets = Vec::with_capacity(self.sockets_per_family);
            for _ in 0..self.sockets_per_family {
                let socket = socket2::Socket::new(
                    socket2::Domain::for_address(bind),
                    socket2::Type::DGRAM,
                    Some(socket2::Protocol::UDP),
                )?;
                if self.receive_buffer > 0 {
                    // Best effort: the kernel caps it at net.core.rmem_max.
                    let _ = socket.set_recv_buffer_size(self.receive_buffer);
                }
                socket.set_nonblocking(true)?;
                socket.bind(&bind.into())?;
                let socket = Arc::new(UdpSocket::from_std(socket.into())?);
                tokio::spawn(receive(
                    socket.clone(),
                    self.waiters.clone(),
                    self.counters.clone(),
                ));
                sockets.push(socket);
            }
            Ok(Family {
                sockets,
                next: AtomicUsize::new(0),
            })
        })
        .await
    }
}

/// Hands each answer to the request waiting for it; everything else is dropped.
///
/// When many requests are in flight the task drains the socket, then pauses one timer tick
/// before waiting again (interrupt coalescing): answers trickling in from a busy agent are
/// then taken in batches, one wake-up each, instead of one wake-up per answer. The agent
/// stays busy (most requests are still queued at it), so throughput does not drop; with few
/// requests in flight there is no pause and no added latency.
async fn receive(socket: Arc<UdpSocket>, waiters: Waiters, counters: Arc<MuxCounters>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, from) = match socket.try_recv_from(&mut buf) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let in_flight = waiters.lock().len();
                if in_flight >= COALESCE_ABOVE {
                    tokio::time::sleep(Duration::from_micros(500)).await;
                }
                if let Err(e) = socket.readable().await {
                    tracing::error!("SNMP socket failed: {e}");
                    return;
                }
                continue;
            }
            // ICMP port unreachable from an earlier send surfaces here on some systems.
            Err(_) => continue,
        };
        let Some(id) = answer_request_id(&buf[..n]) else {
            counters.malformed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%from, bytes = n, "SNMP datagram that is not a v1/v2c message; dropped");
            continue;
        };
        let mut w = waiters.lock();
        if w.get(&id).is_some_and(|(agent, _)| *agent == from) {
            let (_, tx) = w.remove(&id).expect("just seen");
            drop(w);
            let _ = tx.send(buf[..n].to_vec());
        } else {
            drop(w);
            counters.unmatched.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Reads one BER tag-length header: (tag, content start, content end).
fn tlv(b: &[u8], at: usize) -> Option<(u8, usize, usize)> {
    let tag = *b.get(at)?;
    let first = *b.get(at + 1)?;
    let (len, start) = if first < 0x80 {
        (first as usize, at + 2)
    } else {
        let k = (first & 0x7f) as usize;
        if k == 0 || k > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..k {
            len = (len << 8) | *b.get(at + 2 + i)? as usize;
        }
        (len, at + 2 + k)
    };
    let end = start.checked_add(len)?;
    (end <= b.len()).then_some((tag, start, end))
}

/// The request ID of a v1/v2c message, without decoding the rest.
pub fn answer_request_id(b: &[u8]) -> Option<i32> {
    let (0x30, msg, _) = tlv(b, 0)? else {
        return None;
    };
    let (0x02, _, version_end) = tlv(b, msg)? else {
        return None;
    };
    let (0x04, _, community_end) = tlv(b, version_end)? else {
        return None;
    };
    let (_pdu_tag, pdu, _) = tlv(b, community_end)?;
    let (0x02, id_start, id_end) = tlv(b, pdu)? else {
        return None;
    };
    let bytes = &b[id_start..id_end];
    if bytes.is_empty() || bytes.len() > 4 {
        return None;
    }
    let mut v: i64 = if bytes[0] & 0x80 != 0 { -1 } else { 0 };
    for &x in bytes {
        v = (v << 8) | i64::from(x);
    }
    i32::try_from(v).ok()
}

/// Encodes a v1 (`version` 0) or v2c (1) request: `tag` is [`GET`], [`GET_NEXT`] or
/// [`GET_BULK`] (then `non_repeaters`/`max_repetitions` replace error status and index).
pub fn encode_request(
    version: i64,
    community: &[u8],
    tag: u8,
    request_id: i32,
    bulk: (u32, u32),
    oids: &[&[u32]],
) -> Vec<u8> {
    let mut varbinds = Vec::with_capacity(oids.len() * 16);
    for oid in oids {
        let mut vb = Vec::with_capacity(20);
        push_tlv(&mut vb, 0x06, &encode_oid(oid));
        vb.extend_from_slice(&[0x05, 0x00]);
        push_tlv(&mut varbinds, 0x30, &vb);
    }
    let mut pdu = Vec::with_capacity(varbinds.len() + 24);
    push_tlv(&mut pdu, 0x02, &encode_int(i64::from(request_id)));
    push_tlv(&mut pdu, 0x02, &encode_int(i64::from(bulk.0)));
    push_tlv(&mut pdu, 0x02, &encode_int(i64::from(bulk.1)));
    push_tlv(&mut pdu, 0x30, &varbinds);
    let mut msg = Vec::with_capacity(pdu.len() + community.len() + 16);
    push_tlv(&mut msg, 0x02, &encode_int(version));
    push_tlv(&mut msg, 0x04, community);
    push_tlv(&mut msg, tag, &pdu);
    let mut out = Vec::with_capacity(msg.len() + 4);
    push_tlv(&mut out, 0x30, &msg);
    out
}

fn push_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
}

fn encode_int(v: i64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    bytes[start..].to_vec()
}

fn encode_oid(arcs: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(arcs.len() + 4);
    let (first, rest) = match arcs {
        [a, b, rest @ ..] => (a * 40 + b, rest),
        [a] => (a * 40, &[][..]),
        [] => (0, &[][..]),
    };
    for arc in std::iter::once(first).chain(rest.iter().copied()) {
        let mut chunk = [0u8; 5];
        let mut i = 5;
        let mut v = arc;
        loop {
            i -= 1;
            chunk[i] = (v & 0x7f) as u8 | if i == 4 { 0 } else { 0x80 };
            v >>= 7;
            if v == 0 {
                break;
            }
        }
        out.extend_from_slice(&chunk[i..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_what_snmp2_decodes() {
        let oid = [1u32, 3, 6, 1, 4, 1, 200_000, 1, 0];
        let bytes = encode_request(1, b"public", GET_BULK, 0x1234_5678, (0, 10), &[&oid]);
        let pdu = snmp2::Pdu::from_bytes(&bytes).unwrap();
        assert_eq!(pdu.req_id, 0x1234_5678);
        assert_eq!(pdu.community, b"public");
        assert_eq!(pdu.message_type, snmp2::MessageType::GetBulkRequest);
        // For GETBULK, error status/index carry non-repeaters/max-repetitions.
        assert_eq!((pdu.error_status, pdu.error_index), (0, 10));
        let (got, value) = pdu.varbinds.clone().next().unwrap();
        assert_eq!(
            got.iter().unwrap().collect::<Vec<u64>>(),
            [1, 3, 6, 1, 4, 1, 200_000, 1, 0]
        );
        assert!(matches!(value, snmp2::Value::Null));
        assert_eq!(answer_request_id(&bytes), Some(0x1234_5678));
    }

    #[test]
    fn long_messages_and_negative_ids_round_trip() {
        let oids: Vec<Vec<u32>> = (0..40)
            .map(|i| vec![1, 3, 6, 1, 2, 1, 2, 2, 1, i, 1])
            .collect();
        let refs: Vec<&[u32]> = oids.iter().map(Vec::as_slice).collect();
        let bytes = encode_request(0, b"c", GET, 7, (0, 0), &refs);
        assert!(bytes.len() > 255, "needs a two-byte length");
        let pdu = snmp2::Pdu::from_bytes(&bytes).unwrap();
        assert_eq!(pdu.varbinds.count(), 40);
        assert_eq!(
            answer_request_id(&encode_request(1, b"c", GET, -5, (0, 0), &[])),
            Some(-5)
        );
        assert_eq!(answer_request_id(b"\x30\x03\x02\x01"), None, "truncated");
        assert_eq!(answer_request_id(b""), None);
    }
}
