//! `k1s image ls`, printed the way `crictl images` prints.

use super::digest::Digest;

/// One row of the image list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// The store key (`docker.io/library/nginx:latest`).
    pub name: String,
    pub repository: String,
    /// The tag, or `<none>` for digest-pinned entries.
    pub tag: String,
    /// The image ID: the config digest.
    pub id: Digest,
    /// The repo digest: what the name resolved to.
    pub digest: Digest,
    pub size: u64,
}

/// crictl's table: tabwriter(minwidth 20, padding 3), IMAGE ID truncated
/// to 13 characters, sizes like go-units' HumanSizeWithPrecision(…, 3).
/// Like crictl, prints nothing (not even the header) for no images.
pub fn format_images_table(images: &[ImageInfo]) -> String {
    if images.is_empty() {
        return String::new();
    }
    let mut rows: Vec<[String; 4]> = vec![[
        "IMAGE".into(),
        "TAG".into(),
        "IMAGE ID".into(),
        "SIZE".into(),
    ]];
    for i in images {
        rows.push([
            i.repository.clone(),
            i.tag.clone(),
            i.id.hex()[..13].to_string(),
            human_size(i.size),
        ]);
    }
    let mut widths = [20usize; 3];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count() + 3);
        }
    }
    let mut out = String::new();
    for row in &rows {
        for (w, cell) in widths.iter().zip(row.iter()) {
            out.push_str(cell);
            out.extend(std::iter::repeat_n(' ', w - cell.chars().count()));
        }
        out.push_str(&row[3]);
        out.push('\n');
    }
    out
}

/// go-units HumanSizeWithPrecision(size, 3): decimal units, `%.3g`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = bytes as f64;
    let mut i = 0;
    while size >= 1000.0 && i < UNITS.len() - 1 {
        size /= 1000.0;
        i += 1;
    }
    format!("{}{}", go_format_g(size, 3), UNITS[i])
}

/// Go's `%.{prec}g` for non-negative values.
fn go_format_g(v: f64, prec: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let e = format!("{:.*e}", prec - 1, v);
    let Some((mantissa, exp)) = e.split_once('e') else {
        return e;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= prec as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{}e{sign}{:02}", trim_fraction(mantissa), exp.abs());
    }
    let decimals = (prec as i32 - 1 - exp).max(0) as usize;
    trim_fraction(&format!("{v:.decimals$}"))
}

fn trim_fraction(s: &str) -> String {
    if !s.contains('.') {
        return s.to_string();
    }
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_go_units() {
        let cases = [
            (0, "0B"),
            (999, "999B"),
            (1000, "1kB"),
            (1_234_567, "1.23MB"),
            (56_700_000, "56.7MB"),
            (4_400_000, "4.4MB"),
            (999_600, "1e+03kB"),
            (1_500_000_000, "1.5GB"),
            (123_456_789, "123MB"),
        ];
        for (n, want) in cases {
            assert_eq!(human_size(n), want, "{n}");
        }
    }

    #[test]
    fn table_like_crictl() {
        let id = Digest::parse(
            "sha256:605c77e624ddb75e6110f997c58876baa13f8754486b461117934b24a9dc3a85",
        )
        .expect("d");
        let rows = vec![
            ImageInfo {
                name: "docker.io/library/nginx:latest".into(),
                repository: "docker.io/library/nginx".into(),
                tag: "latest".into(),
                id: id.clone(),
                digest: id.clone(),
                size: 56_700_000,
            },
            ImageInfo {
                name: "docker.io/curlimages/curl:8.5.0".into(),
                repository: "docker.io/curlimages/curl".into(),
                tag: "8.5.0".into(),
                id: id.clone(),
                digest: id,
                size: 4_400_000,
            },
        ];
        let want = "\
IMAGE                       TAG                 IMAGE ID            SIZE
docker.io/library/nginx     latest              605c77e624ddb       56.7MB
docker.io/curlimages/curl   8.5.0               605c77e624ddb       4.4MB
";
        assert_eq!(format_images_table(&rows), want);
        assert_eq!(format_images_table(&[]), "");
    }
}
