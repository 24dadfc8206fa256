//! SPDY/3.1, the multiplexing protocol of Kubernetes' older streaming
//! API (and of port-forward, tunneled in WebSocket since kubectl v1.31):
//! frame codec, header blocks compressed with the SPDY/3 zlib dictionary,
//! and a server-side connection.

pub mod frame;
pub mod headers;
pub mod session;

pub use frame::{Frame, FrameError};
pub use headers::{HeaderBlock, HeaderCompressor, HeaderDecompressor};
pub use session::{Connection, IncomingStream, StreamWriter};
