//! SPDY/3 name/value header blocks (§2.6.10): a count, then
//! length-prefixed lower-case names and NUL-joined values, compressed with
//! one zlib stream per direction for the whole connection, primed with the
//! SPDY/3 dictionary and flushed with Z_SYNC_FLUSH after every block.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::sync::LazyLock;

/// The SPDY/3 zlib dictionary (§2.6.10.1): header names each written as a
/// 4-byte big-endian length and the name, then common values run together.
pub static DICTIONARY: LazyLock<Vec<u8>> = LazyLock::new(|| {
    const NAMES: &[&str] = &[
        "options",
        "head",
        "post",
        "put",
        "delete",
        "trace",
        "accept",
        "accept-charset",
        "accept-encoding",
        "accept-language",
        "accept-ranges",
        "age",
        "allow",
        "authorization",
        "cache-control",
        "connection",
        "content-base",
        "content-encoding",
        "content-language",
        "content-length",
        "content-location",
        "content-md5",
        "content-range",
        "content-type",
        "date",
        "etag",
        "expect",
        "expires",
        "from",
        "host",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-range",
        "if-unmodified-since",
        "last-modified",
        "location",
        "max-forwards",
        "pragma",
        "proxy-authenticate",
        "proxy-authorization",
        "range",
        "referer",
        "retry-after",
        "server",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "vary",
        "via",
        "warning",
        "www-authenticate",
        "method",
        "get",
        "status",
        "200 OK",
        "version",
        "HTTP/1.1",
        "url",
        "public",
        "set-cookie",
        "keep-alive",
        "origin",
    ];
    const TAIL: &str = concat!(
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417",
        "502504505203 Non-Authoritative Information204 No Content301 Moved Permanently",
        "400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error",
        "501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct ",
        "Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,",
        "image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,",
        "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8",
        "charset=iso-8859-1,utf-,*,enq=0.",
    );
    let mut d = Vec::with_capacity(1423);
    for name in NAMES {
        d.extend_from_slice(&(name.len() as u32).to_be_bytes());
        d.extend_from_slice(name.as_bytes());
    }
    d.extend_from_slice(TAIL.as_bytes());
    d
});

/// Decoded headers in wire order; a multi-valued header appears once per value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderBlock(pub Vec<(String, String)>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("truncated header block")]
    Truncated,
    #[error("header block is not UTF-8")]
    NotUtf8,
    #[error("header compression failed: {0}")]
    Zlib(String),
}

impl HeaderBlock {
    /// The first value of `name` (names are lower case on the wire).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The uncompressed wire form: values of a repeated name joined by NUL.
    pub fn encode(&self) -> Vec<u8> {
        let mut names: Vec<String> = Vec::new();
        let mut values: Vec<Vec<&str>> = Vec::new();
        for (k, v) in &self.0 {
            let k = k.to_ascii_lowercase();
            match names.iter().position(|n| *n == k) {
                Some(i) => values[i].push(v),
                None => {
                    names.push(k);
                    values.push(vec![v]);
                }
            }
        }
        let mut out = (names.len() as u32).to_be_bytes().to_vec();
        for (name, vals) in names.iter().zip(values) {
            let joined = vals.join("\0");
            out.extend_from_slice(&(name.len() as u32).to_be_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&(joined.len() as u32).to_be_bytes());
            out.extend_from_slice(joined.as_bytes());
        }
        out
    }

    pub fn decode(mut raw: &[u8]) -> Result<HeaderBlock, HeaderError> {
        fn take<'a>(raw: &mut &'a [u8], n: usize) -> Result<&'a [u8], HeaderError> {
            if raw.len() < n {
                return Err(HeaderError::Truncated);
            }
            let (head, rest) = raw.split_at(n);
            *raw = rest;
            Ok(head)
        }
        fn length(raw: &mut &[u8]) -> Result<usize, HeaderError> {
            let b = take(raw, 4)?;
            Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        }
        fn text(b: &[u8]) -> Result<String, HeaderError> {
            String::from_utf8(b.to_vec()).map_err(|_| HeaderError::NotUtf8)
        }
        let count = length(&mut raw)?;
        let mut headers = Vec::new();
        for _ in 0..count {
            let n = length(&mut raw)?;
            let name = text(take(&mut raw, n)?)?.to_ascii_lowercase();
            let n = length(&mut raw)?;
            let value = text(take(&mut raw, n)?)?;
            for v in value.split('\0') {
                headers.push((name.clone(), v.to_string()));
            }
        }
        Ok(HeaderBlock(headers))
    }
}

/// The sending side's zlib stream.
pub struct HeaderCompressor(Compress);

impl HeaderCompressor {
    pub fn new() -> Result<Self, HeaderError> {
        let mut c = Compress::new(Compression::best(), true);
        c.set_dictionary(&DICTIONARY)
            .map_err(|e| HeaderError::Zlib(e.to_string()))?;
        Ok(HeaderCompressor(c))
    }

    /// Compresses one block and sync-flushes so the peer can decode it alone.
    pub fn compress(&mut self, block: &HeaderBlock) -> Result<Vec<u8>, HeaderError> {
        let input = block.encode();
        let mut out = Vec::with_capacity(input.len() + 64);
        let start_in = self.0.total_in();
        loop {
            let consumed = (self.0.total_in() - start_in) as usize;
            if out.capacity() - out.len() < 64 {
                out.reserve(256);
            }
            self.0
                .compress_vec(&input[consumed..], &mut out, FlushCompress::Sync)
                .map_err(|e| HeaderError::Zlib(e.to_string()))?;
            let consumed = (self.0.total_in() - start_in) as usize;
            // Done when all input is in and zlib left room: the flush is complete.
            if consumed == input.len() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }
}

/// The receiving side's zlib stream.
pub struct HeaderDecompressor(Decompress);

impl Default for HeaderDecompressor {
    fn default() -> Self {
        HeaderDecompressor(Decompress::new(true))
    }
}

impl HeaderDecompressor {
    /// Inflates one frame's compressed block and parses it.
    pub fn decompress(&mut self, compressed: &[u8]) -> Result<HeaderBlock, HeaderError> {
        let mut out = Vec::with_capacity(compressed.len() * 4 + 64);
        let start_in = self.0.total_in();
        loop {
            let consumed = (self.0.total_in() - start_in) as usize;
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(256));
            }
            match self
                .0
                .decompress_vec(&compressed[consumed..], &mut out, FlushDecompress::Sync)
            {
                Ok(Status::StreamEnd) => break,
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.0
                        .set_dictionary(&DICTIONARY)
                        .map_err(|e| HeaderError::Zlib(e.to_string()))?;
                }
                Err(e) => return Err(HeaderError::Zlib(e.to_string())),
            }
            let consumed = (self.0.total_in() - start_in) as usize;
            if consumed == compressed.len() && out.len() < out.capacity() {
                break;
            }
        }
        HeaderBlock::decode(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(pairs: &[(&str, &str)]) -> HeaderBlock {
        HeaderBlock(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn dictionary_is_the_spdy3_one() {
        assert_eq!(DICTIONARY.len(), 1423);
        // The dictionary id every SPDY/3 zlib stream announces (Adler-32).
        let (mut a, mut b) = (1u32, 0u32);
        for &byte in DICTIONARY.iter() {
            a = (a + u32::from(byte)) % 65521;
            b = (b + a) % 65521;
        }
        assert_eq!((b << 16) | a, 0xe3c6_a7c2);
    }

    #[test]
    fn block_wire_form_is_golden() {
        let b = block(&[
            ("streamtype", "error"),
            ("port", "8080"),
            ("requestid", "0"),
        ]);
        assert_eq!(
            b.encode(),
            unhex("000000030000000a73747265616d74797065000000056572726f7200000004706f72740000000438303830000000097265717565737469640000000130")
        );
        assert_eq!(HeaderBlock::decode(&b.encode()).unwrap(), b);
    }

    #[test]
    fn repeated_names_join_with_nul() {
        let b = block(&[("X-Multi", "a"), ("x-multi", "b")]);
        let raw = b.encode();
        assert!(raw.windows(3).any(|w| w == b"a\0b"));
        assert_eq!(
            HeaderBlock::decode(&raw).unwrap(),
            block(&[("x-multi", "a"), ("x-multi", "b")])
        );
        assert_eq!(
            HeaderBlock::decode(&raw[..raw.len() - 1]),
            Err(HeaderError::Truncated)
        );
    }

    #[test]
    fn decodes_blocks_compressed_by_reference_zlib() {
        // Two consecutive blocks of one connection, made by C zlib (level 9,
        // SPDY/3 dictionary, Z_SYNC_FLUSH), as Go's spdy framer sends them.
        let first = unhex("78f9e3c6a7c202253a703a2b294a4dcc851625aca9a0808614cb45e01c6061606100a4398b20d198094ade8c0600000000ffff");
        let second = unhex("c2aa19540e2512d60b000000ffff");
        let mut d = HeaderDecompressor::default();
        assert_eq!(
            d.decompress(&first).unwrap(),
            block(&[
                ("streamtype", "error"),
                ("port", "8080"),
                ("requestid", "0")
            ])
        );
        assert_eq!(
            d.decompress(&second).unwrap(),
            block(&[("streamtype", "data"), ("port", "8080"), ("requestid", "0")])
        );
    }

    #[test]
    fn compressed_blocks_announce_the_dictionary_and_round_trip() {
        let mut c = HeaderCompressor::new().unwrap();
        let mut d = HeaderDecompressor::default();
        let first = c.compress(&HeaderBlock::default()).unwrap();
        // zlib header for level 9 with FDICT, then the dictionary id.
        assert_eq!(&first[..6], &[0x78, 0xf9, 0xe3, 0xc6, 0xa7, 0xc2]);
        assert_eq!(&first[first.len() - 4..], &[0, 0, 0xff, 0xff]);
        assert_eq!(d.decompress(&first).unwrap(), HeaderBlock::default());
        for i in 0..50 {
            let b = block(&[("streamtype", "data"), ("requestid", &i.to_string())]);
            let z = c.compress(&b).unwrap();
            assert_eq!(d.decompress(&z).unwrap(), b);
        }
        let big = block(&[("x", &"v".repeat(100_000))]);
        let z = c.compress(&big).unwrap();
        assert_eq!(d.decompress(&z).unwrap(), big);
    }

    #[test]
    fn garbage_is_an_error() {
        let mut d = HeaderDecompressor::default();
        assert!(d.decompress(b"not zlib at all").is_err());
    }
}
