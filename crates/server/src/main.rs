//! `openpile`: see `openpile --help`.

fn main() -> std::process::ExitCode {
    cap_malloc_arenas();
    openpile_server::cli::run()
}

/// glibc gives threads that contend for `malloc` arenas of their own, up to 8 per core, and
/// memory freed into one arena is not reused by another: with tens of thousands of charger
/// connections allocating from every Tokio worker, RSS per idle charger grows by 40 %
/// (bench-ocpp, 19,000 chargers: 16.1 KiB with glibc's default, 11.3 KiB with 2 arenas).
/// `mallopt(M_ARENA_MAX, 2)` needs `unsafe`, which this workspace forbids, and glibc reads
/// `MALLOC_ARENA_MAX` only when a process starts; so the process re-executes itself once, at
/// the very start (no thread exists yet, same pid), with the variable set, unless the operator
/// already chose (`MALLOC_ARENA_MAX` or `GLIBC_TUNABLES` set).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn cap_malloc_arenas() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("MALLOC_ARENA_MAX").is_some()
        || std::env::var_os("GLIBC_TUNABLES").is_some()
    {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let mut command = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        command.arg0(arg0);
    }
    // `exec` returns only when it failed; the server then runs with glibc's default.
    let error = command.args(args).env("MALLOC_ARENA_MAX", "2").exec();
    eprintln!("openpile: could not restart with MALLOC_ARENA_MAX=2 ({error}); continuing");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn cap_malloc_arenas() {}
