//! The attach socket's wire format, shared by the shim (server) and the
//! node's attach client.
//!
//! A frame is `[type: u8][length: u32 big-endian][payload]`.
//! Client → shim: 0 stdin bytes, 3 resize (u16 BE cols, u16 BE rows),
//! 4 stdin EOF. Shim → client: 1 stdout bytes, 2 stderr bytes.

use std::fmt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub const TYPE_STDIN: u8 = 0;
pub const TYPE_STDOUT: u8 = 1;
pub const TYPE_STDERR: u8 = 2;
pub const TYPE_RESIZE: u8 = 3;
pub const TYPE_STDIN_EOF: u8 = 4;

pub const HEADER_LEN: usize = 5;
/// Bigger frames are refused: a peer sending one is broken or hostile,
/// and the shim must not buffer without bound.
pub const MAX_PAYLOAD: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Stdin(Vec<u8>),
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    Resize { cols: u16, rows: u16 },
    StdinEof,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtoError {
    UnknownType(u8),
    TooLong(usize),
    BadResize(usize),
    BadEof(usize),
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtoError::UnknownType(t) => write!(f, "unknown attach frame type {t}"),
            ProtoError::TooLong(n) => {
                write!(f, "attach frame of {n} bytes exceeds {MAX_PAYLOAD}")
            }
            ProtoError::BadResize(n) => write!(f, "resize frame with {n} bytes, want 4"),
            ProtoError::BadEof(n) => write!(f, "stdin EOF frame with {n} payload bytes"),
        }
    }
}

impl std::error::Error for ProtoError {}

impl From<ProtoError> for std::io::Error {
    fn from(e: ProtoError) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }
}

impl Frame {
    fn type_byte(&self) -> u8 {
        match self {
            Frame::Stdin(_) => TYPE_STDIN,
            Frame::Stdout(_) => TYPE_STDOUT,
            Frame::Stderr(_) => TYPE_STDERR,
            Frame::Resize { .. } => TYPE_RESIZE,
            Frame::StdinEof => TYPE_STDIN_EOF,
        }
    }
}

/// Appends the encoding of `frame` to `out`.
pub fn encode_into(frame: &Frame, out: &mut Vec<u8>) {
    let resize;
    let payload: &[u8] = match frame {
        Frame::Stdin(b) | Frame::Stdout(b) | Frame::Stderr(b) => b,
        Frame::Resize { cols, rows } => {
            let c = cols.to_be_bytes();
            let r = rows.to_be_bytes();
            resize = [c[0], c[1], r[0], r[1]];
            &resize
        }
        Frame::StdinEof => &[],
    };
    out.push(frame.type_byte());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

pub fn encode(frame: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(frame, &mut out);
    out
}

/// Decodes one frame from the start of `buf`: `Ok(None)` when more bytes
/// are needed, otherwise the frame and how many bytes it used.
pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, ProtoError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let kind = buf[0];
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    let frame = |payload: &[u8]| frame_from_parts(kind, payload);
    if len > MAX_PAYLOAD {
        return Err(ProtoError::TooLong(len));
    }
    // Refuse unknown types before waiting for their payload.
    if kind > TYPE_STDIN_EOF {
        return Err(ProtoError::UnknownType(kind));
    }
    if buf.len() < HEADER_LEN + len {
        return Ok(None);
    }
    Ok(Some((
        frame(&buf[HEADER_LEN..HEADER_LEN + len])?,
        HEADER_LEN + len,
    )))
}

fn frame_from_parts(kind: u8, payload: &[u8]) -> Result<Frame, ProtoError> {
    match kind {
        TYPE_STDIN => Ok(Frame::Stdin(payload.to_vec())),
        TYPE_STDOUT => Ok(Frame::Stdout(payload.to_vec())),
        TYPE_STDERR => Ok(Frame::Stderr(payload.to_vec())),
        TYPE_RESIZE => match payload {
            [c0, c1, r0, r1] => Ok(Frame::Resize {
                cols: u16::from_be_bytes([*c0, *c1]),
                rows: u16::from_be_bytes([*r0, *r1]),
            }),
            _ => Err(ProtoError::BadResize(payload.len())),
        },
        TYPE_STDIN_EOF if payload.is_empty() => Ok(Frame::StdinEof),
        TYPE_STDIN_EOF => Err(ProtoError::BadEof(payload.len())),
        other => Err(ProtoError::UnknownType(other)),
    }
}

/// Reads one frame; `Ok(None)` on a clean end of stream between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Option<Frame>> {
    let mut header = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        let n = r.read(&mut header[got..]).await?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got += n;
    }
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if len > MAX_PAYLOAD {
        return Err(ProtoError::TooLong(len).into());
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    Ok(Some(frame_from_parts(header[0], &payload)?))
}

pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, frame: &Frame) -> std::io::Result<()> {
    w.write_all(&encode(frame)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_each_type() {
        assert_eq!(
            encode(&Frame::Stdin(b"hi".to_vec())),
            b"\x00\x00\x00\x00\x02hi"
        );
        assert_eq!(
            encode(&Frame::Stdout(b"out".to_vec())),
            b"\x01\x00\x00\x00\x03out"
        );
        assert_eq!(encode(&Frame::Stderr(vec![])), b"\x02\x00\x00\x00\x00");
        assert_eq!(
            encode(&Frame::Resize { cols: 80, rows: 24 }),
            b"\x03\x00\x00\x00\x04\x00\x50\x00\x18"
        );
        assert_eq!(encode(&Frame::StdinEof), b"\x04\x00\x00\x00\x00");
    }

    #[test]
    fn decode_round_trips_and_reports_consumed_bytes() {
        let frames = [
            Frame::Stdin(b"abc".to_vec()),
            Frame::Stdout(vec![0xff; 300]),
            Frame::Stderr(b"e".to_vec()),
            Frame::Resize { cols: 513, rows: 2 },
            Frame::StdinEof,
        ];
        let mut buf = Vec::new();
        for f in &frames {
            encode_into(f, &mut buf);
        }
        let mut at = 0;
        let mut out = Vec::new();
        while let Some((f, used)) = decode(&buf[at..]).unwrap() {
            out.push(f);
            at += used;
        }
        assert_eq!(at, buf.len());
        assert_eq!(out, frames);
    }

    #[test]
    fn decode_waits_for_complete_frames() {
        let buf = encode(&Frame::Stdout(b"hello".to_vec()));
        for cut in 0..buf.len() {
            assert_eq!(decode(&buf[..cut]).unwrap(), None, "cut at {cut}");
        }
    }

    #[test]
    fn decode_rejects_bad_frames() {
        assert_eq!(
            decode(b"\x09\x00\x00\x00\x00"),
            Err(ProtoError::UnknownType(9))
        );
        assert_eq!(
            decode(b"\x03\x00\x00\x00\x02\x00\x01"),
            Err(ProtoError::BadResize(2))
        );
        assert_eq!(decode(b"\x04\x00\x00\x00\x01x"), Err(ProtoError::BadEof(1)));
        let huge = (MAX_PAYLOAD as u32 + 1).to_be_bytes();
        assert_eq!(
            decode(&[1, huge[0], huge[1], huge[2], huge[3]]),
            Err(ProtoError::TooLong(MAX_PAYLOAD + 1))
        );
    }

    #[tokio::test]
    async fn async_read_write_round_trip() {
        let (mut a, mut b) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            write_frame(&mut a, &Frame::Stdin(vec![7; 1000]))
                .await
                .unwrap();
            write_frame(&mut a, &Frame::StdinEof).await.unwrap();
        });
        assert_eq!(
            read_frame(&mut b).await.unwrap(),
            Some(Frame::Stdin(vec![7; 1000]))
        );
        assert_eq!(read_frame(&mut b).await.unwrap(), Some(Frame::StdinEof));
        writer.await.unwrap();
        assert_eq!(read_frame(&mut b).await.unwrap(), None);
    }
}
