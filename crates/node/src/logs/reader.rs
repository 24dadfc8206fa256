//! Reads a container's CRI log file the way the kubelet's `ReadLogs`
//! (pkg/kubelet/kuberuntime/logs) serves `kubectl logs`: tail, since,
//! timestamps and limitBytes, both streams interleaved in file order, and
//! `--follow` across file growth until the container has exited.
//!
//! The decisions are pure (`parse_cri_line`, `tail_start_offset`,
//! `LogFormatter`); `read_log` is the thin async layer over the file and
//! inotify.

use std::fs::File;
use std::future::Future;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::pin::Pin;

use bytes::Bytes;
use chrono::{DateTime, FixedOffset, Utc};
use futures::stream::{self, StreamExt};
use inotify::{EventStream, Inotify, WatchMask};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::writer::Stream;

/// The kubelet's `LogOptions` (built from `v1.PodLogOptions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogReadOptions {
    /// Last N lines of the file; `None` or negative means all.
    pub tail_lines: Option<i64>,
    /// Lines stamped strictly before this are skipped.
    pub since: Option<DateTime<Utc>>,
    /// Prefix each line with its RFC3339Nano (fixed width) time and a space.
    pub timestamps: bool,
    /// Stop after this many bytes of output; `None` or negative means no limit.
    pub limit_bytes: Option<i64>,
}

/// `sinceSeconds`/`sinceTime` as the kubelet's NewLogOptions combines them:
/// the later of `now - sinceSeconds` and `sinceTime`.
pub fn since_from(
    since_seconds: Option<i64>,
    since_time: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let from_seconds = since_seconds.map(|s| now - chrono::Duration::seconds(s));
    match (from_seconds, since_time) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// One parsed CRI log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CriLine<'a> {
    pub timestamp: DateTime<FixedOffset>,
    pub stream: Stream,
    /// The `P` tag: a chunk of a longer line, its newline trimmed.
    pub partial: bool,
    /// Content as written, including the line's `\n` for `F` lines.
    pub content: &'a [u8],
}

/// Parses `<RFC3339Nano> <stdout|stderr> <P|F>[:more tags] <content>`,
/// with the kubelet's error texts.
pub fn parse_cri_line(line: &[u8]) -> Result<CriLine<'_>, String> {
    let (ts, rest) = split_space(line).ok_or("timestamp is not found")?;
    let timestamp = parse_timestamp(ts).ok_or_else(|| {
        format!(
            "unexpected timestamp format \"2006-01-02T15:04:05.999999999Z07:00\": cannot parse {}",
            go_quote_bytes(ts)
        )
    })?;
    let (stream, rest) = split_space(rest).ok_or("stream type is not found")?;
    let stream = match stream {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        other => return Err(format!("unexpected stream type {}", go_quote_bytes(other))),
    };
    let (tags, mut content) = split_space(rest).ok_or("log tag is not found")?;
    // Tags are `:`-separated for forward compatibility; the first decides.
    let partial = tags.split(|b| *b == b':').next() == Some(b"P");
    if partial {
        if let Some(stripped) = content.strip_suffix(b"\n") {
            content = stripped;
        }
    }
    Ok(CriLine {
        timestamp,
        stream,
        partial,
        content,
    })
}

fn split_space(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = b.iter().position(|c| *c == b' ')?;
    Some((&b[..i], &b[i + 1..]))
}

/// Go's RFC3339NanoLenient: `T` separator, optional fraction, `Z` or ±hh:mm.
fn parse_timestamp(b: &[u8]) -> Option<DateTime<FixedOffset>> {
    if b.get(10) != Some(&b'T') {
        return None;
    }
    let s = std::str::from_utf8(b).ok()?;
    if s.ends_with('z') {
        return None;
    }
    DateTime::parse_from_rfc3339(s).ok()
}

/// Go's RFC3339NanoFixed: always nine fraction digits, `Z` for UTC.
pub fn format_timestamp(t: &DateTime<FixedOffset>) -> String {
    let base = t.format("%Y-%m-%dT%H:%M:%S%.9f");
    if t.offset().local_minus_utc() == 0 {
        format!("{base}Z")
    } else {
        format!("{base}{}", t.format("%:z"))
    }
}

/// Go's `%q` of a byte slice (enough for messages).
fn go_quote_bytes(b: &[u8]) -> String {
    let mut out = String::from("\"");
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    out.push_str(&format!("\\x{:02x}", c as u32))
                }
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out.push('"');
    out
}

const TAIL_BLOCK: u64 = 1024;

/// The kubelet's FindTailLineStartIndex: the offset where the last `n`
/// newline-terminated lines start (an unterminated last line is not
/// counted); 0 for the whole file when `n` is negative or exceeds it.
pub fn tail_start_offset<R: Read + Seek>(f: &mut R, n: i64) -> io::Result<u64> {
    if n < 0 {
        return Ok(0);
    }
    let size = f.seek(SeekFrom::End(0))?;
    let mut count: i64 = 0;
    let mut right = size;
    let mut left = size;
    let mut block = Vec::new();
    while right > 0 && count <= n {
        left = right.saturating_sub(TAIL_BLOCK);
        block.resize((right - left) as usize, 0);
        f.seek(SeekFrom::Start(left))?;
        f.read_exact(&mut block)?;
        count += block.iter().filter(|b| **b == b'\n').count() as i64;
        right = left;
    }
    // The surplus newlines all lie in the last block read.
    let mut start = left;
    let mut rest = &block[..];
    while count > n {
        let Some(i) = rest.iter().position(|b| *b == b'\n') else {
            break;
        };
        start += (i + 1) as u64;
        rest = &rest[i + 1..];
        count -= 1;
    }
    Ok(start)
}

/// What to do after one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// limitBytes or the tail count reached: the response ends here.
    Done,
}

/// The kubelet's per-line decisions (logWriter plus ReadLogs' loop state).
#[derive(Debug, Clone)]
pub struct LogFormatter {
    since: Option<DateTime<Utc>>,
    timestamps: bool,
    remaining_bytes: i64,
    /// Lines still allowed in tail mode without follow.
    lines_left: Option<i64>,
    /// The next chunk starts a logical line (so it gets a timestamp).
    at_line_start: bool,
    format_checked: bool,
}

impl LogFormatter {
    pub fn new(opts: &LogReadOptions, follow: bool) -> LogFormatter {
        let tail = opts.tail_lines.filter(|n| *n >= 0);
        LogFormatter {
            since: opts.since,
            timestamps: opts.timestamps,
            remaining_bytes: opts.limit_bytes.filter(|b| *b >= 0).unwrap_or(i64::MAX),
            lines_left: if follow { None } else { tail },
            at_line_start: true,
            format_checked: false,
        }
    }

    /// True when nothing more may be written (checked before each read).
    pub fn finished(&self) -> bool {
        self.lines_left == Some(0)
    }

    /// Handles one file line (with its `\n`, or without for a final
    /// incomplete line), appending output to `out`. A malformed first
    /// line is an error, as the kubelet cannot pick a parser for it;
    /// later malformed lines are skipped.
    pub fn feed(&mut self, line: &[u8], out: &mut Vec<u8>) -> io::Result<Flow> {
        let parsed = parse_cri_line(line);
        if !self.format_checked {
            self.format_checked = true;
            if parsed.is_err() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "failed to get parse function: unsupported log format: {}",
                        go_quote_bytes(line)
                    ),
                ));
            }
        }
        let Ok(msg) = parsed else {
            tracing::debug!(line = %String::from_utf8_lossy(line), "skipping malformed log line");
            return Ok(Flow::Continue);
        };
        if self.write(&msg, out) == Flow::Done {
            return Ok(Flow::Done);
        }
        if let Some(left) = self.lines_left.as_mut() {
            *left -= 1;
        }
        self.at_line_start = msg.content.last().is_none_or(|b| *b == b'\n');
        Ok(Flow::Continue)
    }

    fn write(&mut self, msg: &CriLine<'_>, out: &mut Vec<u8>) -> Flow {
        if self.since.is_some_and(|since| msg.timestamp < since) {
            return Flow::Continue;
        }
        let mut line = Vec::with_capacity(msg.content.len() + 32);
        if self.timestamps && self.at_line_start {
            line.extend_from_slice(format_timestamp(&msg.timestamp).as_bytes());
            line.push(b' ');
        }
        line.extend_from_slice(msg.content);
        let take = line.len().min(self.remaining_bytes as usize);
        out.extend_from_slice(&line[..take]);
        self.remaining_bytes -= take as i64;
        if self.remaining_bytes <= 0 {
            Flow::Done
        } else {
            Flow::Continue
        }
    }
}

/// Formats a whole log text at once (no follow): the reference behaviour
/// `read_log` streams.
pub fn format_log(text: &[u8], opts: &LogReadOptions) -> io::Result<Vec<u8>> {
    let mut cursor = io::Cursor::new(text);
    let start = tail_start_offset(&mut cursor, opts.tail_lines.unwrap_or(-1))? as usize;
    let mut fmt = LogFormatter::new(opts, false);
    let mut out = Vec::new();
    for line in text[start..].split_inclusive(|b| *b == b'\n') {
        if fmt.finished() || fmt.feed(line, &mut out)? == Flow::Done {
            break;
        }
    }
    Ok(out)
}

/// Output is handed out in chunks of about this size.
const CHUNK: usize = 32 * 1024;

/// Streams the log at `path` per `opts`. With `follow`, keeps reading as
/// the file grows (woken by inotify) until `follow` completes (the
/// container exited), then drains what is left and ends.
pub fn read_log<F>(
    path: impl AsRef<Path>,
    opts: LogReadOptions,
    follow: Option<F>,
) -> impl futures::Stream<Item = io::Result<Bytes>> + Send
where
    F: Future<Output = ()> + Send + 'static,
{
    let path = path.as_ref().to_path_buf();
    let following = follow.is_some();
    let state = ReadState {
        path,
        formatter: LogFormatter::new(&opts, following),
        tail: opts.tail_lines.unwrap_or(-1),
        reader: None,
        follow: follow.map(|f| Box::pin(f) as Pin<Box<dyn Future<Output = ()> + Send>>),
        exited: false,
        watcher: None,
        pending: Vec::new(),
        done: false,
    };
    stream::unfold(state, |mut state| async move {
        if state.done {
            return None;
        }
        match state.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), state)),
            Ok(None) => None,
            Err(e) => {
                state.done = true;
                Some((Err(e), state))
            }
        }
    })
    .fuse()
}

struct ReadState {
    path: PathBuf,
    formatter: LogFormatter,
    tail: i64,
    reader: Option<BufReader<tokio::fs::File>>,
    follow: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    /// The follow future completed: drain to EOF once more, then end.
    exited: bool,
    watcher: Option<EventStream<Vec<u8>>>,
    /// An incomplete last line, kept until its newline arrives.
    pending: Vec<u8>,
    done: bool,
}

impl ReadState {
    /// The next non-empty output chunk, or None at the end.
    async fn next_chunk(&mut self) -> io::Result<Option<Bytes>> {
        if self.reader.is_none() {
            self.reader = Some(open_at_tail(self.path.clone(), self.tail).await?);
        }
        let mut out = Vec::new();
        loop {
            if self.formatter.finished() {
                self.done = true;
                return Ok(non_empty(out));
            }
            let reader = self
                .reader
                .as_mut()
                .ok_or_else(|| io::Error::other("log reader closed"))?;
            let n = reader
                .read_until(b'\n', &mut self.pending)
                .await
                .map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("failed to read log file {:?}: {e}", self.path),
                    )
                })?;
            let complete = self.pending.last() == Some(&b'\n');
            if n > 0 && complete {
                let line = std::mem::take(&mut self.pending);
                if self.formatter.feed(&line, &mut out)? == Flow::Done {
                    self.done = true;
                    return Ok(non_empty(out));
                }
                if out.len() >= CHUNK {
                    return Ok(Some(Bytes::from(out)));
                }
                continue;
            }
            // End of the file for now.
            if self.follow.is_none() || self.exited {
                self.done = true;
                // Without follow the kubelet still prints an unterminated
                // last line; once a followed container has exited it does not.
                if self.follow.is_none() && !self.pending.is_empty() {
                    let line = std::mem::take(&mut self.pending);
                    self.formatter.feed(&line, &mut out)?;
                }
                return Ok(non_empty(out));
            }
            if !out.is_empty() {
                return Ok(Some(Bytes::from(out)));
            }
            self.wait_for_growth().await?;
        }
    }

    /// Sleeps until the file changes or the container exits.
    async fn wait_for_growth(&mut self) -> io::Result<()> {
        if self.watcher.is_none() {
            self.watcher = Some(watch_file(&self.path)?);
            // Something may have been written before the watch existed.
            return Ok(());
        }
        let (Some(watcher), Some(follow)) = (self.watcher.as_mut(), self.follow.as_mut()) else {
            return Ok(());
        };
        tokio::select! {
            event = watcher.next() => match event {
                Some(Ok(ev)) if ev.mask.intersects(
                    inotify::EventMask::MOVE_SELF
                        | inotify::EventMask::DELETE_SELF
                        | inotify::EventMask::ATTRIB,
                ) => self.reopen().await,
                Some(Ok(_)) => Ok(()),
                Some(Err(e)) => Err(e),
                None => Err(io::Error::other("inotify event stream ended")),
            },
            () = follow => {
                self.exited = true;
                Ok(())
            }
        }
    }

    /// The file was replaced or removed (the kubelet reopens on
    /// create/rename/remove/chmod); keep the old handle if it is gone.
    async fn reopen(&mut self) -> io::Result<()> {
        match tokio::fs::File::open(&self.path).await {
            Ok(file) => {
                self.reader = Some(BufReader::new(file));
                self.pending.clear();
                self.watcher = Some(watch_file(&self.path)?);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io::Error::new(
                e.kind(),
                format!("failed to open log file {:?}: {e}", self.path),
            )),
        }
    }
}

fn non_empty(out: Vec<u8>) -> Option<Bytes> {
    (!out.is_empty()).then(|| Bytes::from(out))
}

async fn open_at_tail(path: PathBuf, tail: i64) -> io::Result<BufReader<tokio::fs::File>> {
    let file = tokio::task::spawn_blocking(move || -> io::Result<File> {
        let resolved = std::fs::canonicalize(&path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("failed to try resolving symlinks in path {path:?}: {e}"),
            )
        })?;
        let mut f = File::open(&resolved).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("failed to open log file {resolved:?}: {e}"),
            )
        })?;
        let start = tail_start_offset(&mut f, tail).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("failed to tail {tail} lines of log file {resolved:?}: {e}"),
            )
        })?;
        f.seek(SeekFrom::Start(start))?;
        Ok(f)
    })
    .await
    .map_err(io::Error::other)??;
    Ok(BufReader::new(tokio::fs::File::from_std(file)))
}

fn watch_file(path: &Path) -> io::Result<EventStream<Vec<u8>>> {
    let inotify = Inotify::init()
        .map_err(|e| io::Error::new(e.kind(), format!("failed to create inotify watcher: {e}")))?;
    inotify
        .watches()
        .add(
            path,
            WatchMask::MODIFY | WatchMask::MOVE_SELF | WatchMask::DELETE_SELF | WatchMask::ATTRIB,
        )
        .map_err(|e| io::Error::new(e.kind(), format!("failed to watch file {path:?}: {e}")))?;
    inotify.into_event_stream(vec![0u8; 4096])
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
2026-11-23T10:00:00.000000001Z stdout F line one
2026-11-23T10:00:01.5Z stderr F oops
2026-11-23T10:00:02.000000000Z stdout P part-a
2026-11-23T10:00:03.000000000Z stdout P part-b
2026-11-23T10:00:04.000000000Z stdout F end
2026-11-23T10:00:05.123Z stdout F last
";

    fn opts() -> LogReadOptions {
        LogReadOptions::default()
    }

    fn ts(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn fmt(text: &str, o: &LogReadOptions) -> String {
        String::from_utf8(format_log(text.as_bytes(), o).unwrap()).unwrap()
    }

    #[test]
    fn parses_full_and_partial_lines() {
        let l = parse_cri_line(b"2026-11-23T10:00:00.123456789Z stdout F hello world\n").unwrap();
        assert_eq!(l.stream, Stream::Stdout);
        assert!(!l.partial);
        assert_eq!(l.content, b"hello world\n");
        assert_eq!(
            format_timestamp(&l.timestamp),
            "2026-11-23T10:00:00.123456789Z"
        );

        let p = parse_cri_line(b"2026-11-23T10:00:00Z stderr P:x chunk\n").unwrap();
        assert_eq!(p.stream, Stream::Stderr);
        assert!(p.partial);
        assert_eq!(p.content, b"chunk");
        assert_eq!(
            format_timestamp(&p.timestamp),
            "2026-11-23T10:00:00.000000000Z"
        );

        let tz = parse_cri_line(b"2026-11-23T10:00:00.5+02:00 stdout F x\n").unwrap();
        assert_eq!(
            format_timestamp(&tz.timestamp),
            "2026-11-23T10:00:00.500000000+02:00"
        );
        assert_eq!(
            parse_cri_line(b"2026-11-23T10:00:00Z stdout F \n")
                .unwrap()
                .content,
            b"\n"
        );
    }

    #[test]
    fn rejects_malformed_lines_with_kubelet_errors() {
        assert_eq!(
            parse_cri_line(b"garbage\n").unwrap_err(),
            "timestamp is not found"
        );
        assert!(parse_cri_line(b"2026-11-23 10:00:00Z stdout F x\n")
            .unwrap_err()
            .starts_with("unexpected timestamp format"));
        assert_eq!(
            parse_cri_line(b"2026-11-23T10:00:00Z stdout\n").unwrap_err(),
            "stream type is not found"
        );
        assert_eq!(
            parse_cri_line(b"2026-11-23T10:00:00Z stdin F x\n").unwrap_err(),
            "unexpected stream type \"stdin\""
        );
        assert_eq!(
            parse_cri_line(b"2026-11-23T10:00:00Z stdout F\n").unwrap_err(),
            "log tag is not found"
        );
    }

    #[test]
    fn whole_log_joins_partial_chunks_and_interleaves_streams() {
        assert_eq!(fmt(LOG, &opts()), "line one\noops\npart-apart-bend\nlast\n");
    }

    #[test]
    fn timestamps_prefix_logical_lines_only() {
        let o = LogReadOptions {
            timestamps: true,
            ..opts()
        };
        assert_eq!(
            fmt(LOG, &o),
            "2026-11-23T10:00:00.000000001Z line one\n\
             2026-11-23T10:00:01.500000000Z oops\n\
             2026-11-23T10:00:02.000000000Z part-apart-bend\n\
             2026-11-23T10:00:05.123000000Z last\n"
        );
    }

    #[test]
    fn tail_counts_file_lines() {
        let tail = |n| LogReadOptions {
            tail_lines: Some(n),
            ..opts()
        };
        assert_eq!(fmt(LOG, &tail(0)), "");
        assert_eq!(fmt(LOG, &tail(1)), "last\n");
        assert_eq!(fmt(LOG, &tail(2)), "end\nlast\n");
        // Like the kubelet, each P chunk is a line of the file.
        assert_eq!(fmt(LOG, &tail(3)), "part-bend\nlast\n");
        assert_eq!(fmt(LOG, &tail(100)), fmt(LOG, &opts()));
        assert_eq!(fmt(LOG, &tail(-1)), fmt(LOG, &opts()));
    }

    #[test]
    fn tail_offset_handles_blocks_and_unterminated_last_line() {
        let mut text = String::new();
        for i in 0..500 {
            text.push_str(&format!("2026-11-23T10:00:00Z stdout F line {i:04}\n"));
        }
        let mut c = io::Cursor::new(text.as_bytes());
        let off = tail_start_offset(&mut c, 3).unwrap() as usize;
        assert!(text[off..].starts_with("2026-11-23T10:00:00Z stdout F line 0497\n"));
        assert_eq!(text[off..].lines().count(), 3);

        let mut c = io::Cursor::new(b"a\nb\nunterminated".as_slice());
        assert_eq!(tail_start_offset(&mut c, 1).unwrap(), 2);
        let mut c = io::Cursor::new(b"".as_slice());
        assert_eq!(tail_start_offset(&mut c, 5).unwrap(), 0);
    }

    #[test]
    fn since_skips_older_lines_inclusive_bound() {
        let o = LogReadOptions {
            since: Some(ts("2026-11-23T10:00:04Z")),
            ..opts()
        };
        assert_eq!(fmt(LOG, &o), "end\nlast\n");
        assert_eq!(
            since_from(
                Some(10),
                Some(ts("2026-11-23T10:00:00Z")),
                ts("2026-11-23T10:00:30Z")
            ),
            Some(ts("2026-11-23T10:00:20Z"))
        );
        assert_eq!(
            since_from(
                Some(60),
                Some(ts("2026-11-23T10:00:00Z")),
                ts("2026-11-23T10:00:30Z")
            ),
            Some(ts("2026-11-23T10:00:00Z"))
        );
        assert_eq!(since_from(None, None, ts("2026-11-23T10:00:30Z")), None);
    }

    #[test]
    fn limit_bytes_truncates_mid_line() {
        let o = LogReadOptions {
            limit_bytes: Some(12),
            ..opts()
        };
        assert_eq!(fmt(LOG, &o), "line one\noop");
        let o = LogReadOptions {
            limit_bytes: Some(9),
            timestamps: true,
            ..opts()
        };
        assert_eq!(fmt(LOG, &o), "2026-11-2");
    }

    #[test]
    fn malformed_lines_skipped_but_first_line_must_parse() {
        let text =
            "2026-11-23T10:00:00Z stdout F a\nnot a log line\n2026-11-23T10:00:01Z stderr F b\n";
        assert_eq!(fmt(text, &opts()), "a\nb\n");
        let err = format_log(b"junk\n2026-11-23T10:00:01Z stderr F b\n", &opts()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "failed to get parse function: unsupported log format: \"junk\\n\""
        );
    }

    #[test]
    fn unterminated_last_line_is_printed_without_follow() {
        let text = "2026-11-23T10:00:00Z stdout F a\n2026-11-23T10:00:01Z stdout F b";
        assert_eq!(fmt(text, &opts()), "a\nb");
    }

    fn write_file(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("0.log");
        std::fs::write(&p, text).unwrap();
        p
    }

    async fn collect(s: impl futures::Stream<Item = io::Result<Bytes>>) -> io::Result<String> {
        let mut out = Vec::new();
        let mut s = std::pin::pin!(s);
        while let Some(chunk) = s.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(String::from_utf8(out).unwrap())
    }

    #[tokio::test]
    async fn read_log_matches_format_log() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_file(dir.path(), LOG);
        for o in [
            opts(),
            LogReadOptions {
                tail_lines: Some(2),
                timestamps: true,
                ..opts()
            },
            LogReadOptions {
                limit_bytes: Some(20),
                ..opts()
            },
        ] {
            let got = collect(read_log(&p, o.clone(), None::<std::future::Ready<()>>))
                .await
                .unwrap();
            assert_eq!(got, fmt(LOG, &o));
        }
    }

    #[tokio::test]
    async fn read_log_reports_a_missing_file() {
        let err = collect(read_log(
            "/nonexistent/k1s/0.log",
            opts(),
            None::<std::future::Ready<()>>,
        ))
        .await
        .unwrap_err();
        assert!(
            err.to_string().contains("failed to try resolving symlinks"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn follow_streams_growth_until_exit_then_drains() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let p = write_file(dir.path(), "2026-11-23T10:00:00Z stdout F first\n");
        let (exit_tx, exit_rx) = tokio::sync::oneshot::channel::<()>();
        let follow = async move {
            let _ = exit_rx.await;
        };
        let o = LogReadOptions {
            tail_lines: Some(1),
            ..opts()
        };
        let mut s = Box::pin(read_log(&p, o, Some(follow)));
        let first = tokio::time::timeout(std::time::Duration::from_secs(5), s.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(&first[..], b"first\n");

        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        // A line arriving in two writes is only emitted once complete.
        f.write_all(b"2026-11-23T10:00:01Z stdout F sec").unwrap();
        f.flush().unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        f.write_all(b"ond\n").unwrap();
        let second = tokio::time::timeout(std::time::Duration::from_secs(5), s.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(&second[..], b"second\n");

        // Written before the exit is noticed: still delivered, then the end.
        f.write_all(b"2026-11-23T10:00:02Z stderr F bye\n").unwrap();
        exit_tx.send(()).unwrap();
        let rest = tokio::time::timeout(std::time::Duration::from_secs(5), collect(s))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rest, "bye\n");
    }
}
