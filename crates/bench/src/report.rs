//! The printed result: one row per figure with its target and verdict,
//! plus free-form sections (per-bucket tables, notes).

/// What a figure must be to pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    AtMost(f64),
    AtLeast(f64),
    /// Reported for context only.
    Info,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub metric: String,
    pub value: f64,
    pub unit: &'static str,
    pub target: Target,
}

impl Row {
    pub fn new(metric: impl Into<String>, value: f64, unit: &'static str, target: Target) -> Row {
        Row {
            metric: metric.into(),
            value,
            unit,
            target,
        }
    }

    pub fn verdict(&self) -> &'static str {
        match self.target {
            Target::AtMost(t) if self.value <= t => "pass",
            Target::AtLeast(t) if self.value >= t => "pass",
            Target::Info => "info",
            _ => "FAIL",
        }
    }

    pub fn failed(&self) -> bool {
        self.verdict() == "FAIL"
    }

    fn target_text(&self) -> String {
        match self.target {
            Target::AtMost(t) => format!("<= {}", number(t, self.unit)),
            Target::AtLeast(t) => format!(">= {}", number(t, self.unit)),
            Target::Info => "-".into(),
        }
    }
}

/// A value with its unit, with as many decimals as its size deserves.
pub fn number(v: f64, unit: &str) -> String {
    let digits = match v.abs() {
        a if a >= 100.0 => 0,
        a if a >= 10.0 => 1,
        a if a >= 1.0 => 2,
        _ => 3,
    };
    if unit.is_empty() {
        format!("{v:.digits$}")
    } else {
        format!("{v:.digits$} {unit}")
    }
}

#[derive(Debug, Default)]
pub struct Report {
    pub rows: Vec<Row>,
    /// Titled blocks of text printed after the table.
    pub sections: Vec<(String, String)>,
}

impl Report {
    pub fn push(&mut self, row: Row) {
        eprintln!("  {:<52} {}", row.metric, number(row.value, row.unit));
        self.rows.push(row);
    }

    pub fn section(&mut self, title: impl Into<String>, body: impl Into<String>) {
        self.sections.push((title.into(), body.into()));
    }

    pub fn failures(&self) -> usize {
        self.rows.iter().filter(|r| r.failed()).count()
    }

    /// The result table followed by the sections.
    pub fn render(&self) -> String {
        let mut out = table(
            &["metric", "value", "target", "result"],
            &self
                .rows
                .iter()
                .map(|r| {
                    vec![
                        r.metric.clone(),
                        number(r.value, r.unit),
                        r.target_text(),
                        r.verdict().to_string(),
                    ]
                })
                .collect::<Vec<_>>(),
        );
        for (title, body) in &self.sections {
            out.push_str(&format!("\n{title}\n{body}"));
            if !body.ends_with('\n') {
                out.push('\n');
            }
        }
        out
    }
}

/// Left-aligned columns separated by two spaces, with a dashed rule under the header.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| -> String {
        let parts: Vec<String> = cells
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("{}\n", parts.join("  ").trim_end())
    };
    let mut out = line(&mut header.iter().copied());
    out.push_str(&line(
        &mut widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str),
    ));
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        let cases = [
            (Row::new("a", 0.5, "ms", Target::AtMost(0.5)), "pass"),
            (Row::new("a", 0.51, "ms", Target::AtMost(0.5)), "FAIL"),
            (Row::new("a", 1000.0, "/s", Target::AtLeast(1000.0)), "pass"),
            (Row::new("a", 999.9, "/s", Target::AtLeast(1000.0)), "FAIL"),
            (
                Row::new("a", f64::NAN, "/s", Target::AtLeast(1000.0)),
                "FAIL",
            ),
            (Row::new("a", 3.0, "", Target::Info), "info"),
        ];
        for (row, want) in cases {
            assert_eq!(row.verdict(), want, "{row:?}");
        }
    }

    #[test]
    fn numbers_keep_three_significant_digits() {
        let cases = [
            (0.1234, "ms", "0.123 ms"),
            (1.234, "ms", "1.23 ms"),
            (12.34, "MiB", "12.3 MiB"),
            (1234.4, "/s", "1234 /s"),
            (0.5, "", "0.500"),
        ];
        for (v, unit, want) in cases {
            assert_eq!(number(v, unit), want);
        }
    }

    #[test]
    fn renders_an_aligned_table_and_sections() {
        let mut r = Report::default();
        r.rows
            .push(Row::new("GET p50", 0.25, "ms", Target::AtMost(0.5)));
        r.rows
            .push(Row::new("creates", 800.0, "/s", Target::AtLeast(1000.0)));
        r.section("notes", "one\ntwo");
        let want = "\
metric   value     target       result
-------  --------  -----------  ------
GET p50  0.250 ms  <= 0.500 ms  pass
creates  800 /s    >= 1000 /s   FAIL

notes
one
two
";
        assert_eq!(r.render(), want);
        assert_eq!(r.failures(), 1);
    }
}
