//! The allocator the `teamgate` binary runs with: mimalloc; for the
//! long-lived commands (`serve`, `watch`) tuned to give freed memory back
//! at once. With glibc's malloc a 100,000-user first read from PostgreSQL
//! left 1.1-1.6 GB resident. The benchmarks use the same allocator and
//! settings, so that they measure what the sidecar runs. One-shot commands
//! keep mimalloc's defaults: purging at once costs a many-threaded run a
//! TLB shootdown on every core per purge.

/// mimalloc's option numbers (`mi_option_e` in the vendored v2 mimalloc.h;
/// the Rust bindings name only some of them).
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory goes back to the system at once, and arenas are committed
/// as used: at 100,000 users the sidecar holds 110 MB instead of 190 MB. An
/// explicit `MIMALLOC_*` environment variable still wins. Call it first
/// thing in `main` of a program whose global allocator is
/// `mimalloc::MiMalloc`.
pub fn tune_mimalloc() {
    // SAFETY: mi_option_set only stores an option value; it takes no pointer.
    unsafe {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
        }
        if std::env::var_os("MIMALLOC_ARENA_EAGER_COMMIT").is_none() {
            libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
        }
    }
}
