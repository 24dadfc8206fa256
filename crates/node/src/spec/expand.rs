//! Kubernetes' `$(VAR)` expansion (third_party/forked/golang/expansion):
//! `$(NAME)` is replaced when NAME is defined and left as written when not,
//! `$$` is an escaped `$`, and any other `$` is kept.

/// Expands `input`; `lookup` returns a variable's value if defined.
pub fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let b = input.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < b.len() {
        if b[cursor] == b'$' && cursor + 1 < b.len() {
            out.extend_from_slice(&b[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let advance = match read_reference(rest) {
                Read::Escaped => {
                    out.push(b'$');
                    1
                }
                Read::Variable { name, len } => {
                    match lookup(name) {
                        Some(v) => out.extend_from_slice(v.as_bytes()),
                        None => {
                            out.extend_from_slice(b"$(");
                            out.extend_from_slice(name.as_bytes());
                            out.push(b')');
                        }
                    }
                    len
                }
                Read::Literal => {
                    // "$" and the byte after it are copied as they are.
                    out.push(b'$');
                    out.push(rest.as_bytes()[0]);
                    1
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    out.extend_from_slice(&b[checkpoint.min(b.len())..]);
    String::from_utf8_lossy(&out).into_owned()
}

enum Read<'a> {
    /// `$$`
    Escaped,
    /// `$(name)`; len counts the bytes after `$` (including the parens).
    Variable { name: &'a str, len: usize },
    /// `$` followed by anything else, or an unclosed `$(`.
    Literal,
}

fn read_reference(rest: &str) -> Read<'_> {
    match rest.as_bytes()[0] {
        b'$' => Read::Escaped,
        b'(' => match rest[1..].find(')') {
            Some(i) => Read::Variable {
                name: &rest[1..1 + i],
                len: i + 2,
            },
            None => Read::Literal,
        },
        _ => Read::Literal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "VAR_A" => Some("A".into()),
            "VAR_B" => Some("B".into()),
            "VAR_C" => Some("C".into()),
            "VAR_REF" => Some("$(VAR_A)".into()),
            "VAR_EMPTY" => Some(String::new()),
            "" => None,
            _ => None,
        }
    }

    /// Cases from Kubernetes' expansion tests, rewritten as a table.
    #[test]
    fn expansion_table() {
        let cases = [
            ("$(VAR_A)", "A"),
            ("___$(VAR_B)___", "___B___"),
            ("$(VAR_A)-$(VAR_A)", "A-A"),
            ("f000-$$VAR_A", "f000-$VAR_A"),
            ("foo\\$(VAR_C)bar", "foo\\Cbar"),
            ("foo\\\\$(VAR_C)bar", "foo\\\\Cbar"),
            ("$(VAR_A)$(VAR_B)$(VAR_C)", "ABC"),
            ("$(VAR_REF)", "$(VAR_A)"),
            ("$(VAR_EMPTY)", ""),
            ("$(VAR_DNE)", "$(VAR_DNE)"),
            ("$$$$$$(BIG_MONEY)", "$$$(BIG_MONEY)"),
            ("$$$$$$$(VAR_A)", "$$$A"),
            ("$$$$$$$$(VAR_A)", "$$$$(VAR_A)"),
            ("$(VAR_A)$$", "A$"),
            ("$$$(VAR_A)", "$A"),
            ("$", "$"),
            ("$$", "$"),
            ("$$$", "$$"),
            ("$(", "$("),
            ("$(VAR_A", "$(VAR_A"),
            ("$(VAR_A)$(", "A$("),
            ("$()", "$()"),
            ("$VAR_A", "$VAR_A"),
            ("$)", "$)"),
            ("$(VAR_A)))", "A))"),
            ("(VAR_A)", "(VAR_A)"),
            ("€$(VAR_A)€$€", "€A€$€"),
            ("", ""),
            ("no-vars", "no-vars"),
        ];
        for (input, want) in cases {
            assert_eq!(expand(input, &vars), want, "{input:?}");
        }
    }
}
