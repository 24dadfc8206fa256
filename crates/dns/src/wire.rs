//! The few bytes of a plain query that the UDP fast path looks at, read
//! without allocating, and the patching that turns a reply made for one
//! client into the same reply for the next (RFC 1035 §4.1, RFC 6891 §6).
//!
//! A reply that depends only on the zone and the question can be reused:
//! only the ID, the RD and CD flags and the question's letter case (echoed
//! back) differ between two clients asking the same thing.

/// DNS header length.
pub(crate) const HEADER: usize = 12;
/// Longest name on the wire (RFC 1035 §3.1).
const MAX_NAME: usize = 255;
/// EDNS buffer sizes we answer with (the server clamps the client's).
pub(crate) const MIN_PAYLOAD: u16 = 512;
pub(crate) const MAX_PAYLOAD: u16 = 4096;
/// Longest cache key: name, type, class, EDNS marker and size.
pub(crate) const KEY_MAX: usize = MAX_NAME + 7;

const TYPE_OPT: u16 = 41;
// Flag bits of header bytes 2 and 3.
const QR: u8 = 0x80;
const OPCODE: u8 = 0x78;
const RD: u8 = 0x01;
const CD: u8 = 0x10;

/// A query whose shape the fast path understands: a QUERY with one
/// question, nothing in the answer and authority sections, and at most an
/// EDNS version 0 OPT record.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Question<'a> {
    pub id: u16,
    /// Header bytes 2 and 3, for RD and CD.
    pub flags: [u8; 2],
    /// The question name as sent (labels and the root byte).
    pub name: &'a [u8],
    pub qtype: u16,
    pub qclass: u16,
    /// The client's EDNS buffer size, when it sent an OPT record.
    pub edns: Option<u16>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// The labels of an uncompressed name starting at `at`; returns its end.
fn name_end(b: &[u8], at: usize) -> Option<usize> {
    let mut i = at;
    loop {
        let len = usize::from(*b.get(i)?);
        // Pointers and extended label types: not for the fast path.
        if len > 63 {
            return None;
        }
        i += 1 + len;
        if i - at > MAX_NAME {
            return None;
        }
        if len == 0 {
            return Some(i);
        }
    }
}

/// Reads a plain query; None for anything else (responses, other opcodes,
/// several questions, compression, EDNS versions above 0, trailing bytes),
/// which then takes the full path.
pub(crate) fn parse_question(msg: &[u8]) -> Option<Question<'_>> {
    if msg.len() < HEADER {
        return None;
    }
    let flags = [msg[2], msg[3]];
    if flags[0] & (QR | OPCODE) != 0 {
        return None;
    }
    let counts = (
        u16_at(msg, 4)?,
        u16_at(msg, 6)?,
        u16_at(msg, 8)?,
        u16_at(msg, 10)?,
    );
    let additionals = match counts {
        (1, 0, 0, n @ (0 | 1)) => n,
        _ => return None,
    };
    let end = name_end(msg, HEADER)?;
    let qtype = u16_at(msg, end)?;
    let qclass = u16_at(msg, end + 2)?;
    let mut at = end + 4;
    let mut edns = None;
    if additionals == 1 {
        // OPT: root name, type 41, class = buffer size, TTL = extended
        // rcode, version, flags; then its options, which we ignore.
        if *msg.get(at)? != 0 || u16_at(msg, at + 1)? != TYPE_OPT {
            return None;
        }
        let payload = u16_at(msg, at + 3)?;
        let version = *msg.get(at + 6)?;
        if version != 0 {
            return None;
        }
        let rdlen = usize::from(u16_at(msg, at + 9)?);
        at += 11 + rdlen;
        edns = Some(payload);
    }
    if at != msg.len() {
        return None;
    }
    Some(Question {
        id: u16::from_be_bytes([msg[0], msg[1]]),
        flags,
        name: &msg[HEADER..end],
        qtype,
        qclass,
        edns,
    })
}

/// The cache key of a question: its lower-cased name, type, class and
/// the EDNS buffer size the reply was made for (it decides truncation and
/// is echoed in our OPT record).
pub(crate) fn cache_key<'b>(q: &Question<'_>, buf: &'b mut [u8; KEY_MAX]) -> &'b [u8] {
    let n = q.name.len();
    buf[..n].copy_from_slice(q.name);
    buf[..n].make_ascii_lowercase();
    buf[n..n + 2].copy_from_slice(&q.qtype.to_be_bytes());
    buf[n + 2..n + 4].copy_from_slice(&q.qclass.to_be_bytes());
    let payload = match q.edns {
        Some(p) => {
            buf[n + 4] = 1;
            p.clamp(MIN_PAYLOAD, MAX_PAYLOAD)
        }
        None => {
            buf[n + 4] = 0;
            0
        }
    };
    buf[n + 5..n + 7].copy_from_slice(&payload.to_be_bytes());
    &buf[..n + 7]
}

/// Whether `reply` answers `q` with its question at the usual place, so
/// that `patch_reply` can give it to another client.
pub(crate) fn reusable_for(reply: &[u8], q: &Question<'_>) -> bool {
    let end = HEADER + q.name.len();
    reply.len() >= end
        && u16_at(reply, 4) == Some(1)
        && reply[HEADER..end].eq_ignore_ascii_case(q.name)
}

/// Writes into `out` the stored `reply` as the answer to `q`: its ID, its
/// RD and CD flags and its question's spelling.
pub(crate) fn patch_reply(reply: &[u8], q: &Question<'_>, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(reply);
    out[0..2].copy_from_slice(&q.id.to_be_bytes());
    out[2] = (out[2] & !RD) | (q.flags[0] & RD);
    out[3] = (out[3] & !CD) | (q.flags[1] & CD);
    out[HEADER..HEADER + q.name.len()].copy_from_slice(q.name);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "web.ns." A IN, optionally with an OPT record (size, version, rdata).
    fn query(id: u16, flags: [u8; 2], name: &[u8], opt: Option<(u16, u8, &[u8])>) -> Vec<u8> {
        let mut m = id.to_be_bytes().to_vec();
        m.extend_from_slice(&flags);
        m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, u8::from(opt.is_some())]);
        m.extend_from_slice(name);
        m.extend_from_slice(&[0, 1, 0, 1]);
        if let Some((size, version, rdata)) = opt {
            m.extend_from_slice(&[0, 0, 41]);
            m.extend_from_slice(&size.to_be_bytes());
            m.extend_from_slice(&[0, version, 0x80, 0]);
            m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            m.extend_from_slice(rdata);
        }
        m
    }

    const WEB: &[u8] = b"\x03web\x02ns\x00";
    const WEB_UPPER: &[u8] = b"\x03WEB\x02Ns\x00";

    #[test]
    fn reads_plain_queries() {
        let q = query(0x1234, [0x01, 0x10], WEB, None);
        assert_eq!(
            parse_question(&q),
            Some(Question {
                id: 0x1234,
                flags: [0x01, 0x10],
                name: WEB,
                qtype: 1,
                qclass: 1,
                edns: None,
            })
        );
        let cookie = [0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8];
        let e = query(7, [0x01, 0], WEB, Some((1232, 0, &cookie)));
        let got = parse_question(&e).unwrap();
        assert_eq!((got.edns, got.name), (Some(1232), WEB));
    }

    #[test]
    fn leaves_everything_else_to_the_full_path() {
        let plain = query(1, [1, 0], WEB, None);
        let mut response = plain.clone();
        response[2] |= QR;
        let mut notify = plain.clone();
        notify[2] |= 4 << 3;
        let mut two = plain.clone();
        two[5] = 2;
        let mut answers = plain.clone();
        answers[7] = 1;
        let mut trailing = plain.clone();
        trailing.push(0);
        let pointer = query(1, [1, 0], b"\x03web\xc0\x0c", None);
        let long_label = query(1, [1, 0], &[&[64u8][..], &[b'a'; 64], &[0]].concat(), None);
        let long_name: Vec<u8> = (0..64).flat_map(|_| *b"\x03abc").chain([0]).collect();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("short", plain[..11].to_vec()),
            ("response", response),
            ("notify", notify),
            ("two questions", two),
            ("answers", answers),
            ("trailing byte", trailing),
            ("no type", plain[..plain.len() - 3].to_vec()),
            ("compressed", pointer),
            ("long label", long_label),
            ("long name", query(1, [1, 0], &long_name, None)),
            ("EDNS 1", query(1, [1, 0], WEB, Some((1232, 1, &[])))),
            ("OPT short", {
                let mut q = query(1, [1, 0], WEB, Some((1232, 0, &[1, 2])));
                q.pop();
                q
            }),
            ("not OPT", {
                let mut q = query(1, [1, 0], WEB, Some((1232, 0, &[])));
                let at = HEADER + WEB.len() + 4 + 2;
                q[at] = 1;
                q
            }),
        ];
        for (what, msg) in cases {
            assert_eq!(parse_question(&msg), None, "{what}");
        }
    }

    #[test]
    fn keys_ignore_case_and_separate_types_and_buffers() {
        let key = |msg: &[u8]| {
            let q = parse_question(msg).unwrap();
            let mut buf = [0u8; KEY_MAX];
            cache_key(&q, &mut buf).to_vec()
        };
        let lower = key(&query(1, [1, 0], WEB, None));
        assert_eq!(lower, [WEB, &[0, 1, 0, 1, 0, 0, 0]].concat());
        assert_eq!(key(&query(2, [0, 0], WEB_UPPER, None)), lower);
        let mut aaaa = query(1, [1, 0], WEB, None);
        aaaa[HEADER + WEB.len() + 1] = 28;
        assert_ne!(key(&aaaa), lower);
        // Buffer sizes are clamped like the reply's: 100 and 512 are one key.
        let small = key(&query(1, [1, 0], WEB, Some((100, 0, &[]))));
        assert_eq!(small, key(&query(1, [1, 0], WEB, Some((512, 0, &[])))));
        assert_ne!(small, lower);
        assert_ne!(small, key(&query(1, [1, 0], WEB, Some((1232, 0, &[])))));
        assert_eq!(
            key(&query(1, [1, 0], WEB, Some((65000, 0, &[])))),
            key(&query(1, [1, 0], WEB, Some((4096, 0, &[]))))
        );
    }

    #[test]
    fn patches_a_stored_reply_for_the_next_client() {
        // A reply to id 1 with RD set, AA, NOERROR, one A record.
        let mut stored = vec![0, 1, 0x85, 0x00, 0, 1, 0, 1, 0, 0, 0, 0];
        stored.extend_from_slice(WEB);
        stored.extend_from_slice(&[0, 1, 0, 1, 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4]);
        stored.extend_from_slice(&[10, 96, 0, 20]);
        let next = query(0xbeef, [0x00, 0x10], WEB_UPPER, None);
        let q = parse_question(&next).unwrap();
        assert!(reusable_for(&stored, &q));
        let mut out = Vec::new();
        patch_reply(&stored, &q, &mut out);
        let mut want = stored.clone();
        want[..4].copy_from_slice(&[0xbe, 0xef, 0x84, 0x10]);
        want[HEADER..HEADER + WEB.len()].copy_from_slice(WEB_UPPER);
        assert_eq!(out, want);
        // A reply to another name, or one without its question, is not reused.
        let other = query(3, [1, 0], b"\x03api\x02ns\x00", None);
        assert!(!reusable_for(&stored, &parse_question(&other).unwrap()));
        assert!(!reusable_for(&stored[..HEADER], &q));
        let mut no_question = stored.clone();
        no_question[5] = 0;
        assert!(!reusable_for(&no_question, &q));
    }
}
