//! `openpile`: see `openpile --help`.

fn main() -> std::process::ExitCode {
    openpile_server::cli::run()
}
