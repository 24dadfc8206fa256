//! The CRI log writer: turns a container's stdout/stderr byte streams
//! into `<timestamp> <stream> <F|P> <text>\n` lines, as containerd does.
//!
//! Lines end at `\n` (a `\r` right before it is dropped, like containerd);
//! a line longer than [`MAX_LINE`] is cut into `P` (partial) records of
//! exactly `MAX_LINE` bytes followed by the rest; text still pending when
//! the stream ends is written as `P` because it had no newline.

use chrono::{DateTime, Timelike, Utc};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// containerd's default `max_container_log_line_size`.
pub const MAX_LINE: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    Full,
    Partial,
}

impl Tag {
    pub fn as_str(self) -> &'static str {
        match self {
            Tag::Full => "F",
            Tag::Partial => "P",
        }
    }
}

/// Go's `time.RFC3339Nano` for a UTC time: nanoseconds with trailing
/// zeros trimmed (no fraction at all when they are zero), then `Z`.
pub fn format_timestamp(t: DateTime<Utc>) -> String {
    let mut s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.nanosecond() % 1_000_000_000;
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// One CRI log record, newline included.
pub fn format_line(ts: DateTime<Utc>, stream: Stream, tag: Tag, text: &[u8]) -> Vec<u8> {
    let head = format!(
        "{} {} {} ",
        format_timestamp(ts),
        stream.as_str(),
        tag.as_str()
    );
    let mut out = Vec::with_capacity(head.len() + text.len() + 1);
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(text);
    out.push(b'\n');
    out
}

/// Splits one stream's bytes into log records, keeping the unfinished
/// line between calls.
#[derive(Debug)]
pub struct LineSplitter {
    pending: Vec<u8>,
    max: usize,
}

impl Default for LineSplitter {
    fn default() -> Self {
        LineSplitter::new(MAX_LINE)
    }
}

impl LineSplitter {
    pub fn new(max: usize) -> LineSplitter {
        LineSplitter {
            pending: Vec::new(),
            max: max.max(1),
        }
    }

    /// The records completed by `data`.
    pub fn push(&mut self, data: &[u8]) -> Vec<(Tag, Vec<u8>)> {
        let mut out = Vec::new();
        let mut rest = data;
        while !rest.is_empty() {
            let (segment, newline) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (&rest[..i], true),
                None => (rest, false),
            };
            self.append(segment, &mut out);
            rest = &rest[segment.len()..];
            if newline {
                rest = &rest[1..];
                let mut line = std::mem::take(&mut self.pending);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                out.push((Tag::Full, line));
            }
        }
        out
    }

    /// Pending text at the end of the stream, written as a partial line.
    pub fn finish(&mut self) -> Option<(Tag, Vec<u8>)> {
        if self.pending.is_empty() {
            None
        } else {
            Some((Tag::Partial, std::mem::take(&mut self.pending)))
        }
    }

    // A chunk is cut only once the line grows past `max`, so the last
    // byte seen always stays pending: a `\r` of a `\r\n` split across
    // reads is never written on its own.
    fn append(&mut self, segment: &[u8], out: &mut Vec<(Tag, Vec<u8>)>) {
        self.pending.extend_from_slice(segment);
        while self.pending.len() > self.max {
            let rest = self.pending.split_off(self.max);
            out.push((Tag::Partial, std::mem::replace(&mut self.pending, rest)));
        }
    }
}

/// Writes both streams of a container into one CRI log file.
pub struct CriLogWriter<W: Write> {
    out: W,
    stdout: LineSplitter,
    stderr: LineSplitter,
}

impl<W: Write> CriLogWriter<W> {
    pub fn new(out: W) -> CriLogWriter<W> {
        CriLogWriter {
            out,
            stdout: LineSplitter::default(),
            stderr: LineSplitter::default(),
        }
    }

    pub fn write(&mut self, stream: Stream, data: &[u8]) -> io::Result<()> {
        self.write_at(stream, data, Utc::now())
    }

    pub fn write_at(&mut self, stream: Stream, data: &[u8], now: DateTime<Utc>) -> io::Result<()> {
        let records = self.splitter(stream).push(data);
        for (tag, text) in records {
            // One write per record: readers following the file never see
            // half of a record from this writer.
            self.out.write_all(&format_line(now, stream, tag, &text))?;
        }
        Ok(())
    }

    /// Writes what is left of `stream` once it has ended.
    pub fn finish_stream(&mut self, stream: Stream) -> io::Result<()> {
        if let Some((tag, text)) = self.splitter(stream).finish() {
            self.out
                .write_all(&format_line(Utc::now(), stream, tag, &text))?;
        }
        self.out.flush()
    }

    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Swaps the output (after log rotation) keeping pending lines.
    pub fn replace_output(&mut self, out: W) -> W {
        std::mem::replace(&mut self.out, out)
    }

    fn splitter(&mut self, stream: Stream) -> &mut LineSplitter {
        match stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        }
    }
}

/// Opens (creating it and its directory) a container log file for appending.
pub fn open_log_file(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(nanos: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()
            + chrono::Duration::nanoseconds(nanos as i64)
    }

    #[test]
    fn timestamps_trim_zeros_like_go() {
        assert_eq!(
            format_timestamp(at(123_456_789)),
            "2026-11-23T10:00:00.123456789Z"
        );
        assert_eq!(format_timestamp(at(120_000_000)), "2026-11-23T10:00:00.12Z");
        assert_eq!(format_timestamp(at(0)), "2026-11-23T10:00:00Z");
        assert_eq!(format_timestamp(at(1)), "2026-11-23T10:00:00.000000001Z");
    }

    #[test]
    fn formats_a_record() {
        assert_eq!(
            format_line(at(123_456_789), Stream::Stderr, Tag::Full, b"oops"),
            b"2026-11-23T10:00:00.123456789Z stderr F oops\n"
        );
        assert_eq!(
            format_line(at(5), Stream::Stdout, Tag::Partial, b""),
            b"2026-11-23T10:00:00.000000005Z stdout P \n"
        );
    }

    fn records(s: &mut LineSplitter, data: &[u8]) -> Vec<(Tag, String)> {
        s.push(data)
            .into_iter()
            .map(|(t, b)| (t, String::from_utf8(b).unwrap()))
            .collect()
    }

    #[test]
    fn splits_lines_and_keeps_the_unfinished_one() {
        let mut s = LineSplitter::new(16);
        assert_eq!(
            records(&mut s, b"one\ntwo\r\n\nthr"),
            vec![
                (Tag::Full, "one".into()),
                (Tag::Full, "two".into()),
                (Tag::Full, "".into())
            ]
        );
        assert_eq!(records(&mut s, b"ee"), vec![]);
        assert_eq!(records(&mut s, b"\n"), vec![(Tag::Full, "three".into())]);
        assert_eq!(s.finish(), None);
        assert_eq!(records(&mut s, b"tail"), vec![]);
        assert_eq!(s.finish(), Some((Tag::Partial, b"tail".to_vec())));
    }

    #[test]
    fn long_lines_become_partial_chunks_of_max_bytes() {
        let mut s = LineSplitter::new(4);
        // Exactly max bytes stays pending until more arrives.
        assert_eq!(records(&mut s, b"abcd"), vec![]);
        assert_eq!(
            records(&mut s, b"efghij\n"),
            vec![
                (Tag::Partial, "abcd".into()),
                (Tag::Partial, "efgh".into()),
                (Tag::Full, "ij".into())
            ]
        );
        assert_eq!(records(&mut s, b"wxyz\n"), vec![(Tag::Full, "wxyz".into())]);
    }

    #[test]
    fn carriage_return_split_from_its_newline_is_still_dropped() {
        let mut s = LineSplitter::new(4);
        assert_eq!(
            records(&mut s, b"abcd\r"),
            vec![(Tag::Partial, "abcd".into())]
        );
        assert_eq!(records(&mut s, b"\n"), vec![(Tag::Full, "".into())]);
        // A lone \r inside a line is content.
        assert_eq!(records(&mut s, b"a\rb\n"), vec![(Tag::Full, "a\rb".into())]);
    }

    #[test]
    fn default_limit_is_16k() {
        let mut s = LineSplitter::default();
        let mut line = vec![b'x'; MAX_LINE * 2 + 10];
        line.push(b'\n');
        let out = s.push(&line);
        let shape: Vec<_> = out.iter().map(|(t, b)| (*t, b.len())).collect();
        assert_eq!(
            shape,
            vec![
                (Tag::Partial, MAX_LINE),
                (Tag::Partial, MAX_LINE),
                (Tag::Full, 10)
            ]
        );
    }

    #[test]
    fn writer_interleaves_streams_by_arrival() {
        let mut w = CriLogWriter::new(Vec::new());
        let t = at(1_000);
        w.write_at(Stream::Stdout, b"out1\nout", t).unwrap();
        w.write_at(Stream::Stderr, b"err1\n", t).unwrap();
        w.write_at(Stream::Stdout, b"2\n", t).unwrap();
        w.write_at(Stream::Stderr, b"cut", t).unwrap();
        w.finish_stream(Stream::Stdout).unwrap();
        let text = String::from_utf8(w.get_ref().clone()).unwrap();
        assert_eq!(
            text,
            "2026-11-23T10:00:00.000001Z stdout F out1\n\
             2026-11-23T10:00:00.000001Z stderr F err1\n\
             2026-11-23T10:00:00.000001Z stdout F out2\n"
        );
        w.finish_stream(Stream::Stderr).unwrap();
        let text = String::from_utf8(w.get_ref().clone()).unwrap();
        assert!(text.ends_with(" stderr P cut\n"), "{text}");
    }

    #[test]
    fn open_log_file_creates_directories_and_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ns_pod_uid/c/0.log");
        open_log_file(&path).unwrap().write_all(b"a\n").unwrap();
        open_log_file(&path).unwrap().write_all(b"b\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "a\nb\n");
    }
}
