//! Golden tests: for each scenario the rendered table must equal the
//! checked-in `tests/golden/<name>.nft` byte for byte. Run with
//! `K1S_UPDATE_GOLDEN=1` to rewrite the files after an intended change,
//! then review the diff.

mod common;

use common::{golden_dir, scenario, SCENARIOS};

#[test]
fn rulesets_match_golden_files() {
    let update = std::env::var_os("K1S_UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for name in SCENARIOS {
        let got = k1s_proxy::render::table(&scenario(name));
        let path = golden_dir().join(format!("{name}.nft"));
        if update {
            std::fs::write(&path, &got).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        if got != want {
            failures.push(format!(
                "--- {name}.nft (expected)\n{want}\n+++ generated\n{got}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
