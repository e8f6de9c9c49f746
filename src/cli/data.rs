//! `teamgate data`: the data store, where changes made through the data API
//! are kept (`--data-store`, by default `.teamgate/data.redb` in the bundle).

use std::path::PathBuf;
use std::process::ExitCode;

use super::{render, BundleArg, EXIT_BAD_INPUT};
use teamgate::store::journal::Journal;
use teamgate::{Bundle, Store};

/// Where data API changes are kept.
#[derive(clap::Args, Debug, Clone)]
pub struct DataStoreArg {
    /// The data store (an embedded database) holding the changes made
    /// through the data API; default `.teamgate/data.redb` in the bundle.
    #[arg(long, env = "TEAMGATE_DATA_STORE")]
    pub data_store: Option<PathBuf>,
}

impl DataStoreArg {
    /// The path of the data store of `bundle`.
    pub fn path(&self, bundle: &Bundle) -> PathBuf {
        self.data_store
            .clone()
            .unwrap_or_else(|| bundle.root().join(".teamgate").join("data.redb"))
    }

    /// The journal, opened (and created) when `create`, or when its file exists.
    pub fn journal(&self, bundle: &Bundle, create: bool) -> Result<Option<Journal>, String> {
        let path = self.path(bundle);
        if !create && !path.exists() {
            return Ok(None);
        }
        Journal::open(&path).map(Some).map_err(|p| p.to_string())
    }

    /// Opens the store: the bundle with the recorded changes; problems printed.
    pub fn open_store(&self, bundle: Bundle, create: bool) -> Result<Store, ExitCode> {
        let journal = self.journal(&bundle, create).map_err(|m| {
            eprintln!("error: {m}");
            ExitCode::from(EXIT_BAD_INPUT)
        })?;
        Store::open_with(bundle, journal).map_err(|e| {
            render::load_errors(&e);
            ExitCode::from(EXIT_BAD_INPUT)
        })
    }
}

/// Arguments of `data`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: DataCommand,
}

#[derive(clap::Subcommand, Debug)]
enum DataCommand {
    /// Say which data version serves: the entity files' and the changes recorded over them.
    Status(Common),
    /// Forget every recorded change: the entity files' data serves alone again
    /// (stop the server first).
    Reset(Common),
}

#[derive(clap::Args, Debug)]
struct Common {
    #[command(flatten)]
    bundle: BundleArg,
    #[command(flatten)]
    data: DataStoreArg,
}

/// Runs `data`.
pub fn run(args: Args) -> ExitCode {
    match args.command {
        DataCommand::Status(c) => {
            let bundle = c.bundle.bundle();
            let store = match c.data.open_store(bundle, false) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let snap = store.snapshot();
            println!("version       {}", snap.version());
            println!("data version  {}", snap.data_version());
            println!("entities      {}", snap.entity_count());
            match store.journal() {
                Some(j) => println!(
                    "changes       {} recorded in {}",
                    snap.data_changes(),
                    j.path().display()
                ),
                None => println!(
                    "changes       none (no data store at {})",
                    c.data.path(store.bundle()).display()
                ),
            }
            ExitCode::SUCCESS
        }
        DataCommand::Reset(c) => {
            let bundle = c.bundle.bundle();
            match c.data.journal(&bundle, false) {
                Ok(Some(j)) => match j.clear() {
                    Ok(()) => {
                        println!("forgot every change recorded in {}", j.path().display());
                        ExitCode::SUCCESS
                    }
                    Err(p) => {
                        eprintln!("error: {p}");
                        ExitCode::from(EXIT_BAD_INPUT)
                    }
                },
                Ok(None) => {
                    println!(
                        "no data store at {}: nothing to forget",
                        c.data.path(&bundle).display()
                    );
                    ExitCode::SUCCESS
                }
                Err(m) => {
                    eprintln!("error: {m}");
                    ExitCode::from(EXIT_BAD_INPUT)
                }
            }
        }
    }
}
