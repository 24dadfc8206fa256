//! The helper entry points of the k1s binary (`__shim`, `__exec`) without
//! the rest of k1s, so this crate's integration tests have a binary to
//! hand `Runtime::new` as the one to re-exec. Dispatches exactly like
//! cmd/k1s/src/main.rs, before anything else runs.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("__shim") => k1s_node::runtime::shim_main(args),
        Some("__exec") => k1s_node::runtime::exec_main(args),
        _ => {
            eprintln!("usage: k1s-node-shim __shim <bundle> | __exec <pid>");
            std::process::exit(2);
        }
    }
}
