//! The `converra` binary: parse the command line, hand over to the library.

// mimalloc: the request path allocates many small, short-lived buffers, and glibc malloc
// (with its arena locks) took ~10% of CPU at saturation in the gateway benchmark
// (docs/performance.md). Transparent huge pages stay off to keep the resident set small.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    converra_server::cli::run(converra_server::cli::parse())
}
