//! `openpile`: see `openpile --help`.

/// mimalloc rather than glibc's malloc: tens of thousands of charger connections allocate and
/// free small buffers from every Tokio worker, where glibc spends more time per call and keeps
/// memory freed in one thread's arena away from the others.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    openpile_server::cli::run()
}
