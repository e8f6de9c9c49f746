//! The `teamgate` command: parses the command line and hands over to the library.

#![allow(clippy::result_large_err)] // see lib.rs: errors carry their source snippet

mod cli;

/// See [`teamgate::alloc`].
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
