//! Kubernetes' WebSocket channel protocols for exec/attach
//! (`v5.channel.k8s.io` and the kubelet's older ones): subprotocol choice
//! and the one-byte channel framing; plus the byte pipe used to run SPDY
//! inside WebSocket binary messages for port-forward.

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use base64::Engine;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// Channel numbers of the remote command protocols.
pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const ERROR: u8 = 3;
pub const RESIZE: u8 = 4;
/// v5: `[255, channel]` half-closes a channel (the client's stdin).
pub const CLOSE: u8 = 255;

/// The tunneling subprotocol kubectl v1.31+ asks for on pods/portforward.
pub const PORT_FORWARD_TUNNEL: &str = "SPDY/3.1+portforward.k8s.io";

/// A negotiated remote command subprotocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelProtocol {
    /// Wire name; empty when the client named none.
    pub name: &'static str,
    /// 5 (kube-apiserver's stream translator), 4 or 1 (kubelet's older ones).
    pub version: u8,
    /// Text messages: `'0' + channel` then base64 data.
    pub base64: bool,
}

/// What the server speaks, best first.
const PROTOCOLS: &[ChannelProtocol] = &[
    ChannelProtocol {
        name: "v5.channel.k8s.io",
        version: 5,
        base64: false,
    },
    ChannelProtocol {
        name: "v4.channel.k8s.io",
        version: 4,
        base64: false,
    },
    ChannelProtocol {
        name: "v4.base64.channel.k8s.io",
        version: 4,
        base64: true,
    },
    ChannelProtocol {
        name: "channel.k8s.io",
        version: 1,
        base64: false,
    },
    ChannelProtocol {
        name: "base64.channel.k8s.io",
        version: 1,
        base64: true,
    },
];

/// Picks the first protocol the client lists that the server speaks, like
/// wsstream's handshake; a client naming none gets `channel.k8s.io`
/// semantics without a protocol header.
pub fn negotiate<'a>(
    requested: impl IntoIterator<Item = &'a str>,
) -> Result<ChannelProtocol, String> {
    let requested: Vec<&str> = requested.into_iter().map(str::trim).collect();
    if requested.is_empty() {
        return Ok(ChannelProtocol {
            name: "",
            version: 1,
            base64: false,
        });
    }
    requested
        .iter()
        .find_map(|r| PROTOCOLS.iter().find(|p| p.name == *r).copied())
        .ok_or_else(|| {
            let supported: Vec<&str> = PROTOCOLS.iter().map(|p| p.name).collect();
            format!(
                "requested protocol(s) are not supported: [{}]; supports [{}]",
                requested.join(" "),
                supported.join(" ")
            )
        })
}

/// A frame for `channel` carrying `data`.
pub fn encode(protocol: ChannelProtocol, channel: u8, data: &[u8]) -> Message {
    if protocol.base64 {
        let mut text = String::with_capacity(1 + data.len() * 4 / 3 + 4);
        text.push(char::from(b'0' + channel));
        base64::engine::general_purpose::STANDARD.encode_string(data, &mut text);
        Message::Text(text.into())
    } else {
        let mut frame = Vec::with_capacity(1 + data.len());
        frame.push(channel);
        frame.extend_from_slice(data);
        Message::Binary(frame.into())
    }
}

/// What a client frame means.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientFrame {
    Data(u8, Bytes),
    /// v5 half-close of a channel.
    Close(u8),
    /// Nothing for the session (empty, control, or malformed-but-harmless).
    Ignore,
    /// The client is gone or broke the protocol.
    End,
}

pub fn decode(protocol: ChannelProtocol, msg: Message) -> ClientFrame {
    match msg {
        Message::Binary(b) if !protocol.base64 => {
            if b.is_empty() {
                return ClientFrame::Ignore;
            }
            if protocol.version >= 5 && b[0] == CLOSE {
                return match b.len() {
                    2 => ClientFrame::Close(b[1]),
                    _ => ClientFrame::End,
                };
            }
            ClientFrame::Data(b[0], b.slice(1..))
        }
        Message::Text(t) if protocol.base64 => {
            let bytes = t.as_bytes();
            let Some((&first, rest)) = bytes.split_first() else {
                return ClientFrame::Ignore;
            };
            match base64::engine::general_purpose::STANDARD.decode(rest) {
                Ok(data) => ClientFrame::Data(first.wrapping_sub(b'0'), data.into()),
                Err(_) => ClientFrame::Ignore,
            }
        }
        Message::Close(_) => ClientFrame::End,
        Message::Ping(_) | Message::Pong(_) => ClientFrame::Ignore,
        // A text frame on a binary protocol (or the reverse) breaks it.
        Message::Binary(_) | Message::Text(_) => ClientFrame::End,
    }
}

/// The normal-closure frame that lets client-go's readers see a clean EOF.
pub fn normal_close() -> Message {
    Message::Close(Some(CloseFrame {
        code: axum::extract::ws::close_code::NORMAL,
        reason: "".into(),
    }))
}

/// Turns a WebSocket whose binary messages carry a byte stream (client-go's
/// TunnelingConnection) into that byte stream. The WebSocket closes
/// normally when the returned end is dropped or shut down.
pub fn byte_stream(socket: WebSocket) -> DuplexStream {
    let (ours, theirs) = tokio::io::duplex(256 * 1024);
    let (mut pipe_read, mut pipe_write) = tokio::io::split(theirs);
    let (mut sink, mut stream) = socket.split();
    tokio::spawn(async move {
        let inbound = async move {
            while let Some(Ok(msg)) = stream.next().await {
                match msg {
                    Message::Binary(b) => {
                        if pipe_write.write_all(&b).await.is_err() {
                            break;
                        }
                    }
                    Message::Close(_) | Message::Text(_) => break,
                    Message::Ping(_) | Message::Pong(_) => {}
                }
            }
            let _ = pipe_write.shutdown().await;
        };
        let outbound = async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match pipe_read.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let msg = Message::Binary(Bytes::copy_from_slice(&buf[..n]));
                        if sink.send(msg).await.is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = sink.send(normal_close()).await;
        };
        // The tunnel lives until our side is done writing; the client's
        // closing alone does not cut what we still have to send.
        let inbound = tokio::spawn(inbound);
        outbound.await;
        inbound.abort();
    });
    ours
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proto(name: &str) -> ChannelProtocol {
        negotiate([name]).unwrap()
    }

    #[test]
    fn negotiation_prefers_the_clients_order() {
        assert_eq!(proto("v5.channel.k8s.io").version, 5);
        assert_eq!(
            negotiate(["v4.channel.k8s.io", "v5.channel.k8s.io"])
                .unwrap()
                .name,
            "v4.channel.k8s.io"
        );
        assert!(negotiate(["x", "v4.base64.channel.k8s.io"]).unwrap().base64);
        let none = negotiate(std::iter::empty()).unwrap();
        assert_eq!((none.name, none.version), ("", 1));
        assert_eq!(
            negotiate(["v9.channel.k8s.io"]).unwrap_err(),
            "requested protocol(s) are not supported: [v9.channel.k8s.io]; supports [v5.channel.k8s.io v4.channel.k8s.io v4.base64.channel.k8s.io channel.k8s.io base64.channel.k8s.io]"
        );
    }

    #[test]
    fn binary_frames_lead_with_the_channel_byte() {
        let v5 = proto("v5.channel.k8s.io");
        assert_eq!(
            encode(v5, STDOUT, b"hi"),
            Message::Binary(Bytes::from_static(&[1, b'h', b'i']))
        );
        assert_eq!(
            encode(v5, ERROR, b""),
            Message::Binary(Bytes::from_static(&[3]))
        );
        assert_eq!(
            decode(v5, Message::Binary(Bytes::from_static(&[0, b'l', b's']))),
            ClientFrame::Data(STDIN, Bytes::from_static(b"ls"))
        );
        assert_eq!(
            decode(v5, Message::Binary(Bytes::from_static(&[255, 0]))),
            ClientFrame::Close(STDIN)
        );
        assert_eq!(
            decode(v5, Message::Binary(Bytes::from_static(&[255, 0, 1]))),
            ClientFrame::End
        );
        assert_eq!(
            decode(v5, Message::Binary(Bytes::new())),
            ClientFrame::Ignore
        );
        assert_eq!(decode(v5, Message::Text("0x".into())), ClientFrame::End);
    }

    #[test]
    fn v4_has_no_close_signal() {
        let v4 = proto("v4.channel.k8s.io");
        assert_eq!(
            decode(v4, Message::Binary(Bytes::from_static(&[255, 0]))),
            ClientFrame::Data(255, Bytes::from_static(&[0]))
        );
    }

    #[test]
    fn base64_frames_are_text() {
        let b64 = proto("v4.base64.channel.k8s.io");
        assert_eq!(encode(b64, STDERR, b"hi"), Message::Text("2aGk=".into()));
        assert_eq!(
            decode(b64, Message::Text("0aGk=".into())),
            ClientFrame::Data(STDIN, Bytes::from_static(b"hi"))
        );
    }
}
