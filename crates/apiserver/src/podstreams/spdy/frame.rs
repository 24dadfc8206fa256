//! SPDY/3 frames on the wire (draft-mbelshe-httpbis-spdy-00 §2.2–2.6).
//! Header blocks stay compressed here; [`super::headers`] owns the zlib
//! contexts because they span the whole connection.

use bytes::{Buf, BufMut, Bytes, BytesMut};

pub const VERSION: u16 = 3;

/// Flag on DATA, SYN_STREAM, SYN_REPLY and HEADERS: the sender is done.
pub const FLAG_FIN: u8 = 0x01;
/// Flag on SYN_STREAM: the receiver may not send on this stream.
pub const FLAG_UNIDIRECTIONAL: u8 = 0x02;

/// RST_STREAM status codes used here.
pub const RST_PROTOCOL_ERROR: u32 = 1;
pub const RST_CANCEL: u32 = 5;

/// GOAWAY status "OK".
pub const GOAWAY_OK: u32 = 0;

/// Largest payload one frame can carry (24-bit length).
pub const MAX_LENGTH: usize = (1 << 24) - 1;

const TYPE_SYN_STREAM: u16 = 1;
const TYPE_SYN_REPLY: u16 = 2;
const TYPE_RST_STREAM: u16 = 3;
const TYPE_SETTINGS: u16 = 4;
const TYPE_PING: u16 = 6;
const TYPE_GOAWAY: u16 = 7;
const TYPE_HEADERS: u16 = 8;
const TYPE_WINDOW_UPDATE: u16 = 9;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    SynStream {
        stream_id: u32,
        associated_to: u32,
        priority: u8,
        flags: u8,
        /// Compressed name/value block.
        headers: Bytes,
    },
    SynReply {
        stream_id: u32,
        flags: u8,
        headers: Bytes,
    },
    RstStream {
        stream_id: u32,
        status: u32,
    },
    Settings {
        flags: u8,
        /// (flags, id, value) triples.
        entries: Vec<(u8, u32, u32)>,
    },
    Ping {
        id: u32,
    },
    GoAway {
        last_good_stream_id: u32,
        status: u32,
    },
    Headers {
        stream_id: u32,
        flags: u8,
        headers: Bytes,
    },
    WindowUpdate {
        stream_id: u32,
        delta: u32,
    },
    Data {
        stream_id: u32,
        flags: u8,
        data: Bytes,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("unsupported SPDY version {0}")]
    Version(u16),
    #[error("unknown control frame type {0}")]
    UnknownType(u16),
    #[error("malformed {0} frame")]
    Malformed(&'static str),
    #[error("frame payload too large")]
    TooLarge,
}

fn stream_id(raw: u32) -> u32 {
    raw & 0x7fff_ffff
}

/// Takes one frame off the front of `buf`; `Ok(None)` until a whole frame
/// has arrived.
pub fn decode(buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
    if buf.len() < 8 {
        return Ok(None);
    }
    let first = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let flags = buf[4];
    let length = u32::from_be_bytes([0, buf[5], buf[6], buf[7]]) as usize;
    if buf.len() < 8 + length {
        return Ok(None);
    }
    buf.advance(8);
    let mut body = buf.split_to(length).freeze();
    if first & 0x8000_0000 == 0 {
        return Ok(Some(Frame::Data {
            stream_id: stream_id(first),
            flags,
            data: body,
        }));
    }
    let version = ((first >> 16) & 0x7fff) as u16;
    if version != VERSION {
        return Err(FrameError::Version(version));
    }
    let kind = (first & 0xffff) as u16;
    let need = |body: &Bytes, n: usize, name: &'static str| {
        if body.len() < n {
            Err(FrameError::Malformed(name))
        } else {
            Ok(())
        }
    };
    let frame = match kind {
        TYPE_SYN_STREAM => {
            need(&body, 10, "SYN_STREAM")?;
            let id = stream_id(body.get_u32());
            let associated_to = stream_id(body.get_u32());
            let priority = body.get_u8() >> 5;
            let _slot = body.get_u8();
            Frame::SynStream {
                stream_id: id,
                associated_to,
                priority,
                flags,
                headers: body,
            }
        }
        TYPE_SYN_REPLY | TYPE_HEADERS => {
            need(&body, 4, "SYN_REPLY")?;
            let id = stream_id(body.get_u32());
            if kind == TYPE_SYN_REPLY {
                Frame::SynReply {
                    stream_id: id,
                    flags,
                    headers: body,
                }
            } else {
                Frame::Headers {
                    stream_id: id,
                    flags,
                    headers: body,
                }
            }
        }
        TYPE_RST_STREAM => {
            need(&body, 8, "RST_STREAM")?;
            Frame::RstStream {
                stream_id: stream_id(body.get_u32()),
                status: body.get_u32(),
            }
        }
        TYPE_SETTINGS => {
            need(&body, 4, "SETTINGS")?;
            let count = body.get_u32() as usize;
            if body.len() != count.saturating_mul(8) {
                return Err(FrameError::Malformed("SETTINGS"));
            }
            let entries = (0..count)
                .map(|_| {
                    let flag_id = body.get_u32();
                    ((flag_id >> 24) as u8, flag_id & 0xff_ffff, body.get_u32())
                })
                .collect();
            Frame::Settings { flags, entries }
        }
        TYPE_PING => {
            need(&body, 4, "PING")?;
            Frame::Ping { id: body.get_u32() }
        }
        TYPE_GOAWAY => {
            need(&body, 8, "GOAWAY")?;
            Frame::GoAway {
                last_good_stream_id: stream_id(body.get_u32()),
                status: body.get_u32(),
            }
        }
        TYPE_WINDOW_UPDATE => {
            need(&body, 8, "WINDOW_UPDATE")?;
            Frame::WindowUpdate {
                stream_id: stream_id(body.get_u32()),
                delta: body.get_u32() & 0x7fff_ffff,
            }
        }
        other => return Err(FrameError::UnknownType(other)),
    };
    Ok(Some(frame))
}

fn control_header(out: &mut BytesMut, kind: u16, flags: u8, length: usize) {
    out.put_u16(0x8000 | VERSION);
    out.put_u16(kind);
    out.put_u32((u32::from(flags) << 24) | length as u32);
}

/// Appends the wire form of `frame` to `out`.
pub fn encode(frame: &Frame, out: &mut BytesMut) -> Result<(), FrameError> {
    let length = match frame {
        Frame::SynStream { headers, .. } => 10 + headers.len(),
        Frame::SynReply { headers, .. } | Frame::Headers { headers, .. } => 4 + headers.len(),
        Frame::Settings { entries, .. } => 4 + 8 * entries.len(),
        Frame::RstStream { .. } | Frame::GoAway { .. } | Frame::WindowUpdate { .. } => 8,
        Frame::Ping { .. } => 4,
        Frame::Data { data, .. } => data.len(),
    };
    if length > MAX_LENGTH {
        return Err(FrameError::TooLarge);
    }
    out.reserve(8 + length);
    match frame {
        Frame::SynStream {
            stream_id,
            associated_to,
            priority,
            flags,
            headers,
        } => {
            control_header(out, TYPE_SYN_STREAM, *flags, length);
            out.put_u32(stream_id & 0x7fff_ffff);
            out.put_u32(associated_to & 0x7fff_ffff);
            out.put_u8((priority & 0x7) << 5);
            out.put_u8(0);
            out.put_slice(headers);
        }
        Frame::SynReply {
            stream_id,
            flags,
            headers,
        } => {
            control_header(out, TYPE_SYN_REPLY, *flags, length);
            out.put_u32(stream_id & 0x7fff_ffff);
            out.put_slice(headers);
        }
        Frame::Headers {
            stream_id,
            flags,
            headers,
        } => {
            control_header(out, TYPE_HEADERS, *flags, length);
            out.put_u32(stream_id & 0x7fff_ffff);
            out.put_slice(headers);
        }
        Frame::RstStream { stream_id, status } => {
            control_header(out, TYPE_RST_STREAM, 0, length);
            out.put_u32(stream_id & 0x7fff_ffff);
            out.put_u32(*status);
        }
        Frame::Settings { flags, entries } => {
            control_header(out, TYPE_SETTINGS, *flags, length);
            out.put_u32(entries.len() as u32);
            for (flag, id, value) in entries {
                out.put_u32((u32::from(*flag) << 24) | (id & 0xff_ffff));
                out.put_u32(*value);
            }
        }
        Frame::Ping { id } => {
            control_header(out, TYPE_PING, 0, length);
            out.put_u32(*id);
        }
        Frame::GoAway {
            last_good_stream_id,
            status,
        } => {
            control_header(out, TYPE_GOAWAY, 0, length);
            out.put_u32(last_good_stream_id & 0x7fff_ffff);
            out.put_u32(*status);
        }
        Frame::WindowUpdate { stream_id, delta } => {
            control_header(out, TYPE_WINDOW_UPDATE, 0, length);
            out.put_u32(stream_id & 0x7fff_ffff);
            out.put_u32(delta & 0x7fff_ffff);
        }
        Frame::Data {
            stream_id,
            flags,
            data,
        } => {
            out.put_u32(stream_id & 0x7fff_ffff);
            out.put_u32((u32::from(*flags) << 24) | length as u32);
            out.put_slice(data);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(frame: &Frame) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode(frame, &mut out).unwrap();
        out.to_vec()
    }

    fn round_trip(frame: Frame) {
        let mut buf = BytesMut::from(&wire(&frame)[..]);
        assert_eq!(decode(&mut buf).unwrap(), Some(frame));
        assert!(buf.is_empty());
    }

    #[test]
    fn golden_bytes_follow_the_spec_layout() {
        // Control bit + version 3, type 6, no flags, length 4, id 1.
        assert_eq!(
            wire(&Frame::Ping { id: 1 }),
            [0x80, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 1]
        );
        // Data frame: stream id 5, FIN, 2 bytes.
        assert_eq!(
            wire(&Frame::Data {
                stream_id: 5,
                flags: FLAG_FIN,
                data: Bytes::from_static(b"hi"),
            }),
            [0, 0, 0, 5, 0x01, 0, 0, 2, b'h', b'i']
        );
        assert_eq!(
            wire(&Frame::RstStream {
                stream_id: 3,
                status: RST_CANCEL
            }),
            [0x80, 0x03, 0x00, 0x03, 0, 0, 0, 8, 0, 0, 0, 3, 0, 0, 0, 5]
        );
        assert_eq!(
            wire(&Frame::SynStream {
                stream_id: 1,
                associated_to: 0,
                priority: 7,
                flags: FLAG_FIN,
                headers: Bytes::from_static(b"\xAA"),
            }),
            [0x80, 0x03, 0x00, 0x01, 0x01, 0, 0, 11, 0, 0, 0, 1, 0, 0, 0, 0, 0xE0, 0, 0xAA]
        );
        assert_eq!(
            wire(&Frame::GoAway {
                last_good_stream_id: 7,
                status: GOAWAY_OK
            }),
            [0x80, 0x03, 0x00, 0x07, 0, 0, 0, 8, 0, 0, 0, 7, 0, 0, 0, 0]
        );
    }

    #[test]
    fn every_frame_round_trips() {
        round_trip(Frame::SynStream {
            stream_id: 9,
            associated_to: 1,
            priority: 3,
            flags: FLAG_UNIDIRECTIONAL,
            headers: Bytes::from_static(b"abc"),
        });
        round_trip(Frame::SynReply {
            stream_id: 9,
            flags: 0,
            headers: Bytes::from_static(b"x"),
        });
        round_trip(Frame::Headers {
            stream_id: 9,
            flags: FLAG_FIN,
            headers: Bytes::new(),
        });
        round_trip(Frame::RstStream {
            stream_id: 9,
            status: RST_PROTOCOL_ERROR,
        });
        round_trip(Frame::Settings {
            flags: 1,
            entries: vec![(0, 4, 100), (1, 7, 65536)],
        });
        round_trip(Frame::Ping { id: 0xdead_beef });
        round_trip(Frame::GoAway {
            last_good_stream_id: 11,
            status: 2,
        });
        round_trip(Frame::WindowUpdate {
            stream_id: 9,
            delta: 65536,
        });
        round_trip(Frame::Data {
            stream_id: 9,
            flags: 0,
            data: Bytes::from(vec![7u8; 70000]),
        });
    }

    #[test]
    fn partial_input_waits_for_more() {
        let bytes = wire(&Frame::Ping { id: 2 });
        let mut buf = BytesMut::from(&bytes[..7]);
        assert_eq!(decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(&bytes[7..11]);
        assert_eq!(decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(&bytes[11..]);
        assert_eq!(decode(&mut buf).unwrap(), Some(Frame::Ping { id: 2 }));
    }

    #[test]
    fn two_frames_in_one_buffer_decode_in_order() {
        let mut buf = BytesMut::new();
        encode(&Frame::Ping { id: 1 }, &mut buf).unwrap();
        encode(
            &Frame::Data {
                stream_id: 1,
                flags: 0,
                data: Bytes::from_static(b"z"),
            },
            &mut buf,
        )
        .unwrap();
        assert_eq!(decode(&mut buf).unwrap(), Some(Frame::Ping { id: 1 }));
        assert!(matches!(
            decode(&mut buf).unwrap(),
            Some(Frame::Data { .. })
        ));
        assert_eq!(decode(&mut buf).unwrap(), None);
    }

    #[test]
    fn bad_frames_are_errors() {
        let mut v2 = BytesMut::from(&[0x80, 0x02, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 1][..]);
        assert_eq!(decode(&mut v2), Err(FrameError::Version(2)));
        let mut unknown = BytesMut::from(&[0x80, 0x03, 0x00, 0x0a, 0, 0, 0, 0][..]);
        assert_eq!(decode(&mut unknown), Err(FrameError::UnknownType(10)));
        let mut short = BytesMut::from(&[0x80, 0x03, 0x00, 0x03, 0, 0, 0, 4, 0, 0, 0, 1][..]);
        assert_eq!(decode(&mut short), Err(FrameError::Malformed("RST_STREAM")));
    }
}
