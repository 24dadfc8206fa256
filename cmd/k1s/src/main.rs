//! `k1s`: a one-node Kubernetes in one binary.

mod bootstrap;
mod clusterdns;
mod config;
mod dataplane;
mod kubeconfig;
mod netinfo;
mod reset;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "k1s",
    version,
    about = "A one-node Kubernetes in a single binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server and everything else of the node.
    Server(config::ServerArgs),
    /// Remove what k1s set up in the kernel: containers, mounts, cgroups,
    /// pod network namespaces, veths, the k1s0 bridge and the nftables
    /// tables; safe to run again. Stored objects, images and logs are kept.
    Reset {
        #[arg(long, default_value = config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
    /// Manage the node's images: import, pull, ls, rm.
    Image {
        #[arg(long, default_value = config::DEFAULT_DATA_DIR, global = true)]
        data_dir: PathBuf,
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// Print the admin kubeconfig (also kept in DATA_DIR/kubeconfig.yaml).
    Kubeconfig {
        #[arg(long, default_value = config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum ImageCommand {
    /// Import an OCI image layout (directory or tar) or a `docker save` archive.
    Import { file: PathBuf },
    /// Pull an image from its registry (Docker Hub short names work: `nginx`).
    Pull { reference: String },
    /// List images like `crictl images`.
    Ls,
    /// Remove an image by name or ID prefix.
    Rm { reference: String },
}

fn image(data_dir: &std::path::Path, command: ImageCommand) -> anyhow::Result<()> {
    let store = k1s_node::image::ImageStore::open(data_dir)?;
    match command {
        ImageCommand::Import { file } => {
            for r in store.import(&file)? {
                println!("imported {r}");
            }
        }
        ImageCommand::Pull { reference } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let pulled = runtime.block_on(store.pull(&reference))?;
            println!("pulled {} ({})", pulled.reference, pulled.digest());
        }
        ImageCommand::Ls => print!("{}", k1s_node::image::format_images_table(&store.list()?)),
        ImageCommand::Rm { reference } => {
            let removed = store.remove(&reference)?;
            for name in removed.untagged {
                println!("Deleted: {name}");
            }
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // The runtime re-execs this binary as its helpers; they fork and enter
    // namespaces, so they run before clap and before any thread exists.
    match std::env::args().nth(1).as_deref() {
        Some("__shim") => k1s_node::runtime::shim_main(std::env::args().collect()),
        Some("__exec") => k1s_node::runtime::exec_main(std::env::args().collect()),
        _ => {}
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Server(args) => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_env("K1S_LOG").unwrap_or_else(|_| {
                        // hickory logs every query at info; keep the default log readable.
                        tracing_subscriber::EnvFilter::new(format!(
                            "info,{}",
                            k1s_dns::QUIET_HICKORY
                        ))
                    }),
                )
                .with_writer(std::io::stderr)
                .init();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(config::run_server(args))
        }
        Command::Reset { data_dir } => reset::run(&data_dir),
        Command::Image { data_dir, command } => image(&data_dir, command),
        Command::Kubeconfig { data_dir } => {
            let path = data_dir.join(kubeconfig::FILE);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                anyhow::anyhow!(
                    "cannot read {}: {e} (has `k1s server --data-dir {}` run yet?)",
                    path.display(),
                    data_dir.display()
                )
            })?;
            print!("{text}");
            Ok(())
        }
    }
}
