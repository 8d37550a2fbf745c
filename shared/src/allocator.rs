//! mimalloc as the global allocator of every binary that links this crate
//! (each function, the dev server, the tests). A profile of the hold path
//! had glibc's malloc, free and realloc at about a sixth of the process's
//! CPU (docs/benchmarks.md): every SDK call allocates its config layers,
//! headers, signing strings and (de)serialised items by the hundred.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
