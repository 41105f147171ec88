//! The `qbridge` binary: parse the command line and hand over to [`qbridge::cli`].

fn main() -> std::process::ExitCode {
    qbridge::cli::main()
}
