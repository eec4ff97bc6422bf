//! Giving freed heap memory back to the operating system. glibc's malloc keeps what a burst of
//! requests freed in its per-thread arenas, so the process stays at its peak size long after;
//! `malloc_trim(0)` returns the free pages of every arena. Elsewhere (musl, other allocators)
//! this does nothing.

/// Returns free heap pages to the OS where the allocator keeps them (glibc). Takes the arena
/// locks for a moment: call it when the process is quiet, not per request.
pub fn return_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas under their locks; it takes no pointers
    // from us and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
